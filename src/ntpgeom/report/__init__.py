"""Report layer: figures, verdicts on the paper's claims, the self-contained HTML report and ``reproduce``.

``build_report(runs, out)`` measures runs against the theory and writes ``out/index.html``;
``reproduce(out, quick=False, text=None, threads=1, resume=False, overwrite=False)`` runs the paper's experiments end
to end (the ``ntpgeom reproduce`` command; ``appendix=True`` adds the appendix experiments of
:mod:`ntpgeom.report.appendix`, each an :class:`AppendixResult` in ``ReportResult.appendix``). Every page carries its :class:`Provenance` (command, versions, git commit,
machine, date, wall time, seeds). The maths: docs/theory.md.
"""

from .config import ReportConfig
from .build import DatasetReport, ReportError, ReportResult, RunReport, build_report, dataset_name, verdict_json
from .appendix import APPENDIX_RECIPES, NAMES as APPENDIX_EXPERIMENTS
from .result import AppendixResult
from .figures import (
    Series,
    fig_collapse,
    fig_heatmaps,
    fig_loss_gap,
    fig_mm_vs_tilde,
    fig_norms,
    fig_similarity,
    fig_softlabel,
)
from .provenance import Provenance, collect as collect_provenance
from .reproduce import RECIPES, ReproduceError, ReproduceInterrupted, ReproduceResult, summary_text
from .reproduce import reproduce as reproduce  # the function shadows the submodule attribute on purpose
from .verdicts import CLAIMS, THRESHOLDS, Verdict, format_table, judge

__all__ = [
    "build_report", "ReportConfig", "reproduce", "ReportResult", "verdict_json", "Provenance", "collect_provenance",
    "ReproduceInterrupted", "RunReport", "DatasetReport", "ReportError", "ReproduceError",
    "ReproduceResult", "RECIPES", "summary_text", "dataset_name", "judge", "Verdict", "THRESHOLDS", "CLAIMS",
    "format_table", "Series", "fig_loss_gap", "fig_norms", "fig_softlabel", "fig_similarity", "fig_collapse",
    "fig_heatmaps", "fig_mm_vs_tilde", "AppendixResult", "APPENDIX_RECIPES", "APPENDIX_EXPERIMENTS",
]
