"""Closed forms of theory.md §1 and §3: the F / F⊥ split, the in-support component L_in, the centred support
matrix S̃, and the NTP cross-entropies (finite and accurate at huge logit norms).

All functions take logits ``L`` as dense arrays of shape (V, m) (tokens x contexts) and a support pattern ``S``
(V x m, dense or scipy.sparse 0/1) or an :class:`~ntpgeom.data.NTPData`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data import NTPData
from ..errors import NTPGeomError


from ..errors import ShapeError  # noqa: E402  (defined in errors.py; re-exported here)


def dense_pattern(S: Any) -> np.ndarray:
    """A support pattern given as NTPData, scipy.sparse or array-like, as a dense ndarray (no validation)."""
    if isinstance(S, NTPData):
        S = S.S
    if sp.issparse(S):
        S = S.toarray()
    return np.asarray(S)


def _support_mask(S: Any) -> np.ndarray:
    """Boolean dense (V, m) mask of a support pattern given as NTPData, sparse or dense."""
    S = dense_pattern(S)
    if S.ndim != 2:
        raise ShapeError(f"a support matrix must be 2-D (V x m), got shape {S.shape}")
    return S != 0


def _logits(L: Any, shape: tuple[int, int]) -> np.ndarray:
    L = np.asarray(L, dtype=np.float64)
    if L.shape != shape:
        raise ShapeError(f"logits have shape {L.shape} but the support pattern is {shape} (V x m); orient L as tokens x contexts")
    return L


def proj_F(L: Any, S: Any) -> np.ndarray:
    """Orthogonal projection onto F (theory.md §3): on each support subtract the in-support mean, elsewhere 0.

    Parameters
    ----------
    L : array, shape (V, m)
    S : NTPData, or 0/1 array or sparse matrix, shape (V, m)

    Returns
    -------
    ndarray, shape (V, m)
    """
    mask = _support_mask(S)
    L = _logits(L, mask.shape)
    k = mask.sum(axis=0)
    mean = np.where(mask, L, 0.0).sum(axis=0) / np.maximum(k, 1)
    return np.where(mask, L - mean, 0.0)


def proj_perp(L: Any, S: Any) -> np.ndarray:
    """Projection onto F⊥: in-support entries replaced by their mean, off-support entries unchanged. Shape (V, m)."""
    mask = _support_mask(S)
    L = _logits(L, mask.shape)
    return L - proj_F(L, mask)


def L_in(data: NTPData) -> np.ndarray:
    """The in-support component (theory.md §3), shape (V, m), dense.

    ``L_in[z, j] = log P[z, j] - mean_{z' in S_j} log P[z', j]`` on the support, 0 elsewhere: the unique solution in F of
    ``L[z,j] - L[z',j] = log(P[z,j] / P[z',j])``; it attains ``CE_in(L_in) = ℋ``.
    """
    P = data.P
    logp = np.log(P.data)
    k = np.diff(P.indptr)
    col = np.repeat(np.arange(data.m), k)
    mean = np.bincount(col, weights=logp, minlength=data.m) / k
    out = np.zeros((data.V, data.m))
    out[P.indices, col] = logp - mean[col]
    return out


def S_tilde(S: Any) -> np.ndarray:
    """Centred support matrix ``S̃ = (I - 11ᵀ/V) S`` (theory.md §5), shape (V, m), dense.

    ``S̃[z,j] = (V - k_j)/V`` on the support and ``-k_j/V`` off it. It is feasible for NTP-SVM* with every margin
    constraint tight.
    """
    mask = _support_mask(S).astype(np.float64)
    V = mask.shape[0]
    return mask - mask.sum(axis=0, keepdims=True) / V


def _support_entries(L: np.ndarray, data: NTPData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(column index, logit, weight π_j P[z,j]) of every support entry, in CSC order."""
    P = data.P
    col = np.repeat(np.arange(data.m), np.diff(P.indptr))
    return col, L[P.indices, col], data.pi[col] * P.data


def cross_entropy(L: Any, data: NTPData) -> float:
    """NTP cross-entropy ``CE(L) = -Σ_j π_j Σ_z P[z,j] log softmax(ℓ_j)_z`` (theory.md §1).

    Computed as ``Σ_j π_j lse_j - Σ π_j P[z,j] L[z,j]`` with per-column shifts, so it stays finite and accurate at
    logit norms of 1e4 and more. ``L``: shape (V, m).
    """
    L = _logits(L, (data.V, data.m))
    col, vals, w = _support_entries(L, data)
    M = L.max(axis=0)
    lse_shifted = np.log(np.exp(L - M).sum(axis=0))  # log Σ exp(L - M_j) ∈ [0, log V]
    # log softmax at support entries: (L - M_j) - log Σ exp(L - M_j): both terms are O(1) when the support is on top
    logsm = (vals - M[col]) - lse_shifted[col]
    return float(-(w * logsm).sum())


def cross_entropy_in(L: Any, data: NTPData) -> float:
    """In-support cross-entropy ``CE_in(L)``: the softmax restricted to each support (theory.md §3).

    Depends only on ``P_F(L)``; minimised by ``L_in`` with value ℋ. ``L``: shape (V, m).
    """
    L = _logits(L, (data.V, data.m))
    P = data.P
    col, vals, w = _support_entries(L, data)
    starts = P.indptr[:-1]
    M = np.maximum.reduceat(vals, starts)
    lse = np.log(np.add.reduceat(np.exp(vals - M[col]), starts))
    logsm = (vals - M[col]) - lse[col]
    return float(-(w * logsm).sum())


def entropy_bound(data: NTPData) -> float:
    """ℋ = -Σ_j π_j Σ_z P[z,j] log P[z,j], the infimum of CE (same as ``data.entropy_bound``)."""
    return data.entropy_bound
