"""Progress reporting and Ctrl-C during training.

:class:`~ntpgeom.progress.Progress` (re-exported here) is the package's one progress protocol; training calls it as
``progress("train", done, total, numbers)``. :func:`training_callback` shows those calls on a
:class:`ntpgeom.progress.ProgressBar` (the display behind ``verbose=True`` and the command line's bar). :class:`StopFlag` turns the first Ctrl-C into a clean stop at the next step.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Mapping

from ..progress import Progress, ProgressBar

__all__ = ["Progress", "StopFlag", "training_callback"]


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

    def show(stage: str, done: int | None = None, total: int | None = None,
             numbers: Mapping[str, float] | None = None) -> None:
        if done is None or total is None:
            return
        n = numbers or {}
        info = f"CE-H {n['gap']:.3e}  |L| {n['norm_L']:.4g}" if "gap" in n and "norm_L" in n else ""
        bar.update(done, total, info)

    return show
