"""Semantics of the support matrix (Zhao & Thrampoulidis, "Geometry of semantics in next-token prediction", 2025).

Word and context embeddings align with the SVD factors of the centred support matrix ``S̃ = U Σ Vᵀ`` (theory.md §5);
concepts sit in the *sign patterns* (orthants) of the leading singular vectors, and directions with larger singular
values are learned earlier. Three tools:

- :func:`tilde_directions`: the first k singular triplets of S̃, each pair's sign fixed so that the
  largest-magnitude entry of ``u_i`` is positive (ties within ``1e-9`` relative: the first such token), computed
  from the reduced pattern (the full singular vectors are ``U_red[row_group] / √r``, exact) or from a given S̃.
- :func:`orthant_clusters`: tokens (rows of ``U_k``) and contexts (rows of ``V_k``) labelled by their sign pattern
  (an entry that is 0 up to ``1e-9`` of its vector's largest counts as ``+``); :func:`cluster_purity` against user
  labels.
- :func:`learning_times`: for a training trajectory of logits ``(step, L)`` (or ``(step, (W, H))``), the first
  step at which the projection ``u_iᵀ L v_i`` reaches half its final value, and the Spearman rank correlation of
  these times with σ_i (negative when larger directions are learned first).

Singular vectors of a repeated singular value are not unique (any rotation within its eigenspace): their orthants
are then a choice, which the report must say (``OrthantClusters.degenerate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from ..data import NTPData
from ..errors import ShapeError, ValidationError
from ..reprs import short_repr
from .pattern import SupportPattern, support_pattern

#: Relative tolerance of "equal magnitude" when fixing a singular vector's sign, and of "repeated singular value".
SIGN_TIE_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class TildeDirections:
    """The first k singular triplets of S̃: ``U`` (V, k), ``sigma`` (k,), ``Vc`` (m, k), signs fixed (module doc)."""

    __repr__ = short_repr

    U: np.ndarray
    sigma: np.ndarray
    Vc: np.ndarray


def _fix_signs(U: np.ndarray, Vc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(U)
    top = mag.max(axis=0, keepdims=True)
    first = np.argmax(mag >= top * (1 - SIGN_TIE_RTOL), axis=0)
    sgn = np.where(U[first, np.arange(U.shape[1])] < 0, -1.0, 1.0)
    return U * sgn, Vc * sgn


def _triplets(S: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every computed singular triplet of S̃ (full U, σ, full V; min(V', m') of them from the reduced pattern)."""
    arr = None if isinstance(S, (NTPData, SupportPattern)) else (S.toarray() if sp.issparse(S) else np.asarray(S))
    if arr is not None and arr.ndim == 2 and np.any(arr < 0):  # S̃ given
        Uf, s, Vt = np.linalg.svd(np.asarray(arr, dtype=np.float64), full_matrices=False)
        return Uf, s, Vt.T
    red = support_pattern(S if arr is None else arr).reduction
    Ur, s, Vt = red.S_tilde_svd
    return (Ur / np.sqrt(red.r)[:, None])[red.row_group], s, (Vt.T / np.sqrt(red.c)[:, None])[red.col_group]


def _directions(triplets: tuple[np.ndarray, np.ndarray, np.ndarray], k: Any) -> TildeDirections:
    Uf, s, Vc = triplets
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(s):
        raise ValidationError(f"k must be an integer in 1..{len(s)}, got {k!r}")
    U, Vc = _fix_signs(Uf[:, :k], Vc[:, :k])
    return TildeDirections(U, s[:k].copy(), Vc)


def tilde_directions(S: NTPData | SupportPattern | np.ndarray | Any, k: int) -> TildeDirections:
    """The first ``k`` singular triplets of S̃ with fixed signs.

    Parameters
    ----------
    S : NTPData, SupportPattern, 0/1 support matrix, or the matrix S̃ itself (a float array with negative entries)
    k : int
        Number of directions, 1 <= k <= min(V', m') (the reduced pattern's shape; S̃ given: min(V, m)).
    """
    return _directions(_triplets(S), k)


@dataclass(frozen=True, eq=False)
class OrthantClusters:
    """Orthant labels of tokens and contexts.

    Attributes
    ----------
    token_labels : int array, shape (V,)
        Cluster id of each token (ids numbered by first occurrence).
    context_labels : int array, shape (m,)
    token_patterns, context_patterns : list of str
        The sign pattern of each token / context cluster id (e.g. ``"+-+"``, direction 1 first).
    directions : TildeDirections
    degenerate : bool
        Whether two of the first k+1 singular values coincide (to 1e-9 relative): the orthants are then a choice.
    """

    __repr__ = short_repr

    token_labels: np.ndarray
    context_labels: np.ndarray
    token_patterns: list[str]
    context_patterns: list[str]
    directions: TildeDirections
    degenerate: bool


def _orthants(X: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Sign-pattern labels of the rows of X; an entry within SIGN_TIE_RTOL of 0 (relative to its column's largest
    modulus) counts as ``+``, so rounding cannot split a cluster."""
    signs = X >= -SIGN_TIE_RTOL * np.abs(X).max(axis=0, keepdims=True)
    codes, first, inv = np.unique(signs, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    patterns = ["".join("+" if b else "-" for b in codes[i]) for i in order]
    return rank[inv.ravel()], patterns


def orthant_clusters(data: NTPData | SupportPattern | np.ndarray | Any, k: int) -> OrthantClusters:
    """Label tokens and contexts by the orthant of their rows in the first ``k`` singular vectors of S̃.

    Parameters
    ----------
    data : NTPData, SupportPattern, 0/1 support matrix (V, m), or S̃ itself
    k : int
        Number of singular directions (at most 2^k clusters).

    Returns
    -------
    OrthantClusters
    """
    trip = _triplets(data)
    dirs = _directions(trip, k)
    tl, tp = _orthants(dirs.U)
    cl, cp_ = _orthants(dirs.Vc)
    sig = np.r_[trip[1][: k + 1], np.zeros(max(0, k + 1 - len(trip[1])))]  # σ_{k+1} = 0 past the computed ones
    gaps = np.abs(np.diff(sig)) <= SIGN_TIE_RTOL * max(float(sig[0]), 1e-300)
    return OrthantClusters(tl, cl, tp, cp_, dirs, bool(gaps.any()))


def cluster_purity(labels: Sequence[Any] | np.ndarray, user_labels: Sequence[Any] | np.ndarray) -> float:
    """Purity of a clustering against reference labels: ``(1/N) Σ_clusters max_class |cluster ∩ class|`` (1 when
    every cluster holds one class; a single cluster scores the largest class's share)."""
    a, b = np.asarray(labels), np.asarray(user_labels)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ShapeError(f"labels and user_labels must be 1-D of the same positive length, got {a.shape}, {b.shape}")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia.ravel(), ib.ravel()), 1)
    return float(table.max(axis=1).sum() / a.size)


@dataclass(frozen=True, eq=False)
class LearningTimes:
    """When each singular direction of S̃ was learned along a trajectory.

    Attributes
    ----------
    steps : float array, shape (k,)
        First step at which ``u_iᵀ L v_i`` reached half its final value (NaN if the final value is <= 0).
    sigma : float array, shape (k,)
    projections : float array, shape (n_snapshots, k)
        ``u_iᵀ L_t v_i`` per snapshot (steps in ``snapshot_steps``).
    snapshot_steps : float array, shape (n_snapshots,)
    spearman : float
        Rank correlation of ``steps`` with ``sigma`` over the learned directions (NaN with fewer than 3).
    pvalue : float
    """

    __repr__ = short_repr

    steps: np.ndarray
    sigma: np.ndarray
    projections: np.ndarray
    snapshot_steps: np.ndarray
    spearman: float
    pvalue: float


def _logits(item: Any) -> np.ndarray:
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return np.asarray(item[0], dtype=np.float64) @ np.asarray(item[1], dtype=np.float64)
    return np.asarray(item, dtype=np.float64)


def learning_times(trajectory: Sequence[tuple[float, Any]], S_tilde: Any, k: int) -> LearningTimes:
    """Half-final times of the projections on the first ``k`` singular directions of S̃, and their rank correlation
    with σ_i (Zhao & Thrampoulidis 2025: larger σ_i, learned earlier, so ``spearman`` < 0).

    Parameters
    ----------
    trajectory : sequence of (step, L) or (step, (W, H))
        Snapshots in increasing step order; L shape (V, m), or factors W (V, d), H (d, m).
    S_tilde : NTPData, SupportPattern, 0/1 support matrix, or S̃ itself, shape (V, m)
    k : int

    Returns
    -------
    LearningTimes
    """
    dirs = tilde_directions(S_tilde, k)
    if len(trajectory) < 1:
        raise ValidationError("the trajectory has no snapshots")
    steps = np.array([float(t) for t, _ in trajectory])
    if np.any(np.diff(steps) <= 0):
        raise ValidationError("trajectory steps must be strictly increasing")
    proj = []
    for _, item in trajectory:
        L = _logits(item)
        if L.shape != (dirs.U.shape[0], dirs.Vc.shape[0]):
            raise ShapeError(f"snapshot logits have shape {L.shape}, S̃ has {(dirs.U.shape[0], dirs.Vc.shape[0])}")
        proj.append(np.einsum("vi,vm,mi->i", dirs.U, L, dirs.Vc))
    P = np.array(proj)
    final = P[-1]
    reached = P >= final / 2
    times = np.where(final > 0, steps[np.argmax(reached, axis=0)], np.nan)
    ok = np.isfinite(times)
    rho, p = np.nan, np.nan
    if ok.sum() >= 3 and np.ptp(times[ok]) > 0 and np.ptp(dirs.sigma[ok]) > 0:  # Spearman needs varying inputs
        rho, p = spearmanr(times[ok], dirs.sigma[ok])
    return LearningTimes(times, dirs.sigma, P, steps, float(rho), float(p))


__all__ = ["LearningTimes", "OrthantClusters", "TildeDirections", "cluster_purity", "learning_times",
           "orthant_clusters", "tilde_directions"]
