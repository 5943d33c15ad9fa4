"""Packed-key counting for the streaming engines: a context of ``L`` token ids of ``b`` bits each is one uint64
word ``ck`` (most significant token first, so integer order is lexicographic order) whenever ``L * b <= 64``.

A *packed table* is ``(ck, nxt, cnt)``: uint64 context words, next-token ids and counts, shape (n,) each. The
group-by-sum of such a table is one ``np.sort`` of uint64 words (numpy's SIMD sort) instead of a lexsort of T
columns: the window ``(ck, nxt)`` and its count share one word when ``L*b + b`` leaves room for the count;
otherwise the contexts are first replaced by their rank (one argsort) and the rank, next id and count share the
word (pairs at most a few bits wider than 64 are instead bucketed by their top bits, then sorted per bucket). Counts too large for their bits are split over several rows (exact: the sum is the same).
"""

from __future__ import annotations

import numpy as np

from ..windows import count_packed, doc_starts

Packed = tuple[np.ndarray, np.ndarray, np.ndarray]
MIN_COUNT_BITS = 12  # fewer free bits than this: fall back to a lexsort (counts would split into too many rows)
BUCKET_BITS = 12  # pairs up to 64 + this many bits: bucket by the top bits, then sort 64-bit words per bucket
BUCKET_MIN_ROWS = 1 << 16  # below this, ranking the contexts (one argsort) is cheaper than the bucket loop

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def bits_for(max_id: int) -> int:
    """Bits per token field for ids 0..max_id (at least 1)."""
    return max(1, int(max_id).bit_length())


def fits(context_len: int, b: int) -> bool:
    """Whether a context of ``context_len`` fields of ``b`` bits packs into one uint64 word."""
    return context_len * b <= 64


def hash_columns(columns) -> np.ndarray:
    """A 64-bit mixing hash of each row of int columns, shape (n,): a multiply-xor chain over the columns and a
    splitmix64 finaliser. Only partitions by it: equality is always decided on the full keys. The same value
    whether the context is packed or a row of ids."""
    h = None
    with np.errstate(over="ignore"):
        for col in columns:
            c = col.astype(np.uint64, copy=False)
            h = c ^ _GOLDEN if h is None else h ^ c
            h *= _MIX1
        if h is None:
            return np.zeros(0, dtype=np.uint64)
        h ^= h >> np.uint64(31)
        h *= _MIX2
        h ^= h >> np.uint64(29)
    return h


def unpack_fields(ck: np.ndarray, context_len: int, b: int) -> list[np.ndarray]:
    """The ``context_len`` token columns (uint64) of packed contexts, first token first."""
    mask = np.uint64((1 << b) - 1) if b < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return [(ck >> np.uint64(b * (context_len - 1 - t))) & mask for t in range(context_len)]


def pack_fields(columns, b: int) -> np.ndarray:
    """Pack uint64 columns (each < 2**b) into one word per row, first column most significant."""
    ck = np.array(columns[0], dtype=np.uint64, copy=True)
    for col in columns[1:]:
        ck <<= np.uint64(b)
        ck |= col
    return ck


def partition_of_packed(ck: np.ndarray, context_len: int, b: int, n_partitions: int) -> np.ndarray:
    """Hash partition of each packed context (equal to the partition of the same context as a row of ids)."""
    h = hash_columns(unpack_fields(ck, context_len, b))
    return (h % np.uint64(n_partitions)).astype(np.uint16 if n_partitions <= 65536 else np.int64)


def window_table(ids: np.ndarray, doc_ids: np.ndarray, context_len: int, b: int) -> Packed:
    """All windows of one chunk that stay inside a document, counted by the one counting kernel
    (:func:`~ntpgeom.data.windows.count_packed`): a packed table sorted by (context, next).

    ``ids``: uint64/int token ids < 2**b, shape (N,); ``doc_ids``: document label of each token (runs = documents).
    """
    if len(ids) <= context_len:
        return _empty()
    contexts, first, row, cnt = count_packed(np.asarray(ids), context_len, doc_starts(np.asarray(doc_ids)))
    if not len(row):
        return _empty()
    ctx = pack_fields([contexts[:, t].view(np.uint64) for t in range(context_len)], b)
    return np.repeat(ctx, np.diff(first)), row.view(np.uint64), cnt


def group_sum(ck: np.ndarray, nxt: np.ndarray, cnt: np.ndarray | None, ck_bits: int, b: int) -> Packed:
    """Exact group-by-sum over (ck, nxt) (``cnt`` None: each row counts 1). Returns the distinct pairs sorted
    lexicographically with their total counts (int64)."""
    if not len(ck):
        return _empty()
    nxt = nxt.astype(np.uint64, copy=False)
    if ck_bits + b + (MIN_COUNT_BITS if cnt is not None else 0) <= 64:
        key, rank_of = (ck << np.uint64(b)) | nxt, None
        key_bits = ck_bits + b
    elif ck_bits + b - 64 <= BUCKET_BITS and len(ck) >= BUCKET_MIN_ROWS:
        return _bucket_sum(ck, nxt, cnt, ck_bits, b)
    else:  # contexts -> their rank (one argsort); the rank and the next id share the word
        order = np.argsort(ck)
        cks = ck[order]
        flag = _starts(cks)
        rank_of = cks[flag]
        key_bits = bits_for(len(rank_of)) + b
        if key_bits + (MIN_COUNT_BITS if cnt is not None else 0) > 64:
            return _lexsort_sum(ck, nxt, cnt)
        key = (np.cumsum(flag, dtype=np.uint64) - np.uint64(1)) << np.uint64(b)
        key |= nxt[order]
        cnt = None if cnt is None else cnt[order]
    if cnt is None:
        key.sort()
        flag = _starts(key)
        first = np.flatnonzero(flag)
        total = np.diff(np.append(first, len(key))).astype(np.int64)
        uniq = key[first]
    else:
        cb = 64 - key_bits
        key, c = _split_counts(key, cnt.astype(np.uint64, copy=False), cb)
        key <<= np.uint64(cb)
        key |= c
        key.sort()
        c = key & np.uint64((1 << cb) - 1)
        key >>= np.uint64(cb)
        first = np.flatnonzero(_starts(key))
        total = np.add.reduceat(c, first).astype(np.int64) if len(first) else np.zeros(0, np.int64)
        uniq = key[first]
    nx = uniq & np.uint64((1 << b) - 1)
    hi = uniq >> np.uint64(b)
    return (hi if rank_of is None else rank_of[hi.astype(np.int64)]), nx, total


def _bucket_sum(ck: np.ndarray, nxt: np.ndarray, cnt: np.ndarray | None, ck_bits: int, b: int) -> Packed:
    """Group-by-sum of (ck, nxt) pairs up to ``64 + BUCKET_BITS`` bits wide: the top bits of ck pick a bucket (one
    radix pass), the remaining 64-bit words are sorted (argsorted, with counts) inside each cache-sized bucket."""
    hb = max(0, ck_bits + b - 64)  # bucket bits
    lo_bits = np.uint64(ck_bits - hb)
    bucket = (ck >> lo_bits).astype(np.uint16) if hb else np.zeros(len(ck), np.uint16)
    low = ((ck & np.uint64((1 << (ck_bits - hb)) - 1)) << np.uint64(b)) | nxt
    order = np.argsort(bucket, kind="stable")  # uint16: numpy's radix sort
    low, bucket = low[order], bucket[order]
    c = None if cnt is None else cnt[order]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(bucket, minlength=1 << hb))])
    for j in np.flatnonzero(np.diff(bounds) > 1):
        lo, hi = bounds[j], bounds[j + 1]
        if c is None:
            low[lo:hi].sort()
        else:
            o = np.argsort(low[lo:hi])
            low[lo:hi], c[lo:hi] = low[lo:hi][o], c[lo:hi][o]
    flag = _starts(low)
    flag[1:] |= bucket[1:] != bucket[:-1]
    first = np.flatnonzero(flag)
    total = _run_totals(first, len(low), c)
    lw, bk = low[first], bucket[first].astype(np.uint64)
    return (bk << lo_bits) | (lw >> np.uint64(b)), lw & np.uint64((1 << b) - 1), total


def _split_counts(key: np.ndarray, cnt: np.ndarray, cb: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose count needs more than ``cb`` bits become several rows of at most 2**cb - 1 (same sum)."""
    top = np.uint64((1 << cb) - 1)
    if not len(cnt) or cnt.max() <= top:
        return key, cnt
    reps = (cnt + top - np.uint64(1)) // top
    key = np.repeat(key, reps.astype(np.int64))
    c = np.full(len(key), top, dtype=np.uint64)
    last = np.cumsum(reps.astype(np.int64)) - 1
    c[last] = cnt - (reps - np.uint64(1)) * top
    return key, c


def _run_totals(first: np.ndarray, n: int, counts: np.ndarray | None) -> np.ndarray:
    """Per run of equal sorted keys (runs start at ``first``, ``n`` rows): its length, or its sum of ``counts``."""
    if counts is None:
        return np.diff(np.append(first, n)).astype(np.int64)
    return np.add.reduceat(counts.astype(np.int64, copy=False), first) if len(first) else np.zeros(0, np.int64)


def _lexsort_sum(ck: np.ndarray, nxt: np.ndarray, cnt: np.ndarray | None) -> Packed:
    order = np.lexsort((nxt, ck))
    cks, nxs = ck[order], nxt[order]
    flag = _starts(cks)
    flag[1:] |= nxs[1:] != nxs[:-1]
    first = np.flatnonzero(flag)
    total = _run_totals(first, len(cks), None if cnt is None else cnt[order])
    return cks[first], nxs[first], total


def _starts(sorted_keys: np.ndarray) -> np.ndarray:
    flag = np.empty(len(sorted_keys), dtype=bool)
    flag[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=flag[1:])
    return flag


def _empty() -> Packed:
    return np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64)


def repack(ck: np.ndarray, context_len: int, b_from: int, b_to: int) -> np.ndarray:
    """Packed contexts of ``b_from``-bit fields re-packed with ``b_to`` bits (same order)."""
    if b_from == b_to:
        return ck
    return pack_fields(unpack_fields(ck, context_len, b_from), b_to)


def to_rows(table: Packed, context_len: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A packed table as a row table ``(ctx (n, context_len) int64, nxt int64, cnt int64)``, same order."""
    ck, nxt, cnt = table
    ctx = np.empty((len(ck), context_len), dtype=np.int64)
    for t, col in enumerate(unpack_fields(ck, context_len, b)):
        ctx[:, t] = col
    return ctx, nxt.astype(np.int64), cnt.astype(np.int64, copy=False)
