"""Training curves in the tracker a researcher already watches: TensorBoard event files or trackio, offline.

``train(data, ..., log="tensorboard")`` writes TensorBoard event files under ``<run folder>/tensorboard`` (open them
with ``tensorboard --logdir <run folder>``); ``log="trackio"`` logs to a local trackio project ``ntpgeom``, one
trackio run per run folder (trackio's own local store, ``TRACKIO_DIR``; no Space, no network; ``trackio show``).
At every logged step the scalars the trainer computes there:

- ``train/ce``: the π-weighted soft-label cross-entropy CE;
- ``train/gap``: CE − ℋ (ℋ the entropy bound of the data, theory.md §1);
- ``train/norm_L``: ‖L‖_F of all contexts' logits;
- ``train/lr``: the learning rate of the step;

and, when the run ends, per snapshot step ``snapshot/nuclear_norm_L`` (‖L‖_* of the snapshot's logits, the norm of
theory.md §2) with ``snapshot/norm_L``. The distances to the prediction and its rival, μ and the verdicts need the
theory and are measured after training (``ntpgeom.assess``, ``ntpgeom report``); ``ntpgeom reproduce --log`` adds
them to each run's tracker once its trajectory is judged (:mod:`ntpgeom.experiments.track`). Neither tracker is a
dependency of ntpgeom: ``pip install 'ntpgeom[track]'`` installs TensorBoard, ``'ntpgeom[trackio]'`` trackio.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .progress import Progress
from .run import Run, TrainError

__all__ = ["TRACKERS", "TB_DIR", "Tracker", "check_log", "tracking"]

#: the accepted values of ``log`` (None: no tracker)
TRACKERS = ("tensorboard", "trackio")
#: the folder of the TensorBoard event files, inside the run folder
TB_DIR = "tensorboard"
#: snapshots whose logits have more entries than this are not decomposed for ‖L‖_* (one SVD each)
NUCLEAR_MAX_ENTRIES = 4_000_000

_NEEDS = {"tensorboard": ("tensorboard", "pip install 'ntpgeom[track]'"),
          "trackio": ("trackio", "pip install 'ntpgeom[trackio]'")}


class Tracker:
    """A training :data:`~ntpgeom.progress.Progress` callback that forwards each logged step's numbers to a tracker.

    Parameters
    ----------
    write : callable
        ``write({name: value}, step)``: one tracker call per step.
    close : callable
        Flushes and closes the tracker (called once, by :func:`tracking`).
    text : callable, optional
        ``text(name, value, step)``: one line of text (None: the tracker keeps numbers only).
    """

    def __init__(self, write: Callable[[dict[str, float], int], None], close: Callable[[], None],
                 text: Callable[[str, str, int], None] | None = None) -> None:
        self._write, self._close, self._text = write, close, text
        self._first: int | None = None  # the first step trained here (a resumed run's snapshots before it are logged)

    def __call__(self, stage: str, done: int | None = None, total: int | None = None,
                 numbers: Mapping[str, float] | None = None) -> None:
        if stage == "train" and done is not None and numbers:
            self._first = done if self._first is None else self._first
            self.scalars({f"train/{k}": v for k, v in numbers.items()}, done)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log ``{name: value}`` at ``step`` (non-finite values are logged as they are)."""
        self._write({k: float(v) for k, v in values.items()}, int(step))

    def text(self, name: str, value: str, step: int) -> None:
        """Log a line of text at ``step`` (TensorBoard's text tab; ignored by trackers without text)."""
        if self._text is not None:
            self._text(name, value, int(step))

    def chain(self, progress: Progress | None) -> Progress:
        """One callback that calls ``progress`` (when given) and then this tracker."""
        if progress is None:
            return self

        def both(stage: str, done: int | None = None, total: int | None = None,
                 numbers: Mapping[str, float] | None = None) -> None:
            progress(stage, done, total, numbers)
            self(stage, done, total, numbers)

        return both

    def done(self, run: Run) -> Run:
        """Log the snapshots' ‖L‖_* and ‖L‖_F (one SVD per snapshot, skipped above NUCLEAR_MAX_ENTRIES); a resumed
        run only those after its checkpoint step (the earlier ones, that one included, were logged before)."""
        for step in (s for s in run.steps if not self._first or s > self._first):
            L = run.snapshot(step).L
            values = {"snapshot/norm_L": float(np.linalg.norm(L))}
            if L.size <= NUCLEAR_MAX_ENTRIES:
                values["snapshot/nuclear_norm_L"] = float(np.linalg.svd(L, compute_uv=False).sum())
            self.scalars(values, step)
        return run


class _NoTracker(Tracker):
    def __init__(self) -> None:
        super().__init__(lambda values, step: None, lambda: None)

    def chain(self, progress: Progress | None) -> Progress | None:  # type: ignore[override]
        return progress

    def done(self, run: Run) -> Run:
        return run


def check_log(log: str | None) -> None:
    """Raise :class:`TrainError` unless ``log`` is None or a tracker whose package is installed (before any work)."""
    if log is None:
        return
    if log not in TRACKERS:
        raise TrainError(f"log must be one of {', '.join(TRACKERS)} (or None), got {log!r}")
    module, hint = _NEEDS[log]
    if importlib.util.find_spec(module) is None:
        raise TrainError(f"log={log!r} needs the {module} package, which is not installed: {hint}")


def _tensorboard(run_dir: Path) -> Tracker:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(run_dir / TB_DIR))

    def write(values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            writer.add_scalar(name, value, step)

    return Tracker(write, writer.close, lambda name, value, step: writer.add_text(name, value, step))


def _trackio(run_dir: Path) -> Tracker:
    import trackio

    with contextlib.redirect_stdout(sys.stderr):  # trackio prints where it logs; stdout may be --json output
        trackio.init(project="ntpgeom", name=run_dir.name, config={"run_dir": str(run_dir.resolve())},
                     auto_log_cpu=False, auto_log_gpu=False)

    def close() -> None:
        with contextlib.redirect_stdout(sys.stderr):
            trackio.finish()

    return Tracker(lambda values, step: trackio.log(dict(values), step=step), close)


@contextlib.contextmanager
def tracking(log: str | None, run_dir: Path) -> Iterator[Tracker]:
    """The tracker of a run (a do-nothing one for ``log=None``), closed when the block ends.

    Parameters
    ----------
    log : {"tensorboard", "trackio"} or None
        Which tracker; checked by :func:`check_log`.
    run_dir : Path
        The run folder (TensorBoard writes into ``run_dir / TB_DIR``; trackio names the run after it).

    Yields
    ------
    Tracker
        Chain it into the training progress callback (:meth:`Tracker.chain`) and pass the finished run to
        :meth:`Tracker.done`.

    Raises
    ------
    TrainError
        An unknown tracker, or its package is not installed.
    """
    check_log(log)
    tracker: Any = _NoTracker() if log is None else (_tensorboard if log == "tensorboard" else _trackio)(run_dir)
    try:
        yield tracker
    finally:
        tracker._close()
