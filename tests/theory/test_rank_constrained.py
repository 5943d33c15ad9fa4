"""Rank-constrained NTP-SVM* heuristic (theory/rank_constrained.py): feasibility, the unconstrained optimum reached
for d >= rank(L_mm), a closed form, infeasible ranks, and the least-distance solver against cvxpy."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.theory import solve_ntp_svm
from ntpgeom.theory.rank_constrained import least_distance, rank_profile, solve_rank_constrained


def _violation(L, mask):
    """Independent check of the NTP-SVM* constraints."""
    worst = 0.0
    for j in range(mask.shape[1]):
        sup, off = L[mask[:, j], j], L[~mask[:, j], j]
        worst = max(worst, sup.max() - sup.min())
        if off.size:
            worst = max(worst, off.max() - (sup.min() - 1.0))
    return worst


@pytest.mark.parametrize("seed", [0, 3])
def test_rank_at_least_rank_of_L_mm_reaches_the_unconstrained_optimum(seed):
    data = synthetic.random_supports(6, 12, (1, 3), seed=seed)
    ref = solve_ntp_svm(data, tol=1e-9)
    mask = data.S.toarray() > 0
    prof = rank_profile(data, list(range(1, 7)), L_ref=ref.L, starts=3)
    for d, r in prof.items():
        if r.L is None:
            assert d < ref.rank
            continue
        assert r.rank <= d
        assert _violation(r.L, mask) < 1e-9
        assert r.nuclear_norm >= ref.dual_value - 1e-8  # never below the certified lower bound
        assert r.nuclear_norm == pytest.approx(np.linalg.svd(r.L, compute_uv=False).sum(), rel=1e-12)
        if d >= ref.rank:
            assert r.nuclear_norm == pytest.approx(ref.dual_value, rel=1e-6)
    finite = [prof[d].nuclear_norm for d in sorted(prof) if prof[d].L is not None]
    assert finite[0] > finite[-1] + 1e-6 or len(finite) == 1  # lower rank costs norm here


def test_singletons_need_rank_two_and_reach_the_closed_form():
    S = np.eye(3)  # L_mm = S_tilde = I - 11^T/3: nuclear norm 2, rank 2
    assert solve_rank_constrained(S, 1).L is None
    r = solve_rank_constrained(S, 2, seed=1)
    assert r.nuclear_norm == pytest.approx(2.0, rel=1e-9) and r.rank == 2 and r.max_violation < 1e-9


def test_least_distance_matches_cvxpy():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(0)
    for _ in range(5):
        G, h = rng.normal(size=(7, 4)), rng.normal(size=7)
        x = cp.Variable(4)
        prob = cp.Problem(cp.Minimize(cp.sum_squares(x)), [G @ x >= h])
        prob.solve(solver=cp.SCS, eps=1e-9)
        got = least_distance(G, h)
        if prob.status == "infeasible":
            assert got is None
        else:
            np.testing.assert_allclose(got, x.value, atol=1e-5)
    # x >= 1 and x <= -1: infeasible
    assert least_distance(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0])) is None


def test_bad_rank():
    with pytest.raises(ValueError, match="d must be"):
        solve_rank_constrained(np.eye(3), 0)


def test_b_steps_only_stay_feasible_and_monotone():
    data = synthetic.random_supports(8, 30, (1, 4), seed=5)
    ref = solve_ntp_svm(data, tol=1e-9)
    mask = data.S.toarray() > 0
    for d in (ref.rank, ref.rank - 1):
        both = solve_rank_constrained(data, d, L_ref=ref.L, starts=2)
        bonly = solve_rank_constrained(data, d, L_ref=ref.L, starts=2, max_a_variables=0)
        for r in (both, bonly):
            assert r.L is not None and r.rank <= d and _violation(r.L, mask) < 1e-9
            assert r.nuclear_norm >= ref.dual_value - 1e-8
        if d == ref.rank:
            assert bonly.nuclear_norm == pytest.approx(ref.dual_value, rel=1e-6)
