"""``ntpgeom probe``: measure a pretrained causal LM's last-layer geometry against a corpus's support pattern."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer

from ..progress import Progress
from ._common import err_console, print_json


def register(app: typer.Typer) -> None:
    app.command("probe")(probe_command)


def probe_command(
    model: Optional[Path] = typer.Option(None, "--model", help="Local model folder (config.json + safetensors), a folder with a GGUF file, or a .gguf file."),
    text: Optional[Path] = typer.Option(None, "--text", help="UTF-8 corpus file."),
    context_len: Optional[int] = typer.Option(None, "--context-len", "-T", help="Tokens per context (T-1)."),
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
    solve_budget: Optional[float] = typer.Option(None, "--solve-budget", help="Seconds for the NTP-SVM* solve (large solver's time limit; implies solving): stopped early, the best certified point and its gap are the reference."),
    measure_contexts: Optional[int] = typer.Option(None, "--measure-contexts", help="Measure on a seeded sample of N contexts (the theory stays that of all contexts)."),
    theory: Optional[Path] = typer.Option(None, "--theory", help="Theory of this probe's data (`ntpgeom solve OUT/data.npz -o THEORY.npz`), checked by data hash."),
    from_dir: Optional[Path] = typer.Option(None, "--from", help="Measure a saved probe folder again (no model, no text): e.g. with --theory solved elsewhere."),
    n_perm: int = typer.Option(20, "--n-perm", help="Random groupings for the collapse-index baseline."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's choice)."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report and figures."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON summary on stdout."),
) -> None:
    """Probe a pretrained causal LM: does it show the predicted sparse plus low-rank geometry on a real text?"""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from .. import validate
    started = time.perf_counter()  # the report's total wall time
    from ..probe import ProbeError, probe
    from ..probe.model import check_device
    from ..probe.run import check_out_dir

    solve_word = validate.choice("--solve", solve.lower(), ("auto", "yes", "no"), error=ProbeError)
    solve_opt: Any = {"auto": "auto", "yes": True, "no": False}[solve_word]
    if solve_budget is not None:
        validate.real("--solve-budget", solve_budget, lo=0, error=ProbeError)
        if solve_budget <= 0 or solve_opt is False:
            raise ProbeError("--solve-budget needs a positive number of seconds and --solve auto or yes")
    if measure_contexts is not None:
        validate.positive_int("--measure-contexts", measure_contexts, error=ProbeError)
    if theory is not None:
        validate.input_file("--theory", theory, error=ProbeError)
    check_out_dir(out)
    if from_dir is not None:
        return _remeasure(from_dir, out, theory, solve_opt, solve_budget, no_report, as_json, started,
                          None if n_perm == 20 else n_perm, None if seed == 0 else seed)
    missing = [f for f, v in (("--model", model), ("--text", text), ("--context-len", context_len)) if v is None]
    if missing:
        raise ProbeError(f"missing option(s) {', '.join(missing)}: a probe needs a model, a text and a context length "
                         "(or --from DIR to measure a saved probe again)")
    validate.input_file("--text", text, error=ProbeError)
    for name, v in (("--context-len", context_len), ("--max-contexts", max_contexts), ("--batch-size", batch_size),
                    ("--n-perm", n_perm)):
        validate.positive_int(name, v, error=ProbeError)
    validate.nonneg_int("--n-other", n_other, error=ProbeError)
    validate.real("--min-count", min_count, lo=0, error=ProbeError)
    validate.seed("--seed", seed, error=ProbeError)
    validate.choice("--dtype", dtype, ("float32", "bfloat16", "float16"), error=ProbeError)
    check_device(device)
    if threads is not None:
        validate.positive_int("--threads", threads, error=ProbeError)
        import torch

        torch.set_num_threads(threads)
    with _bar(as_json) as (stage, progress):
        result = probe(model, Path(text), context_len, gguf_file=gguf_file, max_contexts=max_contexts,
                       min_count=min_count, n_other=n_other, doc_sep=doc_sep, normalize_whitespace=not keep_whitespace,
                       batch_size=batch_size, device=device, dtype=dtype, solve=solve_opt, solve_budget=solve_budget,
                       measure_contexts=measure_contexts, theory=theory, n_perm=n_perm, seed=seed,
                       progress=progress, stage=stage)
        paths = _write(result, out, no_report, started, stage)
    _finish(result, paths, out, as_json)


@contextmanager
def _bar(as_json: bool) -> Iterator[tuple[Callable[[str], None], Progress]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json and not err_console.is_terminal) as bar:
        task = bar.add_task("loading", total=None)
        yield (lambda s: bar.update(task, description=s)), (lambda s, d=None, t=None, n=None: bar.update(task, completed=d, total=t))


def _write(result: Any, out: Path, no_report: bool, started: float, stage: Callable[[str], None]) -> dict[str, Any]:
    stage("writing")
    paths = result.save(out)
    if not no_report:
        from ..report.probe_report import write_probe_report

        paths["report"] = write_probe_report(result, out, started=started)
    return paths


def _remeasure(from_dir: Path, out: Path, theory: Optional[Path], solve: Any, solve_budget: Optional[float],
               no_report: bool, as_json: bool, started: float, n_perm: Optional[int], seed: Optional[int]) -> None:
    from ..probe import remeasure

    with _bar(as_json) as (stage, _progress):
        result = remeasure(from_dir, theory, solve=solve, solve_budget=solve_budget, n_perm=n_perm, seed=seed,
                           stage=stage)
        paths = _write(result, out, no_report, started, stage)
    _finish(result, paths, out, as_json)


def _finish(result: Any, paths: dict[str, Any], out: Path, as_json: bool) -> None:
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
    from ..report.probe_report import reference_line

    typer.echo(f"reference: {reference_line(mt)}")
    typer.echo(f"L = W H{' + b' if wh['bias'] else ''}: relative error {wh['rel_err']:.2e} ({'ok' if wh['holds'] else 'NOT an affine map of H'})")
    t = Table("check", "verdict", "numbers")
    for v in s["verdicts"]:
        t.add_row(v["check"], v["status"], v["detail"])
    from rich.console import Console

    Console().print(t)
    typer.echo(f"wrote {out}")
