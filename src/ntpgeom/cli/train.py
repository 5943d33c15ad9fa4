"""``ntpgeom train``: train a UFM / transformer / LSTM / MLP on a dataset and write a run folder."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ._common import err_console, print_json


class ModelKind(str, Enum):
    ufm = "ufm"
    transformer = "transformer"
    lstm = "lstm"
    mlp = "mlp"


def _resolve_data(data: Optional[str]) -> Any:
    from ..data import corpora

    if data is None:
        return None
    p = Path(data)
    if not p.exists() and data in corpora.BUILTIN:
        return corpora.BUILTIN[data]()
    return p  # a missing file raises NTPDataError inside train(), before any work


def train_cmd(
    data: Optional[str] = typer.Argument(None, help="Dataset file (.npz) or a built-in corpus name (synthetic, stories); optional with --resume."),
    out: Path = typer.Option(..., "-o", "--out", help="Run folder to write."),
    model: Optional[ModelKind] = typer.Option(None, "--model", help="ufm | transformer | lstm | mlp (default ufm)."),
    d: Optional[int] = typer.Option(None, "--d", help="Embedding dimension (default: V for ufm, 128 otherwise)."),
    layers: Optional[int] = typer.Option(None, "--layers", help="Layers (transformer 4, lstm 2, mlp 2)."),
    heads: Optional[int] = typer.Option(None, "--heads", help="Attention heads (default 4; must divide d)."),
    positional: Optional[str] = typer.Option(None, "--positional", help="Transformer position encoding: none | rope | learned."),
    bias: Optional[bool] = typer.Option(None, "--bias/--no-bias", help="Output-layer bias (then L != WH)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="gd | ngd | sgd | adam | adamw (default adamw)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 1e-3)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Weight decay (decoupled for adamw)."),
    ridge: Optional[float] = typer.Option(None, "--ridge", help="Ridge lambda on W and H."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="constant | step | cosine."),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="Linear warm-up steps."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Contexts per step (default: all; sgd: 32)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Number of updates (default 1000)."),
    tol: Optional[float] = typer.Option(None, "--tol", help="Stop when CE - H < tol."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Named recipe: paper (AdamW 1e-4, wd 1e-6, x0.4 / 5000 steps)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto | float32 | float64."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default 1)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in -o from its checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bar)."),
) -> None:
    """Train a model on NTP data, snapshotting W, H and L at log-spaced steps into a run folder."""
    from ..train import train

    opts = dict(layers=layers, heads=heads, positional=positional, bias=bias, warmup=warmup, batch_size=batch_size,
                dtype=dtype, threads=threads)
    opts = {k: v for k, v in opts.items() if v is not None}
    kwargs = dict(model=model.value if model else None, d=d, steps=steps, optimizer=optimizer, lr=lr,
                  weight_decay=weight_decay, ridge=ridge, schedule=schedule, preset=preset, tol=tol, seed=seed,
                  device=device, out=out, resume=resume, overwrite=overwrite, **opts)
    src = _resolve_data(data)
    if as_json:
        run = train(src, **kwargs)
    else:
        cols = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn())
        bar = Progress(*cols, console=err_console, transient=False)
        task: list[Any] = []

        def progress(step: int, total: int, ce: float, gap: float, norm_L: float) -> None:
            if not task:  # the bar appears once the configuration is validated and training has started
                bar.start()
                task.append(bar.add_task("train", total=total, info=""))
            bar.update(task[0], completed=step, total=total, info=f"CE-H {gap:.3e}  |L| {norm_L:.3g}")

        try:
            run = train(src, progress=progress, **kwargs)
        finally:
            if task:  # stopping a bar that never started would still print an empty line
                bar.stop()
    s = run.summary()
    if as_json:
        print_json({**s, "config": run.config})
        return
    gap = f"{s['gap']:.3e}" if s["gap"] is not None else "n/a"
    typer.echo(f"{s['status']} ({s['stop_reason']}): {s['model']} d={s['d']} step {s['final_step']}  "
               f"CE {s['ce']:.5f}  H {s['entropy_bound']:.5f}  gap {gap}  |L| {s['norm_L']:.4g}  "
               f"{s['snapshots']} snapshots  {s['steps_per_second']} steps/s  -> {s['path']}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
