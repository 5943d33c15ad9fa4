"""Shared CLI helpers: JSON output, progress display."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable, Iterator

from rich.console import Console

from .._io import _json_default

err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Write ``obj`` as JSON on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


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

        def say(stage: str, done: int | None = None, total: int | None = None) -> None:
            bar.update(task, description=stage, completed=done or 0, total=total)

        yield say
