"""The counting kernel: all (context, next token) windows of a token stream that stay inside one document, counted
with one sort of bit-packed keys (``count_windows``; used by ``from_tokens`` and the streaming engines)."""

from __future__ import annotations

import numpy as np


def segments(doc_ids: np.ndarray) -> np.ndarray:
    """Segment index of every token: increments whenever the document id changes."""
    seg = np.zeros(len(doc_ids), dtype=np.int64)
    if len(doc_ids) > 1:
        np.cumsum(doc_ids[1:] != doc_ids[:-1], out=seg[1:])
    return seg


def _densify(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map token ids to 0..b-1 preserving order; returns (dense ids, sorted distinct raw ids). O(N) when ids are small."""
    top = int(ids.max())
    if top <= 4 * len(ids) + 65_536:
        present = np.zeros(top + 1, dtype=bool)
        present[ids] = True
        remap = np.cumsum(present, dtype=np.int64) - 1
        return remap[ids], np.flatnonzero(present)
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.ravel().astype(np.int64), uniq




def _count_keys(key: np.ndarray, kbits: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct uint64 keys (sorted) and their counts; ``key`` holds ``kbits``-bit keys and may be sorted in place."""
    if kbits <= 28 and (1 << kbits) <= max(4 * len(key), 1 << 20):
        counts = np.bincount(key.view(np.int64))  # small key space: count without sorting
        uniq = np.flatnonzero(counts).astype(np.uint64)
        return uniq, counts[uniq.view(np.int64)]
    key.sort()
    return _run_lengths(key)


def _unpack_contexts(
    ck: np.ndarray, context_len: int, fields: int, prefixes: list[tuple[np.ndarray, int]], tb: int
) -> np.ndarray:
    """Dense token ids, shape (len(ck), context_len), of the context keys ``ck`` packed by :func:`count_windows`.

    ``fields`` token fields of ``tb`` bits sit in each key after its last prefix id; ``prefixes`` lists, per
    compression, the packed key of each prefix id and how many tokens it packs.
    """
    mask = np.uint64((1 << tb) - 1)
    contexts = np.empty((len(ck), context_len), dtype=np.int64)
    t = context_len  # fill token columns from the right: the fields of the key, then each compressed prefix
    for distinct, n_fields in [(None, fields)] + prefixes[::-1]:
        if distinct is not None:
            ck = distinct[ck.view(np.int64)]  # the packed key this prefix id stands for
        for _ in range(n_fields):
            t -= 1
            contexts[:, t] = (ck & mask).view(np.int64)
            ck >>= tb
    return contexts


def count_windows(
    ids: np.ndarray, context_len: int, doc_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count all (context, next token) windows of ``ids`` that stay inside one document. Vectorised.

    Each window of T = context_len + 1 tokens is bit-packed into one uint64 key (ceil(log2 b) bits per token over the
    b distinct tokens). When the key space is small the keys are counted with ``np.bincount`` (no sort); otherwise
    with one sort. When T fields exceed 64 bits, the longest prefix that fits is first replaced by its dense id (one
    argsort), and packing continues after it, so the cost is O(N log N) with as few sorts as the vocabulary allows.

    Returns
    -------
    contexts : int64 array, shape (m, context_len)
        Distinct contexts (original ids), in lexicographic order of their ids.
    col, row, cnt : int64 arrays, shape (nnz,)
        Context index, next-token id (original) and count of each distinct (context, next token) pair, sorted by
        (col, row).
    """
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    N, W = len(ids), context_len + 1
    empty = np.zeros((0, context_len), np.int64), *(np.zeros(0, np.int64),) * 3
    if N < W:
        return empty
    starts = N - W + 1
    pos: np.ndarray | None = None  # window start positions (None: all of 0..starts-1)
    if doc_ids is not None:
        seg = segments(np.asarray(doc_ids))
        valid = seg[:starts] == seg[W - 1 :]
        if not valid.any():
            return empty
        if not valid.all():
            pos = np.flatnonzero(valid)
    dense, tok = _densify(ids)
    tb = _bits(len(tok))  # bits per token field
    dense_u = dense.astype(np.uint64)

    def column(t: int) -> np.ndarray:
        return dense_u[t : t + starts] if pos is None else dense_u[pos + t]

    # Bit-packed uint64 keys: one tb-bit field per token; when the next field would not fit in 64 bits, the packed
    # prefix is replaced by its dense id (_compress) and packing continues after it.
    key = column(0).copy()
    kbits = tb
    prefixes: list[tuple[np.ndarray, int]] = []  # per compression: (packed key of each prefix id, tokens it packs)
    packed = 1  # tokens packed in the current key's fields (after the last prefix id, if any)
    for t in range(1, W):
        if kbits + tb > 64:
            key, distinct = _compress(key)
            prefixes.append((distinct, packed))
            kbits, packed = _bits(len(distinct)), 0
        key <<= tb
        key |= column(t)
        kbits += tb
        packed += 1
    uniq, cnt = _count_keys(key, kbits)
    mask = np.uint64((1 << tb) - 1)
    row = (uniq & mask).view(np.int64)
    ctx_key = uniq >> tb
    first, col = _group_starts(ctx_key)
    contexts = _unpack_contexts(ctx_key[first], context_len, packed - 1, prefixes, tb)
    identity = len(tok) == 0 or tok[-1] == len(tok) - 1  # dense ids are the original ids
    if identity:
        return contexts, col, row, cnt.astype(np.int64, copy=False)
    return tok[contexts], col, tok[row], cnt.astype(np.int64, copy=False)


def _bits(n: int) -> int:
    """Bits needed for the values 0..n-1 (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


def _compress(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace each key by its rank among the distinct keys (an order-preserving dense id, one argsort).

    Returns the new keys (uint64) and the sorted distinct keys (``distinct[new_key] == old_key``).
    """
    order = np.argsort(key)
    ks = key[order]
    flag = _starts_flag(ks)
    new = np.empty(len(key), dtype=np.uint64)
    new[order] = np.cumsum(flag, dtype=np.int64) - 1
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
    return sorted_keys[idx], np.diff(np.append(idx, len(sorted_keys))).astype(np.int64)


def _group_starts(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices where a new key starts, and the group index of every element."""
    flag = _starts_flag(sorted_keys)
    return np.flatnonzero(flag), np.cumsum(flag) - 1


__all__ = ["count_windows", "segments"]
