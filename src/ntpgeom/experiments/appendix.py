"""The appendix experiments of ``reproduce`` (App. D.2-D.4 and the paper's open question 2; built-in data, offline):
which ones ``--experiment``/``--appendix`` select, their plan, and their measurement step.

Each experiment is one :class:`~ntpgeom.experiments.experiment.Experiment` record in its own module (:mod:`.mlp`,
:mod:`.optimizers`, :mod:`.autoregressive`, :mod:`.bottleneck`: recipe, data, measurement, figure and table). Its runs
are trained by the same job machinery as the paper's experiments (reuse, resume and worker processes apply). The
recipes and the measurements behind them: docs/experiments.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .._io import write_json_atomic
from ..data import NTPData
from ..errors import ReproduceError
from ..report.result import AppendixResult
from ..report.style import output
from .jobs import Job, RunSpec
from .registry import ALL_APPENDIX as ALL, APPENDIX as NAMES, APPENDIX_RECIPES, EXPERIMENTS

if TYPE_CHECKING:
    from ..theory import Theory

__all__ = ["NAMES", "ALL", "APPENDIX_RECIPES", "split_experiments", "plan", "run_appendix"]


def split_experiments(experiments: Sequence[str] | None, appendix: bool, known: Sequence[str] | None = None
                      ) -> tuple[list[str] | None, list[str]]:
    """``(main experiments, appendix experiments)`` from ``--experiment`` names and ``--appendix``.

    Main: None (all of them) when no names were given, else the main names among them (possibly none). Appendix: all
    of :data:`NAMES` with ``appendix`` (or the name ``appendix``), else the appendix names given. With ``known`` (the
    main experiments' names), an unknown name raises :class:`ReproduceError` listing every choice.
    """
    names = list(experiments or [])
    unknown = [n for n in names if known is not None and n not in (*known, *NAMES, ALL)]
    if unknown:
        raise ReproduceError(f"unknown experiment(s) {unknown}; choose from {[*(known or []), *NAMES, ALL]}")
    chosen = [n for n in NAMES if appendix or ALL in names or n in names]
    main = [n for n in names if n not in NAMES and n != ALL]
    return (None if experiments is None or not names else main), chosen


def plan(names: Sequence[str], quick: bool) -> list[tuple[str, NTPData, list[RunSpec]]]:
    """The appendix experiments as a ``reproduce`` plan: ``(appendix/<name>, data, runs)`` each."""
    return [(EXPERIMENTS[n].folder, EXPERIMENTS[n].data(quick), EXPERIMENTS[n].recipe(quick)) for n in names]


def run_appendix(plan_: list[tuple[str, NTPData, list[RunSpec]]], jobs: Sequence[Job], out: Path,
                 theories: dict[str, Theory], say: Callable[[str], None],
                 figs: tuple[int | None, bool] = (None, True)) -> list[AppendixResult]:
    """Measure, draw and tabulate every appendix experiment of ``plan_`` from its trained ``jobs``; the files go to
    ``OUT/appendix/<name>/`` (``<name>.png``/``.svg``, ``measurements.json``). ``theories`` (data hash -> Theory)
    is reused and filled."""
    from threadpoolctl import threadpool_limits

    from ..train import load_run

    results = []
    for exp, data, _specs in plan_:
        experiment = EXPERIMENTS[exp.split("/", 1)[1]]
        assert experiment.measure is not None
        t0 = time.perf_counter()
        say(f"[{exp}] measuring and drawing")
        runs = {j.path.name: load_run(j.path) for j in jobs if j.experiment == exp}
        with threadpool_limits(1), output(*figs):
            theory = theory_for(exp, data, theories, out) if experiment.needs_L_mm else None
            res = experiment.measure(data, runs, theory, out / exp)
        write_json_atomic(out / exp / "measurements.json", res.as_json(out / exp))
        say(f"[{exp}] {res.summary} ({time.perf_counter() - t0:.1f}s)")
        results.append(res)
    return results


def theory_for(exp: str, data: NTPData, theories: dict[str, Theory], out: Path) -> Theory:
    """The theory of ``data`` with the solved NTP-SVM* (computed and saved to ``OUT/<exp>/theory.npz`` unless
    ``theories`` holds it already)."""
    if data.hash not in theories:
        from ..theory import compute_theory

        theories[data.hash] = compute_theory(data)
        theories[data.hash].save(out / exp / "theory.npz")
    th = theories[data.hash]
    if th.L_mm is None:
        raise ReproduceError(f"{exp}: NTP-SVM* was not solved for its data; the experiment needs L_mm")
    return th
