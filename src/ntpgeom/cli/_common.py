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
def stages(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr showing the current stage of a long step; yields ``say(stage)``."""
    if not enabled:
        yield lambda _s: None
        return
    with err_console.status("starting") as status:
        yield lambda s: status.update(f"{s} ...")
