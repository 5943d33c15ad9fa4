"""The norms of the max-margin problems (:mod:`ntpgeom.theory.max_margin`) and the one repair of a dual estimate into
a dual-feasible certificate, on a reduced pattern: the dual of ``min ‖L‖ s.t. L ∈ K`` (NTP-SVM*'s constraints) is
``max tr(AᵀS̃) s.t. 1ᵀA = 0, A ≤ 0 off the support, ‖A‖° ≤ 1`` with ``‖·‖°`` the dual norm (nuclear ↔ spectral,
Frobenius ↔ Frobenius, entrywise max ↔ entrywise ℓ1). A reduced matrix holds the entry values of its block-constant
expansion; the norms of that expansion carry the multiplicities (``diag(√r) · diag(√c)`` for the Schatten norms,
weights ``r c`` for the entrywise ones).
"""

from __future__ import annotations

import numpy as np

from .pattern import Reduction

def norm_value(L: np.ndarray, norm: str) -> float:
    """``‖L‖`` in one of :data:`NORMS` (``max``: the largest entry modulus; ``spectral``: σ_max)."""
    L = np.asarray(L, dtype=np.float64)
    if norm == "fro":
        return float(np.linalg.norm(L))
    if norm == "max":
        return float(np.abs(L).max(initial=0.0))
    s = np.linalg.svd(L, compute_uv=False)
    return float(s.sum() if norm == "nuclear" else s.max(initial=0.0))


def reduced_dual_norm(A: np.ndarray, red: Reduction, norm: str) -> float:
    """The dual norm of the expansion of the reduced ``A`` (entry values of the full A)."""
    if norm == "fro":
        return float(np.sqrt((red.r[:, None] * red.c * A**2).sum()))
    if norm == "max":  # dual of ℓ∞ is ℓ1
        return float((red.r[:, None] * red.c * np.abs(A)).sum())
    s = np.linalg.svd(red.scaled(A), compute_uv=False)
    return float(s.max(initial=0.0) if norm == "nuclear" else s.sum())


def repair_dual(A: np.ndarray, red: Reduction, norm: str) -> tuple[np.ndarray, float]:
    """Make a reduced dual estimate feasible for the max-margin dual in ``norm`` and return it with its value.

    Off-support entries are clipped to ≤ 0, each column's in-support entries shifted so that the (row-weighted)
    column sums vanish, and A divided by its dual norm. Returns ``(A, tr(AᵀS̃))`` (full-problem value)."""
    mask, r, c = red.mask, red.r, red.c
    A = np.where(mask, A, np.minimum(A, 0.0))
    k = (r[:, None] * mask).sum(axis=0)
    A = np.where(mask, A - (r[:, None] * A).sum(axis=0) / k, A)
    nrm = reduced_dual_norm(A, red, norm)
    if not nrm > 0:
        return np.zeros_like(A), 0.0
    A = A / nrm
    return A, float((r[:, None] * c * A * red.S_tilde).sum())


__all__ = ["norm_value", "reduced_dual_norm", "repair_dual"]
