"""max_margin in four norms against cvxpy (SCS for the Schatten norms, Clarabel for the LP/QP), closed forms, its
own dual certificate (checked here from scratch), and invariance under token and context relabelling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.status import Status
from ntpgeom.theory import (
    NORMS,
    S_tilde,
    SolverError,
    SolverWarning,
    max_margin,
    max_margins,
    max_violation,
    norm_value,
    solve_ntp_svm,
)

cp = pytest.importorskip("cvxpy")

DUAL_NORM = {"nuclear": "spectral", "spectral": "nuclear", "fro": "fro"}


def _mask(seed: int, V: int = 7, m: int = 12, kmax: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    M = np.zeros((V, m), dtype=bool)
    for j in range(m):
        M[rng.choice(V, size=rng.integers(1, kmax + 1), replace=False), j] = True
    M[:, 1] = M[:, 4]  # a repeated support
    M[V - 1] = M[V - 2]  # a repeated membership row
    M[0, ~M.any(axis=0)] = True  # no empty support
    return M


def _cvx_value(M: np.ndarray, norm: str) -> float:
    V, m = M.shape
    L, a = cp.Variable((V, m)), cp.Variable(m)
    Mf = M.astype(float)
    diff = L - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    cons = [cp.multiply(Mf, diff) == 0, cp.multiply(1.0 - Mf, diff + 1.0) <= 0]
    obj = {"nuclear": cp.normNuc(L), "spectral": cp.sigma_max(L), "fro": cp.norm(L, "fro"),
           "max": cp.max(cp.abs(L))}[norm]
    prob = cp.Problem(cp.Minimize(obj), cons)
    if norm in ("nuclear", "spectral"):
        prob.solve(solver=cp.SCS, eps_abs=1e-9, eps_rel=1e-9, max_iters=200000)
    else:
        prob.solve(solver=cp.CLARABEL)
    return float(prob.value)


def _dual_norm(A: np.ndarray, norm: str) -> float:
    return float(np.abs(A).sum()) if norm == "max" else norm_value(A, DUAL_NORM[norm])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("norm", NORMS)
def test_against_cvxpy_and_own_certificate(norm, seed):
    M = _mask(seed)
    res = max_margin(M, norm, tol=1e-7)
    opt = _cvx_value(M, norm)
    assert res.status.solved and res.norm == norm
    assert abs(res.value - opt) <= 1e-4 * max(opt, 1.0)
    assert res.max_violation <= 1e-6 and max_violation(res.L, M) <= 1e-6
    assert res.value == pytest.approx(norm_value(res.L, norm), rel=1e-10)
    # the dual certificate, checked from scratch: 1ᵀA = 0, A <= 0 off the support, dual norm <= 1
    A = res.dual
    assert np.abs(A.sum(axis=0)).max() <= 1e-9
    assert A[~M].max(initial=-np.inf) <= 1e-12
    assert _dual_norm(A, norm) <= 1 + 1e-9
    assert res.dual_value == pytest.approx(float((A * S_tilde(M)).sum()), abs=1e-9)
    true_gap = (res.value - opt) / res.value
    assert res.gap >= true_gap - 1e-6  # a certified gap bounds the true one (slack: the oracle's accuracy)
    assert res.L.shape == M.shape and res.stats.gap == res.gap


def test_nuclear_is_solve_ntp_svm():
    M = _mask(3)
    a, b = max_margin(M, "nuclear", tol=1e-8), solve_ntp_svm(M, tol=1e-8)
    assert np.array_equal(a.L, b.L) and a.value == b.nuclear_norm and a.gap == b.gap
    assert a.status is b.status and a.stats.backend == b.method


def test_fro_is_S_tilde():
    """The Frobenius max margin is S̃ itself (the direction free-logit GD turns towards), with gap 0."""
    d = synthetic.random_supports(V=9, m=25, seed=4)
    res = max_margin(d, "fro")
    assert np.allclose(res.L, S_tilde(d), atol=1e-12)
    assert res.value == pytest.approx(np.linalg.norm(S_tilde(d)), rel=1e-12) and abs(res.gap) <= 1e-12


def test_max_closed_form_and_lp():
    M = _mask(5)
    M[:, 2] = True  # a column without margins: set to 0
    closed, lp = max_margin(M, "max"), max_margin(M, "max", method="lp")
    want = np.where(M, 0.5, -0.5)
    want[:, 2] = 0.0
    assert np.array_equal(closed.L, want) and closed.value == 0.5 and closed.gap == 0.0
    assert lp.stats.backend == "lp" and lp.value == pytest.approx(0.5, abs=1e-9)
    assert np.allclose(np.delete(lp.L, 2, axis=1), np.delete(want, 2, axis=1), atol=1e-9)
    assert lp.gap <= 1e-9 and lp.max_violation <= 1e-9
    # centred, the max-norm answer is S̃ again: the two free-logit biases coincide after the softmax shift
    C = closed.L - closed.L.mean(axis=0)
    assert np.allclose(C, S_tilde(M), atol=1e-12)


@pytest.mark.parametrize("norm", NORMS)
def test_relabelling_invariance(norm):
    M = _mask(6)
    rng = np.random.default_rng(0)
    pr, pc = rng.permutation(M.shape[0]), rng.permutation(M.shape[1])
    a, b = max_margin(M, norm, tol=1e-8), max_margin(M[pr][:, pc], norm, tol=1e-8)
    assert b.value == pytest.approx(a.value, rel=1e-6)
    if norm in ("fro", "max"):  # unique solutions: they move with the labels
        assert np.allclose(b.L, a.L[pr][:, pc], atol=1e-12)


def test_reduced_shape_and_spectral_duplicates():
    """Duplicated contexts change the spectral optimum only through their multiplicity (the reduction's weights)."""
    M = _mask(7, V=6, m=8)
    big = np.concatenate([M, M[:, :3]], axis=1)
    res = max_margin(big, "spectral", tol=1e-7)
    assert res.reduced_shape[1] < big.shape[1]
    assert res.value == pytest.approx(_cvx_value(big, "spectral"), rel=1e-4)


def test_bad_inputs_and_user_limit():
    with pytest.raises(SolverError, match="norm"):
        max_margin(np.eye(3), "l1")
    with pytest.raises(SolverError, match="method"):
        max_margin(np.eye(3), "fro", method="fast")
    with pytest.raises(SolverError, match="method"):
        max_margin(np.eye(3), "nuclear", method="lp")
    with pytest.raises(SolverError):
        max_margin(np.eye(3), "spectral", tol=0)
    with pytest.warns(SolverWarning, match="gap"):
        res = max_margin(_mask(8), "spectral", tol=1e-12, max_iter=20, check_every=10)
    assert res.status is Status.USER_LIMIT and res.gap > 1e-12 and res.max_violation <= 1e-9


def test_max_margins_all_norms():
    M = _mask(9)
    out = max_margins(M, tol=1e-6)
    assert tuple(out) == NORMS and all(r.status.solved and r.norm == n for n, r in out.items())
    assert out["fro"].value == pytest.approx(max_margin(M, "fro").value)


def test_spectral_min_fro_selection():
    """The optimal set is a face; select="fro" returns a feasible near-optimal point of smaller Frobenius norm."""
    M = _mask(0)
    plain = max_margin(M, "spectral", tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        sel = max_margin(M, "spectral", tol=1e-8, select="fro", select_iter=400)
    assert sel.max_violation <= 1e-9 and sel.gap <= 5e-3 and sel.info["select"] == "fro"
    assert np.linalg.norm(sel.L) <= np.linalg.norm(plain.L) * (1 + 1e-6)
    assert sel.dual_value == plain.dual_value
    with pytest.raises(SolverError, match="select"):
        max_margin(M, "spectral", select="nuclear")


def test_dataset_input_and_summary():
    d = synthetic.random_supports(V=8, m=15, seed=2)
    res = max_margin(d, "max")
    summ = res.summary()
    assert summ["norm"] == "max" and summ["status"] == "optimal" and summ["V"] == 8 and summ["m"] == 15
    assert res.L.flags.writeable is False and "max" in repr(res)
