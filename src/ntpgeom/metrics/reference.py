"""What a snapshot is measured against (theory.md §§3-5, §8): the :class:`Reference` of one (theory, data) pair.

The theory is a :class:`ntpgeom.theory.Theory` (computed, loaded, or restricted to some contexts: ``contexts`` set;
build one by hand for closed-form numbers); the optimal face of NTP-SVM* is typed by the Protocol :class:`FaceLike`
(``ntpgeom.theory.face.Face``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import numpy as np

from ..reprs import short_repr
from ..status import Status
from ..data import NTPData
from ..theory import Theory, direction_distance, factors
from ..theory.subspaces import L_in as _L_in
from ..theory.subspaces import S_tilde as _S_tilde
from .restrict import check_contexts, is_all, restrict
from .similarity import MetricsError, corr_from_gram


class FaceLike(Protocol):
    """The optimal face of NTP-SVM* (``ntpgeom.theory.face.Face``): sampled optimal points and their spread."""

    members: np.ndarray | list
    diameter: float
    is_point: bool | None  # None: not probed
    detail: str  # "probed", "probed (inaccurate: ...)" or "not probed: <reason>"

    @property
    def status(self) -> Status:
        """The :class:`~ntpgeom.status.Status` of the probes (the descriptive text is ``detail``)."""


@dataclass(frozen=True, eq=False)
class Reference:
    """Everything the metrics compare a snapshot against, computed once per (theory, data) pair.

    Build with :func:`reference`; pass to :func:`ntpgeom.metrics.snapshot_metrics` (``ref=``) to reuse across
    snapshots. ``idx`` is the context subset used for the m x m quantities (all contexts when m <= max_contexts).
    ``face`` and ``face_distance`` (a callable ``(face, L) -> float``) are set when the optimal face was probed.
    ``tilde_optimal``: the theory's (:attr:`ntpgeom.theory.Theory.tilde_optimal`; False when not solved).
    ``contexts``: None for the whole data; else the k contexts (indices into the whole data's m) this reference is
    restricted to (:meth:`ntpgeom.theory.Theory.restrict`): ``data`` is then the restricted data (V x k) and every
    array holds those k columns.
    """

    __repr__ = short_repr

    data: NTPData
    L_in: np.ndarray
    S_tilde: np.ndarray
    L_mm: np.ndarray | None
    idx: np.ndarray
    groups: np.ndarray
    G_W_mm: np.ndarray | None = None
    G_H_mm: np.ndarray | None = None
    G_W_proxy: np.ndarray | None = None
    G_H_proxy: np.ndarray | None = None
    corr_W_mm: np.ndarray | None = None
    corr_H_mm: np.ndarray | None = None
    corr_W_proxy: np.ndarray | None = None
    corr_H_proxy: np.ndarray | None = None
    labels: np.ndarray | None = None
    face: FaceLike | None = None
    face_distance: Callable[[FaceLike, np.ndarray], float] | None = None
    tilde_optimal: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    contexts: np.ndarray | None = None

    @property
    def L_ref(self) -> np.ndarray:
        """The low-rank reference direction: L_mm when solved, else the proxy S̃."""
        return self.L_mm if self.L_mm is not None else self.S_tilde


def _arr(A: np.ndarray | None) -> np.ndarray | None:
    return None if A is None else np.asarray(A, dtype=np.float64)


def _sub(G: np.ndarray | None, idx: np.ndarray, m: int) -> np.ndarray | None:
    if G is None:
        return None
    G = np.asarray(G, dtype=np.float64)
    if G.shape != (m, m):
        raise MetricsError(f"a context Gram has shape {G.shape}, expected ({m}, {m})")
    return G if len(idx) == m else G[np.ix_(idx, idx)]


def context_subset(m: int, max_contexts: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted indices of the contexts used for m x m quantities: all of them, or a seeded sample of ``max_contexts``."""
    if m <= max_contexts:
        return np.arange(m)
    return np.sort(np.random.default_rng(seed).choice(m, size=max_contexts, replace=False))


def reference(
    theory: Theory | None,
    data: NTPData,
    max_contexts: int = 2000,
    seed: int = 0,
    *,
    face: FaceLike | None = None,
    face_distance: Callable[[FaceLike, np.ndarray], float] | None = None,
    contexts: np.ndarray | None = None,
) -> Reference:
    """Collect the predictions a snapshot is measured against.

    Parameters
    ----------
    theory : Theory or None
        A :func:`ntpgeom.theory.compute_theory` result (or one restricted to ``data``'s contexts). ``None``: only L_in
        and S̃ (computed from ``data``).
    data : NTPData
    max_contexts : int
        Largest number of contexts for the m x m comparisons.
    face, face_distance : optional
        The optimal face of NTP-SVM* and the distance to it (``ntpgeom.theory.face``); when the face is not a point,
        the distance of ``P_⊥(L)`` to L_mm is measured to the face (column ``dir_perp_face``).
    contexts : int array (k,), optional
        Restrict to these contexts of ``data`` (a snapshot's ``contexts``): the theory's columns, Grams and π as
        :mod:`ntpgeom.theory.restriction` describes. The face is not restricted (it is dropped, with a note).
    """
    if not isinstance(data, NTPData):
        raise MetricsError(f"data must be an NTPData, got {type(data).__name__}")
    if not is_all(None if contexts is None else check_contexts(contexts, data.m), data.m):
        th_k, data_k = restrict(theory, data, contexts)
        ref = reference(th_k, data_k, max_contexts, seed)
        note = (f"measured on a fixed subset of {data_k.m} of the {data.m} contexts (the snapshot's): the theory's "
                "columns of those contexts, π and ℋ renormalised over them; no finite-norm path point")
        if face is not None:
            note += "; the optimal face is not restricted (judged against L_mm)"
        return replace(ref, contexts=check_contexts(contexts, data.m), notes=(note, *ref.notes))
    V, m = data.V, data.m
    if theory is not None and theory.data_hash is not None and theory.data_hash != data.hash:
        raise MetricsError(
            f"the theory was computed for data {theory.data_hash} but the run's data is {data.hash}; recompute the theory for this data"
        )
    Lin = _L_in(data) if theory is None else _arr(theory.L_in)
    St = _S_tilde(data) if theory is None else _arr(theory.S_tilde)
    Lmm = None if theory is None else _arr(theory.L_mm)
    for name, A in (("L_in", Lin), ("S_tilde", St), ("L_mm", Lmm)):
        if A is not None and A.shape != (V, m):
            raise MetricsError(f"theory.{name} has shape {A.shape} but the data is V x m = ({V}, {m})")
    idx = context_subset(m, max_contexts, seed)
    notes = []
    if len(idx) < m:
        notes.append(f"m x m comparisons use a seeded sample of {len(idx)} of {m} contexts")
    GW = GH = GWp = GHp = None
    if theory is not None:
        GW, GWp = _arr(theory.G_W), _arr(theory.G_W_proxy)
        GH, GHp = _sub(theory.G_H, idx, m), _sub(theory.G_H_proxy, idx, m)
        Hmm = theory.H_mm
        if GH is None and Hmm is not None:  # m too large for the theory's dense G_H: the Gram of the sampled columns
            Hs = np.asarray(Hmm, dtype=np.float64)[:, idx]
            GH = Hs.T @ Hs
        if GHp is None and m > 1:  # likewise for the proxy: H-factor of S̃ = Σ^{1/2}Vᵀ (of the whole S̃ when restricted)
            Hp = theory.H_proxy
            Hp = (factors(St)[1] if Hp is None else np.asarray(Hp, dtype=np.float64))[:, idx]
            GHp = Hp.T @ Hp
    if Lmm is None:
        notes.append("L_mm not solved: the *_mm columns are empty, comparisons use the S̃ proxy")
    tilde_optimal = bool(Lmm is not None and theory is not None and theory.tilde_optimal)  # the whole problem's
    if tilde_optimal and theory.contexts is None and direction_distance(St, Lmm) > 1e-6:  # not said of a restriction
        notes.append("S̃ is optimal for NTP-SVM* but the solver returned another optimal L_mm: the optimum is not "
                     "unique, and S̃ counts as a point of the optimal face")
    if face is not None and face.is_point is False:
        notes.append(f"the optimal face of NTP-SVM* is not a point (diameter ≥ {face.diameter:.3g}, a lower bound): judged against the face")
    labels = data.S.indices.astype(np.int64) if np.all(data.support_sizes == 1) else None
    return Reference(
        data=data, L_in=Lin, S_tilde=St, L_mm=Lmm, idx=idx, groups=np.asarray(data.support_groups),
        G_W_mm=GW, G_H_mm=GH, G_W_proxy=GWp, G_H_proxy=GHp,
        corr_W_mm=None if GW is None else corr_from_gram(GW),
        corr_H_mm=None if GH is None else corr_from_gram(GH),
        corr_W_proxy=None if GWp is None else corr_from_gram(GWp),
        corr_H_proxy=None if GHp is None else corr_from_gram(GHp),
        labels=labels, face=face, face_distance=face_distance, tilde_optimal=tilde_optimal, notes=tuple(notes),
    )
