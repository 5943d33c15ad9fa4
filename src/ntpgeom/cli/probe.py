"""``ntpgeom probe``: measure a pretrained causal LM's last-layer geometry against a corpus's support pattern."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

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
    from .. import validate
    from ..probe import ProbeError, probe
    from ..probe.model import check_device
    from ..probe.run import check_out_dir

    solve_word = validate.choice("--solve", solve.lower(), ("auto", "yes", "no"), error=ProbeError)
    solve_opt: Any = {"auto": "auto", "yes": True, "no": False}[solve_word]
    validate.input_file("--text", text, error=ProbeError)
    for name, v in (("--context-len", context_len), ("--max-contexts", max_contexts), ("--batch-size", batch_size),
                    ("--n-perm", n_perm)):
        validate.positive_int(name, v, error=ProbeError)
    validate.nonneg_int("--n-other", n_other, error=ProbeError)
    validate.real("--min-count", min_count, lo=0, error=ProbeError)
    validate.seed("--seed", seed, error=ProbeError)
    validate.choice("--dtype", dtype, ("float32", "bfloat16", "float16"), error=ProbeError)
    check_device(device)
    check_out_dir(out)
    if threads is not None:
        validate.positive_int("--threads", threads, error=ProbeError)
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
            from ..report.probe_report import write_probe_report

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
