"""Progress reporting and Ctrl-C during training.

:data:`Progress` is the protocol of every progress callback of training: ``progress(stage, done, total, numbers)``.
:func:`training_callback` adapts :class:`ntpgeom.progress.ProgressBar` (the display behind ``verbose=True`` and the
command line's bar) to it. :class:`StopFlag` turns the first Ctrl-C into a clean stop at the next step.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Mapping

from ..progress import ProgressBar

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


def training_callback(bar: ProgressBar) -> Progress:
    """A :class:`~ntpgeom.progress.ProgressBar` as a training :data:`Progress` callback (CE − ℋ and ‖L‖ beside it)."""

    def show(stage: str, done: int, total: int, numbers: Mapping[str, float]) -> None:
        bar.update(done, total, f"CE-H {numbers['gap']:.3e}  |L| {numbers['norm_L']:.4g}")

    return show
