"""Shared CLI helpers: JSON output, dataset arguments, progress display."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console

from ..jsonable import dumps

err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Write ``obj`` as strict JSON on stdout (NaN and infinities become null; see :mod:`ntpgeom.jsonable`)."""
    sys.stdout.write(dumps(obj, indent=2) + "\n")


def load_dataset(arg: str | Path) -> Any:
    """The dataset a command argument names: a dataset file, or a built-in corpus name (``synthetic``, ``stories``)
    when no such file exists. Every command that takes a dataset resolves it here (via :func:`ntpgeom.data.load`)."""
    from ..data import load

    return load(arg)


@contextlib.contextmanager
def stages(enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A progress display on stderr for a long step; yields ``say(stage, done=None, total=None)``.

    Each stage shows its name and elapsed time; a stage that reports ``done``/``total`` shows a bar.
    """
    if not enabled:
        yield lambda *_a: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def say(stage: str, done: int | None = None, total: int | None = None, numbers: Any = None) -> None:
            bar.update(task, description=stage, completed=done or 0, total=total)

        yield say
