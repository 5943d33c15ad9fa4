"""The spectral-norm NTP max margin (the prediction for spectral descent / Muon): ``min ‖L‖_2`` over NTP-SVM*'s
constraints, on the reduced pattern (exact: the spectral norm is unitarily invariant and permutation-symmetric, so a
block-constant optimum exists and ``‖L‖_2 = ‖diag(√r) L̂ diag(√c)‖_2``).

:func:`spectral_admm` solves it by ADMM with a certified gap. The optimum is **not unique** in general (only σ_max is
pinned: on random 7 x 12 patterns the centred optimal set spans normalised directions 0.42-0.57 apart, measured with
cvxpy), so :func:`select_min_fro` picks one canonical point of the near-optimal set ``{L ∈ K, ‖L‖_2 <= t}``: the one
of least Frobenius norm (strictly convex, hence unique), by ADMM with singular values capped at t. That ADMM
converges only at rate O(1/k) in σ_max's excess over t (measured on the cyclic V = 5 pattern: 6.9e-3 after 100
iterations, 1.5e-3 after 500, 4.0e-4 after 2000, 1.6e-4 after 5000), so a selected point is certified only to about
that relative gap; the caller measures it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .margin_norms import repair_dual
from .pattern import Reduction
from .svm_backends import balance_rho, project_columns
from .tolerances import RHO_SCALE_FLOOR


@dataclass(frozen=True, eq=False)
class SpectralSolution:
    """Reduced primal ``L_hat`` (V', m', feasible), dual ``A_hat`` (dual-feasible), ``dual_value``, iterations, info."""

    L_hat: np.ndarray
    A_hat: np.ndarray
    dual_value: float
    iterations: int
    info: dict = field(default_factory=dict)


def prox_spectral(Z: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """``prox_{τ‖·‖_2}(Z)``: singular values capped at θ with ``Σ (s_i − θ)_+ = τ`` (0 if ``Σ s_i ≤ τ``), through
    the eigendecomposition of the smaller Gram matrix (as :func:`~ntpgeom.theory.pattern.svt`). Returns ``(X, D)``
    with ``D = Z − X`` (τ times the projection of Z/τ onto the nuclear-norm unit ball)."""
    tall = Z.shape[0] > Z.shape[1]
    Zt = Z.T if tall else Z
    w, Q = np.linalg.eigh(Zt @ Zt.T)
    s = np.sqrt(np.maximum(w[::-1], 0.0))  # decreasing
    Q = Q[:, ::-1]
    if s.sum() <= tau:
        return np.zeros_like(Z), Z.copy()
    theta_i = (np.cumsum(s) - tau) / np.arange(1, len(s) + 1)  # θ if the i largest are capped
    k = int(np.flatnonzero(s > theta_i)[-1])  # the capped set is a prefix (projection onto the simplex)
    theta = max(float(theta_i[k]), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.where(s > theta, 1.0 - theta / s, 0.0)  # the part removed from each singular value
    D = (Q * cut) @ (Q.T @ Zt)
    X = Zt - D
    return (X.T, D.T) if tall else (X, D)


def spectral_admm(red: Reduction, opts: dict[str, Any]) -> SpectralSolution:
    """ADMM in ``X = diag(√r) L̂ diag(√c)`` (prox of the spectral norm, weighted column projection), warm-started
    from S̃, over-relaxed, with residual balancing; the multiplier, repaired, certifies the gap. ``opts``: ``tol``,
    ``max_iter``, ``check_every``, ``rho`` (None: ``1/‖S̃‖_2``), ``deadline`` (a ``time.perf_counter()`` value)."""
    mask, r = red.mask, red.r
    Wt = np.sqrt(r)[:, None] * np.sqrt(red.c)[None, :]
    Y = Wt * red.S_tilde
    rho = opts["rho"] or 1.0 / max(np.linalg.norm(Y, 2), RHO_SCALE_FLOOR)
    U = np.zeros_like(Y)
    best: tuple[float, np.ndarray, np.ndarray, float, int] | None = None
    hist: list[list[float]] = []
    for it in range(1, opts["max_iter"] + 1):
        X, D = prox_spectral(Y - U, 1.0 / rho)
        Xr = 1.6 * X + (1 - 1.6) * Y
        Ynew = Wt * project_columns((Xr + U) / Wt, mask, r)
        U = U + Xr - Ynew
        rp, rd = np.linalg.norm(X - Ynew), rho * np.linalg.norm(Ynew - Y)
        Y = Ynew
        if it % opts["check_every"] == 0 or it == opts["max_iter"]:
            L = project_columns(Y / Wt, mask, r)
            primal = float(np.linalg.norm(Wt * L, 2))
            A, dval = repair_dual(rho * D / Wt, red, "spectral")
            gap = (primal - dval) / primal if primal > 0 else 0.0
            hist.append([it, primal, dval, gap, rho])
            if best is None or gap < best[0]:
                best = (gap, L, A, dval, it)
            if gap <= opts["tol"] or time.perf_counter() > opts["deadline"]:
                break
        if it % 10 == 0:
            rho, U = balance_rho(rho, U, rp, rd)
    assert best is not None
    return SpectralSolution(best[1], best[2], best[3], it, {"rho": rho, "history": hist[-20:]})

def cap_singular_values(Z: np.ndarray, t: float) -> np.ndarray:
    """Projection of Z onto the spectral-norm ball of radius t (singular values capped at t; smaller-Gram eigh)."""
    tall = Z.shape[0] > Z.shape[1]
    Zt = Z.T if tall else Z
    w, Q = np.linalg.eigh(Zt @ Zt.T)
    s = np.sqrt(np.maximum(w, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.where(s > t, 1.0 - t / s, 0.0)
    X = Zt - (Q * cut) @ (Q.T @ Zt)
    return X.T if tall else X


def select_min_fro(red: Reduction, t: float, max_iter: int = 5000, rtol: float = 1e-9) -> tuple[np.ndarray, int]:
    """The least-Frobenius point of ``{L ∈ K : ‖L‖_2 <= t}`` on the reduced pattern (ADMM: ``½‖X‖² + I_{‖X‖_2 <= t}``
    against the weighted column projection, in the scaled variable whose Frobenius norm is the full one). Returns
    the feasible reduced ``L̂`` (its spectral norm may exceed t by the ADMM residual: the caller measures it) and the
    iterations run. Stops when the primal and dual residuals fall below ``rtol`` times ``‖X‖_F``."""
    mask, r = red.mask, red.r
    Wt = np.sqrt(r)[:, None] * np.sqrt(red.c)[None, :]
    Y = Wt * red.S_tilde
    U = np.zeros_like(Y)
    rho = 1.0
    it = 0
    for it in range(1, max_iter + 1):
        X = cap_singular_values(rho * (Y - U) / (1.0 + rho), t)
        Ynew = Wt * project_columns((X + U) / Wt, mask, r)
        U = U + X - Ynew
        rp, rd = np.linalg.norm(X - Ynew), rho * np.linalg.norm(Ynew - Y)
        Y = Ynew
        if max(rp, rd) <= rtol * max(np.linalg.norm(Y), 1.0):
            break
        if it % 10 == 0:
            rho, U = balance_rho(rho, U, rp, rd)
    return project_columns(Y / Wt, mask, r), it


__all__ = ["SpectralSolution", "cap_singular_values", "prox_spectral", "select_min_fro", "spectral_admm"]
