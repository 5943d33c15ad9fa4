"""The size check before dense (V, m) allocations: a crafted pattern, large as V x m but small as a sparse matrix, is
refused at once with the size in GiB, by every entry point that would densify it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

import ntpgeom.theory.dense_size as dense_size
import ntpgeom.theory.pattern as pattern_mod
from ntpgeom.data import from_counts
from ntpgeom.errors import SolverError
from ntpgeom.theory import compute_theory, solve_ntp_svm
from ntpgeom.theory.dense_size import check_dense_size
from ntpgeom.theory.svm_large import solve_ntp_svm_large


def test_check_dense_size_threshold(monkeypatch):
    monkeypatch.setattr(dense_size, "machine_memory", lambda: 1000)
    check_dense_size(10, 50, 1.0)  # 500 bytes: exactly half fits
    with pytest.raises(SolverError, match="x m = 51 needs .* GiB, more than half of this machine's .*; do less"):
        check_dense_size(10, 51, 1.0, advice="do less")
    monkeypatch.setattr(dense_size, "machine_memory", lambda: None)
    check_dense_size(10**9, 10**9, 8.0)  # unknown memory: no refusal


@pytest.fixture
def memory_64gib(monkeypatch):
    monkeypatch.setattr(dense_size, "machine_memory", lambda: 64 << 30)


def test_a_huge_sparse_pattern_is_refused_before_allocating(memory_64gib):
    V, m = 100_000, 1_000_000  # 10^11 entries: ~1 TiB dense, 12 MB sparse
    S = sp.csc_array((np.ones(m), (np.arange(m) % V, np.arange(m))), shape=(V, m))
    t = time.perf_counter()
    for solve in (solve_ntp_svm, pattern_mod.support_mask):
        with pytest.raises(SolverError, match=r"V = 100000 x m = 1000000 needs dense V x m arrays of about [\d,]+ GiB"):
            solve(S)
    with pytest.raises(SolverError, match="GiB.*--min-count"):
        solve_ntp_svm_large(S, expand=True)
    assert time.perf_counter() - t < 30  # nothing V x m was built (a dense attempt would take minutes or die)


def test_compute_theory_refuses_what_does_not_fit(monkeypatch):
    d = from_counts(sp.csc_array((np.ones(300), (np.arange(300) % 40, np.arange(300))), shape=(40, 300)))
    monkeypatch.setattr(dense_size, "machine_memory", lambda: 1 << 20)  # 1 MiB: 12 000 entries need more
    with pytest.raises(SolverError, match="the theory .* about 0.0.* GiB, more than half of this machine's"):
        compute_theory(d)
    monkeypatch.setattr(dense_size, "machine_memory", lambda: 1 << 30)
    assert compute_theory(d, solve=False).svm is None
