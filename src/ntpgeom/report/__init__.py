"""Report layer: figures, verdicts on the paper's claims and the self-contained HTML report (rendering only).

``build_report(runs, out)`` measures runs against the theory and writes ``out/index.html``; the experiments that
produce those runs (``reproduce``, the appendix experiments, each drawn into an :class:`AppendixResult` in
``ReportResult.appendix``) live one layer up, in :mod:`ntpgeom.experiments`. Every page carries its
:class:`Provenance` (command, versions, git commit, machine, date, wall time, seeds). The maths: docs/theory.md.
"""

from .config import ReportConfig
from .build import DatasetReport, ReportError, ReportResult, RunReport, build_report, dataset_name, verdict_json
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
from .verdicts import CLAIMS, THRESHOLDS, Verdict, format_table, judge

__all__ = [
    "build_report", "ReportConfig", "ReportResult", "verdict_json", "Provenance", "collect_provenance",
    "RunReport", "DatasetReport", "ReportError", "dataset_name", "judge", "Verdict", "THRESHOLDS", "CLAIMS",
    "format_table", "Series", "fig_loss_gap", "fig_norms", "fig_softlabel", "fig_similarity", "fig_collapse",
    "fig_heatmaps", "fig_mm_vs_tilde", "AppendixResult",
]
