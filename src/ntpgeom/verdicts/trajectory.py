"""Judge a model's trajectory (a series of snapshots) by its position between the prediction and its rival
(theory.md §8; the measurements are :mod:`ntpgeom.metrics.position`).

Claims: **C1** (the logits approach ``L_in + R·L_mm`` rather than ``L_in + r·S̃``), **L_mm** (the F⊥ part ``P_⊥L``
approaches the direction of L_mm rather than S̃'s) and **C2:W / C2:H** (corr(Ẇᵀ) and corr(Ḣ) approach the maps of the
prediction's balanced factors rather than the rival's; d = the off-diagonal RMS, :func:`~ntpgeom.metrics.position.
c2_distances`; C2 uses C1's distances for the family gate, rule 2). For each, per snapshot: μ with a seeded π-weighted context
bootstrap interval (B replicates, level 1 − α), the raw π-weighted direction distances to the prediction and the rival
and between them; over the snapshots: the trend (Spearman ρ of μ with log step, exact permutation p-values) and the
rate (distance to the prediction against 1/ln t, extrapolated intercept with its interval).

**The rule** (first that applies, on the last snapshot and the trend):

1. d(prediction, rival) <= ``resolution``: inconclusive — the two cannot be told apart on this data;
2. both distances > :data:`FAMILY`: FAIL — far from both (not a model of this support pattern);
3. interval below 0: FAIL — measurably nearer the rival;
4. μ falls with log step (one-sided p <= α): FAIL — moving away from the prediction;
5. interval above 0 and μ rises (one-sided p <= α): pass;
6. otherwise inconclusive (one snapshot has no trend: never a pass).

**When S̃ is optimal** (Prop. 3's certificate, or ``‖S̃‖_*`` within ``tol`` of the certified optimum) it is the
prediction, not a rival: μ is not defined ("n/a" for the discrimination) and each claim is judged against the optimal
face instead: d = the π-weighted direction distance to the face's cone (of ``P_⊥L`` for L_mm, of ``L − L_in`` for C1).
pass: the last d within the face's resolution, or d falls with log step (p <= α) while within :data:`FAMILY` of the
face; FAIL: the last d above :data:`FAMILY` (far from the face, as rule 2), or d rises (p <= α); else inconclusive.

:data:`FAMILY` = 1.0 (the model's direction within 60° of the prediction's or the rival's) was chosen on the honest
controls: plain-GD UFMs and free logits sit below 0.5 on every instance the tests build, UFMs trained on
token-relabelled data above 1.2 (random directions: about √2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import NTPData
from ..metrics.position import (RESOLUTION, Position, Rate, Trend, c1_distances, c2_distances, face_distances,
                                mm_distances, position_interval, rate, trend)
from ..metrics.prediction import nuclear_norm
from ..reprs import short_repr
from ..theory import Face, Theory, centre, proj_perp, support_mask
from ..theory.restriction import tilde_is_optimal
from .core import Verdict

__all__ = ["FAMILY", "ClaimTrajectory", "TrajectoryJudgement", "judge_trajectory", "probed_face", "tilde_optimal", "snapshot_logits"]

#: a model farther than this (direction distance) from both the prediction and the rival is outside the family
FAMILY = 1.0


@dataclass(frozen=True, eq=False)
class ClaimTrajectory:
    """One claim judged over a trajectory.

    Attributes
    ----------
    claim : str
        "C1", "L_mm", "C2:W" or "C2:H".
    status, note : str
        pass / FAIL / inconclusive / n/a, and why.
    against : str
        "rival" (μ between the prediction and the S̃ rival), "face" (S̃ optimal: distance to the optimal face) or
        "n/a" (C2 without W, H, or against a face).
    steps : tuple of int
    positions : tuple of Position
        Per snapshot (``against == "rival"``); empty against the face.
    d_face : tuple of float
        Per snapshot distance to the optimal face (``against == "face"``); empty otherwise.
    trend : Trend
        Of μ (rival) or of ``d_face`` (face).
    rate : Rate
        Fit of the distance to the prediction (rival) or to the face against 1/ln t.
    B, alpha, seed : int, float, int
    """

    __repr__ = short_repr

    claim: str
    status: str
    note: str
    against: str
    steps: tuple[int, ...]
    positions: tuple[Position, ...]
    d_face: tuple[float, ...]
    trend: Trend
    rate: Rate
    B: int
    alpha: float
    seed: int

    @property
    def mu(self) -> tuple[float, ...]:
        return tuple(p.mu for p in self.positions)

    @property
    def d_pred(self) -> tuple[float, ...]:
        """Distance to the prediction per snapshot (to the face when judged against it)."""
        return tuple(p.d_pred for p in self.positions) if self.positions else self.d_face

    def verdict(self, run: str = "") -> Verdict:
        """The :class:`~ntpgeom.verdicts.core.Verdict` record: value μ of the last snapshot (threshold 0, margin = its
        lower bound) or, against the face, its distance to the face."""
        if not self.positions and not self.d_face:
            return Verdict(self.claim, self.status, float("nan"), float("nan"), float("nan"), self.note, self.claim,
                           "", ">=", run)
        if self.against == "face":
            v = self.d_face[-1] if self.d_face else float("nan")
            return Verdict(self.claim, self.status, v, float("nan"), float("nan"), self.note, f"{self.claim} (face)",
                           "distance to the optimal face", "<=", run)
        p = self.positions[-1]
        return Verdict(self.claim, self.status, p.mu, 0.0, p.lo, self.note, f"{self.claim} (position μ)",
                       "μ = (d_rival − d_pred) / d(pred, rival)", ">=", run)


@dataclass(frozen=True, eq=False)
class TrajectoryJudgement:
    """What :func:`judge_trajectory` found: ``claims`` (C1, L_mm), whether S̃ is optimal and why."""

    __repr__ = short_repr

    claims: tuple[ClaimTrajectory, ...]
    tilde_optimal: bool
    tilde_note: str

    @property
    def status(self) -> dict[str, str]:
        return {c.claim: c.status for c in self.claims}

    def claim(self, name: str) -> ClaimTrajectory:
        for c in self.claims:
            if c.claim == name:
                return c
        raise KeyError(f"no claim {name!r}; claims: {[c.claim for c in self.claims]}")


def snapshot_logits(snap: Mapping[str, Any]) -> np.ndarray:
    """The logits of one snapshot: ``L``, or ``W H`` (+ ``b``), float64 (V, m)."""
    if "L" in snap and snap["L"] is not None:
        return np.asarray(snap["L"], dtype=np.float64)
    if "W" not in snap or "H" not in snap:
        raise ValueError(f"a snapshot needs 'L' or both 'W' and 'H'; got keys {sorted(snap)}")
    L = np.asarray(snap["W"], dtype=np.float64) @ np.asarray(snap["H"], dtype=np.float64)
    if snap.get("b") is not None:
        L = L + np.asarray(snap["b"], dtype=np.float64).reshape(-1, 1)
    return L


def tilde_optimal(theory: Theory) -> tuple[bool, str]:
    """Whether S̃ solves NTP-SVM*, by the theory's one rule (:func:`ntpgeom.theory.restriction.tilde_is_optimal`)
    against the certified optimum (the dual value when solved, else ``‖L_mm‖_*``) with the solver's gap; and why."""
    if theory.certificate.holds:
        return True, "S̃ is optimal (Prop. 3's certificate holds)"
    if theory.L_mm is None:
        return False, "L_mm not solved"
    svm = theory.svm
    opt = float(svm.dual_value) if svm is not None else nuclear_norm(centre(theory.L_mm))
    gap = float(svm.gap) if svm is not None and math.isfinite(svm.gap) else 0.0
    nuc_tilde = nuclear_norm(theory.S_tilde)
    excess = nuc_tilde / opt - 1.0
    if tilde_is_optimal(nuc_tilde, opt, gap=gap):
        return True, f"S̃ is on the optimal face (‖S̃‖_* exceeds the optimum by {excess:.2g} of it)"
    return False, f"S̃ is not optimal (‖S̃‖_* exceeds the optimum by {excess:.2g} of it)"


def _rival_status(ps: Sequence[Position], tr: Trend, alpha: float, one: bool,
                  family: tuple[float, float] | None = None) -> tuple[str, str]:
    p = ps[-1]
    fam = (p.d_pred, p.d_rival) if family is None else family
    dist = f"μ {p.mu:+.3f} [{p.lo:+.3f}, {p.hi:+.3f}], d_pred {p.d_pred:.3g}, d_rival {p.d_rival:.3g}, δ {p.delta:.3g}"
    trend_txt = "one snapshot: no trend" if one else f"trend ρ {tr.rho:+.2f} (p↑ {tr.p_up:.2g}, p↓ {tr.p_down:.2g})"
    if not p.resolved:
        return "inconclusive", f"prediction and rival cannot be told apart on this data (δ {p.delta:.3g})"
    if min(fam) > FAMILY:
        return "FAIL", f"far from both prediction and rival ({dist}; logits {fam[0]:.3g}, {fam[1]:.3g})"
    if p.hi < 0:
        return "FAIL", f"measurably nearer the rival ({dist}; {trend_txt})"
    if not one and tr.p_down <= alpha:
        return "FAIL", f"moving away from the prediction ({dist}; {trend_txt})"
    if p.lo > 0 and not one and tr.p_up <= alpha:
        return "pass", f"nearer the prediction and moving towards it ({dist}; {trend_txt})"
    return "inconclusive", f"not measurably nearer the prediction and moving towards it ({dist}; {trend_txt})"


def _face_status(d: Sequence[float], tr: Trend, alpha: float, resolution: float) -> tuple[str, str]:
    txt = f"distance to the face {d[-1]:.3g}" + ("" if tr.n < 3 else f", trend ρ {tr.rho:+.2f} (p↓ {tr.p_down:.2g})")
    if d[-1] <= resolution:
        return "pass", f"on the optimal face ({txt}); μ n/a: S̃ is optimal, no rival"
    if d[-1] > FAMILY:  # approaching from afar is not being there: rule 2's family gate, against the face
        return "FAIL", f"far from the optimal face ({txt} > {FAMILY:g})"
    if tr.p_down <= alpha:
        return "pass", f"approaching the optimal face ({txt}); μ n/a: S̃ is optimal, no rival"
    if tr.p_up <= alpha:
        return "FAIL", f"moving away from the optimal face ({txt})"
    return "inconclusive", f"not measurably approaching the optimal face ({txt})"


_FACES: dict[tuple[str, str], Face] = {}  # (data hash, L_mm digest) -> Face


def probed_face(data: NTPData, L_mm: np.ndarray) -> Face:
    """The optimal face of NTP-SVM* probed around ``L_mm`` (:func:`ntpgeom.theory.optimal_face`), cached per dataset
    and L_mm (the last 16): probing costs seconds, and a run's metrics, its trajectory and the controls ask for the
    same face."""
    import hashlib

    from ..theory.face import optimal_face

    L_mm = np.asarray(L_mm, dtype=np.float64)
    key = (data.hash, hashlib.sha256(np.ascontiguousarray(L_mm).tobytes()).hexdigest())
    if key not in _FACES:
        if len(_FACES) >= 16:
            _FACES.pop(next(iter(_FACES)))
        _FACES[key] = optimal_face(data, L_mm)
    return _FACES[key]


def _face(data: NTPData, theory: Theory, face: Face | None) -> Face:
    if face is not None:
        return face
    return probed_face(data, theory.L_mm if theory.L_mm is not None else theory.S_tilde)


def _with_tilde(face: Face, S_tilde: np.ndarray) -> Face:
    """The probed face with S̃ (optimal here) added to its members: the probes need not have found it."""
    from dataclasses import replace

    St = np.asarray(S_tilde, dtype=np.float64)
    return replace(face, members=np.concatenate([face.members, centre(St)[None]]))


def judge_trajectory(data: NTPData, theory: Theory, snapshots: Sequence[Mapping[str, Any]], *, B: int = 200,
                     alpha: float = 0.05, seed: int = 0, resolution: float = RESOLUTION,
                     face: Face | None = None, threads: int = 1) -> TrajectoryJudgement:
    """Judge the trajectory ``snapshots`` (each ``{"step": int, "L": (V, m)}`` or ``{"step", "W": (V, d), "H": (d, m)
    [, "b": (V,)]}``, in increasing step order) against ``theory`` (a :class:`~ntpgeom.theory.Theory` of ``data``).

    Claims C1, L_mm, and C2:W / C2:H (when every snapshot has W and H; "n/a" otherwise and against the face).
    ``face``: the optimal face (:func:`ntpgeom.theory.optimal_face`), probed here when S̃ is optimal and none is given;
    S̃ is added to its members (it is optimal; the probes need not have found it).
    ``threads``: BLAS threads (threadpoolctl). Rules in the module docstring.
    """
    with threadpool_limits(limits=threads):
        return _judge(data, theory, snapshots, B, alpha, seed, resolution, face)


def _judge(data: NTPData, theory: Theory, snapshots: Sequence[Mapping[str, Any]], B: int, alpha: float, seed: int,
           resolution: float, face: Face | None) -> TrajectoryJudgement:
    if not snapshots:
        raise ValueError("give at least one snapshot")
    steps = tuple(int(s["step"]) for s in snapshots)
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"snapshots must be in increasing step order, got steps {list(steps)}")
    Ls = [snapshot_logits(s) for s in snapshots]
    if any(L.shape != (data.V, data.m) for L in Ls):
        raise ValueError(f"every snapshot's logits must have shape {(data.V, data.m)}")
    opt, why = tilde_optimal(theory)
    common = dict(B=B, alpha=alpha, seed=seed)
    factored = all(s.get("W") is not None and s.get("H") is not None for s in snapshots)
    if opt:
        claims = _judge_face(data, theory, Ls, steps, face, why, common)
        c2_note = f"{why}: the predicted factor maps are those of a non-unique face; C2 not judged"
        return TrajectoryJudgement(claims + _na_c2(steps, c2_note, common), True, why)
    if theory.L_mm is None:
        raise ValueError("the theory has no L_mm (solve NTP-SVM*: compute_theory(data, solve=True))")
    mask, pi = support_mask(data.S), np.asarray(data.pi, dtype=np.float64)
    ths = (theory.L_in, theory.L_mm, theory.S_tilde)
    measures = {"C1": [c1_distances(L, *ths) for L in Ls],
                "L_mm": [mm_distances(L, mask, theory.L_mm, theory.S_tilde) for L in Ls]}
    if factored:
        for side in ("W", "H"):
            measures[f"C2:{side}"] = [c2_distances(s["W"], s["H"], *ths, side) for s in snapshots]
    claims, family = [], None
    for name, dists in measures.items():
        ps = tuple(position_interval(d, pi, resolution=resolution, **common) for d in dists)
        tr = trend([p.mu for p in ps], steps, seed=seed)
        st, note = _rival_status(ps, tr, alpha, len(ps) == 1, family if name.startswith("C2") else None)
        if name == "C1":  # C2 inherits C1's family gate: the maps are those of the factors of L
            family = (ps[-1].d_pred, ps[-1].d_rival)
        claims.append(ClaimTrajectory(name, st, note, "rival", steps, ps, (), tr,
                                      rate([p.d_pred for p in ps], steps, alpha=alpha), **common))
    if not factored:
        claims += _na_c2(steps, "logits only: C2 needs W and H in every snapshot", common)
    return TrajectoryJudgement(tuple(claims), False, why)


def _judge_face(data: NTPData, theory: Theory, Ls: list[np.ndarray], steps: tuple[int, ...], face: Face | None, why: str,
                common: dict[str, Any]) -> tuple[ClaimTrajectory, ...]:
    """C1 and L_mm against the optimal face (S̃ optimal)."""
    fc = _with_tilde(_face(data, theory, face), theory.S_tilde)
    res = float(fc.resolution)
    mask, pi = support_mask(data.S), np.asarray(data.pi, dtype=np.float64)
    claims = []
    for name, L_in in (("C1", theory.L_in), ("L_mm", None)):
        X = [L if L_in is not None else proj_perp(L, mask) for L in Ls]
        d = tuple(float(face_distances(x, fc, L_in)(pi)) for x in X)
        tr = trend(d, steps, seed=common["seed"])
        st, note = _face_status(d, tr, common["alpha"], res)
        claims.append(ClaimTrajectory(name, st, f"{why}: {note}", "face", steps, (), d, tr,
                                      rate(d, steps, alpha=common["alpha"]), **common))
    return tuple(claims)


def _na_c2(steps: tuple[int, ...], note: str, common: dict[str, Any]) -> tuple[ClaimTrajectory, ...]:
    empty_t, empty_r = Trend(float("nan"), 1.0, 1.0, 0, "not measured"), rate([], [], alpha=common["alpha"])
    return tuple(ClaimTrajectory(f"C2:{s}", "n/a", note, "n/a", steps, (), (), empty_t, empty_r, **common)
                 for s in ("W", "H"))
