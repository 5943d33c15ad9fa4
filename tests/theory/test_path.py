"""Regularisation path (Thms 1-2 trends, certified duality gap vs cvxpy), its stats and its input validation."""

from __future__ import annotations


import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import NTPGeomError
from ntpgeom.theory import (
    L_in,
    SolverWarning,
    cross_entropy,
    lambda_max,
    proj_F,
    regularization_path,
    solve_ntp_svm,
    solve_regularized,
)


def test_lambda_max_threshold():
    d = synthetic.random_supports(6, 15, (1, 3), seed=0)
    lm = lambda_max(d)
    above = solve_regularized(d, 1.01 * lm, tol=1e-8)
    assert np.abs(above.L).max() <= 1e-10
    below = solve_regularized(d, 0.5 * lm, tol=1e-8)
    assert np.abs(below.L).max() > 1e-3


def test_path_converges_to_theory():
    d = synthetic.random_supports(6, 20, (1, 3), seed=1)
    svm = solve_ntp_svm(d, tol=1e-9)
    Lmm = np.asarray(svm.L) / svm.nuclear_norm
    Lin = L_in(d)
    lams = lambda_max(d) * np.logspace(-1, -6, 6)
    res = regularization_path(d, lams, tol=1e-7, max_iter=50_000)
    assert [r.lam for r in res] == pytest.approx(list(lams))
    ce_gap, pf, dirn, dir_res = [], [], [], []
    for r in res:
        L = np.asarray(r.L)
        assert r.converged and r.gap <= 1e-7
        assert r.ce == pytest.approx(cross_entropy(L, d), rel=1e-12)
        nuc = np.linalg.svd(L, compute_uv=False).sum()
        ce_gap.append(r.ce - d.entropy_bound)
        pf.append(np.linalg.norm(proj_F(L, d) - Lin))
        dirn.append(np.linalg.norm(L / nuc - Lmm))
        R = L - Lin  # sparse plus low rank: L_λ - L_in ≈ R(λ) L_mm
        dir_res.append(np.linalg.norm(R / np.linalg.svd(R, compute_uv=False).sum() - Lmm))
    for seq in (ce_gap, pf, dirn, dir_res):
        assert all(b < a for a, b in zip(seq, seq[1:])), seq
    assert ce_gap[-1] < 1e-5 and pf[-1] < 1e-3 and dirn[-1] < 0.5 * dirn[0] and dir_res[-1] < 0.05


def test_regularized_matches_cvxpy():
    cp = pytest.importorskip("cvxpy")
    d = synthetic.random_supports(5, 8, (1, 3), seed=2)
    lam = 0.2 * lambda_max(d)
    r = solve_regularized(d, lam, tol=1e-9)
    P, pi = d.P.toarray(), d.pi
    L = cp.Variable((d.V, d.m))
    obj = cp.sum(cp.multiply(pi, cp.log_sum_exp(L, axis=0) - cp.sum(cp.multiply(P, L), axis=0))) + lam * cp.normNuc(L)
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=cp.SCS, eps=1e-9, max_iters=200_000)
    assert r.objective == pytest.approx(prob.value, rel=1e-5)
    assert r.objective <= prob.value * (1 + 1e-6)  # our gap certifies a lower bound ≤ the SCS value
    assert r.objective * (1 - r.gap) <= prob.value + 1e-7


def test_regularized_bad_input_and_warning():
    d = synthetic.random_supports(5, 8, (1, 3), seed=2)
    with pytest.raises(NTPGeomError):
        solve_regularized(d, -1.0)
    with pytest.raises(NTPGeomError):
        solve_regularized(d.S, 0.1)
    with pytest.warns(SolverWarning):
        r = solve_regularized(d, 1e-4 * lambda_max(d), tol=1e-12, max_iter=5, check_every=5)
    assert not r.converged
