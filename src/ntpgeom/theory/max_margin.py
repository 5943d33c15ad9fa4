"""The NTP max-margin logits in other norms (theory.md §§3, 8; Fan, Schmidt & Thrampoulidis 2025): which implicit
bias does a model follow?

``max_margin(data, norm)`` solves ``min ‖L‖ s.t. L[z,j] = L[z',j] (z, z' ∈ S_j), L[z,j] − L[v,j] ≥ 1 (z ∈ S_j,
v ∉ S_j)`` (the constraints of NTP-SVM*, theory.md §3) in four norms, each with a certified duality gap:

========== ======================= ============================================ ==================================
norm       optimiser it predicts   solution                                     certificate (dual ``A``)
========== ======================= ============================================ ==================================
nuclear    GD on factored W H      ``L_mm``: :func:`solve_ntp_svm` (same call)  its own (``‖A‖_2 ≤ 1``)
fro        GD on free logits       closed form ``S̃`` (unique)                  ``S̃/‖S̃‖_F``: gap 0
max        sign descent / Adam     closed form ``+1/2`` in, ``−1/2`` out        one ±1/2 pair: gap 0; or
                                   (unique on columns with ``k_j < V``)         ``method="lp"``: HiGHS + its dual
spectral   spectral descent / Muon ADMM on the reduced problem (not unique)     repaired ADMM multiplier
========== ======================= ============================================ ==================================

**Duality (every norm).** For a norm with dual norm ``‖·‖°`` the dual problem is
``max tr(AᵀS̃) s.t. 1ᵀA = 0, A[v,j] ≤ 0 (v ∉ S_j), ‖A‖° ≤ 1``; for feasible L and dual-feasible A,
``tr(AᵀS̃) ≤ ⟨A, L⟩ ≤ ‖A‖°‖L‖``, so ``(‖L‖ − tr(AᵀS̃)) / ‖L‖`` bounds the relative suboptimality (``.gap``).

**Reduction.** Every norm here is invariant under permuting rows and columns, so averaging a solution over the swaps
of identical support columns (and identical membership rows) keeps it feasible and does not raise the norm: a
block-constant optimum always exists and the problem reduces to the distinct rows/columns of S with multiplicities
``r``, ``c`` (the reduction of NTP-SVM*). The reduced objective is ``‖diag(√r) L̂ diag(√c)‖`` for the Schatten norms
(nuclear, spectral: the expansion is an isometry up to these weights), ``(Σ r c L̂²)^{1/2}`` for Frobenius, and
``max |L̂|`` for the max norm (multiplicities drop out); the dual norms carry the same weights (ℓ1: ``Σ r c |Â|``).
Frobenius and max are moreover column-separable (the max norm through its value, which every column with
``k_j < V`` attains), hence their closed forms; the spectral norm is not, and is solved on the reduced pattern.

Frobenius: per column the closest feasible point to 0 is ``S̃[:, j]``, so ``L = S̃`` (Prop. "S̃ is the ℓ2 max
margin", theory.md §8) — the direction free-logit GD turns towards. Max norm: a margin of 1 between numbers of
modulus ≤ t needs t ≥ 1/2, and t = 1/2 forces ``+1/2`` in and ``−1/2`` out; columns whose support is the whole
vocabulary carry no margin and are set to 0. Its token-centred form is ``S̃`` again: after the softmax shift the
free-logit ℓ∞ and ℓ2 predictions coincide (they differ only in the un-centred parameters).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SolverError, SolverWarning
from ..reprs import short_repr
from ..status import SolverStats, Status, check_solver_options
from .margin_norms import norm_value, repair_dual
from .pattern import PatternLike, Reduction, SupportPattern, support_pattern
from .spectral_margin import select_min_fro, spectral_admm
from .svm import solve_ntp_svm
from .svm_backends import max_violation

#: The norms :func:`max_margin` solves.
NORMS = ("nuclear", "fro", "max", "spectral")


@dataclass(frozen=True, eq=False)
class MaxMarginResult:
    """A certified NTP max-margin solution in one norm.

    Attributes
    ----------
    L : ndarray, shape (V, m)
        Feasible logits (``stats.residual`` = largest constraint violation, rounding only).
    norm : str
        One of :data:`NORMS`.
    value : float
        ``‖L‖`` in that norm.
    dual : ndarray, shape (V, m)
        Dual-feasible A (``1ᵀA = 0``, ``A ≤ 0`` off the support, dual norm ≤ 1).
    dual_value : float
        ``tr(AᵀS̃)``: a lower bound on the optimum.
    reduced_shape : (int, int)
        Shape of the reduced problem that was solved.
    stats : SolverStats
        ``gap`` = ``(value − dual_value) / value``; ``status`` OPTIMAL when ``gap <= tol``.
    info : dict
        Method details (JSON-serialisable).
    """

    __repr__ = short_repr

    L: np.ndarray
    norm: str
    value: float
    dual: np.ndarray
    dual_value: float
    reduced_shape: tuple[int, int]
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the solve.")
    gap = property(lambda self: self.stats.gap, doc="Certified relative duality gap.")
    max_violation = property(lambda self: self.stats.residual, doc="Largest constraint violation of L.")

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        V, m = self.L.shape
        return {"norm": self.norm, "V": V, "m": m, "value": self.value, "dual_value": self.dual_value,
                "reduced_shape": list(self.reduced_shape), **self.stats.to_dict()}


# ------------------------------------------------------------------------------------------- closed forms
@dataclass(frozen=True, eq=False)
class _Solution:
    L_hat: np.ndarray
    A_hat: np.ndarray
    dual_value: float
    method: str
    iterations: int = 0
    info: dict = field(default_factory=dict)


def _fro(red: Reduction) -> _Solution:
    A, dval = repair_dual(red.S_tilde, red, "fro")
    return _Solution(red.S_tilde, A, dval, "closed")


def _max_closed(red: Reduction) -> _Solution:
    mask = red.mask
    live = ~mask.all(axis=0)  # columns with k_j < V carry margins
    L = np.where(live, np.where(mask, 0.5, -0.5), 0.0)
    A = np.zeros(mask.shape)
    if live.any():
        j = int(np.flatnonzero(live)[0])
        A[int(np.flatnonzero(mask[:, j])[0]), j] = 1.0
        A[int(np.flatnonzero(~mask[:, j])[0]), j] = -1.0
    A, dval = repair_dual(A, red, "max") if live.any() else (A, 0.0)
    return _Solution(L, A, dval, "closed")


def _max_lp(red: Reduction, opts: dict[str, Any]) -> _Solution:
    """The ℓ∞ problem as an LP (HiGHS): variables ``(t, a_j, x_vj)``; certified by its repaired margin duals."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    mask = red.mask
    mr = mask.shape[1]
    vs, js = np.nonzero(~mask)
    n_off = len(vs)
    nv = 1 + mr + n_off  # t, a (mr), x (n_off)
    ia, ix = 1 + np.arange(mr), 1 + mr + np.arange(n_off)
    rows = [  # a - t <= 0, -a - t <= 0, x - t <= 0, -x - t <= 0, x - a <= -1
        (ia, 1.0), (ia, -1.0), (ix, 1.0), (ix, -1.0)]
    blocks, b = [], []
    for idx, sgn in rows:
        n = len(idx)
        M = sp.coo_array((np.r_[np.full(n, sgn), -np.ones(n)], (np.r_[np.arange(n), np.arange(n)],
                                                                 np.r_[idx, np.zeros(n, dtype=int)])), shape=(n, nv))
        blocks.append(M)
        b.append(np.zeros(n))
    Mm = sp.coo_array((np.r_[np.ones(n_off), -np.ones(n_off)], (np.r_[np.arange(n_off), np.arange(n_off)],
                                                                 np.r_[ix, 1 + js])), shape=(n_off, nv))
    blocks.append(Mm)
    b.append(-np.ones(n_off))
    cost = np.zeros(nv)
    cost[0] = 1.0
    bounds = [(0, None)] + [(None, None)] * (nv - 1)
    res = linprog(cost, A_ub=sp.vstack(blocks).tocsr(), b_ub=np.concatenate(b), bounds=bounds, method="highs",
                  options={"time_limit": opts.get("time_limit") or np.inf})
    if res.x is None:
        raise SolverError(f"HiGHS returned no solution for the max-norm LP ({res.message})")
    t, a, x = res.x[0], res.x[ia], res.x[ix]
    L = np.where(mask, a, 0.0)
    L[vs, js] = np.minimum(x, a[js] - 1.0)
    lam = -np.asarray(res.ineqlin.marginals)[-n_off:] if n_off else np.zeros(0)  # >= 0: margin multipliers
    A = np.zeros(mask.shape)
    A[vs, js] = -lam / (red.r[vs] * red.c[js])  # entry values of the full A (multipliers are per reduced entry)
    A, dval = repair_dual(A, red, "max")
    return _Solution(L, A, dval, "lp", int(getattr(res, "nit", 0)), {"highs_status": str(res.message),
                                                                       "highs_value": float(t)})


# ------------------------------------------------------------------------------------------------ driver
def _nuclear(pattern: SupportPattern, opts: dict[str, Any], t0: float) -> MaxMarginResult:
    res = solve_ntp_svm(pattern, tol=opts["tol"], method=opts["method"],
                        max_iter=opts["max_iter"], threads=opts["threads"], time_limit=opts["time_limit"])
    stats = SolverStats(res.status, res.method, res.iterations, time.perf_counter() - t0, res.gap,
                        res.max_violation, res.tol, res.threads)
    return MaxMarginResult(res.L, "nuclear", res.nuclear_norm, res.dual, res.dual_value, res.reduced_shape, stats,
                           dict(res.info))


def _spectral(red: Reduction, opts: dict[str, Any]) -> _Solution:
    sol = spectral_admm(red, opts)
    info = dict(sol.info)
    L_hat = sol.L_hat
    if opts["select"] == "fro":
        t = float(np.linalg.norm(red.scaled(L_hat), 2))
        L_hat, sel_it = select_min_fro(red, t, max_iter=opts["select_iter"])
        info.update(select="fro", select_iterations=sel_it, select_converged=sel_it < opts["select_iter"])
    return _Solution(L_hat, sol.A_hat, sol.dual_value, "admm", sol.iterations, info)


_REDUCED: dict[str, Callable[[Reduction, dict[str, Any]], _Solution]] = {
    "fro": lambda red, o: _fro(red),
    "max": lambda red, o: _max_lp(red, o) if o["method"] == "lp" else _max_closed(red),
    "spectral": _spectral,
}


def max_margin(data: PatternLike, norm: str = "nuclear", tol: float = 1e-6, method: str = "auto",
               max_iter: int = 20000, threads: int = 1, *, rho: float | None = None, check_every: int = 10,
               time_limit: float | None = None, select: str | None = None, select_iter: int = 2000
               ) -> MaxMarginResult:
    """The NTP max-margin logits in ``norm``, certified (module docstring; theory.md §§3, 8).

    Parameters
    ----------
    data : NTPData, SupportPattern, or 0/1 array / scipy.sparse matrix, shape (V, m)
        Only the support pattern matters.
    norm : {"nuclear", "fro", "max", "spectral"}
    tol : float
        Target relative duality gap (iterative methods: nuclear, spectral).
    method : str
        ``nuclear``: a backend of :func:`solve_ntp_svm` (``"auto"``, ``"fast"``, ``"cvxpy"``, ``"large"``);
        ``max``: ``"auto"`` (closed form) or ``"lp"`` (HiGHS); ignored by the others.
    select : {"fro", None}
        ``spectral`` only (its optimum is not unique): ``"fro"`` returns the least-Frobenius point of the set
        ``{L feasible, ‖L‖_2 <= ‖L_admm‖_2}`` (:func:`~ntpgeom.theory.spectral_margin.select_min_fro`, at most
        ``select_iter`` iterations; ``info["select_converged"]``), a canonical prediction; None (default): the
        ADMM's point (deterministic, but one point of a face whose directions differ by up to ~0.5). The gap is
        measured on the point returned, against the same certified dual: the selection's residual lets its σ_max
        exceed the optimum slightly (relative gap ~1e-4 measured on 7 x 12 patterns), so it is often USER_LIMIT at a
        tight ``tol``.
    select_iter : int
    max_iter, threads, rho, check_every, time_limit
        Iteration cap, BLAS threads, initial ADMM penalty (spectral), iterations between gap checks, time limit in
        seconds (spectral, max LP, and the nuclear backends that take one; past it the best certified point so far,
        status ``USER_LIMIT`` with a :class:`~ntpgeom.errors.SolverWarning`).

    Returns
    -------
    MaxMarginResult
        ``.L`` (V, m), ``.value``, ``.gap``, ``.status``, ``.stats``.
    """
    if norm not in NORMS:
        raise SolverError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    check_solver_options(tol, max_iter, threads, check_every)
    if select not in ("fro", None):
        raise SolverError(f"select must be 'fro' or None, got {select!r}")
    check_solver_options(1.0, select_iter)
    opts = {"tol": float(tol), "method": method, "max_iter": int(max_iter), "threads": int(threads), "rho": rho,
            "check_every": int(check_every), "time_limit": time_limit, "select": select,
            "select_iter": int(select_iter)}
    t0 = time.perf_counter()
    opts["deadline"] = np.inf if time_limit is None else t0 + float(time_limit)
    pattern = support_pattern(data)
    if norm == "nuclear":
        return _nuclear(pattern, opts, t0)
    if method not in ("auto", "lp"):
        raise SolverError(f"method {method!r} does not apply to norm {norm!r}; use 'auto' (or 'lp' for max)")
    red = pattern.reduction
    with threadpool_limits(opts["threads"]):
        sol = _REDUCED[norm](red, opts)
    L, A = red.expand(sol.L_hat), red.expand(sol.A_hat)
    L.setflags(write=False)
    A.setflags(write=False)
    value = norm_value(red.scaled(sol.L_hat) if norm == "spectral" else L, norm)
    gap = float((value - sol.dual_value) / value) if value > 0 else 0.0
    if not Status.from_gap(gap, opts["tol"]).solved:
        warnings.warn(f"max_margin ({norm}, {sol.method}) stopped at relative gap {gap:.2e} > tol {opts['tol']:.1e} "
                      f"after {sol.iterations} iterations; raise max_iter, time_limit or tol", SolverWarning,
                      stacklevel=2)
    stats = SolverStats(Status.from_gap(gap, opts["tol"]), sol.method, sol.iterations, time.perf_counter() - t0, gap,
                        max_violation(L, pattern), opts["tol"], opts["threads"])
    return MaxMarginResult(L, norm, value, A, float(sol.dual_value), red.shape, stats, sol.info)


def max_margins(data: PatternLike, norms: tuple[str, ...] = NORMS, **options: Any) -> dict[str, MaxMarginResult]:
    """:func:`max_margin` in each of ``norms`` (default all four) on one pattern (reduced once): the predictions a
    trajectory is compared against. ``options`` go to every call (``tol``, ``max_iter``, ``time_limit``, ...)."""
    pattern = support_pattern(data)
    return {norm: max_margin(pattern, norm, **options) for norm in norms}


__all__ = ["NORMS", "MaxMarginResult", "max_margin", "max_margins"]
