"""Building blocks of the large solver against independent oracles: the projection's warm start and float32 path
against the cold float64 projection, the padded support index against the mask, Anderson's cached least squares
against a direct numpy solve, and SVT with a float64 eigensolver against numpy's SVD."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.theory.large_ops import Anderson, project_rows, support_index, svt


def _instance(seed, m=60, V=9, scale=2.0):
    rng = np.random.default_rng(seed)
    M = rng.random((m, V)) < 0.3
    M[~M.any(axis=1), 0] = True
    Z = rng.normal(scale=scale, size=(m, V))
    r = rng.integers(1, 5, size=V).astype(float)
    return torch.as_tensor(Z), torch.as_tensor(M), torch.as_tensor(r), rng


def _kkt_projection_ok(P, Z, M, r, atol):
    """Feasible, and optimal: the level a satisfies Σ_S r (a - Z) = Σ_{off, clipped} r (Z - (a - 1))."""
    a = torch.where(M, P, -torch.inf).amax(dim=1)
    assert torch.allclose(torch.where(M, P, a[:, None]), a[:, None].expand_as(P), atol=atol)
    assert bool((torch.where(M, -torch.inf, P) <= a[:, None] - 1 + atol).all())
    lhs = torch.where(M, r * (a[:, None] - Z), 0.0).sum(dim=1)
    rhs = torch.where(~M & (Z > a[:, None] - 1), r * (Z - a[:, None] + 1), 0.0).sum(dim=1)
    assert torch.allclose(lhs, rhs, atol=atol * 10 * float(r.sum()))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(-5.0, 5.0))
def test_projection_warm_start_equals_cold_and_satisfies_kkt(seed, shift):
    Z, M, r, rng = _instance(seed)
    cold = project_rows(Z, M, r)
    _kkt_projection_ok(cold, Z, M, r, 1e-10)
    level = torch.as_tensor(rng.normal(size=Z.shape[0])) + shift  # left, right or at the root: any start works
    warm = project_rows(Z, M, r, level=level)
    assert torch.allclose(warm, cold, atol=1e-12)
    a = torch.where(M, cold, -torch.inf).amax(dim=1)
    assert torch.allclose(level, a, atol=1e-12)  # the level is updated in place to the root


def test_projection_float32_terminates_near_float64():
    Z, M, r, _ = _instance(3, m=400, V=40, scale=50.0)
    ref = project_rows(Z, M, r)
    lv = torch.full((Z.shape[0],), torch.inf, dtype=torch.float32)
    got = project_rows(Z.float(), M, r.float(), level=lv, max_steps=10_000)
    assert float((got.double() - ref).abs().max()) <= 1e-5 * float(Z.abs().max())
    got2 = project_rows(Z.float(), M, r.float(), level=lv, max_steps=2)  # warm at the root: 2 steps suffice
    assert torch.allclose(got2, got, rtol=0, atol=1e-5 * float(Z.abs().max()))


def test_support_index_lists_each_support():
    Z, M, r, _ = _instance(1, m=50, V=12)
    idx, rw, B = support_index(M, r)
    for j in range(M.shape[0]):
        cols = set(np.flatnonzero(M[j].numpy()).tolist())
        assert set(idx[j].tolist()) == cols
        assert float(rw[j].sum()) == float(r[M[j]].sum()) == float(B[j])


def test_anderson_matches_direct_least_squares():
    rng = np.random.default_rng(0)
    mem, n, reg = 3, 50, 1e-9
    aa = Anderson(mem, torch.zeros(n, dtype=torch.float64), reg)
    gs, fs = [], []
    for _ in range(8):
        g, f = rng.normal(size=n), rng.normal(size=n)
        out = aa.step(torch.as_tensor(g), torch.as_tensor(f)).numpy()
        gs.append(g)
        fs.append(f)
        if len(gs) == 1:
            np.testing.assert_array_equal(out, g)
            continue
        k = min(len(gs) - 1, mem)
        dF = np.array([fs[i + 1] - fs[i] for i in range(len(fs) - 1)][-k:])
        dG = np.array([gs[i + 1] - gs[i] for i in range(len(gs) - 1)][-k:])
        FF = dF @ dF.T
        gamma = np.linalg.solve(FF + reg * FF.diagonal().max() * np.eye(k), dF @ f)
        np.testing.assert_allclose(out, g - gamma @ dG, rtol=1e-9, atol=1e-9)


def test_svt_with_float64_eigensolver_matches_numpy_svd():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(30, 80)) * np.logspace(0, 2, 30)[:, None]
    tau = 40.0
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    ref = (U * np.maximum(s - tau, 0)) @ Vt
    for Zt in (torch.as_tensor(Z), torch.as_tensor(Z.T.copy())):  # wide and tall
        X, D, sv = svt(Zt.float(), tau, torch.float64, remainder=False)
        assert D is None and X.dtype == torch.float32
        Xn = X.double().numpy() if Zt.shape[0] == 30 else X.double().numpy().T
        assert np.abs(Xn - ref).max() <= 1e-5 * np.abs(Z).max()
        np.testing.assert_allclose(np.sort(sv.double().numpy())[::-1], s, rtol=1e-5)
        X64, D64, _ = svt(Zt, tau)
        np.testing.assert_allclose(X64 + D64, Zt, atol=1e-10)
