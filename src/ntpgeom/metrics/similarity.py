"""Correlation maps and the agreement of two maps (theory.md §6).

- ``corr_map(X)[i, j] = x_iᵀ x_j / (‖x_i‖ ‖x_j‖)`` over the columns of X;
- ``sim_ssim(A, B)``: the structure term of SSIM over all entries, ``(σ_AB + ε) / (σ_A σ_B + ε)``, the paper's "sim";
- ``pearson(A, B)``: the plain Pearson correlation of all entries.
- ``offdiag(C)``: the entries of a square map off its diagonal. corr maps share a unit diagonal whatever the vectors,
  so similarities of corr maps must be taken off it (``sim_ssim(offdiag(A), offdiag(B))``; random Gaussian W scores
  0.80 with the diagonal and about 0 without it, theory.md §8);
- ``similarity_null(A, B)``: the permutation baseline of a map similarity (items of A relabelled at random).

One variance convention throughout (population moments, ddof = 0) so that identical inputs give exactly 1
(the paper's own implementation mixes ddof = 0 and ddof = 1 and cannot reach 1; we do not copy that).
"""

from __future__ import annotations

from typing import Any

import numpy as np



from ..errors import MetricsError  # noqa: E402  (defined in errors.py; re-exported here)


def as_matrix(X: Any, name: str) -> np.ndarray:
    """``X`` as a finite 2-D float64 array, or :class:`MetricsError` naming ``name``."""
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

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> g.corr_map(np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]))
    array([[1., 1., 0.],
           [1., 1., 0.],
           [0., 0., 1.]])
    """
    X = as_matrix(X, "X")
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
    G = as_matrix(G, "G")
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

    Parameters
    ----------
    A, B : array_like, same shape

    Returns
    -------
    float
        In [-1, 1]; NaN if either input is constant (the correlation is undefined).

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> round(g.pearson(np.arange(4.0), 2 * np.arange(4.0) + 1), 12)
    1.0
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


def offdiag(C: Any) -> np.ndarray:
    """The n(n − 1) entries of a square map off its diagonal, row by row (shape (n (n − 1),))."""
    C = as_matrix(C, "C")
    n = C.shape[0]
    if C.shape != (n, n):
        raise MetricsError(f"a map must be square, got shape {C.shape}")
    return C[~np.eye(n, dtype=bool)]


def similarity_null(
    A: Any, B: Any, kind: str = "pearson", n_perm: int = 20, seed: int = 0
) -> tuple[float, float]:
    """Permutation baseline of the off-diagonal similarity of two square maps: ``(mean, std)`` over ``n_perm``
    relabellings ``A[p][:, p]`` (one random permutation p of the items, rows and columns together).

    A similarity is evidence only well above this baseline: it keeps every marginal of A (its spread, the share of
    positive entries) and breaks only which item is which. ``kind``: "pearson" or "ssim".
    """
    A = as_matrix(A, "A")
    b = offdiag(B)
    if A.shape[0] < 3:
        raise MetricsError("a permutation baseline needs at least 3 items")
    if n_perm < 1:
        raise MetricsError(f"n_perm must be >= 1, got {n_perm}")
    f = {"pearson": pearson, "ssim": sim_ssim}.get(kind)
    if f is None:
        raise MetricsError(f"kind must be 'pearson' or 'ssim', got {kind!r}")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_perm):
        p = rng.permutation(A.shape[0])
        vals.append(f(offdiag(A[np.ix_(p, p)]), b))
    v = np.array(vals, dtype=np.float64)
    v = v[np.isfinite(v)]
    return (float(v.mean()), float(v.std())) if v.size else (float("nan"), float("nan"))
