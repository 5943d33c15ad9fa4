"""``ntpgeom train``: train a UFM / transformer / LSTM / MLP, or a linear head on frozen features (``--model linear
--features FILE``: H of shape (d, m) in a .npy/.npz), on a dataset and write a run folder.

The hyper-parameter options are generated from the fields of :class:`ntpgeom.train.TrainConfig` (name, type, help),
so the command line and the API cannot drift apart; fields that are not plain values are listed in :data:`NOT_ON_CLI`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

from ..train.config import TrainConfig
from ._common import config_options as _config_options
from ._common import err_console, json_option, out_option, overwrite_option, print_json, with_options

NOT_ON_CLI = {"betas": "a pair (API only)", "snapshot_steps": "a list of steps (API only)"}


def _resolve_data(data: Optional[str]) -> Any:
    from ..data import corpora

    if data is None:
        return None
    p = Path(data)
    if not p.exists() and data in corpora.BUILTIN:
        return corpora.BUILTIN[data]()
    return p  # a missing file raises NTPDataError inside train(), before any work


def config_options() -> dict[str, inspect.Parameter]:
    """One ``--option`` per TrainConfig field (``--x/--no-x`` for booleans); default None = "not given"."""
    return _config_options(TrainConfig, skip=NOT_ON_CLI)


def train_cmd(data: Optional[str] = None, out: Path = Path(), resume: bool = False, overwrite: bool = False,
              as_json: bool = False, log: Optional[str] = None, **options: Any) -> None:
    """Train a model on NTP data, snapshotting W, H and L at log-spaced steps into a run folder."""
    from ..train import TrainInterrupted, train
    from ..progress import ProgressBar, silent
    from ..train.progress import training_callback

    src = _resolve_data(data)
    bar = ProgressBar(str(options.get("model") or "train"))  # rich on a terminal, plain lines in a log
    progress, stop = silent if as_json else training_callback(bar), bar.close  # --json: no bar (train's default)
    try:
        run = train(src, out=out, resume=resume, overwrite=overwrite, progress=progress, log=log,
                    **options)
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
    inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Path, default=out_option("Run folder to write.")),
    inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--resume", help="Continue the run in -o from its checkpoint.")),
    inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=overwrite_option("run folder")),
    inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=json_option()),
    inspect.Parameter("log", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
        None, "--log", help="Also log the training curves to a tracker: tensorboard (event files under the run "
        "folder; needs the track extra) | trackio (a local trackio project).")),
]
train_cmd.__signature__ = with_options(_FIXED, config_options())  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
