"""The finite-norm prediction (norm-ball path point) against independent oracles: cvxpy+SCS on the norm-ball problem,
the regularised problem (8) at the matching λ, and the definition of the Frank-Wolfe gap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import corpora, from_counts
from ntpgeom.theory import S_tilde, SolverError, SolverWarning, cross_entropy, direction_distance, lambda_max
from ntpgeom.theory import solve_ntp_svm, solve_regularized
from ntpgeom.theory.finite_norm import PathPoint, centre, path_point, path_points, prediction_distances


def _random_data(seed: int, V: int = 5, m: int = 8, kmax: int = 3):
    rng = np.random.default_rng(seed)
    C = np.zeros((V, m))
    for j in range(m):
        k = rng.integers(1, kmax + 1)
        C[rng.choice(V, size=k, replace=False), j] = rng.integers(1, 5, size=k)
    return from_counts(C * rng.integers(1, 4, size=m))  # non-uniform π


def _nuc(L) -> float:
    return float(np.linalg.svd(np.asarray(L), compute_uv=False).sum())


# ------------------------------------------------------------------------------------------- oracle: cvxpy + SCS
@pytest.mark.parametrize("seed,B", [(0, 1.0), (1, 4.0), (2, 10.0), (3, 25.0)])
def test_norm_ball_objective_matches_cvxpy(seed, B):
    cp = pytest.importorskip("cvxpy")
    data = _random_data(seed)
    P, pi = data.P.toarray(), np.asarray(data.pi)
    L = cp.Variable((data.V, data.m))
    ce = sum(pi[j] * (cp.log_sum_exp(L[:, j]) - P[:, j] @ L[:, j]) for j in range(data.m))
    prob = cp.Problem(cp.Minimize(ce), [cp.normNuc(L) <= B])
    prob.solve(solver=cp.SCS, eps_abs=1e-9, eps_rel=1e-9, max_iters=200000)
    assert prob.status in ("optimal", "optimal_inaccurate")
    ref = cross_entropy(L.value, data)
    ref_nuc = _nuc(L.value)
    pt = path_point(data, B, tol=1e-9)
    assert pt.converged
    assert _nuc(pt.L) <= B * (1 + 1e-10)
    # ours is feasible and certified; SCS's answer may violate the ball slightly, so compare at its norm
    assert pt.ce <= ref + 1e-5 + 1e-3 * max(ref_nuc - B, 0.0)
    assert abs(pt.ce - prob.value) <= 1e-4
    assert pt.gap <= 1e-9 * pt.ce_minus_H + pt.info["floor"]


# ------------------------------------------------------------------------------- oracle: problem (8) at matching λ
@pytest.mark.parametrize("frac", [0.5, 0.1, 0.02])
def test_path_point_is_the_regularised_solution_of_the_same_norm(frac):
    data = _random_data(7, V=6, m=10)
    lam = frac * lambda_max(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        reg = solve_regularized(data, lam, tol=1e-11, max_iter=200000)
    L_reg = centre(reg.L)
    B = _nuc(L_reg)
    pt = path_point(data, B, tol=1e-9, max_iter=200000)
    assert pt.converged
    assert np.linalg.norm(pt.L - L_reg) <= 1e-3 * max(np.linalg.norm(L_reg), 1.0)
    assert abs(pt.ce - reg.ce) <= 1e-7 + 1e-6 * reg.ce
    assert pt.lam == pytest.approx(lam, rel=1e-2)


# ----------------------------------------------------------------------------------- the gap is a true bound
@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.5, 30.0))
def test_frank_wolfe_gap_bounds_the_suboptimality(seed, B):
    data = _random_data(seed % 50)
    best = path_point(data, B, tol=1e-9)
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(data.V, data.m)) * rng.uniform(0.1, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        at = path_point(data, B, warm=L, max_iter=0)  # certificate of the (centred, ball-projected) warm start
    assert at.iterations == 0
    assert at.gap >= at.ce - best.ce - 1e-12
    assert at.ce >= best.ce - best.gap - 1e-12


def test_solution_is_centred_feasible_and_reports_excess_accurately():
    data = corpora.synthetic()
    pt = path_point(data, 60.0)
    assert isinstance(pt, PathPoint) and pt.converged and pt.resolved
    assert np.abs(pt.L.sum(axis=0)).max() <= 1e-9
    assert _nuc(pt.L) <= 60.0 * (1 + 1e-12)
    assert pt.ce_minus_H == pytest.approx(cross_entropy(pt.L, data) - data.entropy_bound, rel=1e-9)
    assert not pt.L.flags.writeable


# ------------------------------------------------------------------------------------------- the asymptotics
def test_direction_to_L_mm_falls_with_the_norm_on_synthetic():
    data = corpora.synthetic()
    Lmm = solve_ntp_svm(data).L
    pts = path_points(data, [200.0, 20.0, 100.0, 50.0])  # unsorted on purpose: results come back in input order
    assert [p.norm for p in pts] == [200.0, 20.0, 100.0, 50.0]
    assert all(p.converged for p in pts)
    by_norm = sorted(pts, key=lambda p: p.norm)
    dist = [direction_distance(p.L, Lmm) for p in by_norm]
    assert all(a > b for a, b in zip(dist, dist[1:]))
    assert dist[-1] < 0.15
    gaps = [p.ce_minus_H for p in by_norm]
    assert all(a > b > 0 for a, b in zip(gaps, gaps[1:]))
    lams = [p.lam for p in by_norm]
    assert all(a > b > 0 for a, b in zip(lams, lams[1:]))


def test_finite_and_honest_at_huge_norm():
    data = corpora.synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        pt = path_point(data, 1e8, max_iter=200)
    assert np.all(np.isfinite(pt.L)) and np.isfinite(pt.ce) and np.isfinite(pt.gap)
    assert pt.ce >= data.entropy_bound - 1e-12
    assert _nuc(pt.L) <= 1e8 * (1 + 1e-9)
    assert not pt.resolved  # off-support mass underflows: the direction is not determined in double precision


# ---------------------------------------------------------------------------------------- prediction distances
def test_prediction_distances_are_invariant_to_column_shifts():
    data = corpora.synthetic()
    svm = solve_ntp_svm(data)
    pt = path_point(data, 50.0)
    shift = np.random.default_rng(0).normal(size=(1, data.m)) * 100
    d = prediction_distances(data, pt.L + shift, L_mm=svm.L)
    assert d["norm"] == pytest.approx(50.0, rel=1e-9)
    assert d["dir_path"] <= 1e-3
    assert d["dir_mm"] == pytest.approx(direction_distance(pt.L, svm.L), abs=1e-9)
    d2 = prediction_distances(data, 7.0 * svm.L + shift, L_mm=svm.L, point=pt)
    assert d2["dir_mm"] <= 1e-9
    assert d2["dir_tilde"] == pytest.approx(direction_distance(svm.L, S_tilde(data)), abs=1e-9)
    assert d2["path_norm"] == 50.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "x", None])
def test_bad_norm_is_rejected(bad):
    with pytest.raises(SolverError, match="norm B"):
        path_point(corpora.synthetic(), bad)


def test_bad_inputs_are_rejected():
    data = corpora.synthetic()
    with pytest.raises(SolverError, match="NTPData"):
        path_point(np.eye(3), 1.0)
    with pytest.raises(SolverError, match="warm start has shape"):
        path_point(data, 1.0, warm=np.zeros((2, 2)))
    with pytest.raises(SolverError, match="at least one norm"):
        path_points(data, [])
    with pytest.raises(SolverError, match="shape"):
        prediction_distances(data, np.ones((3, 3)), L_mm=np.ones((data.V, data.m)))
    with pytest.raises(SolverError, match="zero"):
        prediction_distances(data, np.ones((data.V, data.m)), L_mm=np.ones((data.V, data.m)))


# ------------------------------------------------------------- the ball projection (issue 24: left SVD through QR)
def _proj_oracle(Z: np.ndarray, B: float) -> np.ndarray:
    """Projection by its definition: the full SVD, θ by bisection on Σ max(s − θ, 0) = B."""
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    if s.sum() <= B:
        return Z
    lo, hi = 0.0, float(s.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.maximum(s - mid, 0).sum() > B else (lo, mid)
    return (U * np.maximum(s - 0.5 * (lo + hi), 0)) @ Vt


@pytest.mark.parametrize("shape", [(7, 30), (30, 7), (12, 12), (1, 9)])
def test_ball_projection_matches_the_full_svd_definition(shape):
    from ntpgeom.theory import finite_norm as FN

    rng = np.random.default_rng(sum(shape))
    V, m = shape
    k = min(V, m)
    U, _ = np.linalg.qr(rng.normal(size=(V, k)))
    W, _ = np.linalg.qr(rng.normal(size=(m, k)))
    s = np.geomspace(50.0, 1e-9, k)  # singular values over 10 decades, tiny ones included
    Z = (U * s) @ W.T
    Zc = Z - Z.mean(axis=0)  # centred: rank-deficient
    for A in (Z, Zc):
        total = _nuc(A)
        for B in (0.3 * total, 0.9 * total, 0.02 * total):
            X = FN._proj_ball(A, B)
            assert abs(_nuc(X) - B) <= 1e-9 * B
            np.testing.assert_allclose(X, _proj_oracle(A, B), atol=1e-10 * float(np.abs(A).max()), rtol=0)
        assert FN._proj_ball(A, 2 * total) is A  # inside the ball: untouched
    U2, s2 = FN.left_svd(Z if V <= m else Z.T)
    np.testing.assert_allclose(s2, np.linalg.svd(Z, compute_uv=False), rtol=1e-12, atol=1e-12 * s.max())
    np.testing.assert_allclose(U2.T @ U2, np.eye(len(s2)), atol=1e-12)
