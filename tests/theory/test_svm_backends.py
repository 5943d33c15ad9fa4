"""NTP-SVM* backend pieces: the exact projection (oracle: 1-D brute force), the dual repair (feasibility by
definition), and the backends' answers checked on the full problem."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import synthetic
from ntpgeom.theory import S_tilde, max_violation, project_columns, support_pattern
from ntpgeom.theory.svm_backends import SolveOptions, admm, dual_certificate, solve_admm


def _random_mask(rng, V, m, kmax):
    M = np.zeros((V, m), dtype=bool)
    for j in range(m):
        M[rng.choice(V, size=rng.integers(1, kmax + 1), replace=False), j] = True
    return M


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


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_dual_certificate_is_dual_feasible_and_its_value_is_the_trace(seed):
    rng = np.random.default_rng(seed)
    mask = _random_mask(rng, 8, 12, 4)[:, rng.integers(12, size=20)]  # repeated columns: a real reduction
    pat = support_pattern(mask)
    red = pat.reduction
    A_hat, val = dual_certificate(rng.normal(size=red.shape), red)
    A = red.expand(A_hat)  # the full dual, (V, m)
    assert np.linalg.norm(A, 2) <= 1 + 1e-9
    assert np.abs(A.sum(axis=0)).max() <= 1e-9 and A[~mask].max(initial=-np.inf) <= 1e-12
    assert val == pytest.approx(float((A * S_tilde(mask)).sum()), rel=1e-9, abs=1e-12)


def test_admm_result_and_backend_solution():
    d = synthetic.random_supports(12, 40, (1, 4), n_supports=15, seed=4)
    pat = support_pattern(d)
    opts = SolveOptions(tol=1e-7, max_iter=5000)
    res = admm(pat.reduction, opts)
    assert res.gap <= 1e-7 and res.iterations % opts.check_every == 0 and res.info["history"][-1][0] == res.iterations
    assert res.primal == pytest.approx(np.linalg.svd(pat.reduction.scaled(res.L_hat), compute_uv=False).sum())
    sol = solve_admm(pat, opts)
    assert sol.method == "fast" and sol.L.shape == sol.dual.shape == (d.V, d.m)
    assert max_violation(sol.L, d) <= 1e-9
    assert np.allclose(sol.singular_values[:5], np.linalg.svd(sol.L, compute_uv=False)[:5], rtol=1e-10)
    assert sol.dual_value == pytest.approx(float((sol.dual * S_tilde(d)).sum()), rel=1e-9)
