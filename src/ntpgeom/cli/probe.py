"""``ntpgeom probe``: measure a pretrained causal LM's last-layer geometry against a corpus's support pattern."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import NTPGeomError
from ._common import err_console, print_json


def register(app: typer.Typer) -> None:
    app.command("probe")(probe_command)


def probe_command(
    model: Path = typer.Option(..., "--model", help="Local model folder (config.json + safetensors), a folder with a GGUF file, or a .gguf file."),
    text: Path = typer.Option(..., "--text", help="UTF-8 corpus file."),
    context_len: int = typer.Option(..., "--context-len", "-T", help="Tokens per context (T-1)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (report, arrays, summary.json)."),
    gguf_file: Optional[str] = typer.Option(None, "--gguf-file", help="GGUF file name inside --model (dequantised on load)."),
    max_contexts: int = typer.Option(2000, "--max-contexts", "-K", help="Keep the K most frequent contexts."),
    min_count: float = typer.Option(2, "--min-count", "-c", help="Keep contexts seen at least c times."),
    n_other: int = typer.Option(500, "--n-other", help="Tokens outside every support to measure besides the support tokens."),
    doc_sep: str = typer.Option("blank", "--doc-sep", help="Document separator: blank | line | none | a literal string."),
    keep_whitespace: bool = typer.Option(False, "--keep-whitespace", help="Keep line breaks (default: collapse whitespace runs to one space)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Contexts per forward pass."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda, ...)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 | bfloat16 | float16."),
    solve: str = typer.Option("auto", "--solve", help="Solve NTP-SVM* for L_mm: auto (when small enough) | yes | no."),
    n_perm: int = typer.Option(20, "--n-perm", help="Random groupings for the collapse-index baseline."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's choice)."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report and figures."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON summary on stdout."),
) -> None:
    """Probe a pretrained causal LM: does it show the predicted sparse plus low-rank geometry on a real text?"""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from ..probe import ProbeError, probe

    solve_opt: Any = {"auto": "auto", "yes": True, "no": False}.get(solve.lower())
    if solve_opt is None:
        raise ProbeError(f"--solve must be auto, yes or no, got {solve!r}")
    if not text.is_file():
        raise ProbeError(f"text file not found: {text}")
    if threads is not None:
        if threads < 1:
            raise ProbeError(f"--threads must be >= 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json and not err_console.is_terminal) as bar:
        task = bar.add_task("loading", total=None)

        def stage(s: str) -> None:
            bar.update(task, description=s)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = probe(model, Path(text), context_len, gguf_file=gguf_file, max_contexts=max_contexts,
                       min_count=min_count, n_other=n_other, doc_sep=doc_sep, normalize_whitespace=not keep_whitespace,
                       batch_size=batch_size, device=device, dtype=dtype, solve=solve_opt, n_perm=n_perm, seed=seed,
                       progress=progress, stage=stage)
        stage("writing")
        paths = result.save(out)
        if not no_report:
            paths["report"] = write_probe_report(result, out)
    summary = result.summary()
    summary["files"] = {k: str(v) for k, v in paths.items()}
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary, out)


def _print_summary(s: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    mt, d = s["metrics"], s["data"]
    typer.echo(f"model {s['model']['architecture']} ({s['model']['n_params']:,} parameters, d={s['model']['d']}); "
               f"m={d['m']} contexts, {mt.get('n_groups_multi')} support groups with >= 2 contexts, "
               f"V={d['V']} measured tokens, H={mt['entropy_bound']:.4f}")
    wh = s["wh_check"]
    typer.echo(f"L = W H{' + b' if wh['bias'] else ''}: relative error {wh['rel_err']:.2e} ({'ok' if wh['holds'] else 'NOT an affine map of H'})")
    t = Table("check", "verdict", "numbers")
    for v in s["verdicts"]:
        t.add_row(v["check"], v["status"], v["detail"])
    from rich.console import Console

    Console().print(t)
    typer.echo(f"wrote {out}")


# ------------------------------------------------------------------------------------------------ report
def write_probe_report(result: Any, out_dir: str | Path) -> Path:
    """Figures and a self-contained ``index.html`` for a :class:`~ntpgeom.probe.ProbeResult` in ``out_dir``.

    Uses the report layer's figure and HTML helpers, so it reads like ``ntpgeom report``. Returns the index path.
    """
    try:
        from ..report import figures as F
        from ..report import html as Hh
    except ImportError as exc:  # the report layer is a sibling module; keep the probe usable without it
        raise NTPGeomError(f"the report layer is not available ({exc}); rerun with --no-report") from exc
    return _build_report(result, Path(out_dir), F, Hh)


def _heat_order(data: Any, max_contexts: int, seed: int = 0) -> Any:
    """Contexts to draw: those in support groups of >= 2 contexts (largest groups first, then by index), topped up
    with singletons, at most ``max_contexts``."""
    import numpy as np

    g = np.asarray(data.support_groups)
    sizes = np.bincount(g)
    order = np.lexsort((np.arange(data.m), g, -sizes[g]))
    return order[:max_contexts]


def _build_report(result: Any, out: Path, F: Any, Hh: Any) -> Path:
    import numpy as np

    from .._io import write_text_atomic
    from ..metrics import corr_from_gram, corr_map
    from ..report.style import CORR_CMAP, new_figure, save, styled
    from ..theory import L_in, proj_F

    data, mt, th = result.data, result.metrics, result.theory
    s = result.summary()
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    order = _heat_order(data, 300)
    g = np.asarray(data.support_groups)[order]
    H = result.H[:, order]
    panels = [("model: corr(H)", corr_map(H)), ("model: corr(H − mean)", corr_map(H - result.H.mean(axis=1, keepdims=True)[:, :1]))]
    if th.G_H_proxy is not None:
        panels.append(("proxy: corr from (S̃ᵀS̃)^½", corr_from_gram(th.G_H_proxy[np.ix_(order, order)])))
    if th.H_mm is not None:
        panels.append(("theory: corr(H_mm)", corr_map(th.H_mm[:, order])))
    cuts = np.flatnonzero(np.diff(g)) + 0.5
    n_multi = int(mt.get("n_contexts_in_multi") or 0)
    with styled():
        fig = new_figure(3.3 * len(panels) + 0.6, 3.5)
        axes = fig.subplots(1, len(panels))
        for ax, (name, A) in zip(np.atleast_1d(axes), panels):
            im = ax.imshow(A, cmap=CORR_CMAP, vmin=-1, vmax=1, aspect="auto")
            ax.grid(False)
            ax.set_title(name)
            ax.set_xticks([])
            ax.set_yticks([])
            if len(cuts) <= 60:
                for c in cuts:
                    ax.axvline(c, color="k", lw=0.3, alpha=0.5)
                    ax.axhline(c, color="k", lw=0.3, alpha=0.5)
            if n_multi < len(order):
                ax.axvline(min(n_multi, len(order)) - 0.5, color="k", lw=1.0)
                ax.axhline(min(n_multi, len(order)) - 0.5, color="k", lw=1.0)
        fig.colorbar(im, ax=list(np.atleast_1d(axes)), fraction=0.02, pad=0.01)
        fig.suptitle(f"{len(order)} contexts ordered by support group (largest first; thick line: end of groups with >= 2 contexts)", y=1.03)
        p_geom = save(fig, figs / "probe_geometry.png")

        fig = new_figure(13.5, 3.6)
        ax1, ax2, ax3 = fig.subplots(1, 3)
        Lin = th.L_in
        PF = proj_F(result.L, data)
        P = data.P
        col = np.repeat(np.arange(data.m), np.diff(P.indptr))
        x, y = Lin[P.indices, col], PF[P.indices, col]
        keep = data.support_sizes[col] >= 2
        ax1.scatter(x[keep], y[keep], s=4, alpha=0.35, color="#0072B2", rasterized=True)
        xl = float(np.abs(x[keep]).max()) if keep.any() else 1.0
        yl = float(np.abs(y[keep]).max()) if keep.any() else 1.0
        xl, yl = xl or 1.0, yl or 1.0
        t = np.linspace(-xl, xl, 3)
        ax1.plot(t, t, color="k", lw=0.8, label="P_F(L) = L_in")
        a = mt.get("softlabel_scale")
        if a and np.isfinite(a) and a != 0:
            ax1.plot(t, t / a, color="#D55E00", lw=0.8, ls="--", label=f"best fit P_F(L) = L_in / {a:.3g}")
        ax1.set_xlim(-1.05 * xl, 1.05 * xl)
        ax1.set_ylim(-1.05 * max(yl, xl), 1.05 * max(yl, xl))
        ax1.set_xlabel("corpus in-support log-odds L_in")
        ax1.set_ylabel("model P_F(L)")
        ax1.set_title(f"F part: rel. error {mt['softlabel_rel']:.2f}, cos {mt['softlabel_cos']:.2f}")
        ax1.legend(loc="upper left")
        names, vals, bases, sds = [], [], [], []
        for key, label in (("collapse_H", "H"), ("collapse_Hc", "H − mean"), ("collapse_Lperp", "P_⊥(L)")):
            v = mt.get(key)
            if v is not None and np.isfinite(v):
                names.append(label)
                vals.append(v)
                bases.append(mt.get(key + "_base", np.nan))
                sds.append(mt.get(key + "_base_std", np.nan))
        xs = np.arange(len(names))
        ax2.bar(xs - 0.2, vals, width=0.4, color="#0072B2", label="support grouping")
        ax2.bar(xs + 0.2, bases, width=0.4, yerr=sds, color="#bbbbbb", label="random grouping (mean ± sd)")
        for xi, v in zip(xs, vals):
            ax2.text(xi - 0.2, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        ax2.set_xticks(xs, names)
        ax2.set_ylim(0, 1.05)
        ax2.set_title("subspace-collapse index (0 = collapsed)")
        ax2.legend(loc="lower right")
        mass = np.bincount(col, weights=np.exp(result.L[P.indices, col] - result.lse[col]), minlength=data.m)
        ax3.hist(mass, bins=30, color="#009E73")
        ax3.set_xlabel("probability on the support")
        ax3.set_ylabel("contexts")
        ax3.set_title(f"support mass (π-weighted mean {mt['support_mass']:.2f})")
        p_logit = save(fig, figs / "probe_logits.png")

    model = s["model"]
    q = model.get("quantization") or {}
    head = [
        ("model", model.get("name_or_path") or model["path"]), ("architecture", model["architecture"]),
        ("parameters", model["n_params"]), ("d", model["d"]), ("model vocabulary", model["V_model"]),
        ("tied unembedding", model["tied_unembedding"]), ("output bias", model["head_bias"]),
        ("GGUF file", model.get("gguf_file")), ("GGUF tensor types", json.dumps(q.get("tensor_types")) if q else None),
    ]
    d = s["data"]
    dat = [
        ("text", s["config"]["text"]), ("context length T-1", d["context_len"]), ("contexts m", d["m"]),
        ("measured tokens V (support + sampled)", d["V"]),
        ("support tokens", data.meta.get("n_support_tokens")), ("distinct supports", d["distinct_supports"]),
        ("support groups with >= 2 contexts", mt.get("n_groups_multi")), ("contexts in them", mt.get("n_contexts_in_multi")),
        ("entropy bound ℋ", d["entropy_bound"]), ("data hash", s["data_hash"]),
    ]
    wh = s["wh_check"]
    keys = ["ce_full", "gap_full", "support_mass", "ce_in", "gap_in", "softlabel_rel", "softlabel_cos",
            "softlabel_scale", "softlabel_scaled_rel", "frac_F", "collapse_H", "collapse_H_base", "collapse_H_base_std",
            "collapse_Hc", "collapse_Hc_base", "collapse_Lperp", "collapse_Lperp_base", "sim_H_proxy", "pearson_H_proxy",
            "sim_Hc_proxy", "pearson_Hc_proxy", "sim_W_proxy", "pearson_W_proxy", "sim_H_mm", "pearson_H_mm",
            "sim_W_mm", "pearson_W_mm", "dir_perp_tilde", "dir_perp_mm", "slr_R", "slr_resid", "solved", "solve_reason",
            "svm_gap", "certificate_holds", "n_contexts_sampled"]
    vrows = "".join(
        f"<tr><td>{Hh.esc(v['check'])}</td><td class='{ {'yes': 'pass', 'no': 'FAIL'}.get(v['status'], 'na') }'>"
        f"{Hh.esc(v['status'])}</td><td class='note'>{Hh.esc(v['detail'])}</td></tr>" for v in s["verdicts"]
    )
    body = [
        f"<h1>Probe: {Hh.esc(model['architecture'])} on {Hh.esc(Path(str(s['config']['text'] or 'text')).name)}</h1>",
        "<p class='note'>H = final hidden state at the last position after the model's final norm; W = the unembedding; "
        "L = the model's logits on the measured tokens (every support token plus a seeded sample of the others). "
        "Compared against the corpus's support pattern (theory.md §§3-5).</p>",
        "<h2>Verdicts</h2>", f"<table><tr><th>prediction</th><th>holds?</th><th>numbers</th></tr>{vrows}</table>",
        "<h2>Model</h2>", Hh.kv_table(head),
        f"<p>L = W H{' + b' if wh['bias'] else ''}: max |error| {Hh.fmt(wh['max_abs_err'])}, relative "
        f"{Hh.fmt(wh['rel_err'])} ({'verified' if wh['holds'] else 'NOT an affine map of H'}).</p>",
        "<h2>Data</h2>", Hh.kv_table(dat),
        "<h2>Geometry</h2>", Hh.figure(p_geom, "corr(H) of the model next to the predicted maps"),
        Hh.figure(p_logit, "F part of the logits vs L_in; collapse index vs random grouping; mass on the supports"),
        "<h2>Measurements</h2>", Hh.kv_table([(k, mt.get(k)) for k in keys if k in mt]),
        Hh.details("summary.json", s),
    ]
    index = out / "index.html"
    write_text_atomic(index, Hh.page(f"ntpgeom probe: {model['architecture']}", "\n".join(body)))
    return index
