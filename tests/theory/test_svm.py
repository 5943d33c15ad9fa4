"""NTP-SVM* solver against independent oracles: cvxpy+SCS, closed forms, brute-force projections, duplication."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import synthetic
from ntpgeom.theory import (
    S_tilde,
    SolverError,
    SolverWarning,
    max_violation,
    project_columns,
    reduce_pattern,
    solve_ntp_svm,
    tilde_certificate,
)


def _random_mask(rng, V, m, kmax):
    M = np.zeros((V, m), dtype=bool)
    for j in range(m):
        M[rng.choice(V, size=rng.integers(1, kmax + 1), replace=False), j] = True
    return M


def _check_dual_feasible(A, mask, atol=1e-9):
    assert np.linalg.norm(A, 2) <= 1 + 1e-9
    assert np.abs(A.sum(axis=0)).max() <= atol
    assert A[~mask].max(initial=-np.inf) <= atol


# ----------------------------------------------------------------------------- projection (oracle: scipy QP brute force)
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_projection_is_the_weighted_euclidean_projection(seed):
    rng = np.random.default_rng(seed)
    V, m = 7, 5
    mask = _random_mask(rng, V, m, 4)
    r = rng.integers(1, 4, size=V).astype(float)
    Z = rng.normal(scale=2.0, size=(V, m))
    X = project_columns(Z, mask, r)
    assert max_violation(X, mask) <= 1e-12
    # oracle: brute force over the scalar a on a fine grid refined by golden section, per column
    for j in range(m):
        s, z = mask[:, j], Z[:, j]

        def f(a):
            return (r[s] * (a - z[s]) ** 2).sum() + (r[~s] * np.maximum(z[~s] - a + 1, 0) ** 2).sum()

        from scipy.optimize import minimize_scalar

        a_star = minimize_scalar(f, bracket=(z.min() - 5, z.max() + 5), tol=1e-12).x
        assert f(X[s, j][0]) <= f(a_star) + 1e-9
        assert np.allclose(X[s, j], X[s, j][0])


# ----------------------------------------------------------------------------- reduction
def test_reduction_multiplicities():
    S = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 1]])
    red = reduce_pattern(S)
    assert red.shape == (3, 3)
    assert red.c.sum() == 4 and red.r.sum() == 4
    assert np.array_equal(red.expand(red.mask.astype(int)), S)


def test_bad_inputs():
    with pytest.raises(SolverError):
        solve_ntp_svm(np.array([[1, 0], [0, 0]]))  # empty column
    with pytest.raises(SolverError):
        solve_ntp_svm(np.array([[2, 0], [0, 1]]))
    with pytest.raises(SolverError):
        solve_ntp_svm(np.eye(3), method="nope")
    with pytest.raises(SolverError):
        solve_ntp_svm(np.eye(3), tol=-1)


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
    assert np.allclose(res.L, S_tilde(d.S)) and abs(res.gap) <= 1e-12


def test_not_converged_warns():
    d = synthetic.random_supports(40, 120, (1, 6), seed=2)
    with pytest.warns(SolverWarning):
        res = solve_ntp_svm(d, tol=1e-12, max_iter=10, check_every=5, use_certificate=False)
    assert not res.converged and res.max_violation <= 1e-9


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
