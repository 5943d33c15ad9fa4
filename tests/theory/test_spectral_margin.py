"""The spectral-norm max margin's pieces: the prox of the spectral norm, the spectral-ball projection, and the
least-Frobenius selection on the optimal face (against brute-force optimality conditions)."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.theory import max_violation, reduce_pattern
from ntpgeom.theory.spectral_margin import cap_singular_values, prox_spectral, select_min_fro, spectral_admm


@pytest.mark.parametrize("shape", [(5, 7), (7, 5)])
def test_prox_spectral(shape):
    rng = np.random.default_rng(1)
    Z = rng.standard_normal(shape)
    X, D = prox_spectral(Z, 0.8)
    s = np.linalg.svd(X, compute_uv=False)
    assert np.allclose(X + D, Z) and np.linalg.svd(D, compute_uv=False).sum() == pytest.approx(0.8)
    # optimality of prox: Z - X = τ G with G in the subdifferential of ‖·‖_2 at X (nuclear norm 1, aligned)
    assert float(np.sum(D * X)) == pytest.approx(0.8 * s[0], rel=1e-9)
    assert np.linalg.svd(D, compute_uv=False).min() >= -1e-12 and np.allclose(X @ D.T, D @ X.T, atol=1e-9)
    X0, D0 = prox_spectral(Z, 1e3)
    assert np.all(X0 == 0) and np.allclose(D0, Z)


def test_cap_singular_values():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((6, 4))
    s = np.linalg.svd(Z, compute_uv=False)
    X = cap_singular_values(Z, s[1])
    assert np.allclose(np.linalg.svd(X, compute_uv=False), np.minimum(s, s[1]))
    assert np.allclose(cap_singular_values(Z, s[0] + 1), Z)


def test_admm_and_selection_on_a_small_pattern():
    M = np.array([[1, 0, 0, 1, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=bool)
    red = reduce_pattern(M)
    opts = {"tol": 1e-7, "max_iter": 20000, "check_every": 10, "rho": None, "deadline": np.inf}
    sol = spectral_admm(red, opts)
    value = np.linalg.norm(red.scaled(sol.L_hat), 2)
    assert (value - sol.dual_value) / value <= 1e-7
    L_sel, _ = select_min_fro(red, value, max_iter=500)
    assert max_violation(red.expand(L_sel), M) <= 1e-9
    assert np.linalg.norm(red.scaled(L_sel), 2) <= value * (1 + 5e-3)  # O(1/k): 1.5e-3 after 500 iterations
    assert np.linalg.norm(red.scaled(L_sel)) <= np.linalg.norm(red.scaled(sol.L_hat)) + 1e-9
