"""NTP-SVM* (theory.md §3): ``min ‖L‖_*`` s.t. equal logits inside each support and a margin >= 1 outside.

The solver works on the *reduced* problem: contexts with identical supports and tokens with identical membership
rows are merged (multiplicities ``c`` and ``r``), and ``‖diag(√r) L̂ diag(√c)‖_*`` is minimised over the reduced
constraints. This is exact: with ``E_r``, ``E_c`` the 0/1 expansion matrices, ``E_r diag(r)^{-1/2}`` and
``E_c diag(c)^{-1/2}`` have orthonormal columns, so the expanded ``L = E_r L̂ E_cᵀ`` has the same nuclear norm and
the same singular vectors up to the isometries, and likewise for the dual matrix ``A``.

The ``fast`` backend is ADMM in the scaled variable ``X = diag(√r) L̂ diag(√c)`` with singular-value thresholding
(eigendecomposition of the smaller Gram matrix) and an exact, vectorised weighted projection onto the per-column
constraint set, warm-started from S̃, with residual balancing of the penalty. Every reported answer is checked: the
primal is exactly feasible (it is the output of the projection) and a dual-feasible ``A`` (``‖A‖_2 <= 1``, ``1ᵀA = 0``,
``A <= 0`` off the support) built from the ADMM multiplier certifies the relative duality gap
``(‖L‖_* - tr(AᵀS̃)) / ‖L‖_*``.

Backends are looked up by name in :data:`BACKENDS` (name -> ``(SupportPattern, SolveOptions) -> BackendSolution``);
:func:`auto_method` picks one for ``method="auto"``; ``solve_ntp_svm`` checks whatever a backend returns.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SolverError, SolverWarning
from ..status import SolverStats, Status, check_solver_options
from .pattern import PatternLike, SupportPattern, singular_rank, support_pattern
from .svm_backends import Backend, BackendSolution, SolveOptions, max_violation, solve_admm, solve_cvxpy

#: The backends, by name; every one has the :data:`~ntpgeom.theory.svm_backends.Backend` signature.
BACKENDS: dict[str, Backend] = {"fast": solve_admm, "cvxpy": solve_cvxpy}
#: Reference backends always run on the full problem (no Prop. 3 shortcut), to serve as independent oracles.
REFERENCE_BACKENDS = frozenset({"cvxpy"})
METHODS = ("auto", *BACKENDS)


def auto_method(pattern: SupportPattern) -> str:
    """The backend ``method="auto"`` uses for this pattern."""
    return "fast"


# ------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class SVMResult:
    """A checked solution of NTP-SVM*.

    Attributes
    ----------
    L : ndarray, shape (V, m)
        Primal solution (exactly feasible up to rounding: ``max_violation``).
    nuclear_norm : float
        ``‖L‖_*``.
    dual : ndarray, shape (V, m)
        Dual-feasible A: ``‖A‖_2 <= 1``, ``1ᵀA = 0``, ``A <= 0`` off the support.
    dual_value : float
        ``tr(AᵀS̃)``, a lower bound on the optimum.
    rank : int
        Numerical rank of L (singular values above ``1e-8 σ_max``).
    certificate_holds : bool
        Whether Prop. 3's S̃ certificate holds for this S.
    reduced_shape : (int, int)
        Shape of the reduced problem.
    stats : SolverStats
        Status (``CERTIFIED_BY_PROP3`` when S̃ was returned, ``OPTIMAL`` when ``gap <= tol``, else ``USER_LIMIT``),
        backend (``"tilde"``, ``"fast"``, ``"cvxpy"``), iterations, seconds, relative duality gap
        ``(‖L‖_* - tr(AᵀS̃)) / ‖L‖_*`` (an upper bound on the relative suboptimality), ``residual`` = the largest
        constraint violation, tol, threads. Also readable as ``.status``, ``.method``, ``.gap``,
        ``.max_violation``, ``.iterations``, ``.seconds``, ``.converged``, ``.tol``, ``.threads``.
    info : dict
        Backend details (penalty, history, solver status), JSON-serialisable.
    """

    L: np.ndarray
    nuclear_norm: float
    dual: np.ndarray
    dual_value: float
    rank: int
    certificate_holds: bool
    reduced_shape: tuple[int, int]
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the solve.")
    method = property(lambda self: self.stats.backend, doc="The backend that produced L.")
    gap = property(lambda self: self.stats.gap, doc="Certified relative duality gap.")
    max_violation = property(lambda self: self.stats.residual, doc="Largest constraint violation of L.")
    iterations = property(lambda self: self.stats.iterations)
    seconds = property(lambda self: self.stats.seconds)
    tol = property(lambda self: self.stats.tol)
    threads = property(lambda self: self.stats.threads)
    converged = property(lambda self: self.stats.converged, doc="Whether ``gap <= tol``.")

    @property
    def primal_value(self) -> float:
        """Alias of ``nuclear_norm``."""
        return self.nuclear_norm

    def factors(self, rtol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
        """``(W, H) = (UΣ^{1/2}, Σ^{1/2}Vᵀ)`` of L, shapes (V, r) and (r, m); see :func:`ntpgeom.theory.factors`."""
        from .geometry import factors

        return factors(self.L, rtol=rtol)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars (``status`` as its string value)."""
        V, m = self.L.shape
        return {
            "V": V, "m": m, "reduced_shape": list(self.reduced_shape), "nuclear_norm": self.nuclear_norm,
            "dual_value": self.dual_value, "gap": self.gap, "max_violation": self.max_violation, "rank": self.rank,
            "iterations": self.iterations, "seconds": self.seconds, "method": self.method,
            "converged": self.converged, "certificate_holds": self.certificate_holds, "tol": self.tol,
            "threads": self.threads, "status": self.status.value,
        }


# ------------------------------------------------------------------------------------------------ solvers
def _options(method: str, tol: Any, max_iter: Any, threads: Any, check_every: Any, **rest: Any) -> SolveOptions:
    if method != "auto" and method not in BACKENDS:
        raise SolverError(f"unknown method {method!r}; choose one of {', '.join(('auto', *BACKENDS))}")
    check_solver_options(tol, max_iter, threads, check_every)
    return SolveOptions(tol=float(tol), max_iter=int(max_iter), threads=int(threads), check_every=int(check_every),
                        **rest)


def _tilde_solution(pattern: SupportPattern) -> BackendSolution:
    """L = S̃ with the dual A = UVᵀ of Prop. 3 (also the all-ones S, where there are no margins and L = S̃ = 0)."""
    red, A_t = pattern.reduction, pattern.tilde.A
    Lhat = red.S_tilde
    dval = float((np.where(red.mask, A_t, 0.0) * red.r[:, None] * red.c).sum())
    s_vals = np.linalg.svd(red.scaled(Lhat), compute_uv=False)  # the singular values of the full L (isometry)
    return BackendSolution("tilde", red.expand(Lhat), red.expand(A_t), dval, s_vals, 0)


def _checked(pattern: SupportPattern, sol: BackendSolution, opts: SolveOptions, t0: float) -> SVMResult:
    """Check a backend's answer: its nuclear norm, rank, relative gap, constraint violation and status."""
    primal = float(sol.singular_values.sum())
    gap = float((primal - sol.dual_value) / primal) if primal > 0 else 0.0
    viol = max_violation(sol.L, pattern)
    status = Status.from_gap(gap, opts.tol, certified_by_prop3=sol.method == "tilde")
    if not status.solved:
        warnings.warn(
            f"NTP-SVM* ({sol.method}) stopped at relative gap {gap:.2e} > tol {opts.tol:.1e} after {sol.iterations} "
            "iterations; raise max_iter or tol", SolverWarning, stacklevel=3)
    L, A = np.asarray(sol.L, dtype=np.float64), np.asarray(sol.dual, dtype=np.float64)
    L.setflags(write=False)
    A.setflags(write=False)
    stats = SolverStats(status, sol.method, int(sol.iterations), time.perf_counter() - t0, gap, viol, opts.tol,
                        opts.threads)
    info = {"tilde_worst": pattern.tilde.worst, **sol.info, "seed": opts.seed}
    return SVMResult(L, primal, A, float(sol.dual_value), singular_rank(sol.singular_values, 1e-8),
                     bool(pattern.tilde.holds), pattern.reduction.shape, stats, info)


def solve_ntp_svm(
    S: PatternLike,
    tol: float = 1e-6,
    method: str = "auto",
    max_iter: int = 20000,
    seed: int = 0,
    threads: int = 1,
    *,
    rho: float | None = None,
    check_every: int = 10,
    use_certificate: bool = True,
    cvxpy_eps: float = 1e-7,
    time_limit: float | None = None,
) -> SVMResult:
    """Solve NTP-SVM* and certify the answer.

    Parameters
    ----------
    S : NTPData, SupportPattern, or 0/1 dense array or scipy.sparse matrix, shape (V, m)
        Support pattern (only S matters, never P). A :class:`~ntpgeom.theory.SupportPattern` reuses its reduction.
    tol : float
        Target relative duality gap.
    method : {"auto", "fast", "cvxpy"} or another key of :data:`BACKENDS`
        ``fast``: reduced ADMM; ``cvxpy``: reference backend, cvxpy + SCS on the full problem (optional extra
        ``ntpgeom[cvx]``); ``auto``: :func:`auto_method`.
    max_iter : int
        Iteration cap (ADMM iterations, or SCS iterations).
    seed : int
        Unused by the deterministic backends; recorded for provenance.
    threads : int
        BLAS threads (threadpoolctl); 1 is fastest for these sizes.
    rho : float, optional
        Initial ADMM penalty (default: from the scale of S̃).
    check_every : int
        Iterations between duality-gap checks.
    use_certificate : bool
        If Prop. 3's certificate holds, return S̃ immediately (it is optimal); never for a reference backend.
    cvxpy_eps : float
        SCS accuracy for ``method="cvxpy"``.
    time_limit : float, optional
        SCS time limit in seconds (``method="cvxpy"``).

    Returns
    -------
    SVMResult
        If ``tol`` was not reached a :class:`SolverWarning` is issued and the status is ``USER_LIMIT``.
    """
    opts = _options(method, tol, max_iter, threads, check_every, seed=seed, rho=rho, cvxpy_eps=cvxpy_eps,
                    time_limit=time_limit)
    t0 = time.perf_counter()
    pattern = support_pattern(S)
    name = auto_method(pattern) if method == "auto" else method
    with threadpool_limits(opts.threads):
        tilde = pattern.tilde
        if name not in REFERENCE_BACKENDS and ((tilde.holds and use_certificate) or pattern.reduction.mask.all()):
            sol = _tilde_solution(pattern)
        else:
            sol = BACKENDS[name](pattern, opts)
    return _checked(pattern, sol, opts, t0)


__all__ = ["BACKENDS", "METHODS", "REFERENCE_BACKENDS", "SVMResult", "auto_method", "solve_ntp_svm"]
