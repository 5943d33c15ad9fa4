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
