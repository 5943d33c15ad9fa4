"""A theory restricted to a subset of its contexts: what a snapshot holding only some columns is measured against.

A run trained with ``snapshot_contexts = k`` writes snapshots whose H (d x k) and L (V x k) hold the contexts
``Snapshot.contexts`` only (a fixed, seeded subset of the data's m). Every measurement of such a snapshot compares
it with the theory of the *whole* data (theory.md §§3-5) restricted to those columns, never with a theory
recomputed on the subset (L_mm of a subset of contexts is another problem: the nuclear norm does not split over
columns). What each quantity needs (theory.md §2, §5):

- ``L_in``, ``S̃ = (I − 11ᵀ/V) S``, the projection onto F and the soft labels are column-wise: their restriction is
  the restriction of the columns. ``L_mm`` is restricted column-wise (its columns of the subset).
- The loss: ``CE`` on the subset is the π-weighted mean over those contexts, with π renormalised over them
  (``π_j / Σ_{j∈K} π_j``), and ``ℋ`` likewise: ``NTPData.select_contexts`` keeps the counts of those contexts, so
  its π and entropy bound are exactly these.
- ``G_W`` (V x V) and W are not per context: unchanged. ``G_H`` on the subset is the sub-matrix ``G_H[K, K]`` of the
  whole Gram, i.e. the Gram of the columns K of the whole factor ``H_mm`` (and of the proxy factor of the whole S̃),
  not the Gram of a factor of the restricted matrix.
- Whether S̃ is itself optimal (``tilde_optimal``) is a property of the whole problem and is carried over.
- Not restricted (not column-wise): the finite-norm path point ``L̂_B`` and the optimal face; a subset snapshot is
  judged against the asymptotic form ``L_in + R·L_ref`` (``pred_is_path`` = 0) and the face distance falls back to
  L_mm (the reference's notes say so). Nuclear norms (``norm_nuc``) are those of the subset's columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..data import NTPData
from ..reprs import short_repr
from ..theory import factors
from .similarity import MetricsError


@dataclass(frozen=True, eq=False)
class TheoryColumns:
    """The theory of a dataset restricted to k of its m contexts (satisfies :class:`~ntpgeom.metrics.TheoryLike`).

    Attributes
    ----------
    data_hash : str
        Hash of the restricted data (``data.select_contexts(contexts)``).
    contexts : ndarray of int, shape (k,)
        The kept contexts, indices into the whole data's m.
    L_in, S_tilde : ndarray, shape (V, k)
    L_mm : ndarray (V, k) or None
    W_mm : ndarray (V, r) or None
        Unchanged (not per context).
    H_mm : ndarray (r, k) or None
        The columns K of the whole factor ``H_mm``.
    H_proxy : ndarray (r', k)
        The columns K of the whole S̃'s factor ``Σ^{1/2}Vᵀ`` (its Gram is ``G_H_proxy[K, K]``).
    G_W, G_W_proxy : ndarray (V, V) or None
        Unchanged.
    G_H, G_H_proxy : ndarray (k, k) or None
        ``G[K, K]`` when the whole theory holds the dense Gram; None otherwise (then formed from H_mm / H_proxy).
    tilde_optimal : bool or None
        Whether S̃ is optimal for the whole NTP-SVM* (None: not solved).
    certificate, dist_mm_tilde, svm
        Those of the whole theory (for reports).
    """

    __repr__ = short_repr

    data_hash: str
    contexts: np.ndarray
    L_in: np.ndarray
    S_tilde: np.ndarray
    L_mm: np.ndarray | None
    W_mm: np.ndarray | None
    H_mm: np.ndarray | None
    H_proxy: np.ndarray
    G_W: np.ndarray | None
    G_H: np.ndarray | None
    G_W_proxy: np.ndarray | None
    G_H_proxy: np.ndarray | None
    tilde_optimal: bool | None
    certificate: Any = None
    dist_mm_tilde: float | None = None
    svm: Any = None


def check_contexts(contexts: Any, m: int) -> np.ndarray:
    """``contexts`` as sorted-as-given int64 indices into m contexts: 1-D, distinct, in ``[0, m)`` (else MetricsError)."""
    idx = np.asarray(contexts)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise MetricsError(f"snapshot contexts must be a non-empty 1-D integer array, got shape {idx.shape} "
                           f"and dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.min() < 0 or idx.max() >= m:
        raise MetricsError(f"snapshot contexts lie outside [0, {m}) (the data has m = {m} contexts); was the "
                           "snapshot taken on another dataset?")
    if np.unique(idx, return_counts=True)[1].max() > 1:
        raise MetricsError("snapshot contexts repeat an index; each context must appear once")
    return idx


def is_all(contexts: np.ndarray | None, m: int) -> bool:
    """True when ``contexts`` is None or exactly ``0, 1, ..., m−1`` (the whole data)."""
    return contexts is None or (len(contexts) == m and bool(np.array_equal(contexts, np.arange(m))))


def _left(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(U, s)`` of ``A = U Σ Vᵀ`` (V x m, V <= m) from the V x V Gram, singular values descending: one BLAS-3
    product instead of an SVD of the wide matrix (m ~ 10^5 columns)."""
    lam, U = np.linalg.eigh(A @ A.T)
    return U[:, ::-1], np.sqrt(np.clip(lam[::-1], 0.0, None))


def _nuc_centred(A: np.ndarray) -> float:
    Ac = A - A.mean(axis=0)
    if Ac.shape[0] <= Ac.shape[1]:
        return float(_left(Ac)[1].sum())
    return float(np.linalg.svd(Ac, compute_uv=False).sum())


def proxy_columns(S_tilde: np.ndarray, idx: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """The columns ``idx`` of the balanced factor ``H = Σ^{1/2}Vᵀ`` of the whole ``S̃ = UΣVᵀ`` (so that
    ``Hᵀ H = (S̃ᵀS̃)^{1/2}[idx, idx]``), as ``Σ^{-1/2} Uᵀ S̃[:, idx]`` over the singular values above ``rtol σ_max``
    (the others change that Gram by at most ``rtol σ_max`` per entry). Shape (r, len(idx))."""
    V, m = S_tilde.shape
    if V > m:
        return factors(S_tilde)[1][:, idx]
    U, s = _left(S_tilde)
    keep = s > rtol * s[0] if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    return (U[:, keep] / np.sqrt(s[keep])).T @ S_tilde[:, idx]


def _cols(A: Any, idx: np.ndarray) -> np.ndarray | None:
    return None if A is None else np.asarray(A, dtype=np.float64)[:, idx]


def _gram_sub(G: Any, idx: np.ndarray, m: int) -> np.ndarray | None:
    if G is None:
        return None
    G = np.asarray(G, dtype=np.float64)
    if G.shape != (m, m):
        raise MetricsError(f"a context Gram has shape {G.shape}, expected ({m}, {m})")
    return G[np.ix_(idx, idx)]


def restrict(theory: Any, data: NTPData, contexts: Any) -> tuple[TheoryColumns | None, NTPData]:
    """The theory of ``data`` and the data itself restricted to ``contexts`` (see the module docstring).

    Parameters
    ----------
    theory : TheoryLike or None
        The theory of the whole ``data`` (None: only the data is restricted; L_in and S̃ are then computed from the
        restricted data, which is exact since both are column-wise).
    data : NTPData, shape (V, m)
    contexts : int array, shape (k,)
        Distinct indices into the m contexts.

    Returns
    -------
    (TheoryColumns or None, NTPData)
        The restricted theory (None when ``theory`` is None) and ``data.select_contexts(contexts)`` (π and ℋ
        renormalised over the subset).
    """
    if not isinstance(data, NTPData):
        raise MetricsError(f"data must be an NTPData, got {type(data).__name__}")
    V, m = data.V, data.m
    idx = check_contexts(contexts, m)
    sub = data.select_contexts(idx, subset_of=data.hash)
    if theory is None:
        return None, sub
    if theory.data_hash is not None and theory.data_hash != data.hash:
        raise MetricsError(f"the theory was computed for data {theory.data_hash} but the data is {data.hash}; "
                           "recompute the theory for this data")
    St = np.asarray(theory.S_tilde, dtype=np.float64)
    Lmm = None if theory.L_mm is None else np.asarray(theory.L_mm, dtype=np.float64)
    for name, A in (("L_in", theory.L_in), ("S_tilde", St), ("L_mm", Lmm)):
        if A is not None and np.shape(A) != (V, m):
            raise MetricsError(f"theory.{name} has shape {np.shape(A)} but the data is V x m = ({V}, {m})")
    tilde_opt = None if Lmm is None else _nuc_centred(St) <= _nuc_centred(Lmm) * (1 + 1e-6)
    H_mm = getattr(theory, "H_mm", None)
    return TheoryColumns(
        data_hash=sub.hash, contexts=idx, L_in=_cols(theory.L_in, idx), S_tilde=St[:, idx],
        L_mm=None if Lmm is None else Lmm[:, idx], W_mm=getattr(theory, "W_mm", None), H_mm=_cols(H_mm, idx),
        H_proxy=proxy_columns(St, idx), G_W=theory.G_W, G_H=_gram_sub(theory.G_H, idx, m), G_W_proxy=theory.G_W_proxy,
        G_H_proxy=_gram_sub(theory.G_H_proxy, idx, m), tilde_optimal=tilde_opt,
        certificate=getattr(theory, "certificate", None), dist_mm_tilde=getattr(theory, "dist_mm_tilde", None),
        svm=getattr(theory, "svm", None),
    ), sub


def snapshot_contexts(snap: Any) -> np.ndarray | None:
    """The ``contexts`` of a snapshot (attribute or mapping key), or None (all contexts)."""
    ctx = snap.get("contexts") if isinstance(snap, Mapping) else getattr(snap, "contexts", None)
    return None if ctx is None else np.asarray(ctx)
