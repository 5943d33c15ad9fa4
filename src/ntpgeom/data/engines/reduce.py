"""The reduce side shared by every engine: merge each hash partition and select its candidate rows, exactly.

:func:`reduce_partitions` runs wherever it is sent (this process, a worker process, a Ray task): it merges the given
partitions one at a time and keeps only what the selection can still use. With ``top_k`` it keeps a running floor:
once ``top_k`` contexts with count >= f are held, a context with count < f has ``top_k`` contexts ahead of it and
can never be selected, so it is dropped at once (exact; ties at f are kept for the final tie-break).
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Sequence

import numpy as np

from .assemble import VocabMap, prune_top_k, select_partition
from .kernel import Rows, group_contexts
from .local import WorkDir, merge_partition

PRUNE_SLACK = 1 << 16  # candidate rows held beyond 4 K before a running top-K pruning


def context_totals(rows: Rows) -> np.ndarray:
    """Total count of each context of a row table sorted by context, shape (m,)."""
    starts, _ = group_contexts(rows[0])
    return np.add.reduceat(rows[2], starts) if len(starts) else np.zeros(0, np.int64)


class TopK:
    """Candidate rows of disjoint context sets, pruned to the exact best ``top_k`` contexts as they grow (memory ~ K
    rows, not the corpus). ``top_k`` None: every row is kept."""

    def __init__(self, top_k: int | None, context_len: int):
        self.top_k, self.context_len = top_k, context_len
        self.rows: list[Rows] = []
        self.totals: list[np.ndarray] = []
        self.held, self.floor = 0, 0
        self.limit = None if top_k is None else 4 * int(top_k) + PRUNE_SLACK

    def add(self, rows: Rows) -> None:
        if not len(rows[1]):
            return
        self.rows.append(rows)
        self.held += len(rows[1])
        if self.top_k is None:
            return
        self.totals.append(context_totals(rows))
        n = sum(len(t) for t in self.totals)
        if n >= self.top_k:  # top_k contexts with count >= floor are held
            self.floor = max(self.floor, int(np.partition(np.concatenate(self.totals), n - self.top_k)[n - self.top_k]))
        if self.held > self.limit:
            self.rows = prune_top_k(self.rows, int(self.top_k))
            self.totals = [context_totals(r) for r in self.rows]
            self.held = sum(len(r[1]) for r in self.rows)
            self.limit = max(self.limit, 2 * self.held)  # amortised: each prune at least halves what it is given


def reduce_partitions(work: WorkDir, done: list[int], partitions: Sequence[int], context_len: int,
                      vmap: VocabMap | None, filters: dict, floor: int = 0) -> list[Rows]:
    """Merge each of ``partitions`` over the finished shards and select its candidates (see the module docstring);
    ``floor``: a count floor already established elsewhere (contexts below it cannot be in the top K)."""
    keep = TopK(filters.get("top_k"), context_len)
    keep.floor = int(floor)
    for p in partitions:
        rows = merge_partition(work, done, p, context_len)
        keep.add(select_partition(rows, vmap, filters, context_len, floor=keep.floor))
    return keep.rows


def blocks(n_partitions: int, workers: int) -> list[list[int]]:
    """Partitions dealt into interleaved blocks: one block in one process, else 4 per worker (hash partitions are
    balanced, so blocks are of similar size)."""
    n = 1 if workers <= 1 else min(n_partitions, 4 * workers)
    return [list(range(w, n_partitions, n)) for w in range(n)]


def run_reduce_local(work: WorkDir, done: list[int], n_partitions: int, context_len: int, vmap: VocabMap | None,
                     filters: dict, pool: ProcessPoolExecutor | None, workers: int, say: Callable[..., None]) -> TopK:
    """All partitions reduced in this process (``pool`` None) or on the pool's workers (each new block gets the
    top-K floor known so far); returns the selected candidates of all."""
    final = TopK(filters.get("top_k"), context_len)
    workers = 1 if pool is None else workers
    parts = blocks(n_partitions, workers)
    say("merging partitions", 0, len(parts))
    if pool is None:
        for c in reduce_partitions(work, done, parts[0], context_len, vmap, filters):
            final.add(c)
        return final
    queue, running = list(parts), set()
    while queue or running:
        while queue and len(running) < workers:
            running.add(pool.submit(reduce_partitions, work, done, queue.pop(0), context_len, vmap, filters, final.floor))
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        for f in finished:
            for c in f.result():
                final.add(c)
        say("merging partitions", len(parts) - len(queue) - len(running), len(parts))
    return final
