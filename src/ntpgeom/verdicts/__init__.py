"""Verdicts layer (between metrics and report/probe): whether a model's geometry supports the paper's claims, with
the power of each verdict shown by negative and positive controls (theory.md §8).

- :class:`Verdict` (claim, status ∈ {pass, FAIL, inconclusive, n/a}, value, threshold, margin, note): one record for
  runs, probes and controls;
- :func:`assess` (→ :class:`Assessment`): judge one model's arrays; :func:`judge`: a run's metrics table;
- :func:`run_controls`: the impostors and the positive control of a dataset through the same verdicts;
- :data:`CLAIMS` (name → :class:`Claim`): every claim described once (title, metrics columns, rule, labels, captions);
- :class:`Thresholds` / :data:`THRESHOLDS`: chosen from the controls (rule in :mod:`ntpgeom.verdicts.judge`).
"""

from .assess import Assessment, AssessOptions, assess, face_reference
from .claims import CLAIMS, TITLES, Claim, claim_by_title
from .controls import (
    IMPERSONATES,
    ControlsTable,
    assess_controls,
    build_controls,
    choose_thresholds,
    controls_table,
    controls_tables,
    run_controls,
    violations,
)
from .core import STATUSES, Verdict, discriminate, format_table, verdict_rows
from .judge import THRESHOLDS, Thresholds, judge, judge_row
from .trajectory import ClaimTrajectory, TrajectoryJudgement, judge_trajectory, tilde_optimal

__all__ = [
    "Verdict", "STATUSES", "Assessment", "assess", "judge", "judge_row", "Thresholds", "THRESHOLDS", "CLAIMS",
    "Claim", "TITLES", "claim_by_title", "format_table", "verdict_rows", "discriminate", "run_controls", "assess_controls", "build_controls",
    "controls_table", "violations", "IMPERSONATES", "face_reference", "choose_thresholds", "controls_tables",
    "ControlsTable", "AssessOptions", "judge_trajectory", "ClaimTrajectory", "TrajectoryJudgement", "tilde_optimal",
]
