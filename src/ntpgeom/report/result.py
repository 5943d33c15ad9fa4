"""What a report holds: one :class:`RunReport` per run, one :class:`DatasetReport` per dataset, the
:class:`ReportResult`; and the status of a run (finished or not) that decides whether its verdicts are judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..reprs import html_table
from ..data import NTPData
from ..theory import Theory
from ..train.run import Run
from ..status import RunStatus, StopReason
from . import html as Hh
from .trajectories import RunTrajectory
from . import provenance as prov
from .verdicts import Verdict, verdict_rows


@dataclass(frozen=True, eq=False)
class RunReport:
    """One run inside a report: its label, model, metrics table, verdicts and files.

    ``unfinished`` says why the run is not judged (it was interrupted or stopped early), None for a finished run.
    ``trajectory``: the run judged over its snapshots (C1, C2, L_mm; :mod:`ntpgeom.report.trajectories`).
    """

    label: str
    model: str
    run: Run
    table: dict[str, np.ndarray]
    verdicts: list[Verdict]
    files: dict[str, Path] = field(default_factory=dict)
    unfinished: str | None = None
    trajectory: RunTrajectory | None = None

    @property
    def views(self) -> list[Hh.VerdictView]:
        return [Hh.verdict_view(v, self.unfinished) for v in self.verdicts]


@dataclass(frozen=True, eq=False)
class DatasetReport:
    """The runs of one dataset, its theory and the comparison figures."""

    name: str
    data: NTPData
    theory: Theory
    runs: list[RunReport]
    figures: dict[str, Path]
    notes: list[str]


@dataclass(frozen=True, eq=False)
class ReportResult:
    """What :func:`build_report` produced."""

    path: Path
    out: Path
    datasets: list[DatasetReport]
    provenance: prov.Provenance | None = None
    appendix: list["AppendixResult"] = field(default_factory=list)  # the appendix experiments (ntpgeom.experiments)

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for ds in self.datasets for r in ds.runs for v in r.verdicts]

    @property
    def views(self) -> list[Hh.VerdictView]:
        """Every verdict as displayed: runs that did not finish are marked 'interrupted'."""
        return [v for ds in self.datasets for r in ds.runs for v in r.views]

    @property
    def figures(self) -> list[Path]:
        out = [p for ds in self.datasets for p in ds.figures.values()] + [a.figure for a in self.appendix]
        return out + [p for ds in self.datasets for r in ds.runs for p in r.files.values() if p.suffix == ".png"]

    def verdict_text(self) -> str:
        from .terminal import verdict_table_text

        return verdict_table_text(self.views)

    def _repr_html_(self) -> str:
        """A notebook shows the verdict table (run, claim, value, threshold, margin, result) and the page's path."""
        rows = [(v.run, v.claim, v.value, f"{v.op} {Hh.num(v.threshold)}", Hh.num(v.margin, signed=True), v.label)
                for v in self.views]
        return html_table(f"ReportResult: {self.path}", rows,
                          header=("run", "claim", "value", "threshold", "margin", "result"))


def unfinished_reason(config: Mapping[str, Any]) -> str | None:
    """Why a run is not finished (interrupted, stopped on a non-finite loss, still running), or None if it is."""
    status, reason, step = config.get("status"), config.get("stop_reason"), config.get("final_step")
    if status == RunStatus.DONE:
        return None
    if reason == StopReason.INTERRUPTED:
        return f"run interrupted at step {step}"
    if reason == StopReason.NONFINITE:
        return f"training stopped at step {step}: the loss became non-finite"
    return f"run not finished (status {status!r} at step {step})"


def verdict_json(result: ReportResult) -> list[dict[str, Any]]:
    """JSON rows of every verdict, with the margin and the displayed status ('interrupted' for unfinished runs)."""
    rows = []
    for ds in result.datasets:
        for rr in ds.runs:
            for row, view in zip(verdict_rows(rr.verdicts), rr.views):
                row = dict(row)
                row.update(margin=view.margin, status=view.status, judged=rr.unfinished is None)
                rows.append(row)
    return rows


@dataclass(frozen=True, eq=False)
class AppendixResult:
    """One appendix experiment of ``reproduce`` (:mod:`ntpgeom.experiments.appendix`), measured and drawn.

    ``columns``: (key, label) of the small ``table`` (list of rows, dicts by key); ``numbers``: the main numbers
    (JSON-ready); ``rows``: every measurement row per run (for ``measurements.json``); ``summary``: one line.
    """

    name: str
    title: str
    caption: str
    figure: Path
    columns: tuple[tuple[str, str], ...]
    table: list[dict[str, Any]]
    numbers: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]
    summary: str
    notes: tuple[str, ...] = ()

    def as_json(self, base: Path) -> dict[str, Any]:
        """JSON-ready dict; the figure path relative to ``base``."""
        return {"name": self.name, "title": self.title, "caption": self.caption,
                "figure": Path(self.figure).relative_to(base).as_posix(), "columns": [list(c) for c in self.columns],
                "table": self.table, "numbers": self.numbers, "summary": self.summary, "notes": list(self.notes),
                "rows": self.rows}
