"""NTP-SVM* solver against independent oracles (cvxpy+SCS, closed forms, duplication), its status and its backend table."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import ntpgeom.theory.svm as svm_mod
from ntpgeom.data import synthetic
from ntpgeom.status import Status
from ntpgeom.theory import (
    S_tilde,
    SolverError,
    SolverWarning,
    max_violation,
    project_columns,
    solve_ntp_svm,
    support_pattern,
    tilde_certificate,
)
from ntpgeom.theory.svm_backends import BackendSolution


def _random_mask(rng, V, m, kmax):
    M = np.zeros((V, m), dtype=bool)
    for j in range(m):
        M[rng.choice(V, size=rng.integers(1, kmax + 1), replace=False), j] = True
    return M


def _check_dual_feasible(A, mask, atol=1e-9):
    assert np.linalg.norm(A, 2) <= 1 + 1e-9
    assert np.abs(A.sum(axis=0)).max() <= atol
    assert A[~mask].max(initial=-np.inf) <= atol


def test_bad_inputs():
    with pytest.raises(SolverError):
        solve_ntp_svm(np.array([[1, 0], [0, 0]]))  # empty column
    with pytest.raises(SolverError):
        solve_ntp_svm(np.array([[2, 0], [0, 1]]))
    with pytest.raises(SolverError):
        solve_ntp_svm(np.eye(3), method="nope")
    with pytest.raises(SolverError):
        solve_ntp_svm(np.eye(3), tol=-1)
    for bad in ({"max_iter": 0}, {"max_iter": -5}, {"threads": 0}, {"check_every": 0}, {"max_iter": 2.5}):
        with pytest.raises(SolverError, match=next(iter(bad))):
            solve_ntp_svm(np.eye(3), **bad)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("V,k", [(5, 2), (6, 3), (7, 2), (8, 3)])
def test_all_k_subsets_solution_is_S_tilde(V, k):
    d = synthetic.all_k_subsets(V, k)
    assert tilde_certificate(d).holds
    res = solve_ntp_svm(d, use_certificate=False, tol=1e-8)
    assert res.converged and res.max_violation <= 1e-9
    St = S_tilde(d.S)
    assert res.nuclear_norm == pytest.approx(np.linalg.svd(St, compute_uv=False).sum(), rel=1e-7)
    assert np.abs(res.L - St).max() <= 1e-3 * np.abs(St).max()  # unique optimum
    _check_dual_feasible(np.asarray(res.dual), d.S.toarray() > 0)


def test_one_hot_is_neural_collapse():
    V = 6
    d = synthetic.one_hot(V, per_class=[1, 3, 2, 5, 1, 2])  # imbalanced: S̃ still the unique minimiser
    res = solve_ntp_svm(d, use_certificate=False, tol=1e-9)
    assert np.allclose(res.L, S_tilde(d.S), atol=1e-5)


# ----------------------------------------------------------------------------- vs cvxpy
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_agrees_with_cvxpy(seed):
    pytest.importorskip("cvxpy")
    rng = np.random.default_rng(seed)
    mask = _random_mask(rng, 9, 25, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        ref = solve_ntp_svm(mask, method="cvxpy", cvxpy_eps=1e-9, max_iter=100_000)
    fast = solve_ntp_svm(mask, method="fast", tol=1e-8, use_certificate=False)
    assert fast.method == "fast" and fast.converged
    assert fast.max_violation <= 1e-7
    assert fast.nuclear_norm == pytest.approx(ref.nuclear_norm, rel=1e-5)
    # the gap is a true upper bound on the relative suboptimality w.r.t. an independent optimum (SCS primal is
    # within its own certified gap of the optimum)
    opt_lb = ref.nuclear_norm * (1 - max(ref.gap, 0))
    assert (fast.nuclear_norm - opt_lb) / fast.nuclear_norm <= fast.gap + 1e-6
    assert fast.dual_value <= ref.nuclear_norm * (1 + 1e-7)
    _check_dual_feasible(np.asarray(fast.dual), mask)
    # dual value recomputed from the full matrices
    assert fast.dual_value == pytest.approx(float((np.asarray(fast.dual) * S_tilde(mask)).sum()), rel=1e-9)


def test_gap_certifies_full_problem():
    d = synthetic.random_supports(30, 90, (1, 5), n_supports=20, seed=3)
    res = solve_ntp_svm(d, tol=1e-7, use_certificate=False)
    L, A = np.asarray(res.L), np.asarray(res.dual)
    mask = d.S.toarray() > 0
    nuc = np.linalg.svd(L, compute_uv=False).sum()
    dual = float((A * S_tilde(mask)).sum())
    assert res.nuclear_norm == pytest.approx(nuc, rel=1e-10)
    assert (nuc - dual) / nuc <= 1e-7 + 1e-12
    _check_dual_feasible(A, mask)
    assert max_violation(L, mask) <= 1e-9


def test_duplication_invariance():
    rng = np.random.default_rng(5)
    mask = _random_mask(rng, 8, 12, 3)
    base = solve_ntp_svm(mask, tol=1e-9, use_certificate=False)
    cols = np.array(list(range(12)) + [0, 0, 3, 7])
    rows = np.array(list(range(8)) + [2, 5])
    big = mask[np.ix_(rows, cols)]
    if np.any(big[:, :].sum(axis=0) == 0):
        pytest.skip("degenerate draw")
    res = solve_ntp_svm(big, tol=1e-9, use_certificate=False)
    # nuclear norm of the duplicated optimum = that of the weighted reduced problem: compare with the
    # duplicated base solution's norm, which must be feasible and optimal
    Ldup = np.asarray(base.L)[np.ix_(rows, cols)]
    assert max_violation(Ldup, big) <= 1e-9
    nuc_dup = np.linalg.svd(Ldup, compute_uv=False).sum()
    assert res.nuclear_norm <= nuc_dup * (1 + 1e-7)
    # identical rows / columns of the pattern get identical rows / columns of L_mm
    L = np.asarray(res.L)
    assert np.allclose(L[:, 12], L[:, 0]) and np.allclose(L[8], L[2])


def test_certificate_shortcut_returns_S_tilde_with_zero_gap():
    d = synthetic.all_k_subsets(6, 2)
    res = solve_ntp_svm(d)
    assert res.method == "tilde" and res.certificate_holds and res.iterations == 0
    assert res.status is Status.CERTIFIED_BY_PROP3 and res.converged and res.stats.backend == "tilde"
    assert np.allclose(res.L, S_tilde(d.S)) and abs(res.gap) <= 1e-12


def test_not_converged_warns():
    d = synthetic.random_supports(40, 120, (1, 6), seed=2)
    with pytest.warns(SolverWarning):
        res = solve_ntp_svm(d, tol=1e-12, max_iter=10, check_every=5, use_certificate=False)
    assert not res.converged and res.max_violation <= 1e-9
    assert res.status is Status.USER_LIMIT and res.stats.iterations == 10 and res.stats.gap > 1e-12
    assert res.summary()["status"] == "user_limit"


def test_sparse_and_dense_inputs_agree():
    d = synthetic.random_supports(10, 30, (1, 4), seed=1)
    a = solve_ntp_svm(d, tol=1e-8, use_certificate=False)
    b = solve_ntp_svm(sp.csr_matrix(d.S.toarray()), tol=1e-8, use_certificate=False)
    assert a.nuclear_norm == pytest.approx(b.nuclear_norm, rel=1e-12)


@pytest.mark.slow
def test_stories_fast_agrees_with_cvxpy_full_problem():
    pytest.importorskip("cvxpy")
    from ntpgeom.data import corpora

    d = corpora.stories()
    fast = solve_ntp_svm(d, tol=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        ref = solve_ntp_svm(d, method="cvxpy", cvxpy_eps=1e-7, max_iter=200_000)
    assert fast.nuclear_norm == pytest.approx(ref.nuclear_norm, rel=1e-5)
    assert fast.dual_value <= ref.nuclear_norm * (1 + 1e-7)


def test_status_and_stats_of_a_converged_solve():
    d = synthetic.random_supports(10, 30, (1, 4), seed=1)
    res = solve_ntp_svm(d, tol=1e-8, use_certificate=False, threads=1)
    assert res.status is Status.OPTIMAL and res.converged and res.method == "fast"
    st_ = res.stats
    assert (st_.gap, st_.residual, st_.iterations, st_.tol, st_.threads) == (res.gap, res.max_violation,
                                                                              res.iterations, 1e-8, 1)
    assert st_.gap <= 1e-8 and st_.seconds > 0 and res.info["history"][-1][0] == res.iterations


def test_a_registered_backend_is_dispatched_and_checked(monkeypatch):
    """The backend table: a new backend is one dict entry; solve_ntp_svm checks its answer, whatever it claims."""
    mask = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    seen = {}

    def lazy_backend(pattern, opts):  # a feasible but poor point, and the zero dual (a valid, weak bound)
        seen["pattern"], seen["opts"] = pattern, opts
        L = project_columns(np.zeros(pattern.shape), pattern.mask) * 3.0
        return BackendSolution("lazy", L, np.zeros(pattern.shape), 0.0, np.linalg.svd(L, compute_uv=False), 7)

    monkeypatch.setitem(svm_mod.BACKENDS, "lazy", lazy_backend)
    with pytest.warns(SolverWarning, match="lazy"):
        res = solve_ntp_svm(mask, method="lazy", tol=1e-6, max_iter=33)
    assert seen["opts"].max_iter == 33 and seen["pattern"].shape == (4, 3)
    assert res.method == "lazy" and res.status is Status.USER_LIMIT and res.gap == 1.0 and res.iterations == 7
    monkeypatch.setattr(svm_mod, "auto_method", lambda pattern: "lazy")
    with pytest.warns(SolverWarning):
        assert solve_ntp_svm(mask, use_certificate=False).method == "lazy"
    assert solve_ntp_svm(synthetic.all_k_subsets(4, 2)).method == "tilde"  # Prop. 3 comes before any backend
    with pytest.raises(SolverError, match="lazy"):  # the error lists the registered methods
        solve_ntp_svm(mask, method="nope")


def test_a_support_pattern_is_reused():
    d = synthetic.random_supports(10, 30, (1, 4), seed=1)
    pat = support_pattern(d)
    a, b = solve_ntp_svm(pat, tol=1e-8), solve_ntp_svm(d, tol=1e-8)
    assert np.array_equal(a.L, b.L) and a.gap == b.gap and pat.tilde is support_pattern(pat).tilde
