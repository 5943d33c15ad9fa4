"""``assess``: judge one model's arrays (W, H, L, b) against the theory of a dataset — the code runs, probes and the
negative controls share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..reprs import short_repr
from ..data import NTPData
from ..metrics import FaceLike, Reference, centred, prediction_point, reference, snapshot_metrics
from ..errors import SolverError
from ..theory import Theory
from .core import Verdict
from .judge import Thresholds, judge_row
from .positions import TRAJECTORY_CLAIMS, trajectory_verdicts
from .trajectory import TrajectoryJudgement, judge_trajectory, probed_face

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
        Every metric (:data:`ntpgeom.metrics.COLUMNS`) of the last snapshot; ``first_row`` that of ``first`` (or None).
    trajectory : TrajectoryJudgement or None
        The judgement of C1, L_mm and C2 over the snapshots (one snapshot for ``W=, H=``); None without a solved L_mm.
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
    trajectory: TrajectoryJudgement | None = None

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


@dataclass(frozen=True)
class AssessOptions:
    """The options of :func:`assess` (each may also be passed to it as a keyword: ``assess(..., n_perm=50)``).

    Attributes
    ----------
    thresholds : Thresholds, optional
        Of the absolute claims (loss, C3, C4; :data:`~ntpgeom.verdicts.THRESHOLDS` by default).
    finite_norm : bool or "auto"
        Measure C1/C2's raw distances against the path point of the model's norm (``ntpgeom.theory.finite_norm``)
        when available; "auto": when V x m <= :data:`FINITE_NORM_MAX_ENTRIES`.
    face : "auto", Face or None
        The optimal face of NTP-SVM* (see :func:`face_reference`).
    ref : Reference, optional
        A prebuilt :func:`ntpgeom.metrics.reference` (overrides ``face``).
    n_perm : int
        Permutations of the metrics' nulls.
    B, alpha : int, float
        Bootstrap replicates and level (1 − α intervals, one-sided trend tests at α) of the trajectory judgement.
    threads : int
        BLAS threads of the trajectory judgement.
    """

    thresholds: Thresholds | None = None
    finite_norm: bool | str = "auto"
    face: FaceLike | str | None = "auto"
    ref: Reference | None = None
    n_perm: int = 20
    B: int = 200
    alpha: float = 0.05
    threads: int = 1


_OPTION_NAMES = tuple(f.name for f in fields(AssessOptions))

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
                face = probed_face(data, np.asarray(theory.L_mm, dtype=np.float64))
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
    snapshots: Sequence[Mapping[str, Any]] | None = None,
    first: tuple[Any, Any] | dict[str, float] | None = None,
    label: str = "model",
    seed: int = 0,
    options: AssessOptions | None = None,
    **option_values: Any,
) -> Assessment:
    """Judge one model (or its trajectory) against the theory of ``data``.

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
    snapshots : sequence of mappings, optional
        The trajectory, in increasing step order: each ``{"step": int, "W": (V, d), "H": (d, m)[, "b": (V,)]}`` or
        ``{"step": int, "L": (V, m)}`` (instead of W, H, L, b). C1, L_mm and C2 are judged over it
        (:func:`~ntpgeom.verdicts.judge_trajectory`: position μ with its bootstrap interval, trend, rate); loss, C3 and
        C4 on the last snapshot (C3 against ``first``, by default the first snapshot when it has W and H). With
        ``W=, H=`` (one snapshot) the trend parts are "inconclusive (one snapshot)".
    first : (W0, H0) or a metrics row, optional
        The same model at initialisation (or its :func:`first_row_of`): C3 must then show a change since it.
    label : str
        The model's name in the verdicts.
    seed : int
        Of the metrics' nulls and of the bootstrap.
    options : AssessOptions, optional
        Further options; its fields may also be given as keywords (``thresholds=``, ``finite_norm=``, ``face=``,
        ``ref=``, ``n_perm=``, ``B=``, ``alpha=``, ``threads=``), on top of ``options``.

    Returns
    -------
    Assessment
        ``verdicts`` (loss, C1, C2, C3, C4, L_mm: :class:`Verdict` with status, value, threshold, note), the direction
        distances, the metrics ``row`` and the ``trajectory`` judgement.

    Raises
    ------
    ValueError
        Both ``snapshots`` and arrays given, or an empty ``snapshots``.
    SolverError
        A theory of other data.

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> th = g.compute_theory(data)
    >>> a = g.assess(data, th, W=th.W_mm, H=th.H_mm, face=None, B=20)   # L_mm itself: one snapshot, no trend
    >>> sorted(a.status)
    ['C1', 'C2', 'C3', 'C4', 'L_mm', 'loss']
    """
    unknown = sorted(set(option_values) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(f"assess() got unexpected keyword argument(s) {unknown}; the options are {list(_OPTION_NAMES)}")
    opt = AssessOptions(**{**({} if options is None else vars(options)), **option_values})
    if theory is None:
        from ..theory import compute_theory

        theory = compute_theory(data)
    if snapshots is not None and any(x is not None for x in (W, H, L, b)):
        raise ValueError("give either snapshots=[...] or the arrays W, H, L, b of one snapshot, not both")
    snaps = [dict(s) for s in snapshots] if snapshots is not None else [{"step": 1, "W": W, "H": H, "L": L, "b": b}]
    if not snaps:
        raise ValueError("snapshots is empty; give at least one snapshot")
    last = snaps[-1]
    if first is None and len(snaps) > 1 and snaps[0].get("W") is not None and snaps[0].get("H") is not None:
        first = (snaps[0]["W"], snaps[0]["H"])
    a = _assess_last(data, theory, last.get("W"), last.get("H"), last.get("L"), last.get("b"), first, label, seed, opt)
    if theory.L_mm is None:
        return a
    try:
        tj = judge_trajectory(data, theory, [{k: v for k, v in s.items() if v is not None} for s in snaps], B=opt.B,
                              alpha=opt.alpha, seed=seed, threads=opt.threads)
    except SolverError as e:  # the optimal face could not be probed (L_mm inexact): no silent fallback
        na = {c: replace(a.verdict(c), status="n/a", note=f"n/a: reference not certified ({e})", threshold=float("nan"),
                         margin=float("nan")) for c in TRAJECTORY_CLAIMS}
        return replace(a, verdicts=[na.get(v.claim, v) for v in a.verdicts])
    rows = trajectory_verdicts(tj, label)
    verdicts = [rows[v.claim] if v.claim in TRAJECTORY_CLAIMS else v for v in a.verdicts]
    return replace(a, verdicts=verdicts, trajectory=tj)


def _assess_last(data: NTPData, theory: Theory, W: Any, H: Any, L: Any, b: Any,
                 first: tuple[Any, Any] | dict[str, float] | None, label: str, seed: int,
                 opt: AssessOptions) -> Assessment:
    """The metrics of one snapshot and its verdicts by the absolute rules (the last snapshot's)."""
    ref = face_reference(theory, data, opt.face) if opt.ref is None else opt.ref
    finite_norm = data.V * data.m <= FINITE_NORM_MAX_ENTRIES if opt.finite_norm == "auto" else opt.finite_norm
    n_perm, thresholds = opt.n_perm, opt.thresholds
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
