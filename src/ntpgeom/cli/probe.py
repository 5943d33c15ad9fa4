"""``ntpgeom probe``: measure a pretrained causal LM's last-layer geometry against a corpus's support pattern."""

from __future__ import annotations

import inspect
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import typer

from ..progress import Progress
from ._common import (config_options, err_console, flag, given, json_option, out_option, overwrite_option,
                      print_json, set_threads, threads_option, with_options)


def register(app: typer.Typer) -> None:
    app.command("probe")(probe_command)


#: ProbeConfig fields whose option is not generated: the command line says them differently
CUSTOM = {"solve": "--solve auto | yes | no", "normalize_whitespace": "--keep-whitespace (the inverse)"}


def probe_command(
    model: Optional[List[str]] = None,
    text: Optional[Path] = None,
    out: Path = Path(),
    overwrite: bool = False,
    keep_whitespace: bool = False,
    solve: str = "auto",
    theory: Optional[Path] = None,
    from_dir: Optional[Path] = None,
    threads: Optional[int] = None,
    no_report: bool = False,
    as_json: bool = False,
    **options: Any,
) -> None:
    """Probe a pretrained causal LM: does it show the predicted sparse plus low-rank geometry on a real text?"""
    os.environ["HF_HUB_OFFLINE"] = "1"
    started = time.perf_counter()  # the report's total wall time
    from .. import validate
    from ..probe import ProbeError, probe
    from ..probe.config import ProbeConfig, check_options
    from ..probe.checkpoints import expand_models
    from ..probe.folder import check_out_dir

    solve_opt: Any = {"auto": "auto", "yes": True, "no": False}[
        validate.choice("--solve", solve.lower(), ("auto", "yes", "no"), error=ProbeError)]
    values = {**given(options), "solve": solve_opt}
    if keep_whitespace:
        values["normalize_whitespace"] = False
    models = expand_models(model or [])
    inputs = [p for p in (*models, text, theory, from_dir) if p is not None and Path(p).exists()]
    check_out_dir(out, inputs, overwrite)
    if from_dir is not None:
        unused = [f for f, v in (("--model", model), ("--text", text)) if v] + [
            f for k, f in _flags(values).items() if k in values and k not in _REMEASURED]
        if unused:  # a saved probe is measured again as it was extracted: these would be silently ignored
            raise ProbeError(f"--from {from_dir} measures a saved probe again; {', '.join(unused)} cannot change it "
                             "(drop them, or probe the model afresh without --from)")
        return _remeasure(from_dir, (out, inputs, overwrite), theory, values, no_report, as_json, started)
    missing = [f for f, v in (("--model", models), ("--text", text), ("--context-len", values.get("context_len")))
               if v is None]
    if missing:
        raise ProbeError(f"missing option(s) {', '.join(missing)}: a probe needs a model, a text and a context length "
                         "(or --from DIR to measure a saved probe again)")
    check_options(values, _flags(values))  # the library's declared constraints, the flags named in the message
    config = ProbeConfig(**values)
    set_threads(threads)
    if len(models) > 1:
        return _series(models, Path(text), config, theory, (out, inputs, overwrite), no_report, as_json, started)
    with _bar() as (stage, progress):
        result = probe(models[0], Path(text), config=config, theory=theory, progress=progress, stage=stage)
        paths = _write(result, (out, inputs, overwrite), no_report, started, stage)
    _finish(result, paths, out, as_json)


_FIXED = [
    inspect.Parameter("model", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[List[str]], default=typer.Option(
        None, "--model", help="Local model folder (config.json + safetensors), a folder with a GGUF file, a .gguf "
        "file, or a Hugging Face name in the local cache (owner/model, never downloaded). Repeat it, or give a glob "
        "(checkpoint-*), to probe a checkpoint series.")),
    inspect.Parameter("text", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                      default=typer.Option(None, "--text", help="UTF-8 corpus file.")),
    inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
                      default=out_option("Output folder (report, arrays, summary.json).")),
    inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=overwrite_option("probe folder")),
    inspect.Parameter("keep_whitespace", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--keep-whitespace", help="Keep line breaks (default: collapse whitespace runs to one space).")),
    inspect.Parameter("solve", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=typer.Option(
        "auto", "--solve", help="Solve NTP-SVM* for L_mm: auto (when small enough) | yes | no.")),
    inspect.Parameter("theory", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path], default=typer.Option(
        None, "--theory", help="Theory of this probe's data (`ntpgeom solve OUT/data.npz -o THEORY.npz`), checked by "
        "data hash.")),
    inspect.Parameter("from_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path], default=typer.Option(
        None, "--from", help="Measure a saved probe folder again (no model, no text): e.g. with --theory solved "
        "elsewhere.")),
    inspect.Parameter("threads", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[int],
                      default=threads_option(None)),
    inspect.Parameter("no_report", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--no-report", help="Skip the HTML report and figures.")),
    inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=json_option()),
]


def _probe_options() -> dict[str, inspect.Parameter]:
    from ..probe.config import ProbeConfig

    return config_options(ProbeConfig, skip=CUSTOM)


probe_command.__signature__ = with_options(_FIXED, _probe_options())  # type: ignore[attr-defined]


@contextmanager
def _bar() -> Iterator[tuple[Callable[[str], None], Progress]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("loading", total=None)
        yield (lambda s: bar.update(task, description=s)), (lambda s, d=None, t=None, n=None: bar.update(task, completed=d, total=t))


def _write(result: Any, target: tuple[Path, list[Any], bool], no_report: bool, started: float,
           stage: Callable[[str], None]) -> dict[str, Any]:
    """Write the probe folder, staged whole and published at the end (``target``: -o, the inputs, --overwrite)."""
    from ..probe.folder import staged

    stage("writing")
    out = target[0].absolute()
    with staged(*target) as tmp:
        paths = result.write(tmp)
        if not no_report:
            from ..report.probe_report import write_probe_report

            paths["report"] = write_probe_report(result, tmp, started=started)
    return {k: out / Path(v).relative_to(tmp) for k, v in paths.items()}


#: the options that count with ``--from`` (the rest shaped the extraction)
_REMEASURED = ("solve", "solve_budget", "n_perm", "seed")


def _flags(values: dict[str, Any]) -> dict[str, str]:
    """The command-line flag of each ProbeConfig field given (``normalize_whitespace``: ``--keep-whitespace``)."""
    return {k: flag(k) for k in values} | {"normalize_whitespace": "--keep-whitespace"}


def _remeasure(from_dir: Path, target: tuple[Path, list[Any], bool], theory: Optional[Path], values: dict[str, Any], no_report: bool,
               as_json: bool, started: float) -> None:
    """``--from DIR``: the saved probe measured again; of the options only the theory's and ``--n-perm``/``--seed``
    count (these default to the saved probe's)."""
    from ..probe import remeasure
    from ..probe.config import check_options

    check_options(values, _flags(values))
    with _bar() as (stage, _progress):
        result = remeasure(from_dir, theory, solve=values["solve"], solve_budget=values.get("solve_budget"),
                           n_perm=values.get("n_perm"), seed=values.get("seed"), stage=stage)
        paths = _write(result, target, no_report, started, stage)
    _finish(result, paths, target[0], as_json)


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
    from ..report.html import status_label

    t = Table("check", "verdict", "numbers")
    for v in s["verdicts"]:
        t.add_row(v["check"], status_label(v["status"]), v["detail"])
    from rich.console import Console

    Console().print(t)
    if len(s.get("layers") or []) > 1:
        Console().print(_layer_table(s["layers"]))
    ff = s.get("fixed_features")
    if ff:
        typer.echo(f"fixed features: W to W_mm {ff['dist_W']:.4g}, P⊥(W H) to W_mm H {ff['dist_L']:.4g}, in-support "
                   f"residual {ff['in_residual']:.3g}; separable {ff['separable']}, compatible {ff['compatible']}; "
                   f"W_mm {ff['status']}{'' if ff['certified'] else ' (NOT certified)'}, gap {ff['gap']:.2g}")
    typer.echo(f"wrote {out}")


def _layer_table(layers: list[dict[str, Any]]) -> Any:
    """Per layer: the logit lens's CE − ℋ and C4, the collapse index, CDNV and RankMe of H."""
    from rich.table import Table

    keys = (("gap_full", "CE − ℋ"), ("softlabel_rel", "C4"), ("collapse_Hc", "C3 index"), ("cdnv", "CDNV"),
            ("rankme", "RankMe"))
    t = Table("layer", *(name for _, name in keys), title="per layer (logit lens; 0 = embedding)")
    for row in layers:
        mt = row["metrics"]
        t.add_row(str(row["index"]), *("—" if mt.get(k) is None else f"{mt[k]:.4g}" for k, _ in keys))
    return t


def _series(models: list[Path], text: Path, config: Any, theory: Optional[Path], target: tuple[Path, list[Any], bool],
            no_report: bool, as_json: bool, started: float) -> None:
    """Several ``--model`` (or a glob): the checkpoint series, judged as a trajectory, written staged."""
    from ..probe.folder import staged
    from ..probe.series import probe_series

    with _bar() as (stage, _progress):
        series = probe_series(models, text, config=config, theory=theory, stage=stage)
        stage("writing")
        with staged(*target) as tmp:
            series.write(tmp)
            if not no_report:
                from ..report.probe_report import write_series_figure

                write_series_figure(series, tmp)
    s = series.summary()
    if as_json:
        print_json(s)
        return
    for c in s["checkpoints"]:
        dup = f" = {c['duplicate_of']} (same weights; measured once)" if c["duplicate_of"] else ""
        typer.echo(f"checkpoint {c['name']} (step {c['step']}): weights {c['weights'][:12]}{dup}")
    if "error" in s["trajectory"]:
        typer.echo(f"trajectory not judged: {s['trajectory']['error']}")
    for v in s["verdicts"]:
        typer.echo(f"{v['check']}: {v['status']} {v.get('detail', '')}")
    typer.echo(f"wrote {target[0]}")
