"""Progress reporting and Ctrl-C during training.

:data:`Progress` is the protocol of every progress callback of training: ``progress(stage, done, total, numbers)``.
:func:`print_progress` is the plain-text one behind ``verbose=True`` (the command line draws a rich bar instead).
:class:`StopFlag` turns the first Ctrl-C into a clean stop at the next step.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from typing import Any, Callable, Mapping

#: ``progress(stage, done, total, numbers)``: stage "train", steps done, steps asked, and ``ce``, ``gap``, ``norm_L``,
#: ``lr`` at that step.
Progress = Callable[[str, int, int, Mapping[str, float]], None]


class StopFlag:
    """SIGINT handler for the duration of training: first Ctrl-C stops cleanly at the next step, second one raises."""

    def __init__(self) -> None:
        self.set = False
        self._old: Any = None

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def print_progress(stream: Any = None, every_seconds: float = 2.0) -> Progress:
    """A plain-text :data:`Progress` (``verbose=True``): one line at most every ``every_seconds`` and at the end."""
    last = [-math.inf]

    def show(stage: str, done: int, total: int, numbers: Mapping[str, float]) -> None:
        now = time.monotonic()
        if now - last[0] >= every_seconds or done >= total:
            last[0] = now
            print(f"{stage}: step {done}/{total}  CE-H {numbers['gap']:.3e}  |L| {numbers['norm_L']:.4g}",
                  file=stream or sys.stderr, flush=True)

    return show
