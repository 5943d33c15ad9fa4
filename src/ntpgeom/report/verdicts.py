"""The verdicts moved to the :mod:`ntpgeom.verdicts` layer (shared by reports, probes and :func:`ntpgeom.assess`);
this module re-exports them for the report."""

from ..verdicts import CLAIMS, THRESHOLDS, Thresholds, Verdict, format_table, judge, verdict_rows

__all__ = ["CLAIMS", "THRESHOLDS", "Thresholds", "Verdict", "format_table", "judge", "verdict_rows"]
