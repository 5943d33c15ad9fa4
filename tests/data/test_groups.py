"""Grouping of pattern columns: sparse and dense storage against a brute-force grouping."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data.groups import column_groups


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 9), st.integers(1, 15))
def test_column_groups_match_brute_force(seed, n, k):
    rng = np.random.default_rng(seed)
    base = rng.random((n, 3)) < 0.5  # few distinct columns, so groups repeat (all-zero columns allowed)
    P = base[:, rng.integers(3, size=k)]
    seen: dict[tuple, int] = {}
    ids = np.array([seen.setdefault(tuple(c), len(seen)) for c in P.T])
    first = np.array([int(np.flatnonzero(ids == g)[0]) for g in range(len(seen))])
    for stored in (P, sp.csc_array(P), sp.csr_matrix(P.astype(float))):
        got_ids, got_first = column_groups(stored)
        assert np.array_equal(got_ids, ids) and np.array_equal(got_first, first)


def test_column_groups_does_not_modify_its_input():
    M = sp.csc_matrix((np.ones(3), np.array([2, 0, 1]), np.array([0, 2, 3])), shape=(3, 2))  # unsorted indices
    before = M.indices.copy()
    assert column_groups(M)[0].tolist() == [0, 1]
    assert np.array_equal(M.indices, before)
    with pytest.raises(ValueError):
        column_groups(np.ones(3))


def _brute(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seen: dict[tuple, int] = {}
    ids = np.array([seen.setdefault(tuple(np.flatnonzero(c)), len(seen)) for c in P.T])
    return ids, np.array([int(np.flatnonzero(ids == g)[0]) for g in range(len(seen))])


def test_hash_collisions_are_caught_and_the_grouping_stays_exact(monkeypatch):
    """With a hash that collides for every column of the same size, the exact check must fall back."""
    from ntpgeom.data import groups

    monkeypatch.setattr(groups, "_mix", lambda x, seed: np.ones(len(x), dtype=np.uint64))
    rng = np.random.default_rng(3)
    P = rng.random((8, 30)) < 0.4
    ids, first = column_groups(sp.csc_array(P))
    want = _brute(P)
    assert np.array_equal(ids, want[0]) and np.array_equal(first, want[1])


def test_memory_does_not_grow_with_the_widest_column():
    """One support of 4000 tokens among 20 000 small ones: keys padded to the widest column would take 640 MB."""
    import tracemalloc

    k, n = 20_000, 5_000
    rng = np.random.default_rng(0)
    rows = [rng.choice(n, size=2, replace=False) for _ in range(k - 1)] + [np.arange(4000)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    S = sp.csc_array((np.ones(indptr[-1]), np.concatenate(rows), indptr), shape=(n, k))
    tracemalloc.start()
    ids, first = column_groups(S)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6, peak
    assert ids[-1] == len(first) - 1 and first[-1] == k - 1  # the wide column is its own, last group
    pairs = {tuple(sorted(r)) for r in rows[:-1]}
    assert len(first) == len(pairs) + 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 2)), min_size=0, max_size=40), st.integers(0, 3))
def test_first_occurrence_ids_match_a_dictionary_even_when_every_hash_collides(rows, hash_bits):
    """Rows numbered by first occurrence; the row hash keeps only ``hash_bits`` bits, so distinct rows share hashes
    (runs holding different rows are split exactly)."""
    from ntpgeom.data.groups import first_occurrence_ids

    keys = np.array(rows, dtype=np.int64).reshape(-1, 2)
    seen: dict[tuple, int] = {}
    ids = [seen.setdefault(tuple(r), len(seen)) for r in keys.tolist()]
    first = [ids.index(g) for g in range(len(seen))]
    weak = (keys[:, 0] % (1 << hash_bits)).astype(np.uint64) if hash_bits else np.zeros(len(keys), np.uint64)
    for h in (None, weak):
        got_ids, got_first = first_occurrence_ids(keys, h)
        assert got_ids.tolist() == ids and got_first.tolist() == first


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 3, 15, 16, 70, 2**17]), st.integers(1, 40), st.integers(1, 40))
def test_count_distinct_columns_equals_the_grouping(seed, n, k, width):
    """Columns narrow enough to pack exactly into one word, and wider ones (grouped by hash), together."""
    from ntpgeom.data.groups import count_distinct_columns

    rng = np.random.default_rng(seed)
    cols = [np.sort(rng.choice(n, size=min(n, int(rng.integers(0, width + 1))), replace=False)) for _ in range(k)]
    cols += [cols[int(i)] for i in rng.integers(0, k, size=k)]  # repeats
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])])
    P = sp.csc_array((np.ones(indptr[-1]), np.concatenate(cols).astype(np.int64), indptr), shape=(n, len(cols)))
    assert count_distinct_columns(P) == len({tuple(c) for c in cols}) == column_groups(P)[0].max() + 1
