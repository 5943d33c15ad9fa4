"""One status vocabulary for every solver of the package, in the manner of cvxpy: a :class:`Status` and a frozen
:class:`SolverStats` record. Every solver result carries both, as ``.status`` and ``.stats``: ``SVMResult``
(NTP-SVM*, every backend), ``RegResult`` (the regularisation path), ``PathPoint`` (the norm-ball path point),
``Face`` (the optimal face), ``RankResult`` (rank-constrained NTP-SVM*) and ``Theory``.

A status is always *ntpgeom's own check* of the answer (a certified gap against the requested tolerance, or the
solver's own stopping rule where nothing can be certified), never a backend's self-report: backends' words (SCS's
``"optimal_inaccurate"``, ...) stay in ``info``. A limit (iterations, time) that stops a solve before its check holds
always gives a non-solved status (``USER_LIMIT``), never a silent answer; the iterative solvers (NTP-SVM*, the
regularised problem, ``path_point``) also issue a :class:`~ntpgeom.errors.SolverWarning`.

Every status shows in lower case. A verdict's stored ``"FAIL"`` (``Verdict.status``, report.json) displays as
``"fail"`` through :func:`ntpgeom.verdicts.core.status_label`, the one display helper of every terminal and page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from math import isfinite
from numbers import Integral, Real
from typing import Any, Mapping

from .errors import SolverError


class Status(str, Enum):
    """How a solve ended. A ``str`` enum: ``Status.OPTIMAL == "optimal"`` and it serialises to JSON as its value.

    - ``OPTIMAL``: certified; the relative gap is <= the requested ``tol``. NTP-SVM* and the regularised problem:
      relative duality gap; ``path_point``: the Frank-Wolfe gap is <= ``tol (CE - ℋ)`` or at its round-off floor;
      ``optimal_face``: every probe solved (SCS "optimal") and every member within the slack (excess <= 10 tol).
    - ``CERTIFIED_BY_PROP3``: NTP-SVM* only; Prop. 3's certificate held, ``L_mm = S̃`` was returned without
      iterating, and its duality gap is <= ``tol``.
    - ``USER_LIMIT``: the iteration or time limit was reached first (``optimal_face``: a probe ended inaccurate);
      the answer is feasible and its gap is certified, but the gap is above ``tol`` (the iterative solvers issue a
      :class:`~ntpgeom.errors.SolverWarning`).
    - ``LOCAL_OPTIMUM``: a heuristic for a non-convex problem stopped by its own rule (``rank_constrained``: the
      relative decrease of ``‖L‖_*`` fell below ``rtol``); feasible, an upper bound on the optimum, *not* certified
      (``gap`` is NaN) and so not ``solved``.
    - ``INFEASIBLE``: no feasible point was found (``rank_constrained``: every start failed); there is no answer.
    - ``SKIPPED``: no solve was run (``Theory`` with ``solve=False``, a problem above ``max_entries``, a missing
      optional solver).
    """

    OPTIMAL = "optimal"
    CERTIFIED_BY_PROP3 = "certified_by_prop3"
    USER_LIMIT = "user_limit"
    SKIPPED = "skipped"
    LOCAL_OPTIMUM = "local_optimum"
    INFEASIBLE = "infeasible"

    @property
    def solved(self) -> bool:
        """True for the statuses whose answer meets the tolerance (``OPTIMAL``, ``CERTIFIED_BY_PROP3``)."""
        return self in (Status.OPTIMAL, Status.CERTIFIED_BY_PROP3)

    @classmethod
    def from_gap(cls, gap: float, tol: float, certified_by_prop3: bool = False) -> Status:
        """The status of an answer with relative duality ``gap`` for the target ``tol``."""
        if not gap <= tol:
            return cls.USER_LIMIT
        return cls.CERTIFIED_BY_PROP3 if certified_by_prop3 else cls.OPTIMAL


@dataclass(frozen=True)
class SolverStats:
    """What a solve cost and how accurate it is.

    Attributes
    ----------
    status : Status
    backend : str
        The method that produced the answer (``"tilde"``, ``"fast"``, ``"cvxpy"``, ``"fista"``, ...).
    iterations : int
    seconds : float
        Wall-clock time of the whole call.
    gap : float
        Certified relative gap (an upper bound on the relative suboptimality): the duality gap for NTP-SVM* and the
        regularised problem, ``gap / (CE - ℋ)`` for ``path_point``; NaN where nothing is certified (``optimal_face``,
        ``rank_constrained``).
    residual : float
        Primal residual: the largest constraint violation (NTP-SVM*, ``rank_constrained``), the relative
        proximal-gradient residual (regularised problem), the relative excess of ``‖L‖_*`` over the ball
        (``path_point``) or over the face's slack bound (``optimal_face``: largest ``‖member‖_*/opt - 1``).
    tol : float
        The requested gap.
    threads : int
        BLAS threads used (0: the solver does not set them).
    """

    status: Status
    backend: str
    iterations: int
    seconds: float
    gap: float
    residual: float
    tol: float
    threads: int

    @property
    def converged(self) -> bool:
        """Whether the requested tolerance was met (``status.solved``)."""
        return self.status.solved

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (``status`` as its string value)."""
        out = asdict(self)
        out["status"] = self.status.value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SolverStats:
        """Inverse of :meth:`to_dict`."""
        return cls(status=Status(d["status"]), backend=str(d["backend"]), iterations=int(d["iterations"]),
                   seconds=float(d["seconds"]), gap=float(d["gap"]), residual=float(d["residual"]),
                   tol=float(d["tol"]), threads=int(d["threads"]))


def check_solver_options(tol: Any = 1e-6, max_iter: Any = 1, threads: Any = 1, check_every: Any = 1,
                         names: Mapping[str, str] | None = None) -> None:
    """Refuse bad options shared by the iterative solvers: ``tol`` a positive finite number, ``max_iter``, ``threads``
    and ``check_every`` positive integers. Raises :class:`~ntpgeom.errors.SolverError` naming the option (as
    ``names[option]`` if given, e.g. ``{"max_iter": "--max-iter"}`` for the CLI)."""
    names = names or {}
    if isinstance(tol, bool) or not (isinstance(tol, Real) and isfinite(tol) and tol > 0):
        raise SolverError(f"{names.get('tol', 'tol')} must be a positive number, got {tol!r}")
    for name, v in (("max_iter", max_iter), ("threads", threads), ("check_every", check_every)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise SolverError(f"{names.get(name, name)} must be a positive integer, got {v!r}")


__all__ = ["Status", "SolverStats", "check_solver_options"]


class _ValueEnum(str, Enum):
    """A ``str`` enum that prints and formats as its value (``f"{RunStatus.DONE}" == "done"`` on every Python
    version): the base of :class:`RunStatus` and :class:`StopReason`."""

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


class RunStatus(_ValueEnum):
    """Where a training run stands (``config.json``'s ``status``). A ``str`` enum: ``RunStatus.DONE == "done"``,
    and it serialises to JSON as its value, so run folders read the same as with bare strings.

    - ``RUNNING``: training, or killed without a chance to say so (resumable from its last checkpoint).
    - ``DONE``: stopped by design (``max_steps`` or ``tol``).
    - ``STOPPED``: stopped because the loss became non-finite.
    - ``INTERRUPTED``: Ctrl-C; checkpointed at the step reached, resumable.
    - ``FAILED``: a write failed; resumable from the last checkpoint.
    """

    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True when the run reached its end by design (its verdicts can be judged)."""
        return self is RunStatus.DONE


class StopReason(_ValueEnum):
    """Why a training run stopped (``config.json``'s ``stop_reason``; null while running). A ``str`` enum like
    :class:`RunStatus`."""

    MAX_STEPS = "max_steps"
    TOL = "tol"
    INTERRUPTED = "interrupted"
    NONFINITE = "nonfinite"
    WRITE_FAILED = "write_failed"


__all__ += ["RunStatus", "StopReason"]
