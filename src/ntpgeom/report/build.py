"""``build_report``: runs → theory → metrics tables → figures → verdicts → one self-contained ``index.html``.

Output folder layout::

    OUT/
      index.html                 the report (figures embedded, opens offline)
      verdicts.json              every verdict row (claim, run, measured value, threshold, status)
      report.json                summary: runs, datasets, theory summaries, versions, file list
      <dataset>/theory.npz       the Theory of each dataset (when computed here)
      <dataset>/figures/*.png    comparison curves over that dataset's runs, L_mm vs S̃
      <dataset>/<run>/metrics.parquet, metrics.json, heatmaps.png
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .._io import versions, write_json_atomic, write_text_atomic
from ..data import NTPData
from ..errors import NTPGeomError
from ..metrics import run_metrics, save_table
from . import figures as F
from . import html as Hh
from .verdicts import Verdict, format_table, judge, verdict_rows

Progress = Callable[[str], None] | None

#: Columns shown in the report's metrics tables.
TABLE_COLUMNS = (
    "step", "gap", "norm_W", "norm_H", "norm_L", "softlabel_rel", "slr_resid", "dir_perp_mm", "dir_perp_tilde",
    "gram_W_mm", "gram_H_mm", "gram_W_proxy", "gram_H_proxy", "sim_W_mm", "sim_H_mm", "pearson_W_mm", "pearson_H_mm",
    "sim_W_proxy", "sim_H_proxy", "collapse_H", "collapse_H_base", "nc1", "nc2_W", "nc3", "nc4",
)


from ..errors import ReportError  # noqa: E402  (defined in errors.py; re-exported here)


@dataclass(frozen=True, eq=False)
class RunReport:
    """One run inside a report: its label, model, metrics table, verdicts and files."""

    label: str
    model: str
    run: Any
    table: dict[str, np.ndarray]
    verdicts: list[Verdict]
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class DatasetReport:
    """The runs of one dataset, its theory and the comparison figures."""

    name: str
    data: NTPData
    theory: Any
    runs: list[RunReport]
    figures: dict[str, Path]
    notes: list[str]


@dataclass(frozen=True, eq=False)
class ReportResult:
    """What :func:`build_report` produced."""

    path: Path
    out: Path
    datasets: list[DatasetReport]

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for ds in self.datasets for r in ds.runs for v in r.verdicts]

    @property
    def figures(self) -> list[Path]:
        out = [p for ds in self.datasets for p in ds.figures.values()]
        return out + [p for ds in self.datasets for r in ds.runs for p in r.files.values() if p.suffix == ".png"]

    def verdict_text(self) -> str:
        return format_table(self.verdicts)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "x"


def dataset_name(data: NTPData) -> str:
    """A short name for a dataset: its source (builtin:stories -> stories; a file -> its stem) or its hash."""
    src = str(data.meta.get("source", ""))
    if src.startswith("builtin:"):
        return src.split(":", 1)[1]
    if src.startswith("synthetic:"):
        return "synthetic-" + src.split(":", 1)[1].replace("_", "-")
    if src and src not in ("counts", "<string>"):
        return _slug(Path(src).stem)
    return f"data-{data.hash[:8]}"


def _snapshot_steps(steps: Sequence[int], k: int = 3) -> list[int]:
    """Up to k snapshot steps to draw: log-spaced between the first non-zero step and the last."""
    steps = sorted(steps)
    if len(steps) <= k:
        return steps
    pos = [s for s in steps if s > 0] or steps
    targets = np.geomspace(max(pos[0], 1), steps[-1], k)
    chosen = sorted({min(steps, key=lambda s: abs(np.log(max(s, 1)) - np.log(t))) for t in targets})
    return chosen


def build_report(
    runs: Sequence[Any],
    out: str | Path,
    *,
    theories: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    title: str = "ntpgeom report",
    intro: str = "",
    max_contexts: int = 2000,
    progress: Progress = None,
    extra: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> ReportResult:
    """Measure runs against the theory, draw the figures, judge the claims and write ``OUT/index.html``.

    Parameters
    ----------
    runs : sequence of Run (or run folder paths)
        Runs are grouped by dataset (data hash); each group shares one theory and one set of comparison figures.
    out : path
        The report folder (created).
    theories : mapping data hash -> Theory, optional
        Precomputed theories; missing ones are computed with :func:`ntpgeom.theory.compute_theory` and saved.
    labels : sequence of str, optional
        One label per run (default: the model kind, made unique).
    title, intro : str
        Page title and an introductory paragraph (HTML-escaped).
    progress : callable, optional
        Called with a one-line message at every stage.
    extra : mapping, optional
        Added to ``report.json`` (e.g. the reproduce configuration).
    names : mapping data hash -> str, optional
        Dataset names for headings and folders (default: from the data's source).

    Returns
    -------
    ReportResult
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small dense algebra and figures: BLAS threads only contend (see run_metrics)
        return _build_report(runs, out, theories=theories, labels=labels, title=title, intro=intro,
                             max_contexts=max_contexts, progress=progress, extra=extra, names=names)


def _build_report(runs: Sequence[Any], out: str | Path, *, theories: Mapping[str, Any] | None, labels: Sequence[str] | None,
                  title: str, intro: str, max_contexts: int, progress: Progress, extra: Mapping[str, Any] | None,
                  names: Mapping[str, str] | None) -> ReportResult:
    from ..theory import compute_theory
    from ..train import load_run

    say = progress or (lambda _m: None)
    if not runs:
        raise ReportError("no runs given; pass one or more run folders (train one with `ntpgeom train`)")
    runs = [load_run(r) if isinstance(r, (str, Path)) else r for r in runs]
    if labels is not None and len(labels) != len(runs):
        raise ReportError(f"{len(labels)} labels for {len(runs)} runs; give one label per run")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"the report output {out} exists and is not a folder; choose another -o path")
    out.mkdir(parents=True, exist_ok=True)
    theories = dict(theories or {})
    t0 = time.perf_counter()

    groups: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        if not r.steps:
            raise ReportError(f"the run {r.path} has no snapshots; it did not train (status {r.config.get('status')})")
        groups.setdefault(r.data.hash, []).append(i)
    used: set[str] = set()
    datasets: list[DatasetReport] = []
    for h, idxs in groups.items():
        data = runs[idxs[0]].data
        name = (names or {}).get(h) or dataset_name(data)
        base = name
        k = 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        dsdir = out / _slug(name)
        notes: list[str] = []
        th = theories.get(h)
        if th is None:
            say(f"[{name}] theory: L_in, S̃, NTP-SVM* (V={data.V}, m={data.m})")
            th = compute_theory(data)
            th.save(dsdir / "theory.npz")
        if getattr(th, "L_mm", None) is None:
            notes.append(f"L_mm was not solved for this dataset (V x m = {data.V} x {data.m}): the S̃ proxy stands in.")
        rreps: list[RunReport] = []
        seen: dict[str, int] = {}
        for i in idxs:
            r = runs[i]
            model = str(r.config.get("model", "run"))
            lab = labels[i] if labels is not None else model
            if labels is None:
                seen[lab] = seen.get(lab, 0) + 1
                lab = lab if seen[lab] == 1 else f"{lab}-{seen[lab]}"
            say(f"[{name}/{lab}] metrics over {len(r.steps)} snapshots")
            table = run_metrics(r, th, max_contexts=max_contexts)
            rdir = dsdir / _slug(lab)
            meta = {"run": str(r.path), "data_hash": data.hash, "model": model, "config": r.config}
            pq, js = save_table(table, rdir / "metrics", meta=meta)
            verdicts = judge(table, run=f"{name}/{lab}")
            files = {"metrics.parquet": pq, "metrics.json": js}
            say(f"[{name}/{lab}] heatmaps")
            snaps = [r.snapshot(s) for s in _snapshot_steps(r.steps)]
            files["heatmaps"] = F.fig_heatmaps(data, th, snaps, rdir / "heatmaps.png", title=f"{name} / {lab}")
            rreps.append(RunReport(lab, model, r, table, verdicts, files))
        say(f"[{name}] comparison figures")
        series = [F.Series(rr.label, rr.model, rr.table) for rr in rreps]
        fd = dsdir / "figures"
        figs = {
            "loss_gap": F.fig_loss_gap(series, fd / "loss_gap.png", data.entropy_bound),
            "norms": F.fig_norms(series, fd / "norms.png"),
            "softlabel": F.fig_softlabel(series, fd / "softlabel.png"),
            "similarity": F.fig_similarity(series, fd / "similarity.png"),
            "collapse": F.fig_collapse(series, fd / "collapse.png"),
            "mm_vs_tilde": F.fig_mm_vs_tilde(data, th, fd / "mm_vs_tilde.png"),
        }
        datasets.append(DatasetReport(name, data, th, rreps, figs, notes))

    result = ReportResult(out / "index.html", out, datasets)
    say("writing index.html")
    write_text_atomic(result.path, render(result, title=title, intro=intro))
    write_json_atomic(out / "verdicts.json", verdict_rows(result.verdicts))
    write_json_atomic(out / "report.json", {
        "format": "ntpgeom.report", "version": 1, "title": title, "versions": versions(),
        "seconds": time.perf_counter() - t0, "extra": dict(extra or {}),
        "datasets": [
            {"name": ds.name, "summary": ds.data.summary(top=0), "theory": _theory_summary(ds.theory), "notes": ds.notes,
             "runs": [{"label": r.label, "path": str(r.run.path), "model": r.model,
                       "files": {k: str(p.relative_to(out)) for k, p in r.files.items()}} for r in ds.runs],
             "figures": {k: str(p.relative_to(out)) for k, p in ds.figures.items()}}
            for ds in datasets
        ],
        "verdicts": verdict_rows(result.verdicts),
    })
    return result


def _theory_summary(th: Any) -> dict[str, Any]:
    if hasattr(th, "summary"):
        try:
            return dict(th.summary())
        except Exception:  # a summary is a courtesy; never fail the report on it
            pass
    cert = getattr(th, "certificate", None)
    return {"solved": getattr(th, "L_mm", None) is not None, "dist_mm_tilde": getattr(th, "dist_mm_tilde", None),
            "certificate_holds": getattr(cert, "holds", None)}


_FIG_CAPTIONS = {
    "loss_gap": "Loss gap CE − ℋ over training (log-log).",
    "norms": "Norm growth of W, H and L (log-log).",
    "softlabel": "Soft-label recovery ‖P_F(L) − L_in‖/‖L_in‖ and the sparse-plus-low-rank residual.",
    "similarity": "Agreement of corr(H) and corr(Wᵀ) with the theory (solid: L_mm factors, dashed: S̃ proxy), "
                  "and the directional distance of P_⊥(L) to L_mm.",
    "collapse": "Subspace-collapse index (0 = contexts with equal supports share one direction); dotted: random "
                "groupings of the same sizes.",
    "mm_vs_tilde": "The max-margin logits L_mm next to the centred support matrix S̃, tokens × contexts, contexts "
                   "ordered by support.",
}


def render(result: ReportResult, title: str = "ntpgeom report", intro: str = "") -> str:
    """The report page (HTML string) of a :class:`ReportResult`."""
    parts = [f"<h1>{Hh.esc(title)}</h1>"]
    if intro:
        parts.append(f"<p>{Hh.esc(intro)}</p>")
    vs = result.verdicts
    n_pass = sum(v.passed is True for v in vs)
    n_fail = sum(v.passed is False for v in vs)
    parts.append(f"<p class='note'>{len(result.datasets)} dataset(s), {sum(len(d.runs) for d in result.datasets)} run(s); "
                 f"{n_pass} claims pass, {n_fail} fail, {len(vs) - n_pass - n_fail} not measurable. Each verdict is "
                 "read off the last snapshot of a run; thresholds are documented in ntpgeom.report.verdicts.</p>")
    parts.append("<h2 id='verdicts'>Verdicts</h2>")
    parts.append(Hh.verdict_table(vs))
    for ds in result.datasets:
        data, th = ds.data, ds.theory
        parts.append(f"<h2 id='{Hh.esc(_slug(ds.name))}'>Dataset: {Hh.esc(ds.name)}</h2>")
        s = data.summary(top=5)
        parts.append(Hh.kv_table([
            ("V (next tokens)", s["V"]), ("m (distinct contexts)", s["m"]), ("n (pairs)", s["n"]),
            ("context length", s["context_len"]), ("entropy bound ℋ", s["entropy_bound"]),
            ("distinct supports", s["distinct_supports"]), ("mean support size", s["mean_support_size"]),
            ("density of S", s["density"]), ("data hash", s["hash"]),
        ]))
        ts = _theory_summary(th)
        svm = ts.get("svm") if isinstance(ts.get("svm"), dict) else {}
        cert = getattr(th, "certificate", None)
        parts.append("<h3>Theory</h3>")
        parts.append(Hh.kv_table([
            ("L_mm solved", getattr(th, "L_mm", None) is not None),
            ("NTP-SVM* method", svm.get("method")),
            ("‖L_mm‖_* (nuclear norm)", svm.get("nuclear_norm")),
            ("rank of L_mm", svm.get("rank", ts.get("rank_mm"))),
            ("duality gap", svm.get("gap")),
            ("‖L_mm/‖·‖ − S̃/‖·‖‖", getattr(th, "dist_mm_tilde", None)),
            ("Prop. 3 certificate (S̃ optimal)", None if cert is None else bool(cert.holds)),
        ]))
        for note in ds.notes:
            parts.append(f"<p class='note'>{Hh.esc(note)}</p>")
        parts.append(Hh.figure(ds.figures["mm_vs_tilde"], _FIG_CAPTIONS["mm_vs_tilde"]))
        parts.append("<h3>Training curves</h3>")
        for key in ("loss_gap", "norms", "softlabel", "similarity", "collapse"):
            parts.append(Hh.figure(ds.figures[key], _FIG_CAPTIONS[key]))
        for rr in ds.runs:
            parts.append(f"<h3>Run: {Hh.esc(ds.name)} / {Hh.esc(rr.label)}</h3>")
            cfg = rr.run.config
            parts.append(Hh.kv_table([
                ("folder", str(rr.run.path)), ("model", cfg.get("model")), ("d", cfg.get("d")),
                ("optimizer", cfg.get("optimizer")), ("lr", cfg.get("lr")), ("weight decay", cfg.get("weight_decay")),
                ("ridge λ", cfg.get("ridge")), ("steps", cfg.get("final_step")), ("stop reason", cfg.get("stop_reason")),
                ("seed", cfg.get("seed")), ("output bias", cfg.get("bias")), ("wall seconds", cfg.get("wall_seconds")),
            ]))
            parts.append(Hh.verdict_table(rr.verdicts))
            parts.append(Hh.figure(rr.files["heatmaps"], "corr(H), corr(Wᵀ) and L/‖L‖ at three snapshots, next to "
                                   "the theory (L_mm) and the proxy (S̃); contexts ordered by support group."))
            parts.append(Hh.metrics_table(rr.table, TABLE_COLUMNS))
            parts.append(Hh.details("configuration and versions", cfg))
        parts.append(Hh.details("dataset summary (JSON)", s))
    parts.append("<h2>Provenance</h2>")
    parts.append(Hh.details("library versions", versions()))
    return Hh.page(title, "\n".join(parts))
