"""NTP-SVM* backends and the pieces they share: the exact projection onto the constraint set, the repair of a dual
estimate into a dual-feasible certificate, the constraint violation, and two built-in backends (reduced ADMM and the
cvxpy + SCS reference; the third, ``large``, is :func:`ntpgeom.theory.svm_large.large_backend`).

A backend is a callable ``(pattern: SupportPattern, opts: SolveOptions) -> BackendSolution`` (the :data:`Backend`
signature); :func:`ntpgeom.theory.svm.solve_ntp_svm` looks backends up by name in its ``BACKENDS`` table and checks
whatever they return (gap, violation, rank) itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import SolverError
from ..progress import Progress
from .pattern import PatternLike, Reduction, SupportPattern, singular_rank, support_mask, svt, tilde_check
from .norms import nuclear_norm
from .solve_monitor import INTERRUPTED, SolveMonitor
from .tolerances import CVXPY_POLAR_RANK_RTOL, RHO_SCALE_FLOOR


@dataclass(frozen=True)
class SolveOptions:
    """The options of one NTP-SVM* solve (validated by ``solve_ntp_svm``); see its docstring for their meaning."""

    tol: float = 1e-6
    max_iter: int = 20000
    seed: int = 0
    threads: int = 1
    rho: float | None = None
    check_every: int = 10
    cvxpy_eps: float = 1e-7
    time_limit: float | None = None
    use_certificate: bool = True
    progress: Progress | None = None

    def monitor(self, method: str) -> SolveMonitor:
        """A :class:`~ntpgeom.theory.solve_monitor.SolveMonitor` of these options for backend ``method``."""
        return SolveMonitor(method, self.tol, self.max_iter, self.time_limit, self.progress)


@dataclass(frozen=True, eq=False)
class BackendSolution:
    """What a backend returns; ``solve_ntp_svm`` turns it into a checked :class:`SVMResult`.

    Attributes
    ----------
    method : str
        Name of the backend that produced it.
    L : ndarray, shape (V, m)
        Primal point (feasible: the output of :func:`project_columns`).
    dual : ndarray, shape (V, m)
        Dual-feasible A (``‖A‖_2 <= 1``, ``1ᵀA = 0``, ``A <= 0`` off the support), e.g. from :func:`dual_certificate`.
    dual_value : float
        ``tr(AᵀS̃)``.
    singular_values : ndarray, shape (min(V, m),) or shorter
        Singular values of L (decreasing); may come from the reduced, scaled problem (same values).
    iterations : int
    info : dict
        Backend details (JSON-serialisable: numbers, strings, lists).
    primal : float, optional
        The backend's own certified upper bound on ``‖L‖_*`` (``large``: float64 ``Σ ‖X q_i‖``); default: the sum of
        ``singular_values``.
    certificate_holds : bool, optional
        The backend's own Prop. 3 decision, for a backend that runs Prop. 3 itself (``large``); default: the
        pattern's.
    """

    method: str
    L: np.ndarray
    dual: np.ndarray
    dual_value: float
    singular_values: np.ndarray
    iterations: int
    info: dict = field(default_factory=dict)
    primal: float | None = None
    certificate_holds: bool | None = None


Backend = Callable[[SupportPattern, SolveOptions], BackendSolution]


# -------------------------------------------------------------------------------------------- core operations
def project_columns(Z: np.ndarray, mask: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
    """Weighted projection of every column onto ``{x : x_z = a for z in S_j, x_v <= a - 1 for v not in S_j}``.

    Minimises ``Σ_z r_z (x_z - Z[z, j])²`` per column; exact (a 1-D piecewise-quadratic problem in ``a`` solved by
    sorting the breakpoints), vectorised across columns.

    Parameters
    ----------
    Z : array, shape (V, m)
    mask : bool array, shape (V, m)
        The supports.
    r : array, shape (V,), optional
        Positive row weights (default 1).

    Returns
    -------
    ndarray, shape (V, m): exactly feasible.
    """
    V, m = Z.shape
    r = np.ones(V) if r is None else np.asarray(r, dtype=np.float64)
    Zt = np.ascontiguousarray(Z.T)  # (m, V): per-column work along the contiguous axis
    Mt = np.ascontiguousarray(mask.T)
    B = (Mt * r).sum(axis=1)
    A = np.where(Mt, Zt * r, 0.0).sum(axis=1)
    a0 = A / B  # the optimal a is >= the in-support mean: only breakpoints above it can be active
    T = np.where(Mt, -np.inf, Zt + 1.0)
    cand = T > a0[:, None]
    K = int(cand.sum(axis=1).max()) if cand.any() else 0
    if K == 0:
        return np.where(mask, a0, np.minimum(Z, a0 - 1.0))
    T = np.where(cand, T, -np.inf)
    if K < V:
        idx = np.argpartition(-T, K - 1, axis=1)[:, :K]
        Tk = np.take_along_axis(T, idx, axis=1)
    else:
        idx = np.broadcast_to(np.arange(V), (m, V))
        Tk = T
    order = np.argsort(-Tk, axis=1, kind="stable")
    Ts = np.take_along_axis(Tk, order, axis=1)
    fin = np.isfinite(Ts)
    Rs = np.where(fin, r[np.take_along_axis(idx, order, axis=1)], 0.0)
    RTs = Rs * np.where(fin, Ts, 0.0)
    cumR = np.concatenate([np.zeros((m, 1)), np.cumsum(Rs, axis=1)], axis=1)
    cumRT = np.concatenate([np.zeros((m, 1)), np.cumsum(RTs, axis=1)], axis=1)
    aK = (A[:, None] + cumRT) / (B[:, None] + cumR)  # root of the piece with the K largest breakpoints active
    tnext = np.concatenate([Ts, np.full((m, 1), -np.inf)], axis=1)
    Kst = np.argmax(aK >= tnext, axis=1)
    a = aK[np.arange(m), Kst]
    return np.where(mask, a, np.minimum(Z, a - 1.0))


#: ``‖M‖_*`` (:func:`ntpgeom.theory.norms.nuclear_norm`; the old name, kept).
nuclear = nuclear_norm


def dual_certificate(Lam_hat: np.ndarray, red: Reduction) -> tuple[np.ndarray, float]:
    """Repair a dual estimate into a dual-feasible one.

    ``Lam_hat`` (V', m') holds the entry values of the full dual A on the reduced pattern ``red``. Off-support entries
    are clipped to <= 0, each column's in-support entries are shifted so that ``1ᵀA = 0`` (weighted by the row
    multiplicities), then A is divided by its spectral norm. Returns the repaired entry values and the dual value
    ``tr(AᵀS̃)``.
    """
    mask, r, c = red.mask, red.r, red.c
    A = np.where(mask, Lam_hat, np.minimum(Lam_hat, 0.0))
    colsum = (r[:, None] * A).sum(axis=0)
    k = (r[:, None] * mask).sum(axis=0)
    A = np.where(mask, A - colsum / k, A)
    nrm = float(np.linalg.svd(red.scaled(A), compute_uv=False)[0])
    if nrm <= 0:
        return A, 0.0
    A = A / nrm
    val = float((np.where(mask, A, 0.0) * r[:, None] * c).sum())
    return A, val


def trivial_reduction(mask: np.ndarray) -> Reduction:
    """The identity reduction of a (V, m) mask (multiplicities 1), for backends that work on the full problem."""
    V, m = mask.shape
    return Reduction(mask, np.ones(V), np.ones(m), np.arange(V), np.arange(m))


def max_violation(L: np.ndarray, S: PatternLike) -> float:
    """Largest violation of the NTP-SVM* constraints by L (V x m): max in-support spread and margin shortfall."""
    mask = support_mask(S)
    L = np.asarray(L, dtype=np.float64)
    hi = np.where(mask, L, -np.inf).max(axis=0)
    lo = np.where(mask, L, np.inf).min(axis=0)
    spread = hi - lo
    off = np.where(mask, -np.inf, L).max(axis=0)
    short = off - (lo - 1.0)
    return float(max(spread.max(), np.max(short, initial=0.0), 0.0))


# --------------------------------------------------------------------------------------------------- ADMM
@dataclass(frozen=True, eq=False)
class AdmmResult:
    """The best iterate of :func:`admm`: reduced primal ``L_hat`` and dual ``A_hat`` (V', m'), ``‖L‖_*``, the dual value,
    the relative gap, the iterations run and ``info`` (final penalty ``rho`` and the ``history`` of gap checks)."""

    L_hat: np.ndarray
    A_hat: np.ndarray
    primal: float
    dual_value: float
    gap: float
    iterations: int
    info: dict


def balance_rho(rho: float, U: Any, rp: float, rd: float) -> tuple[float, Any]:
    """ADMM residual balancing (Boyd et al. 2011, §3.4.1): double ρ when the primal residual ``rp`` exceeds 10x the
    dual ``rd``, halve it in the opposite case; the scaled dual ``U`` (an array or tensor) is rescaled with it."""
    if rp > 10 * rd:
        return rho * 2.0, U / 2.0
    if rd > 10 * rp:
        return rho / 2.0, U * 2.0
    return rho, U


def admm(red: Reduction, opts: SolveOptions, X0: np.ndarray | None = None,
         monitor: SolveMonitor | None = None) -> AdmmResult:
    """ADMM on the scaled reduced problem, with over-relaxation 1.6 and residual balancing of the penalty.

    ``monitor`` (default: from ``opts``) gets every gap check and the best certified point so far, and sets the
    deadline (``opts.time_limit``): past it the best point is returned (``info["status"]`` "time_limit").
    """
    mon = monitor if monitor is not None else opts.monitor("fast")
    mask, r, c = red.mask, red.r, red.c
    W = np.sqrt(r)[:, None] * np.sqrt(c)[None, :]
    St = red.S_tilde
    Y = W * St if X0 is None else X0
    nrm_St = nuclear(W * St)
    # scale of the problem: the subgradient has spectral norm 1; rho ~ 1 / typical singular value
    rho = opts.rho if opts.rho is not None else 1.0 / max(nrm_St / max(min(mask.shape), 1), RHO_SCALE_FLOOR)
    U = np.zeros_like(Y)
    alpha = 1.6
    best: AdmmResult | None = None
    hist: list[list[float]] = []
    it, status = 0, "max_iter"
    for it in range(1, opts.max_iter + 1):
        X, D = svt(Y - U, 1.0 / rho)
        Xr = alpha * X + (1 - alpha) * Y
        Ynew = W * project_columns((Xr + U) / W, mask, r)
        U = U + Xr - Ynew
        rp = np.linalg.norm(X - Ynew)
        rd = rho * np.linalg.norm(Ynew - Y)
        Y = Ynew
        mon.tick(it)
        if it % opts.check_every == 0 or it == opts.max_iter or mon.past_deadline():
            Lhat = project_columns(Y / W, mask, r)  # idempotent: removes rounding drift
            primal = nuclear(W * Lhat)
            Ahat, dval = dual_certificate(rho * D / W, red)
            gap = (primal - dval) / primal if primal > 0 else 0.0
            hist.append([it, primal, dval, gap, rho])
            if best is None or gap < best.gap:
                best = AdmmResult(Lhat, Ahat, primal, dval, gap, it, {})
                mon.keep(best)
            mon.check(it, best.gap)
            status = "optimal" if gap <= opts.tol else "time_limit" if mon.past_deadline() else status
            if status != "max_iter":
                break
        if it % 10 == 0:
            rho, U = balance_rho(rho, U, rp, rd)
    assert best is not None  # the last iteration always checks
    return AdmmResult(best.L_hat, best.A_hat, best.primal, best.dual_value, best.gap, it,
                      {"rho": rho, "history": hist, "status": status})


def tilde_point(red: Reduction) -> AdmmResult:
    """S̃ as a certified point (the ADMM's warm start): its dual is Prop. 3's polar factor, repaired."""
    A, dval = dual_certificate(tilde_check(red).A, red)
    primal = nuclear(red.scaled(red.S_tilde))
    return AdmmResult(red.S_tilde, A, primal, dval, (primal - dval) / primal if primal > 0 else 0.0, 0, {})


def solve_admm(pattern: SupportPattern, opts: SolveOptions) -> BackendSolution:
    """The ``fast`` backend: :func:`admm` on the reduced problem, expanded to (V, m). Ctrl-C during the iterations
    returns the best certified point so far (S̃ before the first check), ``info["status"]`` "interrupted"."""
    red, mon = pattern.reduction, opts.monitor("fast")
    try:
        res = admm(red, opts, monitor=mon)
    except KeyboardInterrupt:
        best = mon.best if mon.best is not None else tilde_point(red)
        res = AdmmResult(best.L_hat, best.A_hat, best.primal, best.dual_value, best.gap, mon.iteration,
                         {"status": INTERRUPTED})
    return BackendSolution("fast", red.expand(res.L_hat), red.expand(res.A_hat), res.dual_value,
                           np.linalg.svd(red.scaled(res.L_hat), compute_uv=False), res.iterations, res.info)


# -------------------------------------------------------------------------------------------------- cvxpy
def solve_cvxpy(pattern: SupportPattern, opts: SolveOptions) -> BackendSolution:
    """The ``cvxpy`` reference backend: cvxpy + SCS on the full problem (optional extra ``ntpgeom[cvx]``)."""
    try:
        import cvxpy as cp
    except ImportError as exc:  # pragma: no cover - optional extra
        raise SolverError("method='cvxpy' needs cvxpy: pip install 'ntpgeom[cvx]'") from exc
    mask = pattern.mask
    V, m = mask.shape
    Lv = cp.Variable((V, m))
    a = cp.Variable(m)
    M = mask.astype(np.float64)
    diff = Lv - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    cons = [cp.multiply(M, diff) == 0, cp.multiply(1.0 - M, diff + 1.0) <= 0]
    prob = cp.Problem(cp.Minimize(cp.normNuc(Lv)), cons)
    kw: dict[str, Any] = {"max_iters": opts.max_iter, "eps_abs": opts.cvxpy_eps, "eps_rel": opts.cvxpy_eps}
    if opts.time_limit is not None:
        kw["time_limit_secs"] = float(opts.time_limit)
    prob.solve(solver=cp.SCS, verbose=False, **kw)
    if Lv.value is None:
        raise SolverError(f"cvxpy/SCS returned no solution (status {prob.status}); try method='fast'")
    st = prob.solver_stats
    info = {"status": prob.status, "scs_objective": prob.value, "scs_iterations": getattr(st, "num_iters", None),
            "scs_solve_time": getattr(st, "solve_time", None),
            "cvxpy_compile_time": getattr(prob, "compilation_time", None)}
    L = project_columns(np.asarray(Lv.value), mask)
    U_, s_, Vt_ = np.linalg.svd(L, full_matrices=False)
    rk = singular_rank(s_, CVXPY_POLAR_RANK_RTOL)
    full = trivial_reduction(mask)
    A, dval = dual_certificate(U_[:, :rk] @ Vt_[:rk], full)
    if cons[0].dual_value is not None and cons[1].dual_value is not None:
        # stationarity: -(M∘y_eq + (1-M)∘y_in) ∈ ∂‖L‖_*, and it is <= 0 off the support
        A0 = -(M * np.asarray(cons[0].dual_value) + (1.0 - M) * np.asarray(cons[1].dual_value))
        A1, d1 = dual_certificate(A0, full)
        if d1 > dval:
            A, dval = A1, d1
    return BackendSolution("cvxpy", L, A, dval, np.linalg.svd(L, compute_uv=False),
                           int(info.get("scs_iterations") or 0), info)


__all__ = [
    "SolveOptions", "BackendSolution", "Backend", "AdmmResult", "project_columns", "nuclear", "dual_certificate",
    "trivial_reduction", "max_violation", "balance_rho", "admm", "tilde_point", "solve_admm", "solve_cvxpy",
]
