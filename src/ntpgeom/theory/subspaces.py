"""Closed forms of theory.md §1 and §3: the F / F⊥ split, the in-support component L_in and the NTP cross-entropies
(finite and accurate at huge logit norms). S̃ is defined with the pattern (:mod:`ntpgeom.theory.pattern`) and
re-exported here.

All functions take logits ``L`` as dense arrays of shape (V, m) (tokens x contexts) and a support pattern ``S``
(V x m, dense or scipy.sparse 0/1), an :class:`~ntpgeom.data.NTPData` or a
:class:`~ntpgeom.theory.pattern.SupportPattern`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import NTPData
from ..errors import ShapeError
from .pattern import PatternLike, S_tilde, dense_pattern, pattern_mask


def _logits(L: Any, shape: tuple[int, int]) -> np.ndarray:
    L = np.asarray(L, dtype=np.float64)
    if L.shape != shape:
        raise ShapeError(f"logits have shape {L.shape} but the support pattern is {shape} (V x m); orient L as tokens x contexts")
    return L


def proj_F(L: Any, S: PatternLike) -> np.ndarray:
    """Orthogonal projection onto F (theory.md §3): on each support subtract the in-support mean, elsewhere 0.

    Parameters
    ----------
    L : array, shape (V, m)
    S : NTPData, or 0/1 array or sparse matrix, shape (V, m)

    Returns
    -------
    ndarray, shape (V, m)
    """
    mask = pattern_mask(S)
    L = _logits(L, mask.shape)
    k = mask.sum(axis=0)
    mean = np.where(mask, L, 0.0).sum(axis=0) / np.maximum(k, 1)
    return np.where(mask, L - mean, 0.0)


def proj_perp(L: Any, S: PatternLike) -> np.ndarray:
    """Projection onto F⊥ (theory.md §3): in-support entries replaced by their mean, off-support entries unchanged.

    Parameters
    ----------
    L : array_like, shape (V, m)
    S : NTPData, SupportPattern, or a 0/1 support matrix (V, m)

    Returns
    -------
    ndarray, shape (V, m)
        ``L - proj_F(L, S)``.

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> L = g.S_tilde(data) + g.L_in(data)
    >>> bool(abs(g.proj_perp(L, data) - g.S_tilde(data)).max() < 1e-12)
    True
    """
    mask = pattern_mask(S)
    L = _logits(L, mask.shape)
    return L - proj_F(L, mask)


def L_in(data: NTPData) -> np.ndarray:
    """The in-support component (theory.md §3): the finite part of the logits NTP training converges to.

    ``L_in[z, j] = log P[z, j] - mean_{z' in S_j} log P[z', j]`` on the support, 0 elsewhere: the unique solution in F of
    ``L[z,j] - L[z',j] = log(P[z,j] / P[z',j])``; it attains ``CE_in(L_in) = ℋ``.

    Parameters
    ----------
    data : NTPData

    Returns
    -------
    ndarray, shape (V, m)
        Dense, float64.

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> round(g.cross_entropy_in(g.L_in(data), data) - data.entropy_bound, 12)
    0.0
    """
    P = data.P
    logp = np.log(P.data)
    k = np.diff(P.indptr)
    col = np.repeat(np.arange(data.m), k)
    mean = np.bincount(col, weights=logp, minlength=data.m) / k
    out = np.zeros((data.V, data.m))
    out[P.indices, col] = logp - mean[col]
    return out


def _support_entries(L: np.ndarray, data: NTPData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(column index, logit, weight π_j P[z,j]) of every support entry, in CSC order."""
    P = data.P
    col = np.repeat(np.arange(data.m), np.diff(P.indptr))
    return col, L[P.indices, col], data.pi[col] * P.data


def cross_entropy(L: Any, data: NTPData) -> float:
    """NTP cross-entropy ``CE(L) = -Σ_j π_j Σ_z P[z,j] log softmax(ℓ_j)_z`` (theory.md §1).

    Computed as ``Σ_j π_j lse_j - Σ π_j P[z,j] L[z,j]`` with per-column shifts, so it stays finite and accurate at
    logit norms of 1e4 and more.

    Parameters
    ----------
    L : array_like, shape (V, m)
        Logits of every distinct context.
    data : NTPData

    Returns
    -------
    float
        At least ``data.entropy_bound`` (ℋ).

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> bool(np.isclose(g.cross_entropy(np.zeros((data.V, data.m)), data), np.log(data.V)))
    True
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

    Depends only on ``P_F(L)``; minimised by ``L_in`` with value ℋ.

    Parameters
    ----------
    L : array_like, shape (V, m)
    data : NTPData

    Returns
    -------
    float

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> bool(g.cross_entropy_in(g.L_in(data), data) <= g.cross_entropy_in(2 * g.L_in(data), data))
    True
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
    """ℋ = -Σ_j π_j Σ_z P[z,j] log P[z,j], the infimum of CE (same as ``data.entropy_bound``; theory.md §1).

    Parameters
    ----------
    data : NTPData

    Returns
    -------
    float
        In nats.

    Examples
    --------
    >>> import ntpgeom as g
    >>> round(g.entropy_bound(g.corpora.synthetic()), 4)
    1.0227
    """
    return data.entropy_bound


__all__ = ["ShapeError", "dense_pattern", "proj_F", "proj_perp", "L_in", "S_tilde", "cross_entropy", "cross_entropy_in",
           "entropy_bound"]
