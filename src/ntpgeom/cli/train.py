"""``ntpgeom train``: train a UFM / transformer / LSTM / MLP on a dataset and write a run folder.

The hyper-parameter options are generated from the fields of :class:`ntpgeom.train.TrainConfig` (name, type, help),
so the command line and the API cannot drift apart; fields that are not plain values are listed in :data:`NOT_ON_CLI`.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any, Optional

import typer

from ..train.config import FIELDS, TrainConfig
from ._common import err_console, print_json

NOT_ON_CLI = {"betas": "a pair (API only)", "snapshot_steps": "a list of steps (API only)"}
_SCALARS = (bool, int, float, str)


def _resolve_data(data: Optional[str]) -> Any:
    from ..data import corpora

    if data is None:
        return None
    p = Path(data)
    if not p.exists() and data in corpora.BUILTIN:
        return corpora.BUILTIN[data]()
    return p  # a missing file raises NTPDataError inside train(), before any work


def _scalar_type(name: str) -> type:
    hint = typing.get_type_hints(TrainConfig)[name]
    kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    if len(kinds) != 1 or kinds[0] not in _SCALARS:
        raise TypeError(f"TrainConfig.{name}: {hint} has no command-line form; add it to NOT_ON_CLI")
    return kinds[0]


def config_options() -> dict[str, inspect.Parameter]:
    """One ``--option`` per TrainConfig field (``--x/--no-x`` for booleans); default None = "not given"."""
    out = {}
    for name, f in FIELDS.items():
        if name in NOT_ON_CLI:
            continue
        kind = _scalar_type(name)
        flag = "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        option = typer.Option(None, *decls, help=f"{f.metadata['help']} [default: {f.default}]", show_default=False)
        out[name] = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[kind])
    return out


def train_cmd(data: Optional[str] = None, out: Path = Path(), resume: bool = False, overwrite: bool = False,
              as_json: bool = False, **options: Any) -> None:
    """Train a model on NTP data, snapshotting W, H and L at log-spaced steps into a run folder."""
    from ..train import TrainInterrupted, train
    from ..progress import ProgressBar
    from ..train.progress import training_callback

    src = _resolve_data(data)
    bar = ProgressBar(str(options.get("model") or "train"))  # rich on a terminal, plain lines in a log
    progress, stop = None if as_json else training_callback(bar), bar.close
    try:
        run = train(src, out=out, resume=resume, overwrite=overwrite, progress=progress, **options)
    except TrainInterrupted as exc:
        stop()
        err_console.print(f"interrupted at step {exc.step}; resume with: ntpgeom train -o {exc.path} --resume",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:  # before training started: nothing to resume
        stop()
        err_console.print("interrupted before training started", highlight=False)
        raise typer.Exit(130) from None
    finally:
        stop()
    s = run.summary()
    if as_json:
        print_json({**s, "config": run.config})
        return
    gap = f"{s['gap']:.3e}" if s["gap"] is not None else "n/a"
    typer.echo(f"{s['status']} ({s['stop_reason']}): {s['model']} d={s['d']} step {s['final_step']}  "
               f"CE {s['ce']:.5f}  H {s['entropy_bound']:.5f}  gap {gap}  |L| {s['norm_L']:.4g}  "
               f"{s['snapshots']} snapshots  {s['steps_per_second']} steps/s  -> {s['path']}")
    if "gap_by_length" in s:
        typer.echo("CE_T - H_T by context length: " + "  ".join(f"{T}: {g:.3e}" for T, g in s["gap_by_length"].items()))


_FIXED = [
    inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[str], default=typer.Argument(
        None, help="Dataset file (.npz) or a built-in corpus name (synthetic, stories); optional with --resume.")),
    inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
                      default=typer.Option(..., "-o", "--out", help="Run folder to write.")),
    inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--resume", help="Continue the run in -o from its checkpoint.")),
    inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--overwrite", help="Replace an existing run folder (only one written by ntpgeom).")),
    inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--json", help="Print the summary as JSON (no progress bar).")),
]
train_cmd.__signature__ = inspect.Signature(_FIXED + list(config_options().values()))  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
