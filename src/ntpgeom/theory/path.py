"""The regularised problem (8) of theory.md §2 in the convex case d >= V: ``min_L CE(L) + λ‖L‖_*``, and its path.

Solved by accelerated proximal gradient (the one FISTA driver, :mod:`ntpgeom.theory.fista`) with singular-value
thresholding, adaptive (gradient-based)
restarts and a step from the exact curvature bound ``∇²CE <= max_j π_j / 2``. Every answer comes with two checks:

- ``residual``: the relative norm of the proximal-gradient mapping, ``‖L - prox(L - t∇CE(L))‖_F / (t ‖∇CE(L)‖_F)``;
- ``gap``: a relative Fenchel duality gap. With ``Y = s ∇CE(L)`` scaled so ``‖Y‖_2 <= λ`` (``s <= 1``), each column
  ``q_j = P_j + Y_j / π_j = (1-s) P_j + s softmax(ℓ_j)`` is a distribution and
  ``Σ_j π_j H(q_j) <= min (8)``; ``gap = (CE(L) + λ‖L‖_* - Σ_j π_j H(q_j)) / (CE(L) + λ‖L‖_*)``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from ..reprs import short_repr
from ..data import NTPData
from .. import validate
from ..errors import SolverError, SolverWarning
from ..status import SolverStats, Status, check_solver_options
from .fista import fista
from .geometry import direction_distance
from .pattern import svt
from .subspaces import L_in, cross_entropy, proj_F
from .tolerances import DIVISION_FLOOR


@dataclass(frozen=True, eq=False)
class RegResult:
    """Solution of ``min CE(L) + λ‖L‖_*``.

    Attributes
    ----------
    lam : float
    L : ndarray, shape (V, m)
    objective : float
        ``CE(L) + λ‖L‖_*``.
    ce : float
        ``CE(L)``.
    nuclear_norm : float
    stats : SolverStats
        Status (``OPTIMAL`` iff ``gap <= tol``, else ``USER_LIMIT``), backend ``"fista"``, iterations, seconds, the
        relative duality gap (an upper bound on the relative suboptimality of ``objective``), ``residual`` = the
        relative proximal-gradient residual (0 at the optimum), tol, threads. Also readable as ``.status``,
        ``.gap``, ``.residual``, ``.iterations``, ``.seconds``, ``.converged``.
    info : dict
    """

    __repr__ = short_repr

    lam: float
    L: np.ndarray
    objective: float
    ce: float
    nuclear_norm: float
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the solve.")
    gap = property(lambda self: self.stats.gap, doc="Certified relative duality gap.")
    residual = property(lambda self: self.stats.residual, doc="Relative proximal-gradient residual.")
    iterations = property(lambda self: self.stats.iterations)
    seconds = property(lambda self: self.stats.seconds)
    converged = property(lambda self: self.stats.converged, doc="Whether ``gap <= tol``.")

    def summary(self) -> dict[str, Any]:
        return {"lam": self.lam, "objective": self.objective, "ce": self.ce, "nuclear_norm": self.nuclear_norm,
                "residual": self.residual, "gap": self.gap, "iterations": self.iterations,
                "converged": self.converged, "seconds": self.seconds, "status": self.status.value}


@dataclass(frozen=True)
class RegCheck:
    """The checks of one point L of problem (8): ``objective = ce + λ nuclear``, the relative duality ``gap`` and the
    relative proximal-gradient ``residual``."""

    objective: float
    ce: float
    nuclear: float
    gap: float
    residual: float


def _softmax(L: np.ndarray) -> np.ndarray:
    E = np.exp(L - L.max(axis=0))
    return E / E.sum(axis=0)


class _Problem:
    def __init__(self, data: NTPData):
        self.P = data.P.toarray()
        self.pi = np.asarray(data.pi, dtype=np.float64)
        self.data = data
        self.Lip = float(self.pi.max()) / 2.0

    def ce_grad(self, L: np.ndarray) -> tuple[float, np.ndarray]:
        M = L.max(axis=0)
        E = np.exp(L - M)
        Z = E.sum(axis=0)
        lse = M + np.log(Z)
        ce = float((self.pi * (lse - (self.P * L).sum(axis=0))).sum())
        G = (E / Z - self.P) * self.pi
        return ce, G

    def ce(self, L: np.ndarray) -> float:
        return cross_entropy(L, self.data)

    def certify(self, L: np.ndarray, lam: float, step: float) -> RegCheck:
        """The objective, relative gap and relative residual at L (V, m)."""
        ce = self.ce(L)
        _, G = self.ce_grad(L)
        s_vals = np.linalg.svd(L, compute_uv=False)
        nuc = float(s_vals.sum())
        obj = ce + lam * nuc
        gnorm2 = float(np.linalg.svd(G, compute_uv=False)[0]) if G.any() else 0.0
        s = 1.0 if gnorm2 <= lam else lam / gnorm2
        Q = (1 - s) * self.P + s * _softmax(L)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(Q > 0, Q * np.log(Q), 0.0).sum(axis=0)
        dual = float((self.pi * ent).sum())
        gap = (obj - dual) / max(abs(obj), DIVISION_FLOOR)
        X, _ = svt(L - step * G, step * lam)
        res = float(np.linalg.norm(L - X)) / (step * max(float(np.linalg.norm(G)), DIVISION_FLOOR))
        return RegCheck(obj, ce, nuc, gap, res)


def _validate(data: Any, lam: Any) -> float:
    if not isinstance(data, NTPData):
        raise SolverError(f"the regularised problem needs an NTPData (it depends on P and π), got {type(data).__name__}")
    return validate.real("lambda", lam, lo=0.0, lo_open=True, error=SolverError)


def _fista(prob: _Problem, lam: float, L0: np.ndarray, tol: float, max_iter: int,
           check_every: int) -> tuple[np.ndarray, int, RegCheck]:
    step = 1.0 / prob.Lip
    run = fista(lambda Y: prob.ce_grad(Y)[1], lambda Z: svt(Z, step * lam)[0], L0.copy(), step,
                lambda X: prob.certify(X, lam, step), lambda chk: chk.gap <= tol, max_iter, check_every)
    return run.X, run.iterations, run.certificate


def lambda_max(data: NTPData) -> float:
    """The smallest λ for which ``L = 0`` solves (8): ``‖∇CE(0)‖_2 = ‖(1/V - P) diag(π)‖_2``.

    Meaningful λ lie below it (with uniform π this is O(1/√m), so e.g. λ = 0.01 is already trivial for m = 200).

    Parameters
    ----------
    data : NTPData

    Returns
    -------
    float

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> float(g.solve_regularized(data, 1.01 * g.lambda_max(data)).nuclear_norm)
    0.0
    """
    if not isinstance(data, NTPData):
        raise SolverError(f"lambda_max needs an NTPData, got {type(data).__name__}")
    G = (1.0 / data.V - data.P.toarray()) * data.pi
    return float(np.linalg.svd(G, compute_uv=False)[0])


def solve_regularized(
    data: NTPData,
    lam: float,
    tol: float = 1e-6,
    max_iter: int = 20000,
    L0: np.ndarray | None = None,
    threads: int = 1,
    check_every: int = 20,
) -> RegResult:
    """Solve ``min_L CE(L) + λ‖L‖_*`` (problem (8), d >= V) to a relative duality gap ``tol``.

    Parameters
    ----------
    data : NTPData
    lam : float > 0
    tol : float
        Target relative duality gap.
    max_iter : int
    L0 : ndarray (V, m), optional
        Warm start (default 0).
    threads : int
        BLAS threads.
    check_every : int
        Iterations between gap checks.

    Returns
    -------
    RegResult; a :class:`SolverWarning` is issued (and ``converged`` is False) if ``tol`` was not reached.

    Raises
    ------
    SolverError
        ``lam`` not a positive finite number, or bad solver options.

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> round(g.solve_regularized(data, 1e-3).ce - data.entropy_bound, 2)
    0.02
    """
    lam = _validate(data, lam)
    check_solver_options(tol, max_iter, threads, check_every)
    t0 = time.perf_counter()
    prob = _Problem(data)
    if L0 is None:
        L0 = np.zeros((data.V, data.m))
    else:
        L0 = np.array(L0, dtype=np.float64)
        if L0.shape != (data.V, data.m):
            raise SolverError(f"warm start has shape {L0.shape}, expected {(data.V, data.m)}")
    with threadpool_limits(int(threads)):
        L, it, chk = _fista(prob, lam, L0, float(tol), int(max_iter), int(check_every))
    status = Status.from_gap(chk.gap, tol)
    if not status.solved:
        warnings.warn(f"regularised problem (λ={lam:g}) stopped at relative gap {chk.gap:.2e} > tol {tol:.1e} after "
                      f"{it} iterations; raise max_iter or tol", SolverWarning, stacklevel=2)
    L.setflags(write=False)
    stats = SolverStats(status, "fista", int(it), time.perf_counter() - t0, float(chk.gap), chk.residual, float(tol),
                        int(threads))
    return RegResult(lam, L, chk.objective, chk.ce, chk.nuclear, stats, {"step": 1.0 / prob.Lip, "threads": threads})


def regularization_path(
    data: NTPData,
    lams: Sequence[float],
    tol: float = 1e-6,
    max_iter: int = 20000,
    threads: int = 1,
    check_every: int = 20,
) -> list[RegResult]:
    """Solve the regularised problem (8) (theory.md §4) for each λ in ``lams``: the regularisation path.

    The λ are processed from largest to smallest, each warm-started from the previous solution; as λ → 0 the
    cross-entropy falls to ℋ and the direction of ``L − L_in`` approaches L_mm (Thms 1-2).

    Parameters
    ----------
    data : NTPData
    lams : sequence of float
        Positive penalties (below :func:`lambda_max` to be non-trivial).
    tol, max_iter, threads, check_every
        As for :func:`solve_regularized` (the accelerated proximal-gradient solver).

    Returns
    -------
    list of RegResult
        In the order of ``lams``: ``L``, ``ce``, ``objective``, ``nuclear_norm``, ``stats`` (with the status).

    Raises
    ------
    SolverError
        A λ that is not a positive finite number, or bad solver options.

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> path = g.regularization_path(data, [1e-2, 1e-3])
    >>> [round(p.ce - data.entropy_bound, 2) for p in path]
    [0.25, 0.02]
    """
    lams_f = [_validate(data, l) for l in lams]
    if not lams_f:
        raise SolverError("give at least one lambda")
    check_solver_options(tol, max_iter, threads, check_every)
    order = np.argsort(lams_f)[::-1]
    out: dict[int, RegResult] = {}
    L0 = None
    for i in order:
        r = solve_regularized(data, lams_f[i], tol=tol, max_iter=max_iter, L0=L0, threads=threads,
                              check_every=check_every)
        out[int(i)] = r
        L0 = np.asarray(r.L)
    return [out[i] for i in range(len(lams_f))]


def path_diagnostics(data: NTPData, results: Sequence[RegResult], L_mm: np.ndarray) -> list[dict[str, Any]]:
    """The convergence Theorems 1-2 predict along the path, one dict per result (its summary plus):

    ``ce_minus_H`` = CE(L_λ) − ℋ, ``dist_PF_Lin`` = ‖P_F(L_λ) − L_in‖_F, and ``dist_direction_mm`` =
    ‖L_λ/‖L_λ‖ − L_mm/‖L_mm‖‖_F (None when L_λ = 0, i.e. λ >= λ_max). ``L_mm``: shape (V, m).
    """
    Lin = L_in(data)
    rows = []
    for r in results:
        L = np.asarray(r.L)
        rows.append({**r.summary(), "ce_minus_H": r.ce - data.entropy_bound,
                     "dist_PF_Lin": float(np.linalg.norm(proj_F(L, data) - Lin)),
                     "dist_direction_mm": direction_distance(L, L_mm) if r.nuclear_norm > 0 else None})
    return rows


__all__ = ["RegResult", "RegCheck", "lambda_max", "solve_regularized", "regularization_path", "path_diagnostics"]
