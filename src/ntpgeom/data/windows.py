"""The counting kernel: all (context, next token) windows of a token stream that stay inside one document, counted
with one sort of bit-packed keys (:func:`count_windows`, :func:`count_packed`; used by ``from_tokens`` and the
streaming engines' map step).

The kernel works near the bandwidth of the sort: token ids are made dense (uint32) once, window keys are packed from
contiguous slices of them (no index arrays), the windows that cross a document are found from the document starts
(O(#documents x T)), never per token, and are dropped once: set to a sentinel that sorts last, or removed in one
pass when the key uses all 64 bits. Then one sort and run lengths.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


class Counted(NamedTuple):
    """Counted windows. ``contexts``: int64 (m, context_len), distinct contexts (original ids) in lexicographic
    order; ``first``: int64 (m + 1,), where each context's pairs start (CSC ``indptr``); ``row``, ``cnt``: int64
    (nnz,), next-token id (original) and count of each distinct (context, next) pair, sorted by (context, next)."""

    contexts: np.ndarray
    first: np.ndarray
    row: np.ndarray
    cnt: np.ndarray


def segments(doc_ids: np.ndarray) -> np.ndarray:
    """Segment index of every token: increments whenever the document id changes."""
    seg = np.zeros(len(doc_ids), dtype=np.int64)
    if len(doc_ids) > 1:
        np.cumsum(doc_ids[1:] != doc_ids[:-1], out=seg[1:])
    return seg


def doc_starts(doc_ids: np.ndarray | None) -> np.ndarray:
    """Positions where a new run of equal document ids begins (the first token excluded), int64, sorted."""
    if doc_ids is None or len(doc_ids) < 2:
        return np.zeros(0, np.int64)
    d = np.asarray(doc_ids)
    return np.flatnonzero(d[1:] != d[:-1]) + 1


def longest_run(starts: np.ndarray, n: int) -> int:
    """Length of the longest document, from the document starts of a stream of ``n`` tokens."""
    if n == 0:
        return 0
    edges = np.concatenate([[0], starts, [n]])
    return int(np.diff(edges).max())


def crossing(starts: np.ndarray, n_windows: int, width: int) -> np.ndarray:
    """Sorted distinct start positions (< ``n_windows``) of the windows of ``width`` tokens that contain a
    document start other than their first token. O(#documents x width) marks, one pass over a bit per window."""
    starts = np.asarray(starts, np.int64)
    if not len(starts) or width < 2 or n_windows <= 0:
        return np.zeros(0, np.int64)
    if len(starts) * (width - 1) < n_windows // 64:  # few documents: sort the marks
        idx = (starts[:, None] - np.arange(1, width)[None, :]).ravel()
        idx = np.sort(idx[(idx >= 0) & (idx < n_windows)])
        return idx[_starts_flag(idx)]
    mark = np.zeros(n_windows, dtype=bool)
    for k in range(1, width):
        pos = starts - k
        mark[pos[(pos >= 0) & (pos < n_windows)]] = True
    return np.flatnonzero(mark)


def _densify(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Token ids mapped to 0..b-1 preserving order: (dense ids, as uint32 or a uint64 view; sorted distinct raw ids;
    whether the ids were dense already). O(N) when the ids are small."""
    top = int(ids.max())
    if top <= 4 * len(ids) + 65_536:
        present = np.zeros(top + 1, dtype=bool)
        present[ids] = True
        if present.all():
            return ids.view(np.uint64) if ids.dtype == np.int64 else ids, np.arange(top + 1), True
        remap = np.cumsum(present, dtype=np.int64).astype(np.uint32) - np.uint32(1)
        return remap[ids], np.flatnonzero(present), False
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.ravel().astype(np.uint32 if len(uniq) < 2**32 else np.uint64), uniq, False


def _count_keys(key: np.ndarray, kbits: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct uint64 keys (sorted) and their counts; ``key`` holds ``kbits``-bit keys and may be sorted in place."""
    if kbits <= 28 and (1 << kbits) <= max(4 * len(key), 1 << 20):
        counts = np.bincount(key.view(np.int64), minlength=1)  # small key space: count without sorting
        uniq = np.flatnonzero(counts)
        return uniq.astype(np.uint64), counts[uniq]
    key.sort()
    return _run_lengths(key)


def _unpack_contexts(
    ck: np.ndarray, context_len: int, fields: int, prefixes: list[tuple[np.ndarray, int]], tb: int
) -> np.ndarray:
    """Dense token ids, shape (len(ck), context_len), of the context keys ``ck`` packed by :func:`count_packed`.

    ``fields`` token fields of ``tb`` bits sit in each key after its last prefix id; ``prefixes`` lists, per
    compression, the packed key of each prefix id and how many tokens it packs.
    """
    mask = np.uint64((1 << tb) - 1)
    contexts = np.empty((len(ck), context_len), dtype=np.int64)
    t = context_len  # fill token columns from the right: the fields of the key, then each compressed prefix
    ck = ck.copy()
    for distinct, n_fields in [(None, fields)] + prefixes[::-1]:
        if distinct is not None:
            ck = distinct[ck.view(np.int64)]  # the packed key this prefix id stands for
        for _ in range(n_fields):
            t -= 1
            contexts[:, t] = (ck & mask).view(np.int64)
            ck >>= np.uint64(tb)
    return contexts


#: the crossing windows are removed in one pass when more than 1/FEW of all (short documents: sorting them costs
#: more than the pass), else set to a key that sorts last and cut off after the sort
FEW = 64
BUCKET_BITS = 16  # keys up to 64 + this many bits: the top bits pick a bucket (a radix pass), 64-bit words sort inside


def _pack_prefix(dense: np.ndarray, width: int, tb: int, n: int) -> tuple[np.ndarray, int, int, list]:
    """Pack window prefixes from slices of ``dense`` until the rest fits in ``64 + BUCKET_BITS`` bits, replacing a
    packed prefix by its rank (:func:`_compress`) whenever the next token would not fit. Returns (keys, their bits,
    index of the next token to pack, prefixes: per compression the distinct prefix keys and how many tokens each
    key packed)."""
    key = np.empty(n, dtype=np.uint64)
    key[:] = dense[:n]
    kbits, t, packed, prefixes = tb, 1, 1, []
    ibits = _bits(n)
    while kbits + (width - t) * tb > 64 + min(BUCKET_BITS, tb):  # and the context alone fits in 64 bits
        useful = packed > 1 or bool(prefixes)  # never rank a lone raw token (already dense)
        if (useful and kbits + tb + ibits > 64 and kbits + ibits <= 64) or kbits + tb > 64:
            key, distinct = _compress(key, kbits)
            prefixes.append((distinct, packed))
            kbits, packed = _bits(len(distinct)), 0
        np.left_shift(key, np.uint64(tb), out=key)
        np.bitwise_or(key, dense[t : t + n], out=key)
        kbits, t, packed = kbits + tb, t + 1, packed + 1
    return key, kbits, t, [*prefixes, packed]


def _windows(dense: np.ndarray, width: int, tb: int, bad: np.ndarray):
    """Sorted keys of all windows of ``width`` tokens (the windows at ``bad`` dropped) and their counts, as
    (hi, lo, cnt, kbits, packed, prefixes): ``hi`` uint64 top bits above 64 (None when the keys fit in 64 bits),
    ``lo`` the low 64 bits, ``kbits`` the key width, ``packed`` the token fields after the last prefix id."""
    n = len(dense) - width + 1
    key, kbits, t, prefixes = _pack_prefix(dense, width, tb, n)
    packed = prefixes.pop()
    hi = None
    for t in range(t, width):  # the rest fits in 64 + BUCKET_BITS bits: bits shifted out of the word go to hi
        if kbits + tb > 64:
            top = key >> np.uint64(64 - tb)
            hi = top if hi is None else (hi << np.uint64(tb)) | top
        np.left_shift(key, np.uint64(tb), out=key)
        np.bitwise_or(key, dense[t : t + n], out=key)
        kbits, packed = kbits + tb, packed + 1
    if hi is None:
        return (None, *_count_word(key, kbits, bad), kbits, packed, prefixes)
    return (*_count_bucketed(hi.astype(np.uint16), key, kbits - 64, bad), kbits, packed, prefixes)


def _count_word(key: np.ndarray, kbits: int, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) and counts of 64-bit words, the words at ``bad`` dropped."""
    if not len(bad):
        return _count_keys(key, kbits)
    if kbits < 64 and len(bad) <= len(key) // FEW:
        key[bad] = _ALL_ONES  # above every real key: one run at the end, cut off
        uniq, cnt = _count_keys(key, 64)
        return uniq[:-1], cnt[:-1]
    keep = np.ones(len(key), dtype=bool)
    keep[bad] = False
    return _count_keys(key[keep], kbits)


def _count_bucketed(hi: np.ndarray, lo: np.ndarray, hb: int, bad: np.ndarray):
    """Distinct (hi, lo) keys of ``hb`` + 64 bits in lexicographic order and their counts, the rows at ``bad``
    dropped: one stable radix pass on ``hi`` (uint16), then a sort of the 64-bit words inside each bucket."""
    nb = 1 << hb
    if len(bad):
        if hb < BUCKET_BITS and len(bad) <= len(lo) // FEW:
            hi[bad] = nb  # a last bucket, cut off
            nb += 1
        else:
            keep = np.ones(len(lo), dtype=bool)
            keep[bad] = False
            hi, lo = hi[keep], lo[keep]
    order = np.argsort(hi, kind="stable")  # uint16: numpy's radix sort, O(n)
    lo = lo[order]
    del order
    sizes = np.bincount(hi, minlength=nb)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for j in np.flatnonzero(sizes > 1).tolist():
        lo[bounds[j] : bounds[j + 1]].sort()
    if nb > 1 << hb:  # drop the bucket of crossing windows
        lo, bounds = lo[: bounds[-2]], bounds[:-1]
    flag = _starts_flag(lo)
    flag[bounds[:-1][bounds[:-1] < len(lo)]] = True  # a new bucket starts a new key
    idx = np.flatnonzero(flag)
    hs = np.repeat(np.arange(len(bounds) - 1, dtype=np.uint64), np.diff(bounds))[idx]  # the bucket of each key
    return hs, lo[idx], _gaps(idx, len(lo))


def _gaps(idx: np.ndarray, end: int) -> np.ndarray:
    """``np.diff(np.append(idx, end))`` without the copy."""
    out = np.empty(len(idx), dtype=np.int64)
    np.subtract(idx[1:], idx[:-1], out=out[:-1])
    out[-1:] = end - idx[-1:]
    return out


def count_packed(ids: np.ndarray, context_len: int, starts: np.ndarray | None = None) -> Counted:
    """Count the windows of ``context_len + 1`` tokens of ``ids`` (non-negative ints) that stay inside one document;
    ``starts``: positions where a document begins (:func:`doc_starts`; None: one document). See :class:`Counted`."""
    ids = np.asarray(ids)
    if ids.dtype.kind != "u" and ids.dtype != np.int64:  # signed ids as int64 (viewed as uint64 when dense)
        ids = ids.astype(np.int64)
    W = context_len + 1
    n = len(ids) - W + 1
    bad = crossing(np.zeros(0, np.int64) if starts is None else starts, max(n, 0), W)
    if n <= len(bad):
        z = np.zeros(0, np.int64)
        return Counted(np.zeros((0, context_len), np.int64), np.zeros(1, np.int64), z, z)
    dense, tok, identity = _densify(ids)
    tb = _bits(len(tok))
    hi, lo, cnt, kbits, packed, prefixes = _windows(dense, W, tb, bad)
    mask = np.uint64((1 << tb) - 1)
    row = (lo & mask).view(np.int64)
    ctx_key = lo >> np.uint64(tb)
    if hi is not None:  # the context (kbits - tb <= 64 bits) fits in one word
        ctx_key |= hi << np.uint64(64 - tb)
    del lo, hi
    flag = np.empty(len(ctx_key) + 1, dtype=bool)  # True where a context starts, and at the end
    flag[[0, -1]] = True
    np.not_equal(ctx_key[1:], ctx_key[:-1], out=flag[1:-1])
    first = np.flatnonzero(flag)
    contexts = _unpack_contexts(ctx_key[first[:-1]], context_len, packed - 1, prefixes, tb)
    if identity:
        return Counted(contexts, first, row, cnt)
    return Counted(tok[contexts], first, tok[row], cnt)


def count_windows(
    ids: np.ndarray, context_len: int, doc_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count all (context, next token) windows of ``ids`` that stay inside one document. Vectorised.

    Each window of T = context_len + 1 tokens is bit-packed into one uint64 key (ceil(log2 b) bits per token over the
    b distinct tokens), from contiguous slices of the dense ids. When the key space is small the keys are counted
    with ``np.bincount`` (no sort); otherwise with one sort. When T fields exceed 64 bits, the longest prefix that
    fits is first replaced by its dense id (one argsort), and packing continues after it, so the cost is
    O(N log N) with as few sorts as the vocabulary allows. Windows that cross a document (a change of ``doc_ids``)
    are found from the document starts and dropped once.

    Returns
    -------
    contexts : int64 array, shape (m, context_len)
        Distinct contexts (original ids), in lexicographic order of their ids.
    col, row, cnt : int64 arrays, shape (nnz,)
        Context index, next-token id (original) and count of each distinct (context, next token) pair, sorted by
        (col, row).
    """
    c = count_packed(np.ascontiguousarray(ids, dtype=np.int64), context_len, doc_starts(doc_ids))
    col = np.repeat(np.arange(len(c.contexts), dtype=np.int64), np.diff(c.first))
    return c.contexts, col, c.row, c.cnt


def _bits(n: int) -> int:
    """Bits needed for the values 0..n-1 (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


def _compress(key: np.ndarray, kbits: int) -> tuple[np.ndarray, np.ndarray]:
    """Replace each key (``kbits`` bits) by its rank among the distinct keys (an order-preserving dense id).

    One sort of the keys with their position in the low bits when both fit in 64 bits, else one argsort. Returns
    the new keys (uint64) and the sorted distinct keys (``distinct[new_key] == old_key``).
    """
    n = len(key)
    ibits = _bits(n)
    if kbits + ibits <= 64:
        ks = key << np.uint64(ibits)
        ks |= np.arange(n, dtype=np.uint64)
        ks.sort()
        order = (ks & np.uint64((1 << ibits) - 1)).view(np.int64)
        ks >>= np.uint64(ibits)
    else:
        order = np.argsort(key)
        ks = key[order]
    flag = _starts_flag(ks)
    new = key  # reused: the old keys are no longer needed
    new[order] = np.cumsum(flag, dtype=np.uint64) - np.uint64(1)
    return new, ks[flag]


def _starts_flag(sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask, True where a new key begins in a sorted array."""
    flag = np.empty(len(sorted_keys), dtype=bool)
    flag[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=flag[1:])
    return flag


def _run_lengths(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys of a sorted array and how often each occurs."""
    idx = np.flatnonzero(_starts_flag(sorted_keys))
    return sorted_keys[idx], _gaps(idx, len(sorted_keys))


__all__ = ["Counted", "count_packed", "count_windows", "crossing", "doc_starts", "longest_run", "segments"]
