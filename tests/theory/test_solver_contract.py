"""The one solver contract, checked the same way for every solver and NTP-SVM* backend of the theory layer.

On small seeded instances, every result carries a :class:`Status` and a :class:`SolverStats`; its point is feasible
(checked here from the constraints, not with the package's own violation helper); where the solver certifies a gap,
the certified gap is at least the true gap against cvxpy + SCS (tight eps); and an iteration limit gives a non-solved
status with a warning, never a silent answer.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import SolverWarning
from ntpgeom.status import SolverStats, Status
from ntpgeom.theory import BACKENDS, lambda_max, optimal_face, path_point, solve_ntp_svm, solve_regularized
from ntpgeom.theory.rank_constrained import solve_rank_constrained
from ntpgeom.theory.svm_large import solve_ntp_svm_large

SCS_EPS = 1e-9
SLACK = 1e-6  # SCS's answer is accurate to about this (relative) at eps 1e-9 on these sizes


# ------------------------------------------------------------------------------------------- independent checks
def svm_violation(L: np.ndarray, mask: np.ndarray) -> float:
    """Largest NTP-SVM* constraint violation, entry by entry (loops: independent of the vectorised helper)."""
    worst = 0.0
    for j in range(mask.shape[1]):
        sup = [z for z in range(mask.shape[0]) if mask[z, j]]
        a = min(L[z, j] for z in sup)
        worst = max(worst, max(L[z, j] for z in sup) - a)
        for v in range(mask.shape[0]):
            if not mask[v, j]:
                worst = max(worst, L[v, j] - (a - 1.0))
    return worst


def nuc(M: np.ndarray) -> float:
    return float(np.linalg.svd(np.asarray(M, dtype=np.float64), compute_uv=False).sum())


def ce(L: np.ndarray, data) -> float:
    """π-weighted cross-entropy with a plain log-sum-exp (not the package's)."""
    P, pi = data.P.toarray(), np.asarray(data.pi)
    M = L.max(axis=0)
    lse = M + np.log(np.exp(L - M).sum(axis=0))
    return float((pi * (lse - (P * L).sum(axis=0))).sum())


def check_contract(res, *, certifies: bool, floor: bool = False) -> None:
    """What every result promises: a Status, SolverStats agreeing with it, a solved status only at ``gap <= tol``
    (``floor``: or at the gap's round-off floor, ``path_point``), and no certified gap where nothing certifies."""
    assert isinstance(res.status, Status) and isinstance(res.stats, SolverStats)
    assert res.stats.status is res.status and res.stats.converged == res.status.solved
    assert res.stats.seconds >= 0 and res.stats.iterations >= 0 and res.stats.backend
    if certifies:
        assert math.isfinite(res.stats.gap)
        assert not res.status.solved or res.stats.gap <= res.stats.tol or floor
    else:
        assert math.isnan(res.stats.gap)
    back = SolverStats.from_dict(res.stats.to_dict())
    assert back.status is res.status and (back.gap == res.stats.gap or math.isnan(back.gap))


# ---------------------------------------------------------------------------------------------- instances
@pytest.fixture(scope="module", params=[0, 1])
def svm_case(request):
    """A random support pattern and its NTP-SVM* optimum from cvxpy + SCS."""
    cp = pytest.importorskip("cvxpy")
    data = synthetic.random_supports(6, 10, (1, 3), seed=request.param)
    mask = data.S.toarray() != 0
    V, m = mask.shape
    L, a = cp.Variable((V, m)), cp.Variable(m)
    M = mask.astype(float)
    diff = L - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    prob = cp.Problem(cp.Minimize(cp.normNuc(L)), [cp.multiply(M, diff) == 0, cp.multiply(1 - M, diff + 1) <= 0])
    prob.solve(solver=cp.SCS, eps_abs=SCS_EPS, eps_rel=SCS_EPS, max_iters=200_000)
    return data, mask, float(prob.value)


@pytest.fixture(scope="module")
def smooth_case():
    """A small dataset with its regularised (λ = 0.2 λ_max) and norm-ball (B = 4) optima from cvxpy + SCS."""
    cp = pytest.importorskip("cvxpy")
    data = synthetic.random_supports(5, 8, (1, 3), seed=2)
    P, pi = data.P.toarray(), np.asarray(data.pi)
    lam, B = 0.2 * lambda_max(data), 4.0
    L = cp.Variable((data.V, data.m))
    ce_cp = cp.sum(cp.multiply(pi, cp.log_sum_exp(L, axis=0) - cp.sum(cp.multiply(P, L), axis=0)))
    reg = cp.Problem(cp.Minimize(ce_cp + lam * cp.normNuc(L)))
    reg.solve(solver=cp.SCS, eps_abs=SCS_EPS, eps_rel=SCS_EPS, max_iters=200_000)
    ball = cp.Problem(cp.Minimize(ce_cp), [cp.normNuc(L) <= B])
    ball.solve(solver=cp.SCS, eps_abs=SCS_EPS, eps_rel=SCS_EPS, max_iters=200_000)
    return data, lam, float(reg.value), B, float(ball.value)


def _svm(name: str):
    if name == "large (direct)":
        import torch

        return lambda S, **kw: solve_ntp_svm_large(S, dtype=torch.float64, threads=1, **kw)
    return lambda S, **kw: solve_ntp_svm(S, method=name, **kw)


SVM_SOLVERS = [*BACKENDS, "auto", "large (direct)"]


# ------------------------------------------------------------------------------------------------ NTP-SVM*
def test_every_backend_is_covered():
    assert set(BACKENDS) == {"fast", "cvxpy", "large"}  # a new backend: add it to SVM_SOLVERS' checks here


@pytest.mark.parametrize("name", SVM_SOLVERS)
def test_svm_feasible_and_certified_gap_bounds_true_gap(name, svm_case):
    data, mask, p_star = svm_case
    kw = {"tol": 1e-3} if name == "cvxpy" else {"tol": 1e-3, "use_certificate": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _svm(name)(data, **kw)
    check_contract(res, certifies=True)
    assert svm_violation(np.asarray(res.L), mask) <= 1e-9 * max(1.0, float(np.abs(res.L).max()))
    primal = nuc(res.L)
    assert res.nuclear_norm >= primal * (1 - 1e-12)  # the reported norm is the (upper bound of the) point's norm
    true_gap = (primal - p_star) / primal
    assert res.gap >= true_gap - SLACK
    assert res.dual_value <= p_star * (1 + SLACK)  # the certificate is a true lower bound
    assert res.status.solved == (res.gap <= res.tol)


@pytest.mark.parametrize("name", [n for n in SVM_SOLVERS if n not in ("cvxpy", "auto")])
def test_svm_iteration_limit_is_never_silent(name, svm_case):
    data, mask, p_star = svm_case
    with pytest.warns(SolverWarning):
        res = _svm(name)(data, tol=1e-12, max_iter=1, use_certificate=False)
    check_contract(res, certifies=True)
    assert res.status is Status.USER_LIMIT and not res.converged and res.gap > 1e-12
    assert svm_violation(np.asarray(res.L), mask) <= 1e-9 * max(1.0, float(np.abs(res.L).max()))
    assert res.gap >= (nuc(res.L) - p_star) / nuc(res.L) - SLACK


def test_svm_cvxpy_iteration_limit_is_never_silent(svm_case):
    data, mask, _ = svm_case
    with pytest.warns(SolverWarning, match="cvxpy"):
        res = solve_ntp_svm(data, method="cvxpy", tol=1e-9, max_iter=5)
    check_contract(res, certifies=True)
    assert res.status is Status.USER_LIMIT and svm_violation(np.asarray(res.L), mask) <= 1e-9


@pytest.mark.parametrize("name", [n for n in SVM_SOLVERS if n != "cvxpy"])
def test_svm_prop3_status(name):
    data = synthetic.all_k_subsets(5, 2)  # Prop. 3 holds: S̃ is optimal
    res = _svm(name)(data, tol=1e-6)
    check_contract(res, certifies=True)
    assert res.status is Status.CERTIFIED_BY_PROP3 and res.method == "tilde" and res.certificate_holds


# ------------------------------------------------------------------------------------ regularised problem (8)
def test_regularized_contract(smooth_case):
    data, lam, reg_star, _, _ = smooth_case
    res = solve_regularized(data, lam, tol=1e-4)
    check_contract(res, certifies=True)
    assert res.status is Status.OPTIMAL and res.gap <= 1e-4
    obj = ce(np.asarray(res.L), data) + lam * nuc(res.L)
    assert obj == pytest.approx(res.objective, rel=1e-10)
    assert res.gap >= (obj - reg_star) / obj - SLACK


def test_regularized_limit_is_never_silent(smooth_case):
    data, lam, reg_star, _, _ = smooth_case
    with pytest.warns(SolverWarning):
        res = solve_regularized(data, lam, tol=1e-12, max_iter=2, check_every=1)
    check_contract(res, certifies=True)
    assert res.status is Status.USER_LIMIT and not res.converged
    obj = ce(np.asarray(res.L), data) + lam * nuc(res.L)
    assert res.gap >= (obj - reg_star) / obj - SLACK


# ------------------------------------------------------------------------------------------ norm-ball point
@pytest.mark.parametrize("max_iter", [None, 3])
def test_path_point_contract(smooth_case, max_iter):
    data, _, _, B, ball_star = smooth_case
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pt = path_point(data, B, tol=1e-4, max_iter=max_iter)
    check_contract(pt, certifies=True, floor=True)
    L = np.asarray(pt.L)
    assert nuc(L) <= B * (1 + 1e-12) and np.abs(L.sum(axis=0)).max() <= 1e-10 * max(1.0, float(np.abs(L).max()))
    assert pt.stats.residual == pytest.approx(max(nuc(L) - B, 0.0) / B, abs=1e-15)
    excess_true = ce(L, data) - ball_star  # CE(L) - CE(L_B) >= 0 up to SCS accuracy
    assert pt.gap >= excess_true - SLACK and pt.stats.gap == pt.rel_gap
    assert pt.status.solved == pt.converged
    warned = any(issubclass(w.category, SolverWarning) for w in caught)
    assert warned == (pt.status is Status.USER_LIMIT)
    if max_iter == 3:
        assert pt.status is Status.USER_LIMIT and pt.iterations <= 3


# ------------------------------------------------------------------------------------------- optimal face
def _cycle() -> np.ndarray:
    M = np.zeros((5, 5), dtype=int)
    for j in range(5):
        M[j, j] = M[(j + 1) % 5, j] = 1
    return M


def test_face_contract():
    pytest.importorskip("cvxpy")
    M = _cycle()
    svm = solve_ntp_svm(M, tol=1e-8)
    face = optimal_face(M, svm, n_directions=1)
    check_contract(face, certifies=False)
    assert face.status in (Status.OPTIMAL, Status.USER_LIMIT)
    assert (face.status is Status.OPTIMAL) == (face.detail == "probed")
    for L in face.members:  # members are feasible and (nearly) within the slack of the optimum
        assert svm_violation(L, M != 0) <= 1e-7
        assert nuc(L) <= face.opt * (1 + 10 * face.tol)
    skipped = optimal_face(M, svm, max_entries=1)
    check_contract(skipped, certifies=False)
    assert skipped.status is Status.SKIPPED and not skipped.probed and len(skipped.members) == 1


# -------------------------------------------------------------------------------------- rank-constrained
def test_rank_constrained_contract(svm_case):
    data, mask, p_star = svm_case
    L_ref = solve_ntp_svm(data, tol=1e-8).L
    res = solve_rank_constrained(data, 4, L_ref=L_ref, starts=2, iters=40)
    check_contract(res, certifies=False)
    assert res.status in (Status.LOCAL_OPTIMUM, Status.USER_LIMIT) and not res.status.solved  # never certified
    assert np.linalg.matrix_rank(res.L, tol=1e-8 * np.linalg.norm(res.L, 2)) <= 4
    assert svm_violation(res.L, mask) <= 1e-7 and res.nuclear_norm >= p_star * (1 - SLACK)  # an upper bound
    cut = solve_rank_constrained(data, 4, L_ref=L_ref, starts=1, iters=1)  # a first A-step never stops a descent
    check_contract(cut, certifies=False)
    assert cut.status is Status.USER_LIMIT and svm_violation(cut.L, mask) <= 1e-7


def test_rank_constrained_infeasible_status():
    res = solve_rank_constrained(np.eye(3, dtype=int), 1, starts=2, iters=5)  # three singletons need rank 2
    check_contract(res, certifies=False)
    assert res.status is Status.INFEASIBLE and res.L is None
