"""A trajectory judgement (:func:`~ntpgeom.verdicts.judge_trajectory`) as the verdict-table rows of C1, C2 and L_mm,
with the notes a reader needs: a run trained with ridge, a rebound at the end of the run, a single snapshot; and as
JSON (the report's ``report.json``).

**Rows.** C1 and L_mm: value = μ of the last snapshot (threshold 0, margin = the interval's lower end, ``interval`` =
[lo, hi]); against the optimal face (S̃ optimal): the distance to the face. C2: the worse of C2:W and C2:H (FAIL if
either fails, pass if both pass, n/a if both are, else inconclusive), its value the smaller μ.

**Rebound** (:func:`rebound_note`): the loss gap CE − ℋ at the last snapshot exceeds twice its minimum over the run,
or the last μ lies below the run's maximum μ by more than its interval width. The status stays as computed (the rule
reads the last snapshot); the note says the run turned back, so the verdict describes where it ended.

**Ridge** (:func:`ridge_note`): a run trained with ridge λ (``(λ/2)(‖W‖² + ‖H‖²)``, i.e. ``λ‖L‖_*`` at balance) converges
to the regularised optimum, a point on the regularisation path, not to the implicit-bias limit: its verdict is
labelled so (the status as computed).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .claims import CLAIMS
from .core import Verdict
from .trajectory import ClaimTrajectory, TrajectoryJudgement

__all__ = ["ridge_note", "trajectory_verdicts", "rebound_note", "trajectory_json", "TRAJECTORY_CLAIMS"]

#: the claims whose verdict is the trajectory's position (the rows :func:`trajectory_verdicts` returns)
TRAJECTORY_CLAIMS = ("C1", "C2", "L_mm")


def ridge_note(lam: float, kind: str = "ridge") -> str:
    """The label of a verdict of a run trained with a regulariser ``kind`` ("ridge" or "weight decay") of ``lam``."""
    return f"trained with {kind} λ = {lam:g}: a point on the regularisation path, not a test of the implicit bias"


def _last_finite(xs: Sequence[float]) -> float:
    fin = [x for x in xs if math.isfinite(x)]
    return fin[-1] if fin else float("nan")


def rebound_note(ct: ClaimTrajectory, gaps: Sequence[float] | None = None) -> str:
    """Why the last snapshot is not the run's best (module docstring), or ""."""
    out = []
    g = [float(x) for x in (gaps or ()) if math.isfinite(float(x))]
    if len(g) >= 2 and g[-1] > 2 * min(g) and min(g) >= 0:
        out.append(f"rebound: CE − ℋ {g[-1]:.2g} at the last snapshot, over twice its minimum {min(g):.2g} over the run")
    if ct.positions and len(ct.positions) >= 2:
        mus = [p.mu for p in ct.positions if math.isfinite(p.mu)]
        last = ct.positions[-1]
        width = last.hi - last.lo
        if mus and math.isfinite(last.mu) and math.isfinite(width) and max(mus) - last.mu > width:
            out.append(f"rebound: μ {last.mu:+.3f} at the last snapshot, below the run's maximum {max(mus):+.3f} by "
                       f"more than its interval width {width:.3g}")
    return "; ".join(out)


def _row(ct: ClaimTrajectory, name: str, run: str, extra: Sequence[str]) -> Verdict:
    v = ct.verdict(run)
    c = CLAIMS[name]
    note = "; ".join([*(e for e in extra if e), v.note])
    if ct.against == "face":
        return Verdict(name, v.status, v.value, v.threshold, v.margin, note, c.title,
                       "distance to the optimal face (S̃ optimal)", "<=", run)
    if not ct.positions:
        return Verdict(name, v.status, float("nan"), 0.0, float("nan"), note, c.title, "position μ", ">=", run)
    p = ct.positions[-1]
    return Verdict(name, v.status, p.mu, 0.0, p.lo, note, c.title, "position μ", ">=", run, (p.lo, p.hi))


def _c2(w: ClaimTrajectory, h: ClaimTrajectory) -> tuple[ClaimTrajectory, str]:
    """The C2 side that decides (the worse one) and the combined status."""
    sts = (w.status, h.status)
    status = ("FAIL" if "FAIL" in sts else "pass" if sts == ("pass", "pass") else "n/a" if sts == ("n/a", "n/a")
              else "inconclusive")
    mw, mh = _last_finite(w.mu), _last_finite(h.mu)
    worse = h if (w.status != "FAIL" and (h.status == "FAIL" or (math.isfinite(mh) and not mh >= mw))) else w
    return worse, status


def trajectory_verdicts(tj: TrajectoryJudgement, run: str = "", *, ridge: float = 0.0, kind: str = "ridge",
                        gaps: Sequence[float] | None = None) -> dict[str, Verdict]:
    """claim → the :class:`Verdict` row of C1, C2 and L_mm from ``tj`` (module docstring). ``ridge``: the run's λ of
    the regulariser ``kind`` (> 0 labels the note, :func:`ridge_note`); ``gaps``: CE − ℋ per snapshot (for the rebound
    note)."""
    label = ridge_note(ridge, kind) if ridge > 0 else ""
    out = {}
    for name in ("C1", "L_mm"):
        ct = tj.claim(name)
        one = len(ct.steps) == 1 and ct.status == "inconclusive"
        out[name] = _row(ct, name, run, (label, "inconclusive (one snapshot)" if one else "", rebound_note(ct, gaps)))
    worse, status = _c2(tj.claim("C2:W"), tj.claim("C2:H"))
    one = len(worse.steps) == 1 and status == "inconclusive"
    side = f"C2 ({worse.claim} decides; W {tj.claim('C2:W').status}, H {tj.claim('C2:H').status})"
    v = _row(worse, "C2", run, (label, "inconclusive (one snapshot)" if one else "", side, rebound_note(worse)))
    out["C2"] = Verdict(v.claim, status, v.value, v.threshold, v.margin, v.note, v.title, v.metric, v.op, v.run,
                        v.interval)
    return out


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _claim_json(ct: ClaimTrajectory) -> dict[str, Any]:
    return {"status": ct.status, "note": ct.note, "against": ct.against, "steps": list(ct.steps),
            "mu": [_num(p.mu) for p in ct.positions], "lo": [_num(p.lo) for p in ct.positions],
            "hi": [_num(p.hi) for p in ct.positions], "d_pred": [_num(x) for x in ct.d_pred],
            "d_rival": [_num(p.d_rival) for p in ct.positions], "delta": [_num(p.delta) for p in ct.positions],
            "trend": {"rho": _num(ct.trend.rho), "p_up": _num(ct.trend.p_up), "p_down": _num(ct.trend.p_down),
                      "n": ct.trend.n, "method": ct.trend.method},
            "rate": {"intercept": _num(ct.rate.intercept), "lo": _num(ct.rate.lo), "hi": _num(ct.rate.hi),
                     "slope": _num(ct.rate.slope), "n": ct.rate.n}}


def trajectory_json(tj: TrajectoryJudgement, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready: per claim μ per snapshot with its interval, the trend, the rate (intercept and its interval), status
    and note; B, α and the seed; whether S̃ is optimal."""
    c0 = tj.claims[0]
    return {"B": c0.B, "alpha": c0.alpha, "seed": c0.seed, "tilde_optimal": tj.tilde_optimal,
            "tilde_note": tj.tilde_note, "claims": {c.claim: _claim_json(c) for c in tj.claims}, **dict(extra or {})}
