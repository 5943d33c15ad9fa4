"""The :class:`Experiment` record: one experiment of ``reproduce``, from its data and training runs to what it
measures and draws. Every experiment module (:mod:`.paper`, :mod:`.mlp`, :mod:`.optimizers`, :mod:`.autoregressive`,
:mod:`.bottleneck`) declares its records here; :mod:`.registry` lists them. The lab notes behind each recipe:
docs/experiments.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from ..data import NTPData
from .jobs import RunSpec

if TYPE_CHECKING:
    from ..report.result import AppendixResult
    from ..theory import Theory
    from ..train import Run

#: the budgets every experiment has a recipe for (``reproduce --quick`` picks ``quick``)
BUDGETS = ("default", "quick")

#: Runs of one experiment by folder name (``Run`` objects, loaded from the run folders).
Runs = Mapping[str, "Run"]
#: ``measure(data, runs, theory, folder)``: measure the runs, write the figure into ``folder`` and return the table,
#: the main numbers and the caption (``theory`` is None when the experiment does not need L_mm).
Measure = Callable[[NTPData, Runs, "Theory | None", Path], "AppendixResult"]


@dataclass(frozen=True)
class Experiment:
    """One experiment: a dataset, training runs per budget, and how its runs are measured and drawn.

    ``data(quick)`` builds the dataset (built-in, offline; ``quick`` may build a smaller one). ``runs[budget]`` are
    the training runs (:class:`~ntpgeom.experiments.jobs.RunSpec`) of each budget in :data:`BUDGETS`. ``measure``
    measures, tabulates and draws the runs into an :class:`~ntpgeom.report.result.AppendixResult`; None means the
    paper's claims: :func:`ntpgeom.report.build_report` measures, judges and draws the runs (with controls).
    ``needs_L_mm``: ``measure`` is given the theory with the solved NTP-SVM* (else None). ``appendix``: one of the
    appendix experiments (``reproduce --appendix``, folders ``OUT/appendix/<name>``).
    """

    name: str
    title: str
    data: Callable[[bool], NTPData]
    runs: Mapping[str, tuple[RunSpec, ...]]
    measure: Measure | None = None
    needs_L_mm: bool = True
    appendix: bool = False

    @property
    def folder(self) -> str:
        """The experiment's folder under the output (``appendix/<name>`` for the appendix experiments)."""
        return f"appendix/{self.name}" if self.appendix else self.name

    def recipe(self, quick: bool) -> list[RunSpec]:
        """The training runs of the quick or the default budget."""
        return list(self.runs["quick" if quick else "default"])
