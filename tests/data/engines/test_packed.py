"""Packed-key counting of the streaming engines: exact group-by-sums on every code path (one word, context ranks,
lexsort fallback, counts split over rows) against a Counter; windows against a loop; the engine with shards of
different widths (re-packing, packed and row pieces in one partition) and with worker processes against from_tokens."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


from ntpgeom.data.engines import build_corpus
import ntpgeom.data.engines.packed as P
from ntpgeom.data.engines.kernel import partition_of
from ntpgeom.data.engines.packed import (group_sum, pack_fields, partition_of_packed, repack, to_rows,
                                         unpack_fields, window_table)

from .test_build import brute_counts, ref_tokens, write_shards

# (context_len, bits): one word with count bits; one word with split counts (12 free bits); context ranks; lexsort
PATHS = [(2, 5), (3, 13), (4, 12), (1, 60), (5, 12)]


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from(PATHS), n=st.integers(0, 300), big=st.booleans(), seed=st.integers(0, 2**16),
       bucket=st.booleans())
def test_group_sum_is_an_exact_sorted_group_by_sum(shape, n, big, seed, bucket):
    L, b = shape
    saved, P.BUCKET_MIN_ROWS = P.BUCKET_MIN_ROWS, 0 if bucket else 1 << 30  # (5, 12) uncounted: the bucket path
    try:
        _check_group_sum(L, b, n, big, seed)
    finally:
        P.BUCKET_MIN_ROWS = saved


def _check_group_sum(L: int, b: int, n: int, big: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = np.append(rng.integers(0, 1 << b, size=5, dtype=np.uint64), np.uint64((1 << b) - 1))
    fields = pool[rng.integers(0, 6, size=(n, L + 1))]  # 6 values over all b bits: repeated keys, many buckets
    cnt = rng.integers(1, 10**7 if big else 5, size=n).astype(np.uint64)
    ck = pack_fields([fields[:, t] for t in range(L)], b) if n else np.zeros(0, np.uint64)
    expect: Counter = Counter()
    for row, c in zip(fields.tolist(), cnt.tolist()):
        expect[tuple(row)] += c
    for weights in (cnt, None):
        uk, nx, tot = group_sum(ck, fields[:, L], weights, L * b, b)
        ctx, _, _ = to_rows((uk, nx, tot), L, b)
        got = {tuple(c) + (int(x),): int(t) for c, x, t in zip(ctx.tolist(), nx.tolist(), tot.tolist())}
        want = expect if weights is not None else Counter(tuple(r) for r in fields.tolist())
        assert got == dict(want)
        keys = [tuple(c) + (int(x),) for c, x in zip(ctx.tolist(), nx.tolist())]
        assert keys == sorted(keys)  # lexicographic order, no duplicates
        assert len(set(keys)) == len(keys)


@settings(max_examples=30, deadline=None)
@given(docs=st.lists(st.lists(st.integers(0, 40), max_size=20), min_size=1, max_size=15), L=st.integers(1, 5))
def test_window_table_counts_the_windows_inside_documents(docs, L):
    ids = np.array([t for d in docs for t in d], dtype=np.int64)
    doc_ids = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    ctx, nxt, cnt = to_rows(window_table(ids, doc_ids, L, 6), L, 6)
    got = {(tuple(c), int(x)): int(k) for c, x, k in zip(ctx.tolist(), nxt.tolist(), cnt.tolist())}
    assert got == dict(brute_counts(docs, L))


def test_repack_unpack_and_partitions_agree_with_id_rows():
    rng = np.random.default_rng(3)
    ctx = rng.integers(0, 50, size=(1000, 4))
    cols = [ctx[:, t].astype(np.uint64) for t in range(4)]
    ck6 = pack_fields(cols, 6)
    ck9 = repack(ck6, 4, 6, 9)
    assert np.array_equal(ck9, pack_fields(cols, 9))
    assert all(np.array_equal(a, c) for a, c in zip(unpack_fields(ck9, 4, 9), cols))
    assert np.array_equal(partition_of_packed(ck6, 4, 6, 13), partition_of(ctx, 13))
    assert np.array_equal(partition_of_packed(ck9, 4, 9, 13), partition_of(ctx, 13))


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2: spawns processes
def test_shards_of_different_widths_and_worker_processes_equal_from_tokens(tmp_path, workers):
    # shard 0: ids < 8 (3-bit fields); shard 1: ids < 300 (9 bits, re-packed with shard 0 in the merge);
    # shard 2: ids up to 2**16 (4 x 17 bits > 64: id rows, merged with packed pieces of the same partitions)
    rng = np.random.default_rng(11)
    docs = ([rng.integers(0, 8, size=60).tolist() for _ in range(20)]
            + [rng.integers(0, 300, size=60).tolist() for _ in range(20)]
            + [(rng.integers(0, 8, size=60) * (1 + (rng.random(60) < 0.05) * (2**16 - 1))).tolist() for _ in range(20)])
    pattern = write_shards(tmp_path / "in", docs, 3, row_group=1000)
    for top_k in (None, 7):
        got = build_corpus(pattern, context_len=4, ids_column="ids", partitions=5, workers=workers, top_k=top_k)
        assert got.hash == ref_tokens(docs, 4, top_k=top_k).hash
