"""Verdicts on the paper's claims (theory.md §4, §8) from metrics rows: the same code for runs, probes and controls.

The claims (name, title, the metrics columns judged, the rule in one sentence, labels and captions) are described
once, in :data:`ntpgeom.verdicts.claims.CLAIMS`; :data:`JUDGES` holds one judge per claim, in the registry's order.
C1 and L_mm are "converges to X, not to its rival Y" claims (:func:`discriminate`); C1 adds the asymptotic trend (dir
to L_mm falls over a run); C2 gates on its permutation null (+ ``null_z`` sd; **a side is "n/a" when its map is too
small for the test to reach significance**: when even a perfect correlation r = 1 would not exceed null + ``null_z``
sd, e.g. at V = 5), discriminates against the rival's maps and must close at least ``change`` of the gap to 1 since
the first snapshot; C3 must lie ``null_z`` sd below its random-grouping baseline and close at least ``change`` of
the first snapshot's ratio.

Thresholds (:class:`Thresholds`, default :data:`THRESHOLDS`) come from the negative and positive controls
(:mod:`ntpgeom.verdicts.controls`), never from training recipes: for a distance-like value d (lower is better; for
C2, d = 1 − Pearson) the threshold is the geometric mean of the positive control's d (floored at 1e-3, the
resolution below which we do not ask more) and the smallest d of the impostors that impersonate the claim, taken over
the built-in datasets (the most conservative). The ``family`` bounds (for :func:`discriminate`) are the geometric
mean of the largest d among the in-family impostors (S̃, perturbed L_mm) and the smallest d of the random ones.
The gates are midway between the positive control and the untrained model: ``change`` = 1/2 (the positive control
closes all of the gap, an untrained model none), ``null_z`` = 3 sd. The loss tolerance is the paper's (1e-4).

Measured (``choose_thresholds`` on ``corpora.stories()``, ``corpora.synthetic()`` and the ufm-synthetic instance of
``reproduce``): C1 0.0107, C1_family 0.627, C2 0.9974, C2_family 0.890, C3 0.0694, C4 0.0316, L_mm 0.0107,
L_mm_family 0.647; :data:`THRESHOLDS` rounds them to two digits (a test recomputes them).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from .claims import CLAIMS, Claim
from .core import Verdict, discriminate, make, worst


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the verdicts (rule in the module docstring; values measured in ``controls``).

    loss: max ``CE − ℋ``. C1, C1_family: max dir to the prediction / to the nearer of prediction and rival.
    C2, C2_family: min off-diagonal Pearson (to the prediction / to the nearer of the two). C3: max collapse ratio.
    C4: max relative soft-label error. L_mm, L_mm_family: max dir of P_⊥L to L_mm / to the nearer of L_mm and S̃.
    null_z: sd above (below, for C3) the permutation baseline. change: share of the gap closed since the first
    snapshot (C2, C3).
    """

    loss: float = 1e-4
    C1: float = 0.011
    C1_family: float = 0.63
    C2: float = 0.997
    C2_family: float = 0.89
    C3: float = 0.069
    C4: float = 0.032
    L_mm: float = 0.011
    L_mm_family: float = 0.65
    null_z: float = 3.0
    change: float = 0.5

    def with_(self, **kw: float) -> "Thresholds":
        """A copy with some values replaced."""
        return replace(self, **kw)


THRESHOLDS = Thresholds()

Row = Mapping[str, float]


def _g(row: Row | None, key: str) -> float:
    if row is None:
        return float("nan")
    v = row.get(key, float("nan"))
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _verdict(name: str, status: str, value: float, threshold: float, note: str, run: str,
             metric: str | None = None) -> Verdict:
    """A verdict on claim ``name`` with its title, comparison and measured quantity from :data:`CLAIMS`."""
    c: Claim = CLAIMS[name]
    return make(name, status, value, threshold, c.op, note, title=c.title, metric=c.metric if metric is None else metric,
                run=run)


def _columns(row: Row, name: str) -> tuple[float, float, float]:
    """(statistic, distance to the rival, resolution) of a "converges to X, not Y" claim, by the registry's columns."""
    c = CLAIMS[name]
    return _g(row, c.statistic), _g(row, c.rival_column), _g(row, c.separation_column)


def _loss(row: Row, first: Row | None, th: Thresholds, run: str) -> Verdict:
    gap = _g(row, "gap")
    st = "pass" if gap <= th.loss else "FAIL"
    note = f"CE − ℋ = {gap:.3g}" + (f", from {_g(first, 'gap'):.3g} at the first snapshot" if first is not None else "")
    return _verdict("loss", st, gap, th.loss, note, run)


def _trend(row: Row, first: Row | None) -> tuple[str, str]:
    a, b = _g(first, "dir_mm"), _g(row, "dir_mm")
    if first is None or not (math.isfinite(a) and math.isfinite(b)) or _g(first, "step") == _g(row, "step"):
        return "n/a", ""
    if b < a:
        return "pass", f"dir to L_mm falls {a:.3g} → {b:.3g}"
    return "FAIL", f"dir to L_mm does not fall ({a:.3g} → {b:.3g})"


#: the note of C1 / C2 when the path point (the finite-norm prediction) did not converge: no silent switch
NOT_CERTIFIED = "n/a: reference not certified"


def _uncertified(row: Row) -> bool:
    """The path point was asked for but did not converge (``pred_certified`` = 0; NaN in older tables: certified)."""
    return _g(row, "pred_certified") == 0.0


def _reference_distances(row: Row) -> str:
    """"dir to L_mm a, to S̃ b" for C1's note, leaving out what was not measured (L_mm unsolved: no "nan")."""
    parts = [f"to {name} {v:.3g}" for name, v in (("L_mm", _g(row, "dir_mm")), ("S̃", _g(row, "dir_tilde")))
             if math.isfinite(v)]
    unsolved = "" if math.isfinite(_g(row, "dir_mm")) else " (L_mm not solved)"
    return f"dir {', '.join(parts)}{unsolved}" if parts else ""


def _c1(row: Row, first: Row | None, th: Thresholds, run: str) -> Verdict:
    if _uncertified(row):
        return _verdict("C1", "n/a", _g(row, "dir_pred"), th.C1, f"{NOT_CERTIFIED} (the path point of this snapshot's "
                        "norm did not converge; not replaced by L_in + R·L_mm)", run)
    d, dr, sep = _columns(row, "C1")
    x = "L̂_B" if _g(row, "pred_is_path") == 1.0 else "L_in+R·L_mm"
    st, note = discriminate(d, dr, sep, th.C1, th.C1_family, (x, "L_in+r·S̃"))
    ts, tnote = _trend(row, first)
    note = "; ".join(n for n in (note, tnote, _reference_distances(row)) if n)
    return _verdict("C1", worst([st, ts]), d, th.C1, note, run, metric=f"dir(L, {x})")


def _c2_side(row: Row, first: Row | None, side: str, th: Thresholds) -> tuple[str, str]:
    r, null, sd = _g(row, f"offp_{side}"), _g(row, f"offp_{side}_null"), _g(row, f"offp_{side}_null_std")
    gate = null + th.null_z * (sd if math.isfinite(sd) else 0.0)
    if math.isfinite(gate) and gate >= 1.0:  # C2_GATE_RULE: even a perfect r = 1 could not clear the null
        return "n/a", (f"{side}: n/a: the map is too small for the permutation test (r = {r:.4g}; a pass needs r > "
                       f"null + {th.null_z:g} sd = {null:.3g} + {th.null_z:g}·{sd:.2g} = {gate:.3g} > 1)")
    st, note = discriminate(1 - r, 1 - _g(row, f"offp_{side}_rival"), 1 - _g(row, f"offp_{side}_sep"),
                            1 - th.C2, 1 - th.C2_family, ("prediction", "S̃-rival"))
    sts, notes = [st], [f"{side}: r = {r:.4g}; " + re.sub(r"\bdist\b", "1 − r", note).replace("distance", "1 − r")]
    if math.isfinite(null) and not r > null + th.null_z * (sd if math.isfinite(sd) else 0.0):
        sts.append("FAIL")
        notes.append(f"{side} within the permutation null ({null:.3g} ± {sd:.2g})")
    r0 = _g(first, f"offp_{side}")
    if first is not None and math.isfinite(r0):
        closed = (r - r0) / max(1 - r0, 1e-12)  # already at 1 at the first snapshot: nothing learnt
        if closed < th.change:
            sts.append("FAIL")
            notes.append(f"{side} not learnt: r {r0:.3g} at the first snapshot, {closed:.0%} of the gap closed")
    return worst(sts), "; ".join(notes)


def _c2(row: Row, first: Row | None, th: Thresholds, run: str) -> Verdict:
    sides = [s for s in ("W", "H") if math.isfinite(_g(row, f"offp_{s}"))]
    if not sides:
        return _verdict("C2", "n/a", float("nan"), th.C2, "no embeddings (W, H) to measure", run)
    if _uncertified(row):
        return _verdict("C2", "n/a", min(_g(row, f"offp_{s}") for s in sides), th.C2, f"{NOT_CERTIFIED} (the path point did not converge)", run)
    res = [_c2_side(row, first, s, th) for s in sides]
    val = min(_g(row, f"offp_{s}") for s in sides)
    return _verdict("C2", worst([r[0] for r in res]), val, th.C2, " | ".join(r[1] for r in res), run)


def _ratio(row: Row | None) -> float:
    ci, base = _g(row, "collapse_H"), _g(row, "collapse_H_base")
    return ci / base if math.isfinite(ci) and math.isfinite(base) and base > 0 else float("nan")


def _c3(row: Row, first: Row | None, th: Thresholds, run: str) -> Verdict:
    ratio, ci, base, sd = _ratio(row), _g(row, "collapse_H"), _g(row, "collapse_H_base"), _g(row, "collapse_H_base_std")
    if not math.isfinite(ratio):
        return _verdict("C3", "n/a", float("nan"), th.C3, "every context has its own support (or no H)", run)
    sts = ["pass" if ratio <= th.C3 else "FAIL"]
    notes = [f"index {ci:.3g} vs random groups {base:.3g} ± {sd:.2g}"]
    if not ci < base - th.null_z * (sd if math.isfinite(sd) else 0.0):
        sts.append("FAIL")
        notes.append("not below the random-grouping baseline")
    r0 = _ratio(first)
    if first is not None and math.isfinite(r0):
        closed = (r0 - ratio) / max(r0, 1e-12)  # already collapsed at the first snapshot: nothing learnt
        if closed < th.change:
            sts.append("FAIL")
            notes.append(f"not learnt: ratio {r0:.3g} at the first snapshot, {closed:.0%} closed")
    return _verdict("C3", worst(sts), ratio, th.C3, "; ".join(notes), run)


def _c4(row: Row, first: Row | None, th: Thresholds, run: str) -> Verdict:
    v = _g(row, "softlabel_rel")
    st = "pass" if v <= th.C4 else "FAIL"
    notes = [f"from {_g(first, 'softlabel_rel'):.3g} at the first snapshot" if first is not None else "",
             f"P_F(L) is {v:.3g} ‖L_in‖ away from L_in" if math.isfinite(v) else "P_F(L) not measured"]
    cos, scale = _g(row, "softlabel_cos"), _g(row, "softlabel_scale")  # measured by the probe
    if math.isfinite(cos):
        notes.append(f"cosine with L_in {cos:.3g}" + (f", best scale {scale:.3g}" if math.isfinite(scale) else ""))
    return _verdict("C4", st, v, th.C4, "; ".join(n for n in notes if n), run)


def _lmm(row: Row, first: Row | None, th: Thresholds, run: str) -> Verdict:
    d, dt, sep = _columns(row, "L_mm")
    if not math.isfinite(d):
        return _verdict("L_mm", "n/a", float("nan"), th.L_mm, "L_mm not solved: only the S̃ proxy is known", run)
    st, note = discriminate(d, dt, sep, th.L_mm, th.L_mm_family)
    diam = _g(row, "face_diameter")
    if math.isfinite(diam) and diam > 0:
        note += f"; optimal face not a point (diameter ≥ {diam:.3g}, a lower bound): distance to the face"
    return _verdict("L_mm", st, d, th.L_mm, note, run)


JUDGES = {"loss": _loss, "C1": _c1, "C2": _c2, "C3": _c3, "C4": _c4, "L_mm": _lmm}


def judge_row(row: Row, first: Row | None = None, *, run: str = "model",
              thresholds: Thresholds | None = None) -> list[Verdict]:
    """The verdicts (loss, C1-C4, L_mm) of one metrics row, ``first`` the first snapshot's row (for the change and
    the trend; None when there is no history, e.g. a probe)."""
    th = THRESHOLDS if thresholds is None else thresholds
    return [f(row, first, th, run) for f in JUDGES.values()]


def judge(table: Mapping[str, np.ndarray], run: str = "run", thresholds: Thresholds | None = None) -> list[Verdict]:
    """The verdicts of a run from its metrics table (:func:`ntpgeom.metrics.run_metrics`): the last snapshot, with
    the first for the change since initialisation and the trend (a table holding only step 0 is an untrained model:
    its change is nil, so C2 and C3 fail)."""
    n = len(np.asarray(table.get("step", [])))
    if n == 0:
        raise ValueError("an empty metrics table has no snapshot to judge")
    row = {k: np.asarray(v)[-1] for k, v in table.items()}
    first = {k: np.asarray(v)[0] for k, v in table.items()}
    if n == 1 and _g(first, "step") != 0:
        first = None  # one late snapshot: the initialisation is unknown (a lone step-0 snapshot is its own start)
    return judge_row(row, first, run=run, thresholds=thresholds)


def statuses(verdicts: Sequence[Verdict]) -> dict[str, str]:
    """claim → status."""
    return {v.claim: v.status for v in verdicts}
