"""What an NTP-SVM* solve shows while it runs and keeps when it is stopped: progress, time limit, Ctrl-C.

A :class:`SolveMonitor` is handed to a backend (``fast``, ``large``). At every certification the backend calls
:meth:`SolveMonitor.check` with the iteration and the certified relative gap, and at every iteration
:meth:`SolveMonitor.tick` (which reports the last certified gap again when :data:`TICK_SECONDS` passed without a
report: slow iterations between sparse checks); the monitor forwards them to the
:class:`~ntpgeom.progress.Progress` callback (``numbers``: ``iteration``, ``gap``, ``tol``, ``elapsed``, ``eta``) and
keeps the best certified point the backend gives it (``keep``), so that a ``KeyboardInterrupt`` (Ctrl-C) caught around
the backend's loop still has an answer to return: the best certified point so far, with status ``user_limit``.
``cvxpy`` (SCS) cannot report progress from inside its solve; it is given neither.

The estimate ``eta`` (seconds left) assumes linear convergence of the certified gap, which the ADMM backends show
after their first checks: ``log(gap / tol) / rate`` with the rate of ``log gap`` per second since the first check,
capped by the time limit and by the iterations left at the current pace; NaN until two checks disagree.
"""

from __future__ import annotations

import math
import time
from typing import Generic, TypeVar

from ..progress import Progress

T = TypeVar("T")

#: Seconds without a report after which :meth:`SolveMonitor.tick` reports the current iteration.
TICK_SECONDS = 2.0

#: ``info["status"]`` of a solve stopped by Ctrl-C (its best certified point is returned; status ``user_limit``).
INTERRUPTED = "interrupted"


class SolveMonitor(Generic[T]):
    """Progress, deadline and the best certified point of one backend run (module docstring).

    Parameters
    ----------
    method : str
        The backend's name (shown in the stage: ``"NTP-SVM* (large)"``).
    tol : float
        Target relative gap.
    max_iter : int
    time_limit : float, optional
        Seconds from ``t0``; :attr:`deadline` is ``inf`` without one.
    progress : Progress, optional
        Called at every check as ``progress(stage, iteration, max_iter, numbers)``.
    t0 : float, optional
        ``time.perf_counter()`` at the start of the solve (default: now).
    """

    def __init__(self, method: str, tol: float, max_iter: int, time_limit: float | None = None,
                 progress: Progress | None = None, t0: float | None = None) -> None:
        self.method, self.tol, self.max_iter, self.progress = method, float(tol), int(max_iter), progress
        self.t0 = time.perf_counter() if t0 is None else float(t0)
        self.deadline = self.t0 + time_limit if time_limit is not None else math.inf
        self.best: T | None = None
        self.iteration = 0
        self._first: tuple[float, float] | None = None  # (elapsed, log gap) at the first check with a gap > 0
        self._gap = math.nan  # the last certified gap
        self._said = -math.inf  # time.perf_counter() of the last report

    @property
    def stage(self) -> str:
        return f"NTP-SVM* ({self.method})"

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def past_deadline(self) -> bool:
        return time.perf_counter() > self.deadline

    def keep(self, best: T) -> None:
        """Record the backend's best certified point (returned if the solve is interrupted)."""
        self.best = best

    def eta(self, iteration: int, gap: float) -> float:
        """Estimated seconds left (module docstring); NaN when there is no estimate yet, 0 once ``gap <= tol``."""
        t = self.elapsed()
        if gap <= self.tol:
            return 0.0
        left = [self.deadline - time.perf_counter(), (self.max_iter - iteration) * t / max(iteration, 1)]
        if self._first is not None and gap > 0:
            t1, l1 = self._first
            rate = (l1 - math.log(gap)) / (t - t1) if t > t1 else 0.0
            if rate > 0:
                left.append(math.log(gap / self.tol) / rate)
        est = max(min(left), 0.0)
        return est if len(left) > 2 or math.isfinite(self.deadline) else math.nan

    def check(self, iteration: int, gap: float) -> None:
        """A certification at ``iteration`` gave the certified relative ``gap``: report it."""
        self.iteration, self._gap = int(iteration), float(gap)
        if self._first is None and gap > 0 and math.isfinite(gap):
            self._first = (self.elapsed(), math.log(gap))
        self._report()

    def record(self, iteration: int, gap: float, best: T) -> None:
        """:meth:`keep` ``best`` and :meth:`check` ``gap`` (the best certified gap) in one call."""
        self.keep(best)
        self.check(iteration, gap)

    def tick(self, iteration: int) -> None:
        """Iteration ``iteration`` ran: report it (with the last certified gap) if nothing was reported for
        :data:`TICK_SECONDS`."""
        self.iteration = int(iteration)
        if time.perf_counter() - self._said >= TICK_SECONDS and math.isfinite(self._gap):
            self._report()

    def _report(self) -> None:
        self._said = time.perf_counter()
        if self.progress is not None:
            self.progress(self.stage, self.iteration, self.max_iter,
                          {"iteration": float(self.iteration), "gap": self._gap, "tol": self.tol,
                           "elapsed": self.elapsed(), "eta": self.eta(self.iteration, self._gap)})


def progress_line(numbers: dict[str, float] | None, stage: str = "NTP-SVM*") -> str:
    """One line from a monitor's ``numbers``: ``NTP-SVM* (large) iteration 120, gap 3.1e-04 (tol 1e-06), 12 s,
    ~40 s left`` (no estimate yet: no "left")."""
    n = numbers or {}
    if "gap" not in n:
        return stage
    eta = n.get("eta", math.nan)
    left = f", ~{eta:.0f} s left" if math.isfinite(eta) else ""
    return (f"{stage} iteration {int(n.get('iteration', 0))}, gap {n['gap']:.1e} (tol {n.get('tol', 0):.0e}), "
            f"{n.get('elapsed', 0):.0f} s{left}")


__all__ = ["INTERRUPTED", "TICK_SECONDS", "SolveMonitor", "progress_line"]
