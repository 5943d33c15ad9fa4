"""``assess``: judge one model's arrays (W, H, L, b) against the theory of a dataset — the code runs, probes and the
negative controls share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..reprs import short_repr
from ..data import NTPData
from ..metrics import FaceLike, Reference, centred, prediction_point, reference, snapshot_metrics
from ..theory import Theory
from .core import Verdict
from .judge import Thresholds, judge_row

#: optimal faces are probed automatically up to this many entries V x m (each probe solves 2 x n_directions SVMs)
FACE_MAX_ENTRIES = 100_000
#: ``finite_norm="auto"`` solves for the path point up to this many entries V x m
FINITE_NORM_MAX_ENTRIES = 200_000


@dataclass(frozen=True, eq=False)
class Assessment:
    """What :func:`assess` found.

    Attributes
    ----------
    verdicts : list of Verdict
        loss, C1, C2, C3, C4, L_mm.
    dist_mm, dist_tilde, dist_pred : float
        Direction distances of the centred logits to L_mm (NaN if unsolved), to S̃, to the prediction (path point of
        the model's nuclear norm, or the asymptotic form: ``prediction_note`` says which).
    dist_perp_mm, dist_perp_tilde : float
        The same for ``P_⊥(L)`` (what the L_mm verdict compares; to the optimal face when it is not a point).
    row : dict
        Every metric (:data:`ntpgeom.metrics.COLUMNS`); ``first_row`` that of ``first`` (or None).
    """

    __repr__ = short_repr

    verdicts: list[Verdict]
    dist_mm: float
    dist_tilde: float
    dist_pred: float
    dist_perp_mm: float
    dist_perp_tilde: float
    prediction_note: str
    row: dict[str, float]
    first_row: dict[str, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def status(self) -> dict[str, str]:
        """claim → status."""
        return {v.claim: v.status for v in self.verdicts}

    def verdict(self, claim: str) -> Verdict:
        """The verdict of one claim."""
        for v in self.verdicts:
            if v.claim == claim:
                return v
        raise KeyError(f"no verdict for claim {claim!r}; claims: {[v.claim for v in self.verdicts]}")


_FACES: dict[tuple[str, str], Any] = {}  # (data hash, L_mm digest) -> Face: probing costs seconds, reuse it


def _probe_face(data: NTPData, L_mm: np.ndarray) -> Any:
    import hashlib

    from ..theory.face import optimal_face

    key = (data.hash, hashlib.sha256(np.ascontiguousarray(L_mm).tobytes()).hexdigest())
    if key not in _FACES:
        if len(_FACES) >= 16:
            _FACES.pop(next(iter(_FACES)))
        _FACES[key] = optimal_face(data, L_mm)
    return _FACES[key]


def face_reference(theory: Theory | None, data: NTPData, face: FaceLike | str | None = "auto", **kw: Any) -> Reference:
    """A :func:`ntpgeom.metrics.reference` with the optimal face of NTP-SVM* probed (``face="auto"``: when
    ``ntpgeom.theory.face`` is available, L_mm is solved and V x m <= :data:`FACE_MAX_ENTRIES`, cached per dataset
    and L_mm; or a Face; or None)."""
    fdist = None
    if face == "auto":
        face = None
        if theory is not None and theory.L_mm is not None and data.V * data.m <= FACE_MAX_ENTRIES:
            try:
                from ..theory.face import face_distance as fdist
            except ImportError:
                fdist = None
            else:
                face = _probe_face(data, np.asarray(theory.L_mm, dtype=np.float64))
    elif face is not None:
        from ..theory.face import face_distance as fdist
    return reference(theory, data, face=face, face_distance=fdist, **kw)


def _snap(W: Any, H: Any, L: Any, b: Any) -> dict[str, Any]:
    if L is None and (W is None or H is None):
        raise ValueError("give the logits L or both W and H")
    W = None if W is None else np.asarray(W, dtype=np.float64)
    H = None if H is None else np.asarray(H, dtype=np.float64)
    if L is None:
        L = W @ H if b is None else W @ H + np.asarray(b, dtype=np.float64).reshape(-1, 1)
    L = np.asarray(L, dtype=np.float64)
    return {"W": W, "H": H, "L": L, "b": b, "has_bias": b is not None}


def first_row_of(data: NTPData, theory: Theory, ref: Reference, first: tuple[Any, Any], *,
                 finite_norm: bool = True, n_perm: int = 20, seed: int = 0) -> dict[str, float]:
    """The metrics row of an initialisation ``(W0, H0)`` (to pass as ``first`` to several :func:`assess` calls)."""
    s0 = _snap(first[0], first[1], None, None)
    p0 = prediction_point(data, centred(s0["L"]), ref.L_in, ref.L_ref, finite_norm=finite_norm)
    return snapshot_metrics(s0, theory, data, ref=ref, prediction=p0, n_perm=n_perm, seed=seed)


def assess(
    data: NTPData,
    theory: Theory | None = None,
    W: Any = None,
    H: Any = None,
    L: Any = None,
    b: Any = None,
    *,
    first: tuple[Any, Any] | dict[str, float] | None = None,
    thresholds: Thresholds | None = None,
    finite_norm: bool | str = "auto",
    face: FaceLike | str | None = "auto",
    ref: Reference | None = None,
    label: str = "model",
    n_perm: int = 20,
    seed: int = 0,
) -> Assessment:
    """Judge one model against the theory of ``data``.

    Parameters
    ----------
    data : NTPData, shape (V, m)
    theory : Theory, optional
        ``compute_theory(data)`` when omitted.
    W : array (V, d), H : array (d, m)
        Unembedding and context embeddings (either may be None: the W/H claims are then "n/a").
    L : array (V, m), optional
        Logits; default ``W H`` (+ ``b``). With a bias the logits are not ``W H`` exactly; that is reported, not fixed.
    b : array (V,), optional
        Output bias.
    first : (W0, H0) or a metrics row, optional
        The same model at initialisation (or its :func:`first_row`): C2 and C3 must then show a change since it (an
        untrained network fails).
    thresholds : Thresholds, optional
    finite_norm : bool or "auto"
        Judge C1/C2 against the path point of the model's norm (``ntpgeom.theory.finite_norm``) when available;
        else (or when it does not converge) against ``L_in + R·L_mm``. "auto": when V x m <=
        :data:`FINITE_NORM_MAX_ENTRIES`.
    face : "auto", Face or None
        The optimal face of NTP-SVM* (see :func:`face_reference`).
    """
    if theory is None:
        from ..theory import compute_theory

        theory = compute_theory(data)
    ref = face_reference(theory, data, face) if ref is None else ref
    if finite_norm == "auto":
        finite_norm = data.V * data.m <= FINITE_NORM_MAX_ENTRIES
    snap = _snap(W, H, L, b)
    Lc = centred(snap["L"])
    if Lc.shape != (data.V, data.m):
        raise ValueError(f"logits have shape {Lc.shape}, expected {(data.V, data.m)}")
    pred = prediction_point(data, Lc, ref.L_in, ref.L_ref, finite_norm=finite_norm)
    row = snapshot_metrics(snap, theory, data, ref=ref, prediction=pred, n_perm=n_perm, seed=seed)
    first_row = first if isinstance(first, dict) or first is None else first_row_of(
        data, theory, ref, first, finite_norm=bool(finite_norm), n_perm=n_perm, seed=seed)
    verdicts = judge_row(row, first_row, run=label, thresholds=thresholds)
    notes = list(ref.notes) + [pred.note]
    if b is not None and float(np.abs(np.asarray(b)).max()) > 0:
        notes.append("the output bias breaks L = W H: W/H claims describe W H, the logit claims L = W H + b")
    return Assessment(
        verdicts=verdicts, dist_mm=row["dir_mm"], dist_tilde=row["dir_tilde"], dist_pred=row["dir_pred"],
        dist_perp_mm=row["dir_perp_face"], dist_perp_tilde=row["dir_perp_tilde"], prediction_note=pred.note,
        row=row, first_row=first_row, notes=tuple(n for n in notes if n and not (isinstance(n, float) and math.isnan(n))),
    )
