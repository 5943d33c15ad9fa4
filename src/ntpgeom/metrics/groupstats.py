"""Chunked, float64 building blocks of the representation metrics: input checking, column chunks, per-group sums and
variances, the pairwise class-distance ratio and singular values (used by :mod:`~ntpgeom.metrics.representation`
and :mod:`~ntpgeom.metrics.linguistic`).

Hidden-state matrices ``H`` are d x m (one column per context) and may be float32; they are read a chunk of columns at
a time and converted to float64 per chunk, so no function here holds more than O(d² + d·chunk + d·G) floats
(G groups), whatever m is.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import scipy.sparse as sp

from .similarity import MetricsError

__all__ = ["CHUNK_ENTRIES", "hidden_matrix", "column_chunks", "group_ids", "group_sums", "group_sq_deviation",
           "pair_ratio_mean", "singular_values", "column_mean", "rankme_from_singular_values"]

#: Number of matrix entries a chunk of columns (or a block of group pairs) may hold at once.
CHUNK_ENTRIES = 1 << 20


def hidden_matrix(H: Any, name: str = "H") -> np.ndarray:
    """``H`` as a finite 2-D floating array (float32 kept, other dtypes converted to float64), without a copy when
    possible; :class:`~ntpgeom.errors.MetricsError` naming ``name`` otherwise."""
    X = H.toarray() if sp.issparse(H) else np.asarray(H)
    if X.dtype not in (np.float32, np.float64):
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise MetricsError(f"{name} must be a numeric array, got dtype {X.dtype}") from exc
    if X.ndim != 2:
        raise MetricsError(f"{name} must be a 2-D array (d x m), got shape {X.shape}")
    for j0, j1, _ in column_chunks(X, convert=False):
        if not np.all(np.isfinite(X[:, j0:j1])):
            raise MetricsError(f"{name} contains NaN or infinite values; pass finite arrays")
    return X


def column_chunks(X: np.ndarray, convert: bool = True) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(j0, j1, X[:, j0:j1])`` over chunks of at most :data:`CHUNK_ENTRIES` entries (as float64 if convert)."""
    step = max(1, CHUNK_ENTRIES // max(X.shape[0], 1))
    for j0 in range(0, X.shape[1], step):
        j1 = min(j0 + step, X.shape[1])
        yield j0, j1, (np.asarray(X[:, j0:j1], dtype=np.float64) if convert else X[:, j0:j1])


def column_mean(X: np.ndarray) -> np.ndarray:
    """The mean column of X (length d), in float64."""
    mu = np.zeros(X.shape[0])
    for _, _, Xc in column_chunks(X):
        mu += Xc.sum(axis=1)
    return mu / max(X.shape[1], 1)


def group_ids(labels: Any, m: int, name: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """``(inv, counts)``: the dense group index 0..G-1 of each of the m columns and the size of each group."""
    g = np.asarray(labels)
    if g.shape != (m,):
        raise MetricsError(f"{name} must have one id per column (shape ({m},)), got shape {g.shape}")
    if m == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    _, inv, counts = np.unique(g, return_inverse=True, return_counts=True)
    return inv.ravel().astype(np.intp), counts


def group_sums(X: np.ndarray, inv: np.ndarray, G: int) -> np.ndarray:
    """The (d x G) sums of the columns of X per group (``inv``: group index 0..G-1 of each column)."""
    sums = np.zeros((X.shape[0], G))
    for j0, j1, Xc in column_chunks(X):
        S = sp.csr_matrix((np.ones(j1 - j0), (inv[j0:j1], np.arange(j1 - j0))), shape=(G, j1 - j0))
        sums += np.asarray(S @ Xc.T).T
    return sums


def group_sq_deviation(X: np.ndarray, inv: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Σ_{j in a} ‖x_j − μ_a‖² for each group a (length G; ``means``: d x G), accumulated over column chunks."""
    G = means.shape[1]
    out = np.zeros(G)
    for j0, j1, Xc in column_chunks(X):
        D = Xc - means[:, inv[j0:j1]]
        out += np.bincount(inv[j0:j1], weights=np.einsum("ij,ij->j", D, D), minlength=G)
    return out


def pair_ratio_mean(means: np.ndarray, var: np.ndarray) -> float:
    """Mean over unordered pairs a < b of ``(var_a + var_b) / (2 ‖μ_a − μ_b‖²)`` (means: d x G), pairs in blocks.

    Squared distances come from the Gram of the means centred on their average (``q_a + q_b − 2 μ_aᵀμ_b``), a block
    of rows at a time, so memory is O(block · G), never G² or G² · d. A pair with coincident means gives +inf
    (0/0, both variances 0 as well, gives NaN). NaN for G < 2.
    """
    G = means.shape[1]
    if G < 2:
        return float("nan")
    M = means - means.mean(axis=1, keepdims=True)
    sq = np.einsum("ij,ij->j", M, M)
    step = max(1, CHUNK_ENTRIES // G)
    total = 0.0
    cols = np.arange(G)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i0 in range(0, G - 1, step):
            i1 = min(i0 + step, G - 1)
            D2 = np.maximum(sq[i0:i1, None] + sq[None, :] - 2.0 * (M[:, i0:i1].T @ M), 0.0)
            R = (var[i0:i1, None] + var[None, :]) / (2.0 * D2)
            total += float(R[cols[None, :] > np.arange(i0, i1)[:, None]].sum())
    return total / (G * (G - 1) / 2)


def singular_values(M: Any, name: str = "M", centre: str | None = None) -> np.ndarray:
    """All min(d, m) singular values of ``M`` (d x m), descending, in float64, optionally centred first.

    ``centre``: None; ``"columns"``: subtract the mean column (``M − x̄1ᵀ``, x̄ = (1/m) Σ_j x_j: the covariance of
    the columns); ``"tokens"``: centre every column over its entries (``(I − 11ᵀ/d) M``: token-centred logits).

    A matrix of at most :data:`CHUNK_ENTRIES` entries uses the SVD; a larger one the eigenvalues of the Gram of its
    smaller side, accumulated a chunk at a time (memory O(min(d, m)²), whatever the other side); singular values
    below ~1e-8 σ_max are then only resolved to that accuracy.
    """
    if centre not in (None, "columns", "tokens"):
        raise MetricsError(f"centre must be None, 'columns' or 'tokens', got {centre!r}")
    X = hidden_matrix(M, name)
    d, m = X.shape
    if X.size == 0:
        return np.zeros(0)
    if X.size <= CHUNK_ENTRIES:
        Xd = np.asarray(X, dtype=np.float64)
        Xd = Xd - Xd.mean(axis=1, keepdims=True) if centre == "columns" else Xd
        Xd = Xd - Xd.mean(axis=0, keepdims=True) if centre == "tokens" else Xd
        return np.linalg.svd(Xd, compute_uv=False)
    wide = m >= d
    Y = X if wide else X.T  # Gram of the rows of Y (the smaller side), chunks of its columns
    local = (centre == "tokens") if wide else (centre == "columns")  # centring within a chunk of Y's columns
    mu = column_mean(Y) if centre is not None and not local else np.zeros(Y.shape[0])
    C = np.zeros((Y.shape[0], Y.shape[0]))
    for _, _, Yc in column_chunks(Y):
        Yc = Yc - (Yc.mean(axis=0, keepdims=True) if local else mu[:, None])
        C += Yc @ Yc.T
    ev = np.linalg.eigvalsh(0.5 * (C + C.T))[::-1]
    return np.sqrt(np.maximum(ev, 0.0))


def rankme_from_singular_values(s: Any, eps: float = 0.0) -> float:
    """:func:`~ntpgeom.metrics.representation.rankme` from the singular values ``s`` (any order; NaN if they sum to 0)."""
    s = np.asarray(s, dtype=np.float64)
    total = float(s.sum())
    if total <= 0.0:
        return float("nan")
    p = s / total + eps
    p = p[p > 0]  # 0 ln 0 = 0
    return float(math.exp(-float(np.sum(p * np.log(p)))))
