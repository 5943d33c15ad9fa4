"""The report's configuration: one frozen dataclass with its defaults and constraints (as ``TrainConfig``).

:class:`ReportConfig` holds every setting of :func:`ntpgeom.report.build_report` that is not an input (runs,
theories, extra verdict tables, appendix results) or a callback; the field's ``help`` documents it once for the API
and ``ntpgeom report``, whose options are generated from the plain fields (:data:`CLI_FIELDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from .. import validate
from ..errors import ReportError
from ..validate import SEED, Interval


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ReportConfig:
    """How a report is measured, drawn and labelled (defaults on the fields)."""

    title: str = _opt("ntpgeom report", "Page title.")
    intro: str = _opt("", "An introductory paragraph under the title (escaped).")
    max_contexts: int = _opt(2000, "Metrics on at most this many contexts per snapshot (a fixed, seeded subset).")
    overwrite: bool = _opt(False, "Replace an existing report folder (only one written by ntpgeom).")
    dpi: int | None = _opt(None, "PNG resolution of the figures, in [20, 600] (default: ntpgeom.report.style.DPI).")
    svg: bool = _opt(True, "Write an SVG beside every PNG figure.")
    controls: bool = _opt(False, "Also judge the positive and negative controls (L_mm itself, S̃, a perturbed L_mm, "
                                 "permuted group means, random, relabelled data, supports only) on each dataset, "
                                 "beside the verdicts.")
    seed: int = _opt(0, "Seed of the controls' random draws and of the trajectory bootstrap.")
    bootstrap: int = _opt(50, "Bootstrap replicates B of the position μ's interval (C1, L_mm, C2 judged over each run's "
                              "snapshots, ntpgeom.verdicts.judge_trajectory). 50 keeps `reproduce --quick` in its "
                              "time budget (C2's replicates cost ~30 ms each on stories); use 200 for a final report.")
    alpha: float = _opt(0.05, "Level of the trajectory judgement: 1 − α intervals, one-sided trend tests at α.")
    threads: int = _opt(1, "BLAS threads of the measurements and the trajectory judgement.")
    labels: Sequence[str] | None = _opt(None, "One label per run (default: the model kind, made unique).")
    names: Mapping[str, str] | None = _opt(None, "Dataset names by data hash, for headings and folders (default: "
                                                 "from the data's source).")
    extra: Mapping[str, Any] | None = _opt(None, "Added to report.json (e.g. the reproduce configuration).")
    command: str | None = _opt(None, "The command line shown on the page (default: this process's sys.argv).")
    provenance_extra: Mapping[str, Any] | None = _opt(None, "More rows for the provenance block.")

    def __post_init__(self) -> None:
        validate.check_fields(vars(self), CONSTRAINTS, error=ReportError)


_POS_INT = Interval(True, 0, open_lo=True)
#: what each field accepts (the mappings and sequences are checked where they are used)
CONSTRAINTS: dict[str, list[Any]] = {
    "title": [str], "intro": [str], "max_contexts": [_POS_INT], "overwrite": [bool], "dpi": [Interval(True, 20, 600), None],
    "svg": [bool], "controls": [bool], "seed": [SEED], "command": [str, None],
    "bootstrap": [Interval(True, 10)], "alpha": [Interval(False, 0, 0.5, open_lo=True, open_hi=True)],
    "threads": [_POS_INT],
}
FIELDS = {f.name: f for f in fields(ReportConfig)}
#: the fields ``ntpgeom report`` has options for (the others are API only)
CLI_FIELDS = ("title", "overwrite", "controls", "dpi", "svg")


def report_config(config: ReportConfig | None, options: Mapping[str, Any]) -> ReportConfig:
    """``config`` (or the defaults) with the keyword ``options`` (field names) on top."""
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise TypeError(f"build_report() got unexpected keyword argument(s) {unknown}; the options are {list(FIELDS)}")
    values = {} if config is None else {k: getattr(config, k) for k in FIELDS}
    values.update(options)
    return ReportConfig(**values)
