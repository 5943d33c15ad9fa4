"""``reproduce``: the paper's experiments (docs/theory.md §6) end to end on built-in data, or on the user's own text,
and the appendix experiments; configured by one :class:`~ntpgeom.experiments.config.ReproduceConfig`.

What each experiment builds, trains and measures: :mod:`ntpgeom.experiments.registry`; the measurements behind every
budget (the lab notes): docs/experiments.md.

Output: ``OUT/<experiment>/<model>/`` run folders (``<model>-seed<k>`` with several seeds), ``OUT/<experiment>/theory.npz``,
``OUT/reproduce.json`` (the configuration and status) and the report in ``OUT/report/``. An existing output is never
overwritten silently: ``resume`` reuses finished runs and continues interrupted ones, ``overwrite`` starts afresh.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from threadpoolctl import threadpool_limits

from .._io import write_json_atomic
from ..data import NTPData, from_text
from ..errors import ReproduceError
from ..report.build import ReportResult, build_report
from ..verdicts import controls_tables
from ..verdicts.honest import power_rows, power_table, power_text
from .honest import honest_controls
from ..verdicts.core import status_label
from ..verdicts.trajectory import tilde_optimal
from . import appendix as appx  # the appendix experiments (App. D.2-D.4, open question 2): reproduce(appendix=True)
from . import paper_scale as PS
from .config import ReproduceConfig, from_options
from .jobs import (PARALLEL_MIN_COST, Job, ReproduceInterrupted, RunSpec, cost, plan_jobs, printer, run_state,
                   train_parallel, train_serial)
from .paper import QUICK_HELP, TEXT_SOLVE_MAX_ENTRIES
from .registry import EXPERIMENTS, MAIN, RECIPES
from .track import log_judgements

if TYPE_CHECKING:
    from ..report.result import AppendixResult
    from ..theory import Theory
    from ..verdicts import ControlsTable, Verdict
    from ..verdicts.honest import HonestControls, PowerRow

__all__ = ["reproduce", "ReproduceResult", "ReproduceError", "ReproduceInterrupted", "RECIPES", "QUICK_HELP",
           "TEXT_SOLVE_MAX_ENTRIES", "PARALLEL_MIN_COST", "plan_jobs", "summary_text"]

#: honest controls' (GD steps, bootstrap replicates B, snapshots) per budget; the C2 bootstrap dominates (one SVD per
#: replicate and snapshot): 21 s on 'stories' for quick, 42 s for (3000, 100, 5) on a loaded 2-core machine
HONEST_BUDGET = {"quick": (2000, 50, 5), "default": (3000, 100, 6)}

#: ``(experiment folder, data, training runs)`` per experiment to run
Plan = list[tuple[str, NTPData, list[RunSpec]]]


@dataclass(frozen=True, eq=False)
class ReproduceResult:
    """What :func:`reproduce` produced: the report (with every verdict) and the run folders."""

    out: Path
    report: ReportResult
    runs: dict[str, list[Path]]
    seconds: float
    reused: tuple[str, ...] = ()
    controls: tuple[ControlsTable, ...] = ()  # per dataset: the impostors through the same verdicts
    honest: tuple[HonestControls, ...] = ()  # per dataset: plain-GD controls judged over their trajectory
    power: tuple[PowerRow, ...] = ()  # per claim: share of positives passed, of negatives rejected

    @property
    def report_path(self) -> Path:
        return self.report.path

    @property
    def verdicts(self) -> list[Verdict]:
        return self.report.verdicts


@dataclass(frozen=True, eq=False)
class Planned:
    """What a configuration runs: the budget (``quick``, ``default``, or the paper-scale one chosen for the data and
    device), the paper's experiments (or the text corpus), the appendix experiments, and what ``--paper-scale``
    records (None without it)."""

    budget: str
    main: Plan
    appendix: Plan
    paper: dict[str, Any] | None = None


def _prepare_out(out: Path, overwrite: bool, resume: bool) -> None:
    """Refuse an existing output unless resuming or overwriting; with ``overwrite`` remove an old reproduce output."""
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            raise ReproduceError(f"{parent} exists and is not a folder; choose another output path (-o DIR)")
    if not out.exists() or not any(out.iterdir()):
        return
    if resume:
        return
    if not overwrite:
        raise ReproduceError(f"{out} already exists; pass --resume to continue it (finished runs are reused), "
                             "--overwrite to start afresh, or choose another -o folder")
    if not (out / "reproduce.json").is_file():
        raise ReproduceError(f"refusing to overwrite {out}: it is not a reproduce output (no reproduce.json); "
                             "choose another -o folder")
    shutil.rmtree(out)


def plan_experiments(cfg: ReproduceConfig, say: Callable[[str], None]) -> Planned:
    """Check the experiment names and the paper-scale options, build every dataset (reading ``--text``) and choose
    the runs; nothing is written."""
    experiments, appendix_names = appx.split_experiments(cfg.experiments, cfg.appendix,
                                                         None if cfg.text else list(MAIN))
    budget, paper = cfg.budget, None
    if cfg.paper_scale:
        PS.check_options(cfg.text, cfg.quick)
        s = PS.SETTINGS
        name, data = _text_data(cfg.text, s["context_len"], s["tokenizer"], s["max_vocab"], s["max_contexts"], say)
        budget, specs, paper = PS.choose_budget(data, cfg.paper_budget, say)
        main = [(name, data, specs)]
    elif cfg.text is not None:
        name, data = _text_data(cfg.text, cfg.context_len, cfg.tokenizer, cfg.max_vocab, cfg.max_contexts, say)
        main = [(name, data, RECIPES[budget]["text"])]
    else:
        main = [(n, EXPERIMENTS[n].data(cfg.quick), EXPERIMENTS[n].recipe(cfg.quick))
                for n in (MAIN if experiments is None else experiments)]
    return Planned(budget, main, appx.plan(appendix_names, cfg.quick), paper)


#: ``--text`` files at least this large get a "reading" line first (smaller ones read in well under a second)
READ_NOTICE_BYTES = 1 << 20


def _text_data(text: str | Path, context_len: int, tokenizer: str, max_vocab: int, max_contexts: int | None,
               say: Callable[[str], None]) -> tuple[str, NTPData]:
    path = Path(text)
    if not path.is_file():
        raise ReproduceError(f"--text: no such file {path}; pass a UTF-8 text file")
    if path.stat().st_size >= READ_NOTICE_BYTES:  # a small file's error (empty, not UTF-8, too short) is one line
        say(f"reading {path} (context length {context_len}, tokenizer {tokenizer}"
            f"{', all contexts' if max_contexts is None else ''})")
    data = from_text(path, context_len, tokenizer, lowercase=True, max_vocab=max_vocab, rare="map",
                     top_k=max_contexts)
    say(f"  {data!r}")
    return f"text-{path.stem}", data


def _theory(name: str, data: NTPData, out: Path, solve: bool, say: Callable[[str], None],
            time_limit: float | None = None) -> Theory:
    from ..theory import compute_theory

    if not solve:
        say(f"[{name}] V x m = {data.V} x {data.m} is too large to solve NTP-SVM* exactly here: "
            "using the S̃ proxy for the max-margin geometry")
    say(f"[{name}] theory: L_in, S̃, NTP-SVM*" + ("" if time_limit is None else f" (at most {time_limit:.0f} s)"))
    th = compute_theory(data, solve=solve, time_limit=time_limit)
    th.save(out / name / "theory.npz")
    cert = "holds (L_mm = S̃)" if th.certificate.holds else "fails"
    dist = "" if th.dist_mm_tilde is None else f", ‖L_mm/‖·‖ − S̃/‖·‖‖ = {th.dist_mm_tilde:.3g}"
    say(f"[{name}]   Prop. 3 certificate {cert}{dist}")
    return th


def reproduce(out: str | Path | ReproduceConfig = "runs/reproduce", *, progress: Callable[[str], None] | None = None,
              **options: Any) -> ReproduceResult:
    """Run the paper's experiments (or the same pipeline on ``text``), measure, draw, judge and write the report.

    Parameters
    ----------
    out : path or ReproduceConfig
        The output folder, or the whole configuration (then ``options`` replace some of its fields).
    progress : callable, optional
        Receives one line per stage (default: timestamped lines on stderr).
    **options
        The fields of :class:`~ntpgeom.experiments.config.ReproduceConfig` (each documented there): ``quick``,
        ``text``, ``experiments``, ``appendix``, ``context_len``, ``tokenizer``, ``max_vocab``, ``max_contexts``,
        ``seed``, ``seeds``, ``threads``, ``overwrite``, ``resume``, ``dpi``, ``svg``, ``paper_scale``,
        ``paper_budget``, ``log``. With ``threads`` > 1 and long runs to train (at least
        :data:`~ntpgeom.experiments.jobs.PARALLEL_MIN_COST`), the runs go to worker processes of one thread each.

    Returns
    -------
    ReproduceResult
        The output folder, the report (``report.verdicts``), the runs trained and reused, the wall time.

    Raises
    ------
    ReproduceError
        A bad option (before anything is written).
    ReproduceInterrupted
        On Ctrl-C; the runs so far are kept and ``resume=True`` continues.
    """
    cfg = from_options(out, options)
    say = progress or printer()
    t0 = time.perf_counter()
    planned = plan_experiments(cfg, say)
    _prepare_out(cfg.out, cfg.overwrite, cfg.resume)  # after every option was checked: --overwrite deletes only then
    jobs = plan_jobs(planned.main, cfg.seed_list, cfg.out)
    ajobs = plan_jobs(planned.appendix, cfg.seed_list[:1], cfg.out)  # appendix runs: the first seed only
    record = _record(cfg, planned)
    write_json_atomic(cfg.out / "reproduce.json", {**record, "status": "running"})
    say(f"reproduce ({planned.budget} budget): {len(planned.main) + len(planned.appendix)} experiment(s), "
        f"{len(jobs) + len(ajobs)} training runs -> {cfg.out}")
    try:
        theories, names = _theories(planned.main, cfg.out, cfg.text is not None, say, cfg.paper_scale)
        reused, training = _train_all([replace(j, log=cfg.log) for j in jobs + ajobs], cfg.threads, cfg.out, say)
        appendix_results = appx.run_appendix(planned.appendix, ajobs, cfg.out, dict(theories), say, (cfg.dpi, cfg.svg))
    except KeyboardInterrupt:
        raise ReproduceInterrupted(cfg.out) from None
    with threadpool_limits(limits=cfg.threads):  # --threads governs the controls' BLAS pools too
        controls = _controls(planned, jobs, theories, (cfg.seed_list[0], cfg.quick), record, say)
        honest = _honest(planned, theories, cfg, say)
    power = tuple(power_table(honest))
    extra = {**record, "honest_controls": [h.as_dict() for h in honest], "power": [r.as_dict() for r in power]}
    tables = {t.title: t.rows for t in controls}
    tables.update({f"Honest controls: {h.dataset}": h.rows() for h in honest})
    if honest:
        tables["Power of the verdicts (honest controls)"] = power_rows(power)
    with threadpool_limits(limits=cfg.threads):  # the report's path points and face probes
        report = _report(cfg, planned.budget, jobs, (theories, names), (record, extra), t0, say, training, tables,
                         appendix_results)
    log_judgements(report, cfg.log)  # --log: each run's μ, distances and verdicts beside its training curves
    seconds = time.perf_counter() - t0
    run_paths: dict[str, list[Path]] = {}
    for j in jobs + ajobs:
        run_paths.setdefault(j.experiment, []).append(j.path)
    write_json_atomic(cfg.out / "reproduce.json", {**record, "status": "done", "seconds": seconds,
                                                    "report": str(report.path), "reused": list(reused),
                                                    "runs": {k: [str(p) for p in v] for k, v in run_paths.items()}})
    return ReproduceResult(cfg.out, report, run_paths, seconds, reused, controls, honest, power)


def _record(cfg: ReproduceConfig, planned: Planned) -> dict[str, Any]:
    """What ``reproduce.json`` records of the configuration: budget, seeds, corpus, every run's recipe."""
    record = {"budget": planned.budget, "seeds": cfg.seed_list, "text": None if cfg.text is None else str(cfg.text),
              "recipes": {n: [{"model": s.model, **s.kwargs} for s in specs] for n, _, specs in planned.main},
              **({} if planned.paper is None else {"paper_scale": planned.paper})}
    if planned.appendix:
        record["appendix"] = {n: {s.name or s.model: {"model": s.model, **s.kwargs} for s in specs}
                              for n, _, specs in planned.appendix}
    return record


def _controls(planned: Planned, jobs: list[Job], theories: dict[str, Theory], seed_quick: tuple[int, bool],
              record: dict[str, Any], say: Callable[[str], None]) -> tuple[ControlsTable, ...]:
    """The negative and positive controls of every dataset (with ``--paper-scale`` on the runs' snapshot subset, and
    the theory used recorded in ``record``). ``quick``: the optimal face is probed (cvxpy, ~7 s per dataset) only where
    S̃ is optimal, elsewhere the exact constructions are judged against L_mm itself; and against the asymptotic form
    ``L_in + R·L_mm`` they are built from, without a path point per control (21 s of 22 on a V = 118, m = 500
    corpus)."""
    seed, quick = seed_quick
    datasets = [(n, d, theories[d.hash]) for n, d, _ in planned.main]
    if planned.paper is None:
        out = []
        for ds in datasets:
            t = time.perf_counter()
            say(f"[{ds[0]}] exact-construction controls: building and judging the impostors")
            probe = not quick or ds[2].L_mm is None or tilde_optimal(ds[2])[0]
            out += controls_tables([ds], seed=seed, face="auto" if probe else None, finite_norm=not quick)
            how = "; quick: asymptotic form" + ("" if probe else ", against L_mm (no face probe)") if quick else ""
            say(f"[{ds[0]}] exact-construction controls (ntpgeom.verdicts.controls{how}): {time.perf_counter() - t:.1f}s")
        return tuple(out)
    say("negative and positive controls (ntpgeom.verdicts.controls) on the runs' snapshot subset")
    # built and judged on the runs' snapshot subset, as their snapshots are measured
    first_run = {n: next(j.path for j in jobs if j.experiment == n) for n, _, _ in planned.main}
    controls = tuple(PS.subset_controls(datasets, first_run, seed))
    record["paper_scale"] = {**planned.paper, "theory": PS.theory_used(theories[planned.main[0][1].hash])}
    return controls


def _honest(planned: Planned, theories: dict[str, Theory], cfg: ReproduceConfig,
            say: Callable[[str], None]) -> tuple[HonestControls, ...]:
    """The honest controls (:mod:`ntpgeom.verdicts.honest`) of every dataset whose L_mm is solved (or whose S̃ is
    optimal); one line per dataset with its time. Skipped at paper scale (the data is the transformer's)."""
    if planned.paper is not None:
        say("honest controls: skipped at paper scale (run them on a smaller corpus)")
        return ()
    steps, B, snaps = HONEST_BUDGET["quick" if cfg.quick else "default"]
    out = []
    for name, data, _ in planned.main:
        th = theories[data.hash]
        if th.L_mm is None and not th.certificate.holds:
            say(f"[{name}] honest controls: skipped (L_mm not solved: S̃ proxy)")
            continue
        say(f"[{name}] honest controls: training 3 controls for {steps} GD steps, judging with B = {B}")
        h = honest_controls(data, th, seed=cfg.seed_list[0], steps=steps, B=B, threads=cfg.threads, name=name,
                            snapshots=snaps)
        st = "; ".join(f"{c.name}: " + ", ".join(f"{k} {status_label(v)}" for k, v in c.status.items()) for c in h.controls)
        say(f"[{name}] honest controls ({steps} GD steps, B = {B}): {h.seconds:.1f}s ({st})")
        out.append(h)
    return tuple(out)


def _train_all(jobs: list[Job], threads: int, out: Path, say: Callable[[str], None]) -> tuple[tuple[str, ...], str]:
    """Train what is not finished (serially, or in ``threads`` worker processes); return the reused run labels and a
    description of the setting for the provenance block."""
    reused = tuple(j.label for j in jobs if run_state(j) == "done")
    for label in reused:
        say(f"[{label}] finished earlier: reused")
    todo = [j for j in jobs if j.label not in reused]
    workers = min(threads, len(todo))
    if workers > 1 and sum(cost(j) for j in todo) >= PARALLEL_MIN_COST:
        train_parallel(todo, workers, out, say)
        return reused, f"{workers} parallel processes x 1 torch/BLAS thread ({len(reused)} runs reused)"
    if threads > 1:  # short runs: torch threads inside one small model were much slower here (timings.md)
        say(f"the runs are short: training them in turn on 1 thread each (--threads {threads} applies to long runs)")
        threads = 1
    train_serial(todo, threads, out, say)
    return reused, f"serial, {threads} torch/BLAS thread(s) ({len(reused)} runs reused)"


def _theories(plan: Plan, out: Path, is_text: bool, say: Callable[[str], None],
              paper_scale: bool = False) -> tuple[dict[str, Theory], dict[str, str]]:
    theories, names = {}, {}
    for name, data, _specs in plan:
        say(f"[{name}] {data!r}")
        solve = not is_text or paper_scale or data.V * data.m <= TEXT_SOLVE_MAX_ENTRIES
        limit = PS.THEORY_SECONDS if paper_scale else None
        theories[data.hash] = _theory(name, data, out, solve, say, limit)
        names[data.hash] = name
    return theories, names


def _report(cfg: ReproduceConfig, budget: str, jobs: list[Job], theory: tuple[dict[str, Theory], dict[str, str]],
            records: tuple[dict[str, Any], dict[str, Any]], t0: float, say: Callable[[str], None], training: str,
            tables: dict[str, list[Verdict]], appendix: list[AppendixResult]) -> ReportResult:
    from ..train import load_run

    record, extra = records
    say("measuring, drawing and judging")
    text = cfg.text
    title = ("ntpgeom reproduce" + (" (quick)" if cfg.quick else "") + (" (paper scale)" if "paper_scale" in record
                                                                        else "") + (f": {Path(text).name}" if text else ""))
    intro = ("The experiments of Zhao et al., 'Implicit Geometry of Next-token Prediction' (COLM 2024), rerun with "
             f"ntpgeom on built-in data ({budget} budget)." if text is None else
             f"The paper's measurements on the corpus {text} ({budget} budget).")
    labels = [j.spec.model if len(record["seeds"]) == 1 else j.path.name for j in jobs]
    try:
        return build_report([load_run(j.path) for j in jobs], cfg.out / "report", theories=theory[0], names=theory[1],
                            labels=labels, title=title, intro=intro, progress=lambda m: say("  " + m), extra=extra,
                            overwrite=True, dpi=cfg.dpi, svg=cfg.svg, started=t0, threads=cfg.threads,
                            provenance_extra={"training": training, **PS.provenance_rows(record)},
                            tables=tables, appendix=appendix or ())
    except KeyboardInterrupt:
        raise ReproduceInterrupted(cfg.out, "while writing the report (every run is finished)") from None


def summary_text(result: ReproduceResult) -> str:
    """The verdict table and the report path, for the terminal (plain text)."""
    ctl = "".join(f"\n\n{t.title}\n{t.text}" for t in result.controls)
    ctl += "".join(f"\n\n{h.text()}" for h in result.honest)
    ctl += f"\n\n{power_text(result.power)}" if result.power else ""
    return f"{result.report.verdict_text()}{ctl}\n\nreport: {result.report_path}\n(total {result.seconds:.0f}s)"
