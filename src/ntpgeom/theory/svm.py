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

Backends are looked up by name in :data:`BACKENDS` (name -> ``(SupportPattern, SolveOptions) -> BackendSolution``:
``fast``, ``cvxpy`` and ``large``);
:func:`auto_method` picks one for ``method="auto"``; ``solve_ntp_svm`` checks whatever a backend returns.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import NTPData
from ..errors import SolverError, SolverWarning
from ..progress import Progress
from ..status import SolverStats, Status, check_solver_options
from .dense_size import check_dense_size
from .pattern import PatternLike, SupportPattern, singular_rank, support_pattern
from .solve_monitor import INTERRUPTED
from .svm_result import SVMResult
from .tolerances import RANK_RTOL
from .svm_backends import Backend, BackendSolution, SolveOptions, max_violation, solve_admm, solve_cvxpy


def solve_large(pattern: SupportPattern, opts: SolveOptions) -> BackendSolution:
    """The ``large`` backend: :func:`ntpgeom.theory.svm_large.large_backend` (torch, imported on first use)."""
    from .svm_large import large_backend

    return large_backend(pattern, opts)


#: The backends, by name; every one has the :data:`~ntpgeom.theory.svm_backends.Backend` signature.
#: ``large``: :func:`ntpgeom.theory.svm_large.large_backend` (torch, Anderson-accelerated ADMM on the reduced
#: problem, its own float64 certificate).
BACKENDS: dict[str, Backend] = {"fast": solve_admm, "cvxpy": solve_cvxpy, "large": solve_large}
#: Reference backends always run on the full problem (no Prop. 3 shortcut), to serve as independent oracles.
REFERENCE_BACKENDS = frozenset({"cvxpy"})
#: Backends that run Prop. 3 themselves (their own shortcut and ``certificate_holds``), so no shortcut before them.
OWN_PROP3_BACKENDS = frozenset({"large"})
#: ``auto`` picks ``large`` above this many reduced entries V' x m' (measured crossover, bench_svm.py case 8,
#: 1 thread: 0.94x at 197 x 400 (79k entries), 3.3x faster at 291 x 600 (175k)).
LARGE_AUTO_SIZE = 120_000
METHODS = ("auto", *BACKENDS)
#: Bytes per (V, m) entry a solve allocates densely: the mask (its validation included), the expanded L and A, and
#: the violation check's temporaries.
SOLVE_BYTES_PER_ENTRY = 56


def pattern_shape(S: PatternLike) -> tuple[int, int]:
    """(V, m) of a support pattern without densifying it (a non-2-D array gives its own shape, refused later)."""
    shape = S.S.shape if isinstance(S, NTPData) else np.shape(S)
    return (int(shape[0]), int(shape[1])) if len(shape) == 2 else (1, 1)


def auto_method(pattern: SupportPattern) -> str:
    """The backend ``method="auto"`` uses for this pattern: ``large`` above :data:`LARGE_AUTO_SIZE` reduced entries
    (measured crossover: benchmarks/bench_svm.py), else ``fast``."""
    return "large" if pattern.reduction.mask.size > LARGE_AUTO_SIZE else "fast"


# ------------------------------------------------------------------------------------------------ solvers
def _options(method: str, tol: Any, max_iter: Any, threads: Any, check_every: Any, **rest: Any) -> SolveOptions:
    known = ("auto", *BACKENDS)  # BACKENDS may gain entries at run time
    if method not in known:
        raise SolverError(f"unknown method {method!r}; choose one of {', '.join(known)}")
    check_solver_options(tol, max_iter, threads, check_every)
    limit = rest.get("time_limit")
    if limit is not None and not (isinstance(limit, (int, float)) and not isinstance(limit, bool)
                                  and np.isfinite(limit) and limit > 0):
        raise SolverError(f"time_limit must be a positive number of seconds or None, got {limit!r}")
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
    primal = float(sol.singular_values.sum()) if sol.primal is None else sol.primal
    gap = float((primal - sol.dual_value) / primal) if primal > 0 else 0.0
    viol = max_violation(sol.L, pattern)
    status = Status.from_gap(gap, opts.tol, certified_by_prop3=sol.method == "tilde")
    if not status.solved:
        why = f" ({sol.info['status']})" if "status" in sol.info else ""
        hint = "the best certified point so far is returned" if sol.info.get("status") == INTERRUPTED else \
            "raise max_iter, time_limit or tol"
        warnings.warn(f"NTP-SVM* ({sol.method}) stopped{why} at relative gap {gap:.2e} > tol {opts.tol:.1e} after "
                      f"{sol.iterations} iterations; {hint}", SolverWarning, stacklevel=3)
    L, A = np.asarray(sol.L, dtype=np.float64), np.asarray(sol.dual, dtype=np.float64)
    L.setflags(write=False)
    A.setflags(write=False)
    stats = SolverStats(status, sol.method, int(sol.iterations), time.perf_counter() - t0, gap, viol, opts.tol,
                        opts.threads)
    if sol.certificate_holds is None:  # Prop. 3 from the pattern; else the backend ran it (info has tilde_worst)
        holds, info = bool(pattern.tilde.holds), {"tilde_worst": pattern.tilde.worst, **sol.info, "seed": opts.seed}
    else:
        holds, info = bool(sol.certificate_holds), {**sol.info, "seed": opts.seed}
    return SVMResult(L, primal, A, float(sol.dual_value), singular_rank(sol.singular_values, RANK_RTOL), holds,
                     pattern.reduction.shape, stats, info)


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
    progress: Progress | None = None,
) -> SVMResult:
    """Solve NTP-SVM* and certify the answer.

    Parameters
    ----------
    S : NTPData, SupportPattern, or 0/1 dense array or scipy.sparse matrix, shape (V, m)
        Support pattern (only S matters, never P). A :class:`~ntpgeom.theory.SupportPattern` reuses its reduction.
    tol : float
        Target relative duality gap.
    method : {"auto", "fast", "cvxpy", "large"} or another key of :data:`BACKENDS`
        ``fast``: reduced ADMM; ``cvxpy``: reference backend, cvxpy + SCS on the full problem (optional extra
        ``ntpgeom[cvx]``); ``large``: :func:`~ntpgeom.theory.svm_large.solve_ntp_svm_large` (torch; for 10^4-10^5
        contexts); ``auto``: :func:`auto_method`.
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
        Time limit in seconds (``fast`` and ``large``: past it the best certified point is returned with status
        ``USER_LIMIT``; ``cvxpy``: SCS's own). Every backend here builds the dense (V, m) bool mask; a pattern whose
        dense arrays would not fit in half of this machine's memory is refused first (:class:`SolverError`); for
        those call ``solve_ntp_svm_large(..., expand=False)`` (sparse reduction) directly.
    progress : Progress, optional
        ``fast`` and ``large``: called at every gap check as ``progress("NTP-SVM* (large)", iteration, max_iter,
        numbers)`` with ``numbers`` = iteration, certified ``gap``, ``tol``, ``elapsed`` seconds and ``eta`` (an
        estimate of the seconds left; NaN until there is one); see :mod:`ntpgeom.theory.solve_monitor`. ``cvxpy``
        cannot report from inside SCS and never calls it. Ctrl-C (``KeyboardInterrupt``) during the ``fast`` or
        ``large`` iterations returns the best certified point so far (status ``USER_LIMIT`` unless it already meets
        ``tol``, ``info["status"] == "interrupted"``).

    Returns
    -------
    SVMResult
        If ``tol`` was not reached a :class:`SolverWarning` is issued and the status is ``USER_LIMIT``.

    Raises
    ------
    SolverError
        Bad options (an unknown ``method``, a non-positive ``tol``), or a pattern with an empty context.

    Examples
    --------
    >>> import ntpgeom as g
    >>> res = g.solve_ntp_svm(g.corpora.synthetic().S, tol=1e-6)
    >>> res.status is g.Status.OPTIMAL, bool(res.gap <= 1e-6), res.L.shape
    (True, True, (30, 16))
    """
    opts = _options(method, tol, max_iter, threads, check_every, seed=seed, rho=rho, cvxpy_eps=cvxpy_eps,
                    time_limit=time_limit, use_certificate=bool(use_certificate), progress=progress)
    t0 = time.perf_counter()
    if not isinstance(S, SupportPattern):
        check_dense_size(*pattern_shape(S), SOLVE_BYTES_PER_ENTRY)
    pattern = support_pattern(S)
    name = auto_method(pattern) if method == "auto" else method
    with threadpool_limits(opts.threads):
        shortcut = name not in REFERENCE_BACKENDS | OWN_PROP3_BACKENDS
        if shortcut and ((use_certificate and pattern.tilde.holds) or pattern.reduction.mask.all()):
            sol = _tilde_solution(pattern)
        else:
            sol = BACKENDS[name](pattern, opts)
    return _checked(pattern, sol, opts, t0)


__all__ = ["BACKENDS", "LARGE_AUTO_SIZE", "METHODS", "OWN_PROP3_BACKENDS", "REFERENCE_BACKENDS", "SOLVE_BYTES_PER_ENTRY",
           "SVMResult", "auto_method", "pattern_shape", "solve_large", "solve_ntp_svm"]
