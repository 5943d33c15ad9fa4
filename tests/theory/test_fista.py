"""The one FISTA driver against closed forms: a separable lasso (prox = soft-thresholding), its stopping rules and
its iteration accounting."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.theory.fista import fista


def _lasso(Z: np.ndarray, tau: float):
    """Soft-thresholding: the solution of ``min ½‖X - Z‖² + τ‖X‖_1`` (and the prox of ``τ‖·‖_1``)."""
    return np.sign(Z) * np.maximum(np.abs(Z) - tau, 0.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 2.0), st.floats(1.5, 20.0))
def test_converges_to_the_closed_form(seed, tau, kappa):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(4, 3))
    D = np.linspace(1.0, kappa, Z.size).reshape(Z.shape)  # diagonal curvature: f = ½ Σ D (X - Z)²
    step = 1.0 / kappa

    def prox(W):
        return np.sign(W) * np.maximum(np.abs(W) - step * tau, 0.0)

    def residual(X):  # optimality residual of the diagonal lasso: X = soft(Z, τ/D)
        return float(np.abs(X - np.sign(Z) * np.maximum(np.abs(Z) - tau / D, 0.0)).max())

    run = fista(lambda X: D * (X - Z), prox, np.zeros_like(Z), step, residual, lambda r: r <= 1e-10, 5000, 1)
    assert run.certificate <= 1e-10 and run.iterations < 5000
    assert np.allclose(run.X, np.sign(Z) * np.maximum(np.abs(Z) - tau / D, 0.0), atol=1e-9)


def test_stopping_rules_and_counts():
    Z = np.array([[3.0, -0.2], [0.5, -4.0]])
    calls = []

    def certify(X):
        calls.append(X.copy())
        return float(np.abs(X - _lasso(Z, 1.0)).max())

    def grad(X):
        return X - Z

    def prox(W):
        return _lasso(W, 1.0)

    start = _lasso(Z, 1.0)  # already optimal: certify_start returns it untouched, no iteration
    run = fista(grad, prox, start, 1.0, certify, lambda r: r == 0.0, 100, 7, certify_start=True)
    assert run.iterations == 0 and run.X is start and len(calls) == 1
    calls.clear()
    run = fista(grad, prox, np.zeros_like(Z), 0.25, certify, lambda r: False, 10, 4)  # checks at 4, 8 and the last
    assert run.iterations == 10 and len(calls) == 3 and run.certificate == certify(run.X)
    calls.clear()
    run = fista(grad, prox, np.zeros_like(Z), 0.25, certify, lambda r: False, 0, 4)  # no iteration: start certified
    assert run.iterations == 0 and len(calls) == 1 and np.all(run.X == 0)
