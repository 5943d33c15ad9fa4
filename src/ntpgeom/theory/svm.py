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
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import NTPGeomError
from .subspaces import dense_pattern

METHODS = ("auto", "fast", "cvxpy", "large")


class SolverError(NTPGeomError):
    """Invalid solver input or option (bad support matrix, unknown method, missing optional backend)."""


class SolverWarning(UserWarning):
    """A solver stopped before reaching the requested tolerance; the result carries ``converged=False``."""


# --------------------------------------------------------------------------------------------- input & reduction
def support_mask(S: Any) -> np.ndarray:
    """Validate a support pattern (NTPData, scipy.sparse or dense 0/1) and return a dense bool mask, shape (V, m).

    Raises :class:`SolverError` if it is not 2-D, not 0/1, or has an empty column.
    """
    S = dense_pattern(S)
    try:
        arr = np.asarray(S, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SolverError(f"the support matrix must be numeric 0/1, got {type(S).__name__} ({exc})") from exc
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise SolverError(f"the support matrix must be 2-D V x m with V >= 2 and m >= 1, got shape {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise SolverError("the support matrix must contain only 0 and 1; pass data.S or (counts > 0)")
    mask = arr != 0
    k = mask.sum(axis=0)
    if np.any(k == 0):
        raise SolverError(f"context {int(np.flatnonzero(k == 0)[0])} has an empty support; every column needs a 1")
    return mask


@dataclass(frozen=True, eq=False)
class Reduction:
    """The distinct pattern of a support matrix.

    Attributes
    ----------
    mask : bool array, shape (V', m')
        Distinct rows x distinct columns of S.
    r : float array, shape (V',)
        Row (token) multiplicities.
    c : float array, shape (m',)
        Column (context) multiplicities.
    row_group : int array, shape (V,)
        Reduced row of each token.
    col_group : int array, shape (m,)
        Reduced column of each context.
    """

    mask: np.ndarray
    r: np.ndarray
    c: np.ndarray
    row_group: np.ndarray
    col_group: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    def expand(self, M: np.ndarray) -> np.ndarray:
        """Entry values of a reduced (V', m') matrix copied to the full (V, m) matrix."""
        return M[np.ix_(self.row_group, self.col_group)]


def _group_ids(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the distinct rows of a 2-D bool array (numbered by first occurrence) and the first index of each."""
    packed = np.packbits(rows, axis=1)
    _, first, inv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return rank[inv], first[order]


def reduce_pattern(S: Any) -> Reduction:
    """Reduce a support pattern to its distinct columns and rows with multiplicities (theory.md §3, last point)."""
    mask = support_mask(S)
    col_group, col_first = _group_ids(mask.T)
    m1 = mask[:, col_first]
    row_group, row_first = _group_ids(m1)
    red = m1[row_first, :]
    c = np.bincount(col_group, minlength=len(col_first)).astype(np.float64)
    r = np.bincount(row_group, minlength=len(row_first)).astype(np.float64)
    return Reduction(red, r, c, row_group, col_group)


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
        a = a0
    else:
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


def _svt(Z: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Singular-value thresholding via the eigendecomposition of the smaller Gram matrix.

    Returns ``(X, D)`` with ``X = prox_{τ‖·‖_*}(Z)`` and ``D = Z - X`` (singular values ``min(σ, τ)``).
    """
    tall = Z.shape[0] > Z.shape[1]
    Zt = Z.T if tall else Z
    w, Q = np.linalg.eigh(Zt @ Zt.T)
    s = np.sqrt(np.maximum(w, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(s > tau, 1.0 - tau / s, 0.0)
    QtZ = Q.T @ Zt
    X = (Q * keep) @ QtZ
    D = Zt - X
    return (X.T, D.T) if tall else (X, D)


def _nuclear(M: np.ndarray) -> float:
    return float(np.linalg.svd(M, compute_uv=False).sum())


def _dual_certificate(Lam_hat: np.ndarray, mask: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float]:
    """Repair a dual estimate into a dual-feasible one.

    ``Lam_hat`` holds the entry values of the full dual A on the reduced pattern. Off-support entries are clipped to
    <= 0, each column's in-support entries are shifted so that ``1ᵀA = 0`` (weighted by the row multiplicities), then
    A is divided by its spectral norm. Returns the repaired entry values and the dual value ``tr(AᵀS̃)``.
    """
    A = np.where(mask, Lam_hat, np.minimum(Lam_hat, 0.0))
    colsum = (r[:, None] * A).sum(axis=0)
    k = (r[:, None] * mask).sum(axis=0)
    A = np.where(mask, A - colsum / k, A)
    sr, sc = np.sqrt(r), np.sqrt(c)
    nrm = float(np.linalg.svd(sr[:, None] * A * sc, compute_uv=False)[0])
    if nrm <= 0:
        return A, 0.0
    A = A / nrm
    val = float((np.where(mask, A, 0.0) * r[:, None] * c).sum())
    return A, val


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
    gap : float
        Relative duality gap ``(‖L‖_* - tr(AᵀS̃)) / ‖L‖_*``, an upper bound on the relative suboptimality.
    max_violation : float
        Largest constraint violation of L (in-support spread and margin shortfall).
    rank : int
        Numerical rank of L (singular values above ``1e-8 σ_max``).
    iterations : int
    seconds : float
    method : str
        ``"tilde"`` (Prop. 3 certificate held, S̃ returned), ``"fast"`` or ``"cvxpy"``.
    converged : bool
        Whether ``gap <= tol``.
    certificate_holds : bool
        Whether Prop. 3's S̃ certificate holds for this S.
    tol : float
    threads : int
        BLAS threads used.
    reduced_shape : (int, int)
        Shape of the reduced problem.
    info : dict
        Backend details (penalty, history, solver status).
    """

    L: np.ndarray
    nuclear_norm: float
    dual: np.ndarray
    dual_value: float
    gap: float
    max_violation: float
    rank: int
    iterations: int
    seconds: float
    method: str
    converged: bool
    certificate_holds: bool
    tol: float
    threads: int
    reduced_shape: tuple[int, int]
    info: dict = field(default_factory=dict)

    @property
    def primal_value(self) -> float:
        """Alias of ``nuclear_norm``."""
        return self.nuclear_norm

    def factors(self, rtol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
        """``(W, H) = (UΣ^{1/2}, Σ^{1/2}Vᵀ)`` of L, shapes (V, r) and (r, m); see :func:`ntpgeom.theory.factors`."""
        from .geometry import factors

        return factors(self.L, rtol=rtol)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        V, m = self.L.shape
        return {
            "V": V, "m": m, "reduced_shape": list(self.reduced_shape), "nuclear_norm": self.nuclear_norm,
            "dual_value": self.dual_value, "gap": self.gap, "max_violation": self.max_violation, "rank": self.rank,
            "iterations": self.iterations, "seconds": self.seconds, "method": self.method,
            "converged": self.converged, "certificate_holds": self.certificate_holds, "tol": self.tol,
            "threads": self.threads,
        }


def max_violation(L: np.ndarray, S: Any) -> float:
    """Largest violation of the NTP-SVM* constraints by L (V x m): max in-support spread and margin shortfall."""
    mask = support_mask(S)
    L = np.asarray(L, dtype=np.float64)
    hi = np.where(mask, L, -np.inf).max(axis=0)
    lo = np.where(mask, L, np.inf).min(axis=0)
    spread = hi - lo
    off = np.where(mask, -np.inf, L).max(axis=0)
    short = off - (lo - 1.0)
    return float(max(spread.max(), np.max(short, initial=0.0), 0.0))


def _numerical_rank(s: np.ndarray, rtol: float = 1e-8) -> int:
    return int((s > rtol * s[0]).sum()) if s.size and s[0] > 0 else 0


# ------------------------------------------------------------------------------------------------ solvers
def _tilde_check(red: Reduction) -> tuple[bool, float, tuple[int, int], np.ndarray, np.ndarray]:
    """Prop. 3 on the reduced pattern: returns holds, worst off-support entry of A = UVᵀ, its reduced index,
    the entry values of A, and the singular values of the scaled S̃."""
    mask, r, c = red.mask, red.r, red.c
    V = r.sum()
    k = (r[:, None] * mask).sum(axis=0)
    St = mask - k / V
    sr, sc = np.sqrt(r), np.sqrt(c)
    U, s, Vt = np.linalg.svd(sr[:, None] * St * sc, full_matrices=False)
    rk = _numerical_rank(s, 1e-10)
    A = (U[:, :rk] @ Vt[:rk]) / sr[:, None] / sc
    off = np.where(mask, -np.inf, A)
    if np.all(mask):
        return True, -np.inf, (-1, -1), A, s
    idx = np.unravel_index(int(np.argmax(off)), off.shape)
    worst = float(off[idx])
    return worst < 0, worst, (int(idx[0]), int(idx[1])), A, s


def _admm(mask, r, c, tol, max_iter, rho0, check_every, X0=None):
    """ADMM on the scaled reduced problem. Returns (L_hat, A_hat, nuclear, dual_value, gap, iterations, info)."""
    sr, sc = np.sqrt(r), np.sqrt(c)
    W = sr[:, None] * sc[None, :]
    V = r.sum()
    k = (r[:, None] * mask).sum(axis=0)
    St = mask - k / V
    Y = W * St if X0 is None else X0
    nrm_St = _nuclear(W * St)
    # scale of the problem: the subgradient has spectral norm 1; rho ~ 1 / typical singular value
    rho = rho0 if rho0 is not None else 1.0 / max(nrm_St / max(min(mask.shape), 1), 1e-12)
    U = np.zeros_like(Y)
    alpha = 1.6
    best = (np.inf, None, None, None, np.inf)
    hist = []
    it = 0
    Lhat = Y / W
    for it in range(1, max_iter + 1):
        Z = Y - U
        X, D = _svt(Z, 1.0 / rho)
        Xr = alpha * X + (1 - alpha) * Y
        Ynew = W * project_columns((Xr + U) / W, mask, r)
        U = U + Xr - Ynew
        rp = np.linalg.norm(X - Ynew)
        rd = rho * np.linalg.norm(Ynew - Y)
        Y = Ynew
        if it % check_every == 0 or it == max_iter:
            Lhat = Y / W
            Lhat = project_columns(Lhat, mask, r)  # idempotent: removes rounding drift
            primal = _nuclear(W * Lhat)
            Ahat, dval = _dual_certificate(rho * D / W, mask, r, c)
            gap = (primal - dval) / primal if primal > 0 else 0.0
            hist.append((it, primal, dval, gap, rho))
            if gap < best[4]:
                best = (primal, Lhat, Ahat, dval, gap)
            if gap <= tol:
                break
        # residual balancing
        if it % 10 == 0:
            if rp > 10 * rd:
                rho *= 2.0
                U /= 2.0
            elif rd > 10 * rp:
                rho /= 2.0
                U *= 2.0
    primal, Lhat, Ahat, dval, gap = best
    return Lhat, Ahat, primal, dval, gap, it, {"rho": rho, "history": hist}


def _solve_cvxpy(mask: np.ndarray, max_iter: int, eps: float, verbose: bool = False, time_limit: float | None = None):
    try:
        import cvxpy as cp
    except ImportError as exc:  # pragma: no cover - optional extra
        raise SolverError("method='cvxpy' needs cvxpy: pip install 'ntpgeom[cvx]'") from exc
    V, m = mask.shape
    Lv = cp.Variable((V, m))
    a = cp.Variable(m)
    ones = np.ones((V, 1))
    M = mask.astype(np.float64)
    diff = Lv - ones @ cp.reshape(a, (1, m), order="C")
    cons = [cp.multiply(M, diff) == 0, cp.multiply(1.0 - M, diff + 1.0) <= 0]
    prob = cp.Problem(cp.Minimize(cp.normNuc(Lv)), cons)
    kw: dict[str, Any] = {"max_iters": max_iter, "eps_abs": eps, "eps_rel": eps}
    if time_limit is not None:
        kw["time_limit_secs"] = float(time_limit)
    prob.solve(solver=cp.SCS, verbose=verbose, **kw)
    if Lv.value is None:
        raise SolverError(f"cvxpy/SCS returned no solution (status {prob.status}); try method='fast'")
    st = prob.solver_stats
    A0 = None
    if cons[0].dual_value is not None and cons[1].dual_value is not None:
        # stationarity: -(M∘y_eq + (1-M)∘y_in) ∈ ∂‖L‖_*, and it is <= 0 off the support
        A0 = -(M * np.asarray(cons[0].dual_value) + (1.0 - M) * np.asarray(cons[1].dual_value))
    return np.asarray(Lv.value), A0, {"status": prob.status, "scs_objective": prob.value,
                                  "scs_iterations": getattr(st, "num_iters", None),
                                  "scs_solve_time": getattr(st, "solve_time", None),
                                  "cvxpy_compile_time": getattr(prob, "compilation_time", None)}


def solve_ntp_svm(
    S: Any,
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
    S : NTPData, or 0/1 dense array or scipy.sparse matrix, shape (V, m)
        Support pattern (only S matters, never P).
    tol : float
        Target relative duality gap.
    method : {"auto", "fast", "cvxpy", "large"}
        ``fast``: reduced ADMM (``auto`` below ``svm_large.LARGE_AUTO_SIZE`` reduced entries); ``large``: the
        accelerated torch solver of :mod:`ntpgeom.theory.svm_large` (``auto`` above it); ``cvxpy``: reference
        backend, cvxpy + SCS on the full problem (optional extra ``ntpgeom[cvx]``).
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
        If Prop. 3's certificate holds, return S̃ immediately (it is optimal).
    cvxpy_eps : float
        SCS accuracy for ``method="cvxpy"``.
    time_limit : float, optional
        Time limit in seconds (``method="cvxpy"``: SCS's; ``"large"``: best certified point at the budget).

    Returns
    -------
    SVMResult
        If ``tol`` was not reached a :class:`SolverWarning` is issued and ``converged`` is False.
    """
    if method not in METHODS:
        raise SolverError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise SolverError(f"tol must be a positive number, got {tol!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise SolverError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not isinstance(threads, (int, np.integer)) or threads < 1:
        raise SolverError(f"threads must be a positive integer, got {threads!r}")
    t0 = time.perf_counter()
    red = reduce_pattern(S)
    if method in ("auto", "large"):
        from .svm_large import LARGE_AUTO_SIZE, solve_ntp_svm_large  # lazy: svm_large imports this module

        if method == "large" or red.mask.size > LARGE_AUTO_SIZE:
            return solve_ntp_svm_large(S, tol=tol, max_iter=max_iter, threads=threads, time_limit=time_limit, rho=rho,
                                       check_every=check_every, use_certificate=use_certificate, seed=seed)
    mask_full = support_mask(S)
    V, m = mask_full.shape
    with threadpool_limits(int(threads)):
        holds, worst, _, A_t, _ = _tilde_check(red)
        info: dict[str, Any] = {"tilde_worst": worst}
        if method == "cvxpy":
            Lraw, A0, cinfo = _solve_cvxpy(mask_full, int(max_iter), cvxpy_eps, time_limit=time_limit)
            info.update(cinfo)
            Lfull = project_columns(Lraw, mask_full)
            U_, s_, Vt_ = np.linalg.svd(Lfull, full_matrices=False)
            rk = _numerical_rank(s_, 1e-6)
            ones_V, ones_m = np.ones(V), np.ones(m)
            Afull, dval = _dual_certificate(U_[:, :rk] @ Vt_[:rk], mask_full, ones_V, ones_m)
            if A0 is not None:
                A1, d1 = _dual_certificate(A0, mask_full, ones_V, ones_m)
                if d1 > dval:
                    Afull, dval = A1, d1
            primal = float(s_.sum())
            iters = int(cinfo.get("scs_iterations") or 0)
            used = "cvxpy"
        elif (holds and use_certificate) or red.mask.all():  # all-ones S: no margins, L = S̃ = 0
            Lhat = red.mask - (red.r[:, None] * red.mask).sum(axis=0) / red.r.sum()
            Lfull, Afull = red.expand(Lhat), red.expand(A_t)
            primal = _nuclear(np.sqrt(red.r)[:, None] * Lhat * np.sqrt(red.c))
            dval = float((np.where(red.mask, A_t, 0.0) * red.r[:, None] * red.c).sum())
            iters, used = 0, "tilde"
        else:
            Lhat, Ahat, primal, dval, _, iters, ainfo = _admm(red.mask, red.r, red.c, float(tol), int(max_iter), rho, int(check_every))
            info.update(ainfo)
            Lfull, Afull = red.expand(Lhat), red.expand(Ahat)
            used = "fast"
        if used == "cvxpy":
            s_vals = np.linalg.svd(Lfull, compute_uv=False)
        else:  # same singular values as the full L (isometric expansion)
            s_vals = np.linalg.svd(np.sqrt(red.r)[:, None] * Lhat * np.sqrt(red.c), compute_uv=False)
    primal = float(s_vals.sum())
    rank = _numerical_rank(s_vals, 1e-8)
    gap = (primal - dval) / primal if primal > 0 else 0.0
    viol = max_violation(Lfull, mask_full)
    converged = bool(gap <= tol)
    if not converged:
        warnings.warn(
            f"NTP-SVM* ({used}) stopped at relative gap {gap:.2e} > tol {tol:.1e} after {iters} iterations; "
            "raise max_iter or tol", SolverWarning, stacklevel=2)
    Lfull.setflags(write=False)
    Afull.setflags(write=False)
    return SVMResult(
        L=Lfull, nuclear_norm=primal, dual=Afull, dual_value=dval, gap=float(gap), max_violation=viol, rank=rank,
        iterations=int(iters), seconds=time.perf_counter() - t0, method=used, converged=converged,
        certificate_holds=bool(holds), tol=float(tol), threads=int(threads), reduced_shape=red.shape,
        info={**info, "seed": seed},
    )
