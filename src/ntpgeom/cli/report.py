"""``ntpgeom report RUN... -o DIR`` and ``ntpgeom reproduce``: measurements, figures, verdicts, the HTML report."""

from __future__ import annotations

import inspect
import shlex
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer

from .. import validate
from ._common import config_options, given, json_option, make_config, out_option, print_json, with_options

#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def _parse_seeds(text: str | None) -> list[int] | None:
    from ..report.reproduce import ReproduceError

    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ReproduceError(f"--seeds takes comma-separated integers like 0,1,2, got {text!r}") from None
    if not seeds:
        raise ReproduceError(f"--seeds takes comma-separated integers like 0,1,2, got {text!r}")
    return [validate.seed("--seeds", s, error=ReproduceError) for s in seeds]


def resume_command(argv: list[str]) -> str:
    """The command line that resumes an interrupted ``reproduce``: the same options, ``--resume`` instead of
    ``--overwrite``."""
    args = [a for a in argv if a != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(["ntpgeom", *args])


def register(app: typer.Typer) -> None:
    """Add the top-level commands ``report`` and ``reproduce`` to the app."""
    _register_report(app)
    _register_reproduce(app)


def _register_report(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(runs: List[Path], out: Path, theory: Optional[List[Path]] = None, as_json: bool = False,
                   quiet: bool = False, **options: Any) -> None:
    """Measure runs against the theory and write a self-contained HTML report with a verdict table."""
    from ..errors import ReportError
    from ..report.build import build_report, verdict_json
    from ..report.config import CONSTRAINTS, ReportConfig
    from ..report.jobs import printer
    from ..report.terminal import print_verdicts
    from ..theory import load_theory

    t0 = time.perf_counter()
    config = make_config(ReportConfig, given(options), CONSTRAINTS, ReportError)
    theories = {}
    for p in theory or []:
        th = load_theory(p)
        theories[th.data_hash] = th
    say = (lambda _m: None) if quiet or as_json else printer()
    try:
        res = build_report(runs, out, config, theories=theories, progress=say, started=t0)
    except KeyboardInterrupt:
        typer.echo(f"interrupted; nothing was written to {out}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        print_json({"report": str(res.path), "verdicts": verdict_json(res)})
    else:
        print_verdicts(res.views)
        typer.echo(f"\nreport: {res.path}")


def _report_options() -> dict[str, inspect.Parameter]:
    from ..report.config import CLI_FIELDS, ReportConfig

    return config_options(ReportConfig, CLI_FIELDS)


_K = inspect.Parameter.KEYWORD_ONLY
report_command.__signature__ = with_options([  # type: ignore[attr-defined]
    inspect.Parameter("runs", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=List[Path], default=typer.Argument(
        ..., help="Run folders (written by `ntpgeom train` or `ntpgeom reproduce`).")),
    inspect.Parameter("out", _K, annotation=Path,
                      default=out_option("Report folder (index.html, figures, metrics tables).")),
    inspect.Parameter("theory", _K, annotation=Optional[List[Path]], default=typer.Option(
        None, "--theory", help="Precomputed theory file(s) (`ntpgeom solve -o` output); computed when absent.")),
    inspect.Parameter("as_json", _K, annotation=bool, default=json_option()),
    inspect.Parameter("quiet", _K, annotation=bool, default=typer.Option(False, "-q", "--quiet", help="No progress lines.")),
], _report_options())


def _print_controls(tables: Sequence[Any]) -> None:
    """The controls of every dataset, each in its own table, and one line saying whether every impostor was rejected."""
    from ..report.html import verdict_view
    from ..report.terminal import print_verdicts

    for t in tables:
        typer.echo(f"\n{t.title} (the prediction must pass; each impostor must fail the claim it imitates)")
        print_verdicts([verdict_view(v) for v in t.rows])
        typer.echo("  every impostor rejected" if not t.violations else
                   "  VERDICT BUG, an impostor passed: " + "; ".join(t.violations))


def _register_reproduce(app: typer.Typer) -> None:
    @app.command("reproduce")
    def reproduce(
        quick: bool = typer.Option(False, "--quick", help="Seconds instead of minutes: only the runs that pass every "
                                   "claim within seconds (the 'stories' transformer and LSTM need the default budget)."),
        out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output folder (default: RUNS_DIR/NAME)."),
        text: Optional[Path] = typer.Option(
            None, "--text", help="Run the same pipeline on your own UTF-8 corpus instead of the built-in data."),
        name: Optional[str] = typer.Option(None, "--name", help="Alias: output RUNS_DIR/NAME (default: reproduce, "
                                           "reproduce-quick, or text-<file stem>)."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Alias: parent folder of the output."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
        resume: bool = typer.Option(False, "--resume", help="Continue an existing output: finished runs are reused, "
                                    "interrupted ones resume from their checkpoint."),
        threads: int = typer.Option(1, "--threads", min=1, help="Torch/BLAS threads; with N > 1, long independent runs "
                                    "(the default budget) train in N parallel processes of 1 thread each; short ones on 1 thread."),
        experiment: Optional[List[str]] = typer.Option(
            None, "--experiment", "-e", help="Only these experiments: ufm-synthetic, synthetic, stories, and the appendix "
            "ones mlp, optimizers, autoregressive, bottleneck ('appendix': all four) (repeatable)."),
        appendix: bool = typer.Option(False, "--appendix", help="Also run the appendix experiments (D.2 MLP, D.3 "
                                      "autoregressive, D.4 d < V, optimisers vs the regularisation path); with "
                                      "--quick a smoke size."),
        context_len: int = typer.Option(5, "--context-len", help="--text: tokens per context."),
        tokenizer: str = typer.Option("word", "--tokenizer", help="--text: word | char | bpe:<size> | tokenizer.json."),
        max_vocab: int = typer.Option(128, "--max-vocab", help="--text: keep this many next tokens (rest -> <unk>)."),
        max_contexts: int = typer.Option(500, "--max-contexts", help="--text: keep the most frequent contexts (training "
                                         "time grows with this; 500 keeps the default budget near the built-in one)."),
        seed: int = typer.Option(0, "--seed", help="Training seed."),
        seeds: Optional[str] = typer.Option(None, "--seeds", help="Several training seeds, e.g. 0,1,2 (every run once "
                                            "per seed)."),
        dpi: int = typer.Option(150, "--dpi", min=20, max=600, help="PNG resolution of the figures."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
        paper_scale: bool = typer.Option(False, "--paper-scale", help="With --text: the paper's TinyStories settings "
                                         "(BPE 128, context length 6, all contexts; the UFM and the 12-layer d=256 "
                                         "transformer on mini-batches, measured on a fixed subset of 2000 contexts). "
                                         "Minutes on a GPU; on a CPU it prints how long that would take and runs a "
                                         "smaller budget."),
        paper_budget: str = typer.Option("auto", "--paper-budget", help="--paper-scale: auto (full on CUDA, reduced "
                                         "on a CPU) | full | reduced."),
    ) -> None:
        """Reproduce the paper's experiments end to end; print the verdict table and the report path."""
        from ..report.jobs import ReproduceInterrupted
        from ..report.reproduce import reproduce as _reproduce
        from ..report.terminal import print_verdicts

        if out is None:
            if name is None:
                name = (f"text-{text.stem}{'-paper-scale' if paper_scale else ''}" if text is not None else
                        ("reproduce-quick" if quick else "reproduce"))
            out = runs_dir / name
        try:
            res = _reproduce(out, quick=quick, text=text, experiments=experiment or None, context_len=context_len,
                             tokenizer=tokenizer, max_vocab=max_vocab, max_contexts=max_contexts, seed=seed,
                             seeds=_parse_seeds(seeds), threads=threads, overwrite=overwrite, resume=resume, dpi=dpi,
                             appendix=appendix, paper_scale=paper_scale, paper_budget=paper_budget)
        except ReproduceInterrupted as exc:
            typer.echo(f"{exc}\ninterrupted; resume with: {resume_command(sys.argv[1:])}", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if as_json:
            from ..report.build import verdict_json

            print_json({"report": str(res.report_path), "out": str(res.out), "seconds": res.seconds,
                        "reused": list(res.reused), "verdicts": verdict_json(res.report),
                        "controls": [t.as_dict() for t in res.controls],
                        "appendix": [{"name": a.name, "figure": str(a.figure), "summary": a.summary,
                                      "numbers": a.numbers} for a in res.report.appendix]})
        else:
            if res.report.views:
                print_verdicts(res.report.views)
            _print_controls(res.controls)
            for a in res.report.appendix:  # the appendix experiments (report/appendix.py)
                typer.echo(f"\n{a.title}: {a.summary}")
            typer.echo(f"\nreport: {res.report_path}\n(total {res.seconds:.0f}s)")
