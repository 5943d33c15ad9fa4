"""``ntpgeom report RUN... -o DIR`` and ``ntpgeom reproduce``: measurements, figures, verdicts, the HTML report."""

from __future__ import annotations

import inspect
import shlex
import sys
import time
import typing
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer

from .. import validate
from ._common import config_options, given, json_option, make_config, out_option, print_json, with_options

#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def _parse_seeds(text: str | None) -> list[int] | None:
    from ..errors import ReproduceError

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
    from ..experiments.jobs import printer
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


def _option_type(hint: Any) -> type:
    kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    return Path if Path in kinds else kinds[0]


def reproduce_options() -> list[inspect.Parameter]:
    """One ``--option`` per :class:`~ntpgeom.experiments.ReproduceConfig` field marked ``cli`` (its type, default and
    help from the field; ``--x/--no-x`` for a boolean that defaults to True)."""
    from ..experiments.config import FIELDS, ReproduceConfig

    hints = typing.get_type_hints(ReproduceConfig)
    out = []
    for name, f in FIELDS.items():
        if not f.metadata["cli"]:
            continue
        kind, flag = _option_type(hints[name]), "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool and f.default else [flag]
        optional = f.default is None or type(None) in typing.get_args(hints[name])
        out.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[kind] if optional
                                     else kind, default=typer.Option(f.default, *decls, help=f.metadata["help"])))
    return out


def reproduce_cmd(out: Optional[Path] = None, name: Optional[str] = None, runs_dir: Path = Path("runs"),
                  experiment: Optional[List[str]] = None, seeds: Optional[str] = None, as_json: bool = False,
                  **options: Any) -> None:
    """Reproduce the paper's experiments end to end; print the verdict table and the report path."""
    from ..experiments import ReproduceConfig, ReproduceInterrupted
    from ..experiments import reproduce as _reproduce

    if out is None:
        text = options.get("text")
        if name is None:
            name = (f"text-{text.stem}{'-paper-scale' if options.get('paper_scale') else ''}" if text is not None else
                    ("reproduce-quick" if options.get("quick") else "reproduce"))
        out = runs_dir / name
    try:
        config = ReproduceConfig(out=out, experiments=tuple(experiment) if experiment else None,
                                 seeds=_parse_seeds(seeds), **options)
        res = _reproduce(config)
    except ReproduceInterrupted as exc:
        typer.echo(f"{exc}\ninterrupted; resume with: {resume_command(sys.argv[1:])}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_reproduce(res, as_json)


def _print_reproduce(res: Any, as_json: bool) -> None:
    from ..report.terminal import print_verdicts

    if as_json:
        from ..report.build import verdict_json

        print_json({"report": str(res.report_path), "out": str(res.out), "seconds": res.seconds,
                    "reused": list(res.reused), "verdicts": verdict_json(res.report),
                    "controls": [t.as_dict() for t in res.controls],
                    "honest_controls": [h.as_dict() for h in res.honest],
                    "power": [r.as_dict() for r in res.power],
                    "appendix": [{"name": a.name, "figure": str(a.figure), "summary": a.summary,
                                  "numbers": a.numbers} for a in res.report.appendix]})
        return
    if res.report.views:
        print_verdicts(res.report.views)
    _print_controls(res.controls)
    if res.honest:  # plain-GD controls judged over their trajectories, and the power table
        from ..verdicts.honest import power_text

        typer.echo("".join(f"\n{h.text()}\n" for h in res.honest) + "\n" + power_text(res.power))
    for a in res.report.appendix:  # the appendix experiments (ntpgeom.experiments)
        typer.echo(f"\n{a.title}: {a.summary}")
    typer.echo(f"\nreport: {res.report_path}\n(total {res.seconds:.0f}s)\n")
    _print_summary(res)


def _print_summary(res: Any) -> None:
    """The run x claim matrix and the one-line summary: the last lines of ``reproduce`` (report/terminal.py)."""
    from ..report.terminal import print_summary

    judged = sum(r.positives + r.negatives for r in res.power)
    honest = (sum(r.passed + r.rejected for r in res.power), judged) if judged else None
    print_summary(res.report.views, controls_ok=not any(t.violations for t in res.controls) if res.controls else None,
                  honest=honest)


def _fixed(name: str, annotation: Any, option: Any, kind: Any = inspect.Parameter.KEYWORD_ONLY) -> inspect.Parameter:
    return inspect.Parameter(name, kind, annotation=annotation, default=option)


#: the options of ``reproduce`` that are not ReproduceConfig fields as they stand (paths, repeatable, parsed, output)
_REPRODUCE_FIXED = [
    _fixed("out", Optional[Path], typer.Option(None, "-o", "--out", help="Output folder (default: RUNS_DIR/NAME).")),
    _fixed("name", Optional[str], typer.Option(None, "--name", help="Alias: output RUNS_DIR/NAME (default: reproduce, "
                                               "reproduce-quick, or text-<file stem>).")),
    _fixed("runs_dir", Path, typer.Option(Path("runs"), "--runs-dir", help="Alias: parent folder of the output.")),
    _fixed("experiment", Optional[List[str]], typer.Option(
        None, "--experiment", "-e", help="Only these experiments: ufm-synthetic, synthetic, stories, and the appendix "
        "ones mlp, optimizers, autoregressive, bottleneck, fingerprint ('appendix': all five) (repeatable).")),
    _fixed("seeds", Optional[str], typer.Option(None, "--seeds", help="Several training seeds, e.g. 0,1,2 (every run "
                                                "once per seed).")),
    _fixed("as_json", bool, typer.Option(False, "--json", help="Machine-readable summary on stdout.")),
]


def _register_reproduce(app: typer.Typer) -> None:
    reproduce_cmd.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        _REPRODUCE_FIXED + reproduce_options())
    app.command("reproduce")(reproduce_cmd)
