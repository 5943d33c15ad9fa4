"""Progress reporting and Ctrl-C during training.

:data:`Progress` is the protocol of every progress callback of training: ``progress(stage, done, total, numbers)``.
:class:`ProgressBar` is the display behind ``verbose=True`` and the command line's bar: a tqdm.auto bar in a Jupyter
notebook, a rich bar on a terminal, plain lines every few seconds otherwise (logs, pipes). :class:`StopFlag` turns the
first Ctrl-C into a clean stop at the next step.
"""

from __future__ import annotations

import importlib.util
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


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell); never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any failure means: not a notebook we can draw in
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


def display_kind(stream: Any = None) -> str:
    """Which display :class:`ProgressBar` uses: "notebook" (a Jupyter kernel with tqdm installed), "rich" (the stream
    is a terminal) or "lines"."""
    if in_notebook() and importlib.util.find_spec("tqdm") is not None:
        return "notebook"
    stream = stream or sys.stderr
    return "rich" if getattr(stream, "isatty", lambda: False)() else "lines"


class ProgressBar:
    """A progress display: ``update(done, total, info)`` then ``close()`` (or use it as a context manager).

    ``kind`` "auto" picks with :func:`display_kind`: a tqdm.auto bar in a notebook (a widget when ipywidgets is
    installed), a rich bar on a terminal (stderr), else one plain line at most every ``every_seconds`` and at the end.
    ``callback()`` adapts it to training's :data:`Progress` protocol.
    """

    def __init__(self, desc: str = "train", kind: str = "auto", stream: Any = None, every_seconds: float = 2.0,
                 unit: str = "step") -> None:
        self.desc, self.stream, self.every, self.unit = desc, stream, every_seconds, unit
        self.kind = display_kind(stream) if kind == "auto" else kind
        if self.kind not in ("notebook", "rich", "lines"):
            raise ValueError(f"ProgressBar kind must be auto, notebook, rich or lines, got {kind!r}")
        self._bar: Any = None
        self._task: Any = None
        self._last = -math.inf

    def _open(self, done: int, total: int) -> None:
        if self.kind == "notebook":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=done, desc=self.desc, unit=self.unit, file=self.stream)
        elif self.kind == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(file=self.stream) if self.stream is not None else Console(stderr=True)
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)
            self._bar.start()
            self._task = self._bar.add_task(self.desc, total=total, completed=done, info="")

    def update(self, done: int, total: int, info: str = "") -> None:
        if self._bar is None and self.kind != "lines":
            self._open(done, total)
        if self.kind == "notebook":
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            self._bar.set_postfix_str(info, refresh=True)
        elif self.kind == "rich":
            self._bar.update(self._task, completed=done, total=total, info=info)
        elif time.monotonic() - self._last >= self.every or done >= total:
            self._last = time.monotonic()
            print(f"{self.desc}: {self.unit} {done}/{total}  {info}".rstrip(), file=self.stream or sys.stderr,
                  flush=True)

    def close(self) -> None:
        """Finish the display (idempotent; a bar that never started prints nothing)."""
        if self._bar is not None:
            (self._bar.close if self.kind == "notebook" else self._bar.stop)()
            self._bar = None

    def callback(self) -> Progress:
        """This display as a training :data:`Progress` callback (CE − ℋ and ‖L‖ beside the bar)."""

        def show(stage: str, done: int, total: int, numbers: Mapping[str, float]) -> None:
            self.update(done, total, f"CE-H {numbers['gap']:.3e}  |L| {numbers['norm_L']:.4g}")

        return show

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
