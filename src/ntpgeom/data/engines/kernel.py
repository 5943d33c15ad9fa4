"""Counting kernel of the streaming engines: per-chunk window rows, context partitioning and exact merges.

A *row table* is ``(ctx, nxt, cnt)``: ``ctx`` int64 array, shape (n, T-1), the context token ids; ``nxt`` int64,
shape (n,), the next-token id; ``cnt`` int64, shape (n,), how often the window occurred. Keys of any width stay exact:
a merge packs the T token fields into as many 64-bit words as needed and sorts them lexicographically (no hashing).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..windows import count_packed, doc_starts
from .packed import hash_columns

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]



def empty_rows(context_len: int) -> Rows:
    """A row table with no rows."""
    return np.zeros((0, context_len), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)


def window_rows(ids: np.ndarray, context_len: int, doc_ids: np.ndarray | None = None) -> Rows:
    """Pre-aggregate the windows of one chunk with the counting kernel (:func:`~ntpgeom.data.windows.count_packed`).

    Windows never cross documents (runs of equal ``doc_ids``). Returns a row table sorted by (context, next).
    """
    contexts, first, row, cnt = count_packed(np.asarray(ids), context_len, doc_starts(doc_ids))
    return np.repeat(contexts, np.diff(first), axis=0), row, cnt


def context_hash(ctx: np.ndarray) -> np.ndarray:
    """A 64-bit mixing hash of each context row (splitmix64 over the columns), shape (n,). Used only to partition;
    equality is always decided on the full keys."""
    if not ctx.shape[1]:
        return np.zeros(len(ctx), dtype=np.uint64)
    return hash_columns([ctx[:, t] for t in range(ctx.shape[1])])


def partition_of(ctx: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition index in 0..n_partitions-1 of each context row (a hash of the whole context), shape (n,)."""
    return (context_hash(ctx) % np.uint64(n_partitions)).astype(np.uint16 if n_partitions <= 65536 else np.int64)


def split_by_partition(rows: Rows, n_partitions: int) -> dict[int, Rows]:
    """Split a row table by the partition of its contexts; order inside each part is kept."""
    ctx, nxt, cnt = rows
    part = partition_of(ctx, n_partitions)
    order = np.argsort(part, kind="stable")  # uint16: numpy's stable sort is a radix sort, O(n)
    bounds = np.searchsorted(part[order], np.arange(n_partitions + 1))
    ctx, nxt, cnt = ctx[order], nxt[order], cnt[order]  # one gather, then slices (views)
    return {p: (ctx[bounds[p] : bounds[p + 1]], nxt[bounds[p] : bounds[p + 1]], cnt[bounds[p] : bounds[p + 1]])
            for p in range(n_partitions) if bounds[p + 1] > bounds[p]}


def _bits(n: int) -> int:
    return max(1, int(n).bit_length())


def pack_words(fields: Sequence[np.ndarray], max_value: int) -> list[np.ndarray]:
    """Pack non-negative int fields (each shape (n,), all <= max_value) into uint64 words, most significant first.

    Each word holds ``64 // bits`` fields of ``bits = bit_length(max_value)`` bits, so comparing the word lists
    lexicographically compares the field tuples lexicographically. Exact for any number of fields.
    """
    bits = _bits(max_value)
    per = max(1, 64 // bits)
    n = len(fields[0]) if fields else 0
    words = []
    for lo in range(0, len(fields), per):
        w = np.zeros(n, dtype=np.uint64)
        for f in fields[lo : lo + per]:
            w <<= np.uint64(bits)
            w |= f.astype(np.uint64)
        words.append(w)
    return words


def merge_rows(parts: Sequence[Rows], context_len: int) -> Rows:
    """Exact group-by-sum of row tables: one row per distinct (context, next), sorted lexicographically."""
    parts = [p for p in parts if len(p[1])]
    if not parts:
        return empty_rows(context_len)
    ctx = np.concatenate([p[0] for p in parts]).astype(np.int64, copy=False)
    nxt = np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False)
    cnt = np.concatenate([p[2] for p in parts]).astype(np.int64, copy=False)
    top = max(int(ctx.max()) if ctx.size else 0, int(nxt.max()))
    words = pack_words([ctx[:, t] for t in range(ctx.shape[1])] + [nxt], top)
    order = np.argsort(words[0]) if len(words) == 1 else np.lexsort(words[::-1])
    new = np.zeros(len(order), dtype=bool)
    new[:1] = True
    for w in words:
        ws = w[order]
        new[1:] |= ws[1:] != ws[:-1]
    starts = np.flatnonzero(new)
    first = order[starts]
    return ctx[first], nxt[first], np.add.reduceat(cnt[order], starts)


def group_contexts(ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a row table sorted by context: start index of each context group and each row's group index."""
    new = np.zeros(len(ctx), dtype=bool)
    new[:1] = True
    if len(ctx) > 1:
        for t in range(ctx.shape[1]):  # column by column: no (n, T-1) temporary
            new[1:] |= ctx[1:, t] != ctx[:-1, t]
    return np.flatnonzero(new), np.cumsum(new) - 1
