"""Progress reporting shared by every layer: one callback protocol, and the displays behind it.

:class:`Progress` is the one shape of every progress callback of the package (training, corpus building, metrics,
the probe's forward passes, report and reproduce stages): ``progress(stage, done=None, total=None, numbers=None)``.
``stage`` names what is happening ("train", "tokenising", "forward passes", a report line, ...); ``done``/``total``
count units of work when the stage has them; ``numbers`` carries live values (training: ``ce``, ``gap``,
``norm_L``, ``lr``). A callback that only prints ``stage`` satisfies it, as does :class:`ProgressBar`.

:class:`ProgressBar` is the display: a tqdm.auto bar in a Jupyter notebook, a rich bar on a terminal, plain lines
every few seconds otherwise (logs, pipes). Behind ``ntpgeom.train(verbose=True)``, ``ntpgeom.probe(verbose=True)``
and the command line's bars. :func:`printer` writes timestamped lines; :func:`silent` ignores everything;
:func:`from_counts` and :func:`from_messages` adapt callbacks of the older ``(done, total)`` and ``(message)`` shapes.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from typing import Any, Callable, Mapping, Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """``progress(stage, done=None, total=None, numbers=None)``: the one progress-callback shape (module docstring).

    Callers pass ``stage`` always, ``done``/``total`` when the stage counts work, ``numbers`` when it has live values;
    a callback must accept all four (positionally) and return nothing. It may raise to abort the work (e.g.
    ``KeyboardInterrupt``).
    """

    def __call__(self, stage: str, done: int | None = None, total: int | None = None,
                 numbers: Mapping[str, float] | None = None) -> None: ...


def silent(stage: str, done: int | None = None, total: int | None = None,
           numbers: Mapping[str, float] | None = None) -> None:
    """A :class:`Progress` that shows nothing."""


def printer(stream: Any = None) -> Progress:
    """A :class:`Progress` that prints one timestamped line per call on ``stream`` (default: stderr):
    ``[  12.3s] stage`` (with `` done/total`` when counted)."""
    start = time.perf_counter()

    def say(stage: str, done: int | None = None, total: int | None = None,
            numbers: Mapping[str, float] | None = None) -> None:
        count = f" {done}/{total}" if done is not None and total is not None else ""
        print(f"[{time.perf_counter() - start:6.1f}s] {stage}{count}", file=stream or sys.stderr, flush=True)

    return say


def from_counts(fn: Callable[[int, int], None]) -> Progress:
    """A :class:`Progress` calling ``fn(done, total)`` (the older counting shape) for the calls that count work."""

    def progress(stage: str, done: int | None = None, total: int | None = None,
                 numbers: Mapping[str, float] | None = None) -> None:
        if done is not None and total is not None:
            fn(done, total)

    return progress


def from_messages(fn: Callable[[str], None]) -> Progress:
    """A :class:`Progress` calling ``fn(stage)`` (the older message shape) once per call."""

    def progress(stage: str, done: int | None = None, total: int | None = None,
                 numbers: Mapping[str, float] | None = None) -> None:
        fn(stage)

    return progress


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
    """A progress display: ``update(done, total, info)`` then ``close()`` (or use it as a context manager); calling
    it is a :class:`Progress` (counted calls update the bar, ``numbers`` shown beside it).

    ``kind`` "auto" picks with :func:`display_kind`: a tqdm.auto bar in a notebook (a widget when ipywidgets is
    installed), a rich bar on a terminal (stderr), else one plain line at most every ``every_seconds`` and at the end.
    ``ntpgeom.train.progress.training_callback`` shows training's numbers in its own format.
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

    def __call__(self, stage: str, done: int | None = None, total: int | None = None,
                 numbers: Mapping[str, float] | None = None) -> None:
        """The :class:`Progress` protocol: a counted call updates the bar (``numbers`` as ``k v`` pairs beside it);
        an uncounted one is ignored (the bar shows one stage)."""
        if done is None or total is None:
            return
        info = "  ".join(f"{k} {v:.4g}" for k, v in (numbers or {}).items())
        self.update(done, total, info)

    def close(self) -> None:
        """Finish the display (idempotent; a bar that never started prints nothing)."""
        if self._bar is not None:
            (self._bar.close if self.kind == "notebook" else self._bar.stop)()
            self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
