"""Correlation maps and the agreement of two maps (theory.md §6).

- ``corr_map(X)[i, j] = x_iᵀ x_j / (‖x_i‖ ‖x_j‖)`` over the columns of X;
- ``sim_ssim(A, B)``: the structure term of SSIM over all entries, ``(σ_AB + ε) / (σ_A σ_B + ε)``, the paper's "sim";
- ``pearson(A, B)``: the plain Pearson correlation of all entries.

One variance convention throughout (population moments, ddof = 0) so that identical inputs give exactly 1
(the paper's own implementation mixes ddof = 0 and ddof = 1 and cannot reach 1; we do not copy that).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NTPGeomError


from ..errors import MetricsError  # noqa: E402  (defined in errors.py; re-exported here)


def _matrix(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise MetricsError(f"{name} must be a 2-D array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise MetricsError(f"{name} contains NaN or infinite values; pass finite arrays")
    return X


def corr_map(X: Any) -> np.ndarray:
    """Cosine similarity of the columns of ``X``.

    Parameters
    ----------
    X : array, shape (d, n)
        n vectors of dimension d as columns (for context embeddings pass ``H``; for word embeddings ``W`` (V x d)
        pass ``W.T``).

    Returns
    -------
    ndarray, shape (n, n)
        ``C[i, j] = x_iᵀ x_j / (‖x_i‖ ‖x_j‖)``, in [-1, 1], symmetric, unit diagonal. A zero column has no direction:
        its whole row and column (diagonal entry included) are 0.
    """
    X = _matrix(X, "X")
    norms = np.linalg.norm(X, axis=0)
    scale = np.zeros_like(norms)
    nz = norms > 0
    scale[nz] = 1.0 / norms[nz]
    U = X * scale
    C = U.T @ U
    C = 0.5 * (C + C.T)
    np.fill_diagonal(C, nz.astype(np.float64))
    return np.clip(C, -1.0, 1.0)


def corr_from_gram(G: Any) -> np.ndarray:
    """The correlation map of vectors given through their Gram matrix: ``G[i, j] / sqrt(G[i, i] G[j, j])``.

    ``corr_from_gram(X.T @ X) == corr_map(X)``. Shape (n, n) in, (n, n) out; zero-norm items give zero rows/columns.
    """
    G = _matrix(G, "G")
    if G.shape[0] != G.shape[1]:
        raise MetricsError(f"a Gram matrix must be square, got shape {G.shape}")
    dg = np.clip(np.diag(G), 0.0, None)
    nz = dg > 0
    scale = np.zeros_like(dg)
    scale[nz] = 1.0 / np.sqrt(dg[nz])
    C = G * scale[:, None] * scale[None, :]
    C = 0.5 * (C + C.T)
    np.fill_diagonal(C, nz.astype(np.float64))
    return np.clip(C, -1.0, 1.0)


def _pair(A: Any, B: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(A, dtype=np.float64)
    b = np.asarray(B, dtype=np.float64)
    if a.shape != b.shape:
        raise MetricsError(f"the two maps have different shapes {a.shape} and {b.shape}; compare maps of the same items")
    if a.size < 2:
        raise MetricsError("a similarity needs at least two entries")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise MetricsError("the maps contain NaN or infinite values")
    return a.ravel(), b.ravel()


def _moments(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Population (ddof = 0) covariance and variances, all computed by the same expression."""
    da = a - a.mean()
    db = b - b.mean()
    n = a.size
    return float(da @ db) / n, float(da @ da) / n, float(db @ db) / n


def sim_ssim(A: Any, B: Any, eps: float = 1e-5) -> float:
    """SSIM structure term over all entries: ``(σ_AB + ε) / (σ_A σ_B + ε)``.

    Parameters
    ----------
    A, B : arrays of the same shape (typically two n x n correlation maps)
    eps : float
        The stabiliser ε (the paper uses 1e-5).

    Returns
    -------
    float in [-1, 1]
        σ are population standard deviations and σ_AB the population covariance (ddof = 0 for all three), so
        identical inputs give exactly 1. Two constant maps give 1 (ε/ε).
    """
    a, b = _pair(A, B)
    cov, va, vb = _moments(a, b)
    # sqrt(va * vb) (not sqrt(va) * sqrt(vb)): for a == b this is sqrt(fl(v²)) == v exactly in IEEE arithmetic
    return float((cov + eps) / (np.sqrt(va * vb) + eps))


def pearson(A: Any, B: Any) -> float:
    """Pearson correlation of all entries of two same-shape arrays: ``σ_AB / (σ_A σ_B)``.

    Returns NaN if either input is constant (the correlation is undefined); identical non-constant inputs give 1.
    """
    a, b = _pair(A, B)
    # Pearson is scale-invariant: bring both to max |x| = 1 first, so that tiny (or huge) inputs cannot underflow
    # (or overflow) the product of variances below.
    sa, sb = float(np.abs(a).max()), float(np.abs(b).max())
    if sa == 0 or sb == 0:
        return float("nan")
    cov, va, vb = _moments(a / sa, b / sb)
    den = np.sqrt(va * vb)
    if den == 0:
        return float("nan")
    return float(np.clip(cov / den, -1.0, 1.0))
