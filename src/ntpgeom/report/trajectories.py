"""Each finished run of a report judged as a trajectory (issue 19): its snapshots with step >= 1 go through
:func:`ntpgeom.verdicts.judge_trajectory` (the code :func:`ntpgeom.assess` uses), and the C1, C2 and L_mm rows of the
run's verdicts become the trajectory's (:func:`ntpgeom.verdicts.positions.trajectory_verdicts`: μ of the last
snapshot with its interval; the raw distances stay in the metrics table). A run that snapshots a subset of its
contexts is judged against the theory restricted to them, as its metrics are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..data import NTPData
from ..metrics import restrict
from ..metrics.restrict import snapshot_contexts
from ..theory import Theory
from ..train.run import Run
from ..verdicts import Verdict
from ..verdicts.positions import TRAJECTORY_CLAIMS, trajectory_json, trajectory_verdicts
from ..verdicts.trajectory import TrajectoryJudgement, judge_trajectory

__all__ = ["RunTrajectory", "judge_run", "regularisation", "merge_verdicts", "page_notes", "REBOUND_EXPLAINED", "RIDGE_EXPLAINED"]

#: the page's explanation when a run's verdict notes a rebound
REBOUND_EXPLAINED = ("A rebound: the run's loss gap or position μ turned back before its last snapshot (a ridge or weight "
                     "decay pulls a long run from the implicit-bias direction to its regularised optimum, and a large "
                     "step size can make the loss climb). The verdict reads the last snapshot, so it describes where "
                     "the run ended, not its best point; the trajectory figure shows the whole course.")
#: the page's explanation when a run was trained with ridge or weight decay
RIDGE_EXPLAINED = ("Runs trained with ridge or weight decay converge to the regularised optimum, a point on the "
                   "regularisation path at a finite norm, not to the implicit-bias limit: their C1, C2 and L_mm "
                   "verdicts test that point's direction and are labelled so, not presented as a test of the implicit "
                   "bias of gradient descent.")


@dataclass(frozen=True, eq=False)
class RunTrajectory:
    """A run's trajectory judgement: ``judgement`` (None when not judged: ``why``), its verdict rows by claim, the
    regulariser (``ridge`` λ, ``kind`` "ridge"/"weight decay" or ""), and the seconds it took."""

    judgement: TrajectoryJudgement | None
    verdicts: dict[str, Verdict]
    ridge: float
    kind: str
    seconds: float
    why: str = ""

    def json(self) -> dict[str, Any]:
        """JSON-ready (:func:`~ntpgeom.verdicts.positions.trajectory_json`), or why it was not judged."""
        if self.judgement is None:
            return {"judged": False, "why": self.why}
        extra = {"judged": True, "regulariser": {"kind": self.kind, "lambda": self.ridge}, "seconds": self.seconds,
                 "verdicts": {k: v.as_dict() for k, v in self.verdicts.items()}}
        return trajectory_json(self.judgement, extra)


def regularisation(config: Mapping[str, Any]) -> tuple[float, str]:
    """The run's explicit regulariser: (λ, "ridge") for ``ridge`` > 0, else (λ, "weight decay") for ``weight_decay``
    > 0, else (0, "")."""
    for key, kind in (("ridge", "ridge"), ("weight_decay", "weight decay")):
        lam = float(config.get(key) or 0.0)
        if lam > 0:
            return lam, kind
    return 0.0, ""


def judge_run(run: Run, data: NTPData, theory: Theory, table: Mapping[str, np.ndarray], label: str, *, B: int,
              alpha: float, seed: int, threads: int) -> RunTrajectory:
    """Judge ``run`` (of ``data``, whose theory is ``theory``) over its snapshots with step >= 1; ``table``: its metrics
    table (the loss gap per snapshot, for the rebound note)."""
    lam, kind = regularisation(run.config)
    if theory.L_mm is None:
        return RunTrajectory(None, {}, lam, kind, 0.0, "L_mm not solved: the trajectory is not judged")
    t0 = time.perf_counter()
    steps = [s for s in run.steps if s >= 1] or list(run.steps)
    snaps = [run.snapshot(s) for s in steps]
    ctx = snapshot_contexts(snaps[-1])
    if ctx is not None:
        theory, data = restrict(theory, data, ctx)
    series = [{"step": s.step, "W": s.W, "H": s.H, "L": s.L} for s in snaps]  # L = W H + b: the logits judged
    tj = judge_trajectory(data, theory, series, B=B, alpha=alpha, seed=seed, threads=threads)
    step_col = np.asarray(table.get("step", []))
    gaps = [float(g) for st, g in zip(step_col, np.asarray(table.get("gap", []))) if int(st) in set(steps)]
    rows = trajectory_verdicts(tj, label, ridge=lam, kind=kind or "ridge", gaps=gaps)
    return RunTrajectory(tj, rows, lam, kind, time.perf_counter() - t0)


def merge_verdicts(verdicts: Sequence[Verdict], rt: RunTrajectory) -> list[Verdict]:
    """The run's verdicts with the C1, C2 and L_mm rows replaced by the trajectory's (unchanged when not judged)."""
    return [rt.verdicts.get(v.claim, v) if v.claim in TRAJECTORY_CLAIMS else v for v in verdicts]


def page_notes(trajectories: Sequence[RunTrajectory]) -> list[str]:
    """The dataset's notes explaining the rebound and ridge labels its runs' verdicts carry."""
    notes = []
    if any(rt.ridge > 0 and rt.judgement is not None for rt in trajectories):
        notes.append(RIDGE_EXPLAINED)
    if any("rebound" in v.note for rt in trajectories for v in rt.verdicts.values()):
        notes.append(REBOUND_EXPLAINED)
    return notes

