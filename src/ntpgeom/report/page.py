"""The report page: turns a :class:`~ntpgeom.report.build.ReportResult` into the context of ``report.html.j2``."""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..verdicts.claims import CLAIMS, figure_captions, trajectory_caption
from . import html as Hh

if TYPE_CHECKING:  # pragma: no cover
    from ..theory import Theory
    from .result import DatasetReport, ReportResult, RunReport

#: Columns shown in the report's metrics tables: the norms, every claim's judged columns (registry order), then
#: descriptive ones (labels and definitions: :data:`ntpgeom.report.html.COLUMN_LABELS`).
TABLE_COLUMNS = (
    ("step", "norm_W", "norm_H", "norm_L")
    + tuple(dict.fromkeys(col for c in CLAIMS.values() for col in c.columns))
    + ("dir_pred_rival", "dir_perp_tilde", "dir_perp_mm", "slr_resid", "sim_W_mm", "sim_H_mm", "sim_W_proxy",
       "sim_H_proxy", "nc1", "nc2_W", "nc3", "nc4")
)

#: Figure key → caption; the figures that show a claim's statistic take theirs from the claim registry.
FIG_CAPTIONS = {
    "norms": "Norm growth of W, H and L (log-log).",
    "mm_vs_tilde": "The max-margin logits L_mm next to the centred support matrix S̃, tokens × contexts, contexts "
                   "ordered by support.",
    **figure_captions(),
    "trajectory": trajectory_caption(),
    "representation": "Representation metrics of H (no verdict reads them): the CDNV of the contexts' hidden states by "
                      "support group (0 = each group collapsed to its mean) and the RankMe effective rank of H.",
}
HEATMAP_CAPTION = ("corr(H), corr(Wᵀ) and L/‖L‖ at three snapshots, next to the theory (L_mm) and the proxy (S̃); "
                   "contexts ordered by support group.")


def slug(s: str) -> str:
    """A file- and anchor-safe version of a name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "x"


def seed_group(label: str) -> str | None:
    """The group of a run label written by ``reproduce --seeds`` (``<model>-seed<k>`` -> ``<model>``), else None."""
    m = re.fullmatch(r"(.+)-seed\d+", label)
    return m.group(1) if m else None


def seed_rows(ds: "DatasetReport") -> list[SimpleNamespace]:
    """Per model trained with several seeds and per claim: mean ± sd, min-max and how many seeds pass."""
    groups: dict[str, list["RunReport"]] = {}
    for rr in ds.runs:
        g = seed_group(rr.label)
        if g is not None:
            groups.setdefault(g, []).append(rr)
    rows = []
    for g, members in groups.items():
        if len(members) < 2:
            continue
        for i, first in enumerate(members[0].views):
            views = [m.views[i] for m in members]
            vals = np.array([v.value for v in views], dtype=np.float64)
            ok = np.isfinite(vals)
            mean, sd = (float(vals[ok].mean()), float(vals[ok].std(ddof=1)) if ok.sum() > 1 else 0.0) if ok.any() \
                else (float("nan"), float("nan"))
            rows.append(SimpleNamespace(
                model=g, claim=first.claim, n=len(views), mean=mean, sd=sd,
                lo=float(vals[ok].min()) if ok.any() else float("nan"), hi=float(vals[ok].max()) if ok.any() else float("nan"),
                op=first.op, threshold=first.threshold, n_pass=sum(v.status == "pass" for v in views),
                n_judged=sum(v.status in ("pass", "FAIL", "inconclusive") for v in views)))
    return rows


def theory_summary(th: Theory) -> dict[str, Any]:
    """A JSON-ready summary of a theory (:meth:`Theory.summary`)."""
    return dict(th.summary())


def _dataset_rows(ds: "DatasetReport") -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], dict[str, Any]]:
    s = ds.data.summary(top=5)
    summary = [
        ("V (next tokens)", s["V"]), ("m (distinct contexts)", s["m"]), ("n (pairs)", s["n"]),
        ("context length", s["context_len"]), ("entropy bound ℋ", s["entropy_bound"]),
        ("distinct supports", s["distinct_supports"]), ("mean support size", s["mean_support_size"]),
        ("density of S", s["density"]), ("data hash", s["hash"]),
    ]
    th = ds.theory
    ts = theory_summary(th)
    svm = ts.get("svm") if isinstance(ts.get("svm"), dict) else {}
    cert = th.certificate
    theory = [
        ("L_mm solved", th.L_mm is not None), ("NTP-SVM* method", svm.get("method")),
        ("converged", svm.get("converged")), ("‖L_mm‖_* (nuclear norm)", svm.get("nuclear_norm")),
        ("rank of L_mm", svm.get("rank", ts.get("rank_mm"))), ("duality gap", svm.get("gap")),
        ("‖L_mm/‖·‖ − S̃/‖·‖‖", th.dist_mm_tilde),
        ("Prop. 3 certificate (S̃ optimal)", None if cert is None else bool(cert.holds)),
    ]
    return summary, theory, s


def _run_view(rr: "RunReport", page_dir: Any, columns: tuple[str, ...]) -> SimpleNamespace:
    cfg = rr.run.config
    rows = [
        ("folder", str(rr.run.path)), ("model", cfg.get("model")), ("d", cfg.get("d")),
        ("optimizer", cfg.get("optimizer")), ("lr", cfg.get("lr")), ("weight decay", cfg.get("weight_decay")),
        ("ridge λ", cfg.get("ridge")), ("steps", cfg.get("final_step")), ("status", cfg.get("status")),
        ("stop reason", cfg.get("stop_reason")), ("seed", cfg.get("seed")), ("output bias", cfg.get("bias")),
        ("wall seconds", cfg.get("wall_seconds")),
    ]
    return SimpleNamespace(
        label=rr.label, unfinished=rr.unfinished, config_rows=rows, verdicts=rr.views,
        heatmaps=Hh.figure_view(rr.files["heatmaps"], HEATMAP_CAPTION, page_dir),
        metrics=Hh.metrics_view(rr.table, columns), config_json=Hh.to_json_text(cfg),
    )


def appendix_view(a: Any, page_dir: Any) -> SimpleNamespace:
    """The page view of an appendix experiment (:class:`~ntpgeom.report.result.AppendixResult`)."""
    return SimpleNamespace(name=a.name, anchor="appendix-" + slug(a.name), title=a.title, notes=list(a.notes),
                           figure=Hh.figure_view(a.figure, a.caption, page_dir), columns=[c[1] for c in a.columns],
                           rows=[[row.get(k) for k, _ in a.columns] for row in a.table])


def counts(views: list[Hh.VerdictView], n_datasets: int, n_runs: int) -> dict[str, int]:
    """How many verdicts have each status (keys pass, FAIL, inconclusive, na, interrupted), datasets and runs."""
    c = Counter(v.status for v in views)
    return {"datasets": n_datasets, "runs": n_runs, "pass": c["pass"], "FAIL": c["FAIL"],
            "inconclusive": c["inconclusive"], "na": c["n/a"], "interrupted": c["interrupted"]}


def render_report(result: "ReportResult", title: str = "ntpgeom report", intro: str = "",
                  extra_tables: list[Any] | None = None) -> str:
    """The report page (HTML) of a :class:`ReportResult`. ``extra_tables``: more verdict tables (objects with
    ``title`` and ``rows``, rows being :class:`~ntpgeom.report.html.VerdictView`), e.g. negative controls."""
    page_dir = result.out
    datasets = []
    for ds in result.datasets:
        summary, theory, s = _dataset_rows(ds)
        datasets.append(SimpleNamespace(
            name=ds.name, anchor=slug(ds.name), summary_rows=summary, theory_rows=theory, notes=ds.notes,
            figures={k: Hh.figure_view(p, FIG_CAPTIONS[k], page_dir) for k, p in ds.figures.items()},
            runs=[_run_view(rr, page_dir, TABLE_COLUMNS) for rr in ds.runs], summary_json=Hh.to_json_text(s),
            seeds=seed_rows(ds),
        ))
    views = result.views
    pv = result.provenance
    appendix = [appendix_view(a, page_dir) for a in result.appendix]
    return Hh.render_page(
        "report.html.j2", title=title, intro=intro, provenance=pv, verdicts=views,
        counts=counts(views, len(result.datasets), sum(len(d.runs) for d in result.datasets)),
        extra_tables=extra_tables or [], datasets=datasets, appendix=appendix,
        provenance_json=Hh.to_json_text(pv.as_dict() if pv else {}),
    )
