"""fixed_features against cvxpy (Clarabel), closed forms (H = I: free logits) and a brute-force pseudo-inverse."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import ShapeError, SolverWarning
from ntpgeom.status import Status
from ntpgeom.theory import L_in, S_tilde, SolverError, fixed_features, max_violation, proj_F, support_mask

cp = pytest.importorskip("cvxpy")


def _cvx(mask: np.ndarray, H: np.ndarray) -> tuple[str, float, np.ndarray | None]:
    V, m = mask.shape
    W, a = cp.Variable((V, H.shape[0])), cp.Variable(m)
    Mf = mask.astype(float)
    diff = W @ H - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    prob = cp.Problem(cp.Minimize(cp.sum_squares(W)), [cp.multiply(Mf, diff) == 0, cp.multiply(1 - Mf, diff + 1) <= 0])
    prob.solve(solver=cp.CLARABEL)
    val = float(np.sqrt(prob.value)) if prob.status == "optimal" else np.inf
    return prob.status, val, W.value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_cvxpy(seed):
    data = synthetic.random_supports(V=8, m=12, seed=seed)
    mask = support_mask(data)
    H = np.random.default_rng(seed).standard_normal((15, 12))
    res = fixed_features(data, H, tol=1e-8)
    status, opt, W = _cvx(mask, H)
    assert status == "optimal" and res.status is Status.OPTIMAL and res.separable is True
    assert abs(res.norm - opt) <= 1e-4 * opt
    assert res.norm == pytest.approx(np.linalg.norm(res.W_mm), rel=1e-9)
    assert max_violation(res.W_mm @ H, mask) <= 1e-6
    assert res.lower_bound <= opt * (1 + 1e-7)  # certified
    assert res.gap >= (res.norm - opt) / res.norm - 1e-7
    assert np.abs(res.W_mm - W).max() <= 1e-4 * np.abs(W).max()  # strictly convex: the solution is unique


def test_identity_features_are_free_logits():
    """H = I (d = m): the head is the logits, so W_mm = S̃ (the Frobenius max margin) and W_in = L_in."""
    data = synthetic.random_supports(V=7, m=9, seed=3)
    res = fixed_features(data, np.eye(9), tol=1e-9)
    assert res.status is Status.OPTIMAL and res.feature_rank == 9
    assert np.allclose(res.W_mm, S_tilde(data), atol=1e-6)
    assert np.allclose(res.W_in, L_in(data), atol=1e-9) and res.in_residual <= 1e-10 and res.compatible


def test_w_in_is_min_norm_least_squares():
    """W_in against the pseudo-inverse of the explicit operator W -> P_F(W H) (d < m: not every log-odds reachable)."""
    data = synthetic.random_supports(V=6, m=10, support_sizes=(2, 4), seed=5)
    mask = support_mask(data)
    H = np.random.default_rng(5).standard_normal((4, 10))
    V, d = 6, 4
    T = np.zeros((V * 10, V * d))
    for i in range(V * d):
        E = np.zeros(V * d)
        E[i] = 1.0
        T[:, i] = proj_F(E.reshape(V, d) @ H, mask).ravel()
    want = (np.linalg.pinv(T) @ L_in(data).ravel()).reshape(V, d)
    with pytest.warns(SolverWarning):  # d = 4 < m: W_mm does not exist here; W_in does
        res = fixed_features(data, H, max_iter=2000)
    assert np.allclose(res.W_in, want, atol=1e-7)
    resid = np.linalg.norm(proj_F(want @ H, mask) - L_in(data)) / np.linalg.norm(L_in(data))
    assert res.in_residual == pytest.approx(resid, abs=1e-9) and resid > 1e-3 and not res.compatible


def test_not_separable():
    """d = 3 features for 12 contexts: cvxpy finds the QP infeasible; the certified lower bound says so."""
    data = synthetic.random_supports(V=8, m=12, seed=1)
    H = np.random.default_rng(1).standard_normal((3, 12))
    assert _cvx(support_mask(data), H)[0] == "infeasible"
    with pytest.warns(SolverWarning, match="not NTP-separable"):
        res = fixed_features(data, H)
    assert res.separable is False and res.status is Status.USER_LIMIT and not res.status.solved


def test_duplicate_tokens_share_rows_and_relabelling():
    data = synthetic.random_supports(V=8, m=12, seed=0)
    mask = support_mask(data)
    H = np.random.default_rng(0).standard_normal((15, 12))
    res = fixed_features(data, H, tol=1e-9)
    groups = {}
    for z in range(8):
        groups.setdefault(mask[z].tobytes(), []).append(z)
    for rows in groups.values():
        assert np.allclose(res.W_mm[rows], res.W_mm[rows[0]], atol=1e-12)
    pr = np.random.default_rng(1).permutation(8)
    res2 = fixed_features(data.select_tokens(pr), H, tol=1e-9)
    assert np.allclose(res2.W_mm, res.W_mm[pr], atol=1e-5) and res2.norm == pytest.approx(res.norm, rel=1e-6)


def test_bad_inputs():
    data = synthetic.random_supports(V=5, m=6, seed=0)
    with pytest.raises(ShapeError):
        fixed_features(data, np.ones((3, 5)))
    with pytest.raises(ShapeError):
        fixed_features(data, np.full((3, 6), np.nan))
    with pytest.raises(ShapeError):
        fixed_features(data, np.zeros((3, 6)))
    with pytest.raises(SolverError):
        fixed_features(data, np.ones((3, 6)), tol=-1.0)
    with pytest.raises(SolverError, match="device"):
        fixed_features(data, np.ones((3, 6)), device="nope")


def test_threads_restored():
    import torch

    data = synthetic.random_supports(V=6, m=8, seed=0)
    before = torch.get_num_threads()
    fixed_features(data, np.random.default_rng(0).standard_normal((10, 8)), threads=1, device="cpu")
    assert torch.get_num_threads() == before
