"""The engines' counting kernel: exact merges of wide keys, lexicographic packing, partitioning."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data.engines.kernel import merge_rows, pack_words, partition_of, split_by_partition

rows_st = st.integers(1, 6).flatmap(lambda w: st.lists(
    st.tuples(st.lists(st.integers(0, 2**20), min_size=w, max_size=w), st.integers(0, 2**20), st.integers(1, 5)),
    min_size=0, max_size=60))


def as_table(rows, width):
    ctx = np.array([r[0] for r in rows], dtype=np.int64).reshape(-1, width)
    return ctx, np.array([r[1] for r in rows], dtype=np.int64), np.array([r[2] for r in rows], dtype=np.int64)


@settings(max_examples=60)
@given(rows=rows_st, cut=st.integers(0, 60))
def test_merge_rows_is_an_exact_sorted_group_by_sum(rows, cut):
    # fields of 21 bits: 3 per word, so contexts of 3+ tokens need several words (keys up to 147 bits)
    width = len(rows[0][0]) if rows else 2
    rows = rows + rows[: cut % (len(rows) + 1)]  # repeated keys, split over two tables
    a, b = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    ctx, nxt, cnt = merge_rows([as_table(a, width), as_table(b, width)], width)
    expect = Counter()
    for c, z, k in rows:
        expect[(*c, z)] += k
    got = [(*map(int, c), int(z)) for c, z in zip(ctx, nxt)]
    assert got == sorted(expect)  # one row per key, in lexicographic order
    assert [int(k) for k in cnt] == [expect[key] for key in got]


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000)), min_size=2, max_size=40))
def test_pack_words_orders_like_tuples(tuples):
    fields = [np.array(col, dtype=np.int64) for col in zip(*tuples)]
    words = pack_words(fields, 1000)
    order = np.lexsort(words[::-1])
    assert [tuples[i] for i in order] == sorted(tuples)


def test_partitions_keep_each_context_whole_and_cover_all_rows():
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 5, size=(500, 3))
    rows = (ctx, rng.integers(0, 5, 500), np.ones(500, np.int64))
    parts = split_by_partition(rows, 7)
    assert sum(len(p[1]) for p in parts.values()) == 500
    seen = {}
    for p, (c, _, _) in parts.items():
        for row in map(tuple, c):
            assert seen.setdefault(row, p) == p
    assert len(set(partition_of(ctx, 7).tolist())) > 1
