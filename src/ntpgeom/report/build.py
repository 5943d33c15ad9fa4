"""``build_report``: runs → theory → metrics tables → figures → verdicts → one self-contained ``index.html``.

Three steps, one function each: **measure** (theory and metrics table of every run, verdicts), **draw** (figures)
and **write** (page, JSON). Everything is written into a temporary folder next to ``OUT`` that is renamed onto
``OUT`` at the end, so an interrupted or failed report leaves no partial folder.

Output folder layout::

    OUT/
      index.html                 the report (provenance, verdicts, figures embedded; opens offline)
      verdicts.json              every verdict row (claim, run, value, threshold, margin, status)
      report.json                summary: provenance, runs, datasets, theory summaries, file list
      <dataset>/theory.npz       the Theory of each dataset (when computed here)
      <dataset>/figures/*.png    comparison curves over that dataset's runs, L_mm vs S̃ (and *.svg twins)
      <dataset>/<run>/metrics.parquet, metrics.json, heatmaps.png (+ .svg)
"""

from __future__ import annotations

import dataclasses

import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .._json import loads_json
from .._io import atomic_path, write_json_atomic, write_text_atomic
from ..data import NTPData
from ..metrics import restrict, run_metrics, save_table
from ..metrics.restrict import snapshot_contexts
from ..progress import Progress
from . import figures as F
from . import trajectories as T
from . import provenance as prov
from .page import TABLE_COLUMNS, render_report, seed_group, slug, theory_summary  # noqa: F401 (TABLE_COLUMNS re-exported)
from .result import DatasetReport, ReportResult, RunReport, unfinished_reason, verdict_json  # noqa: F401 (re-exported)
from .config import ReportConfig, report_config
from .style import output
from ..verdicts import controls_tables
from .verdicts import THRESHOLDS, judge


from ..errors import ReportError  # noqa: E402  (defined in errors.py; re-exported here)


def dataset_name(data: NTPData) -> str:
    """A short name for a dataset: its source (builtin:stories -> stories; a file -> its stem) or its hash."""
    src = str(data.meta.get("source", ""))
    if src.startswith("builtin:"):
        return src.split(":", 1)[1]
    if src.startswith("synthetic:"):
        return "synthetic-" + src.split(":", 1)[1].replace("_", "-")
    if src and src not in ("counts", "<string>"):
        return slug(Path(src).stem)
    return f"data-{data.hash[:8]}"


def _snapshot_steps(steps: Sequence[int], k: int = 3) -> list[int]:
    """Up to k snapshot steps to draw: log-spaced between the first non-zero step and the last."""
    steps = sorted(steps)
    if len(steps) <= k:
        return steps
    pos = [s for s in steps if s > 0] or steps
    targets = np.geomspace(max(pos[0], 1), steps[-1], k)
    return sorted({min(steps, key=lambda s: abs(np.log(max(s, 1)) - np.log(t))) for t in targets})


def build_report(
    runs: Sequence[Any],
    out: str | Path,
    config: ReportConfig | None = None,
    *,
    theories: Mapping[str, Any] | None = None,
    tables: Mapping[str, Sequence[Any]] | None = None,
    appendix: Sequence[Any] = (),
    progress: Progress = None,
    started: float | None = None,
    **options: Any,
) -> ReportResult:
    """Measure runs against the theory, draw the figures, judge the claims and write ``OUT/index.html``.

    Parameters
    ----------
    runs : sequence of Run (or run folder paths)
        Runs are grouped by dataset (data hash); each group shares one theory and one set of comparison figures.
    out : path
        The report folder. It must not exist or be empty, unless ``overwrite`` (then it is replaced at the end).
    config : ReportConfig, optional
        Every setting (defaults and meaning on its fields): ``title``/``intro``, ``labels`` (one per run),
        ``names`` (data hash -> dataset name), ``max_contexts``, ``overwrite``, ``dpi``/``svg`` (PNG resolution,
        SVG twins), ``controls``/``seed`` (also run the positive and negative controls,
        :func:`ntpgeom.verdicts.controls_tables`, on every dataset whose L_mm is solved, and show them beside the
        verdicts), ``extra`` (added to ``report.json``), ``command`` and ``provenance_extra`` (the page's provenance).
    **options
        Fields of :class:`ReportConfig` as keywords, on top of ``config`` (``build_report(runs, out, dpi=40)``).
    theories : mapping data hash -> Theory, optional
        Precomputed theories; missing ones are computed with :func:`ntpgeom.theory.compute_theory` and saved.
    tables : mapping title -> verdicts, optional
        More verdict tables under the main one (e.g. the negative controls), rendered by the same template macro.
    appendix : sequence of AppendixResult
        Appendix experiments (:mod:`ntpgeom.experiments.appendix`), already measured and drawn: their figures are copied
        to ``OUT/appendix/<name>/`` and shown, with their tables, in an "Appendix experiments" section.
    progress : callable, optional
        Called with a one-line message at every stage.
    started : float, optional
        ``time.perf_counter()`` when the whole command started (for the total wall time on the page).

    Returns
    -------
    ReportResult
    """
    from threadpoolctl import threadpool_limits

    cfg = report_config(config, options)
    t0 = time.perf_counter() if started is None else started
    say = progress or (lambda _m: None)
    runs, out = _check_inputs(runs, out, cfg.labels, cfg.overwrite, bool(appendix))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with threadpool_limits(cfg.threads), output(cfg.dpi, cfg.svg):  # small dense algebra: 1 thread is fastest
            datasets = [_measure(group, tmp, dict(theories or {}), cfg, say)
                        for group in _groups(runs, cfg.labels, cfg.names)]
            datasets = [_draw(ds, tmp, say) for ds in datasets]
            if cfg.controls:
                say("negative and positive controls (ntpgeom.verdicts.controls)")
                tables = {**(tables or {}), **{t.title: t.rows for t in controls_tables(
                    [(d.name, d.data, d.theory) for d in datasets], cfg.seed)}}
            seeds = [int(r.run.config["seed"]) for ds in datasets for r in ds.runs if r.run.config.get("seed") is not None]
            pv = prov.collect(seconds=time.perf_counter() - t0, seeds=seeds, command=cfg.command,
                              extra=cfg.provenance_extra)
            result = ReportResult(tmp / "index.html", tmp, datasets, pv, [_copy_appendix(a, tmp) for a in appendix])
            say("writing index.html")
            _write(result, cfg.title, cfg.intro, cfg.extra, tables or {})
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _rebase(result, tmp, out)


def _check_inputs(runs: Sequence[Any], out: str | Path, labels: Sequence[str] | None,
                  overwrite: bool, appendix: bool = False) -> tuple[list[Any], Path]:
    from ..train import load_run

    if not runs and not appendix:
        raise ReportError("no runs given; pass one or more run folders (train one with `ntpgeom train`)")
    runs = [load_run(r) if isinstance(r, (str, Path)) else r for r in runs]
    if labels is not None and len(labels) != len(runs):
        raise ReportError(f"{len(labels)} labels for {len(runs)} runs; give one label per run")
    for r in runs:
        if not r.steps:
            raise ReportError(f"the run {r.path} has no snapshots; it did not train (status {r.config.get('status')})")
    out = Path(out).absolute()
    _check_output(out, [Path(r.path).absolute() for r in runs if r.path is not None], overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    return runs, out


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a report written by :func:`build_report` (its ``report.json`` of format
    ``ntpgeom.report``): the only kind of folder ``overwrite`` may replace."""
    try:
        head = loads_json((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and head.get("format") == "ntpgeom.report"


def _check_output(out: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse an output that is or contains an input run, is not a folder, or exists without ``overwrite``; and
    never let ``overwrite`` replace a folder that is not a previous report (a user's folder, ``-o .``)."""
    for run_path in inputs:
        if out == run_path or out in run_path.parents:
            raise ReportError(f"the report output {out} is or contains the input run {run_path}; choose an -o path "
                              "outside the run folders")
    if out.exists() and not out.is_dir():
        raise ReportError(f"the report output {out} exists and is not a folder; choose another -o path")
    if not (out.is_dir() and any(out.iterdir())):
        return
    if not overwrite:
        raise ReportError(f"the report output {out} already exists; pass --overwrite (overwrite=True) to replace it, "
                          "or choose another -o path")
    if not is_report(out):
        raise ReportError(f"--overwrite replaces only a previous report, and {out} is not one (no report.json of "
                          "an ntpgeom report); choose another -o path, or move that folder away yourself")


@dataclass(frozen=True, eq=False)
class _Group:
    name: str
    data: NTPData
    runs: list[tuple[str, Any]]  # (label, run)


def _groups(runs: list[Any], labels: Sequence[str] | None, names: Mapping[str, str] | None) -> list[_Group]:
    """Runs grouped by data hash, with unique dataset names and unique run labels."""
    by_hash: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        by_hash.setdefault(r.data.hash, []).append(i)
    used: set[str] = set()
    groups = []
    for h, idxs in by_hash.items():
        data = runs[idxs[0]].data
        base = name = (names or {}).get(h) or dataset_name(data)
        k = 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        seen: dict[str, int] = {}
        members = []
        for i in idxs:
            lab = labels[i] if labels is not None else str(runs[i].config.get("model", "run"))
            if labels is None:
                seen[lab] = seen.get(lab, 0) + 1
                lab = lab if seen[lab] == 1 else f"{lab}-{seen[lab]}"
            members.append((lab, runs[i]))
        groups.append(_Group(name, data, members))
    return groups


def _measure(group: _Group, root: Path, theories: dict[str, Any], cfg: ReportConfig, say: Callable[[str], None]
             ) -> DatasetReport:
    """Step 1: the theory of the dataset, the metrics table and the verdicts of every run (C1, C2, L_mm judged over
    the run's trajectory, :mod:`ntpgeom.report.trajectories`)."""
    from ..theory import check_theory, compute_theory

    data, name = group.data, group.name
    dsdir = root / slug(name)
    th = theories.get(data.hash)
    if th is not None:
        check_theory(th, data, f"the theory given for {name}")  # a file's own hash does not tie it to this data
    if th is None:
        say(f"[{name}] theory: L_in, S̃, NTP-SVM* (V={data.V}, m={data.m})")
        th = compute_theory(data)
        th.save(dsdir / "theory.npz")
    notes = [] if th.L_mm is not None else [
        f"L_mm was not solved for this dataset (V x m = {data.V} x {data.m}): the S̃ proxy stands in."]
    if th.svm is not None and th.svm.converged is False:
        notes.append("NTP-SVM* did not converge to its tolerance: L_mm is inexact (see the duality gap).")
    ks = sorted({int(k) for _, r in group.runs if (k := r.config.get("snapshot_contexts")) and k < data.m})
    if ks:
        notes.append(f"snapshots hold a fixed, seeded subset of {'/'.join(map(str, ks))} of the {data.m} contexts: "
                     "they are measured and judged against the theory restricted to those contexts (π and ℋ "
                     "renormalised over them, the asymptotic prediction L_in + R·L_mm).")
    rreps = []
    for lab, r in group.runs:
        say(f"[{name}/{lab}] metrics over {len(r.steps)} snapshots")
        table = run_metrics(r, th, max_contexts=cfg.max_contexts, threads=cfg.threads,  # a line per path point
                            progress=lambda st, *_: None if st == "metrics" else say(f"[{name}/{lab}]   {st}"))
        rdir = dsdir / slug(lab)
        meta = {"run": str(r.path), "data_hash": data.hash, "model": r.config.get("model"), "config": r.config}
        pq, js = save_table(table, rdir / "metrics", meta=meta)
        say(f"[{name}/{lab}] trajectory: judging C1, L_mm, C2 ({cfg.bootstrap} bootstrap replicates)")
        rt = T.judge_run(r, data, th, table, f"{name}/{lab}", B=cfg.bootstrap, alpha=cfg.alpha, seed=cfg.seed,
                         threads=cfg.threads)
        say(f"[{name}/{lab}] trajectory: C1, L_mm, C2 over {len(rt.judgement.claims[0].steps) if rt.judgement else 0} "
            f"snapshots, B = {cfg.bootstrap} ({rt.seconds:.1f}s)")
        rreps.append(RunReport(lab, str(r.config.get("model", "run")), r, table,
                               T.merge_verdicts(judge(table, run=f"{name}/{lab}"), rt),
                               {"metrics.parquet": pq, "metrics.json": js}, unfinished_reason(r.config), rt))
    notes += T.page_notes([rr.trajectory for rr in rreps if rr.trajectory is not None])
    return DatasetReport(name, data, th, rreps, {}, notes)


def _draw(ds: DatasetReport, root: Path, say: Callable[[str], None]) -> DatasetReport:
    """Step 2: heatmaps per run and the comparison figures of the dataset."""
    dsdir = root / slug(ds.name)
    runs = []
    for rr in ds.runs:
        say(f"[{ds.name}/{rr.label}] heatmaps")
        snaps = [rr.run.snapshot(s) for s in _snapshot_steps(rr.run.steps)]
        data, theory, title = ds.data, ds.theory, f"{ds.name} / {rr.label}"
        ctx = snapshot_contexts(snaps[-1])
        if ctx is not None:  # the run snapshots a fixed subset of its contexts: draw the theory on those columns
            theory, data = restrict(theory, data, ctx)
            title += f" ({data.m} of {ds.data.m} contexts)"
        p = F.fig_heatmaps(data, theory, snaps, dsdir / slug(rr.label) / "heatmaps.png", title=title)
        runs.append(replace(rr, files={**rr.files, "heatmaps": p}))
    say(f"[{ds.name}] comparison figures")
    series = [F.Series(rr.label, rr.model, rr.table, seed_group(rr.label)) for rr in runs]
    thr = dataclasses.asdict(THRESHOLDS)  # claim -> threshold, drawn on the curves of the measured quantity
    fd = dsdir / "figures"
    figs = {
        "loss_gap": F.fig_loss_gap(series, fd / "loss_gap.png", ds.data.entropy_bound, thresholds=thr),
        "norms": F.fig_norms(series, fd / "norms.png"),
        "softlabel": F.fig_softlabel(series, fd / "softlabel.png", thresholds=thr),
        "similarity": F.fig_similarity(series, fd / "similarity.png", thresholds=thr),
        "collapse": F.fig_collapse(series, fd / "collapse.png"),
        "mm_vs_tilde": F.fig_mm_vs_tilde(ds.data, ds.theory, fd / "mm_vs_tilde.png"),
    }
    if F.has_representation(series):
        figs["representation"] = F.fig_representation(series, fd / "representation.png")
    judged = [(rr.label, rr.model, rr.trajectory.judgement) for rr in runs if rr.trajectory and rr.trajectory.judgement]
    if judged:
        figs["trajectory"] = F.fig_trajectory(judged, fd / "trajectory.png")
    return replace(ds, runs=runs, figures=figs)


def _copy_appendix(a: Any, root: Path) -> Any:
    """An appendix result with its figure (and SVG twin) copied into ``root/appendix/<name>/``."""
    dest = root / "appendix" / slug(a.name) / Path(a.figure).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    for src in (Path(a.figure), Path(a.figure).with_suffix(".svg")):
        if src.exists():
            with atomic_path(dest.with_suffix(src.suffix), suffix=src.suffix) as tmp:
                shutil.copyfile(src, tmp)
    return replace(a, figure=dest)


def _write(result: ReportResult, title: str, intro: str, extra: Mapping[str, Any] | None,
           tables: Mapping[str, Sequence[Any]]) -> None:
    """Step 3: ``index.html``, ``verdicts.json`` and ``report.json``."""
    from types import SimpleNamespace

    from .html import verdict_view

    out = result.out
    blocks = [SimpleNamespace(title=t, rows=[verdict_view(v) for v in vs]) for t, vs in tables.items()]
    write_text_atomic(result.path, render_report(result, title=title, intro=intro, extra_tables=blocks))
    rows = verdict_json(result)
    write_json_atomic(out / "verdicts.json", rows)
    write_json_atomic(out / "report.json", {
        "format": "ntpgeom.report", "version": 2, "title": title,
        "provenance": result.provenance.as_dict() if result.provenance else None,
        "versions": result.provenance.libraries if result.provenance else None, "extra": dict(extra or {}),
        "datasets": [
            {"name": ds.name, "summary": ds.data.summary(top=0), "theory": theory_summary(ds.theory), "notes": ds.notes,
             "runs": [{"label": r.label, "path": str(r.run.path), "model": r.model, "unfinished": r.unfinished,
                       "files": {k: str(p.relative_to(out)) for k, p in r.files.items()},
                       **({"trajectory": r.trajectory.json()} if r.trajectory is not None else {})} for r in ds.runs],
             "figures": {k: str(p.relative_to(out)) for k, p in ds.figures.items()}}
            for ds in result.datasets
        ],
        "verdicts": rows,
        "tables": {b.title: [vars(r) for r in b.rows] for b in blocks},
        "appendix": [{k: v for k, v in a.as_json(out).items() if k != "rows"} for a in result.appendix],
    })


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished temporary folder onto ``out`` (replacing an old one only after the new one is complete)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{time.time_ns()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _rebase(result: ReportResult, tmp: Path, out: Path) -> ReportResult:
    """The same result with every path moved from the temporary folder to ``out``."""
    move = lambda p: out / Path(p).relative_to(tmp)  # noqa: E731
    datasets = [replace(ds, figures={k: move(p) for k, p in ds.figures.items()},
                        runs=[replace(r, files={k: move(p) for k, p in r.files.items()}) for r in ds.runs])
                for ds in result.datasets]
    return replace(result, path=move(result.path), out=out, datasets=datasets,
                   appendix=[replace(a, figure=move(a.figure)) for a in result.appendix])
