"""``reproduce(..., log=...)``: each run's trajectory judgement sent to the run's tracker, after the report.

Training already wrote the loss curves (:mod:`ntpgeom.train.tracking`); once the report has judged a run, this adds,
per snapshot step, for every claim judged over the trajectory (C1, L_mm, C2:W, C2:H): ``judge/<claim>/mu`` (the
position μ between the prediction and its rival), ``judge/<claim>/d_pred`` and ``judge/<claim>/d_rival`` (the
direction distances to the prediction and to the rival), or ``judge/<claim>/d_face`` when judged against the optimal
face; and at the last step ``verdict/<claim>`` (pass 1, inconclusive 0, FAIL −1) with one line of text per verdict.
Nothing is recomputed: the numbers are those of the report.
"""

from __future__ import annotations

import math
from typing import Iterable

from ..report.result import ReportResult, RunReport
from ..train.tracking import tracking
from ..verdicts.core import status_label

__all__ = ["STATUS_VALUE", "log_judgements", "judgement_rows"]

#: a verdict's status as a number for the scalar charts (n/a is not logged)
STATUS_VALUE = {"pass": 1.0, "inconclusive": 0.0, "FAIL": -1.0}


def judgement_rows(rr: RunReport) -> dict[int, dict[str, float]]:
    """step -> ``{name: value}`` of one run's trajectory judgement and verdicts (empty when it was not judged)."""
    rows: dict[int, dict[str, float]] = {}
    tj = rr.trajectory.judgement if rr.trajectory is not None else None
    for c in tj.claims if tj is not None else ():
        for i, step in enumerate(c.steps):
            row = rows.setdefault(int(step), {})
            if c.positions:
                p = c.positions[i]
                row.update({f"judge/{c.claim}/mu": p.mu, f"judge/{c.claim}/d_pred": p.d_pred,
                            f"judge/{c.claim}/d_rival": p.d_rival})
            elif c.d_face:
                row[f"judge/{c.claim}/d_face"] = c.d_face[i]
    last = rows.setdefault(int(rr.run.steps[-1]) if rr.run.steps else 0, {})
    last.update({f"verdict/{v.claim}": STATUS_VALUE[v.status] for v in rr.verdicts if v.status in STATUS_VALUE})
    return {s: {k: v for k, v in row.items() if math.isfinite(v)} for s, row in sorted(rows.items())}


def log_judgements(report: ReportResult, log: str | None) -> None:
    """Add every run's judgement (:func:`judgement_rows`) and verdict lines to its tracker (``log``: as in training)."""
    if log is None:
        return
    runs: Iterable[RunReport] = (rr for ds in report.datasets for rr in ds.runs)
    for rr in runs:
        rows = judgement_rows(rr)
        with tracking(log, rr.run.path) as track:
            for step, values in rows.items():
                track.scalars(values, step)
            last = max(rows) if rows else 0
            for v in rr.verdicts:
                track.text(f"verdict/{v.claim}", f"{status_label(v.status)}: {v.value:.4g} ({v.note})", last)
