"""NTP-SVM* at the size of real data (issue 14): 10^4-10^5 contexts, CPU or GPU, with a certified proxy ladder.

Algorithm. Anderson-accelerated, over-relaxed ADMM on the *reduced* problem (distinct token rows x distinct supports
with multiplicities r, c; theory.md §3) in the scaled variable ``X = diag(√r) L̂ diag(√c)``: every iteration is
one Gram product, one symmetric eigendecomposition of the smaller (V' x V') Gram, two products with the kept
eigenvectors (singular-value thresholding), and an exact per-context projection onto the margin constraints (a
finite Newton iteration on the level of each context). Type-II Anderson acceleration (memory ``anderson``) extrapolates the ADMM fixed-point
map, with a safeguard that falls back to the plain step whenever the fixed-point residual grows. Warm start: S̃ and
the polar factor of S̃ as the dual. Iterations run in torch, float64 on CPU, float32 on CUDA by default.

Certificate (always float64). A point is reported only after: its entry values are re-projected in float64 (exactly
feasible up to rounding, ``max_violation``); its nuclear norm is bounded *above* by ``Σ_i ‖X q_i‖`` over the
eigenvectors q_i of its Gram (the nuclear norm is at most the sum of the column norms in any orthonormal basis); the
ADMM dual estimate is repaired into a dual-feasible A (off-support clipped to <= 0, columns centred, divided by an
*upper* bound on its spectral norm). So ``gap = (P - tr(AᵀS̃)) / P`` upper-bounds the relative suboptimality.

Proxy ladder (``info["ladder"]``): (1) S̃ with Prop. 3's certificate — if it holds S̃ is returned at once, else S̃'s
own certified gap is the first rung; (2) the best certified point so far, at every check; (3) the exact solve once
``gap <= tol``. With ``time_limit`` the solver stops at the budget and returns the best certified point with
``converged=False`` and ``info["status"] == "time_limit"`` (a :class:`SolverWarning` is issued).

Memory model (n = V' x m' reduced entries, V' <= m' typically; b = 4 bytes in float32, 8 in float64 iterations):
  iterations ~ (8 + anderson) * n * b (the state v = Y + U, Y, X, D, projection temporaries, Anderson's ΔG) plus
  (anderson + 1) * n * 8 (Anderson's ΔF, kept in float64) plus two V' x V' matrices; a certification ~6 * n * 8
  transiently. Never a dense V x m array, except the final expansion of L and A for the caller (2 * 8 * V * m bytes;
  ``expand=False`` returns the reduced matrices instead).
  The input: O(nnz + V m') for sparse S / NTPData (:func:`reduce_sparse`); a dense S costs what it costs.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch

from .large_ops import nuclear_norm_upper, project_rows, reduce_sparse, repair_dual, svt, tilde_polar, violation
from ..errors import SolverError, SolverWarning
from ..status import SolverStats, Status
from .svm_result import SVMResult


def _setup(red, device, dtype):
    """Tensors of the reduced problem in the transposed (m', V') layout."""
    kw = {"device": device, "dtype": dtype}
    Mt = torch.as_tensor(np.ascontiguousarray(red.mask.T), device=device)
    r, c = torch.as_tensor(red.r, **kw), torch.as_tensor(red.c, **kw)
    Wt = torch.sqrt(c)[:, None] * torch.sqrt(r)[None, :]
    r64 = torch.as_tensor(red.r, device=device, dtype=torch.float64)
    St = Mt.double() - ((Mt * r64).sum(dim=1) / r64.sum())[:, None]  # S̃ entry values, (m', V'), float64
    return Mt, r, c, Wt, St


class _Anderson:
    """Type-II Anderson acceleration of a fixed-point map x -> g(x) on flat tensors (ring buffer of ``mem`` differences).

    ``step(g, f)`` records ``g = g(x)``, ``f = g(x) - x`` and returns ``g - ΔG γ`` with ``γ = argmin ‖f - ΔF γ‖``
    (ridge-regularised normal equations, the small Gram ``ΔFᵀΔF`` updated one row per step).
    """

    def __init__(self, mem: int, like: torch.Tensor, reg: float):
        self.mem, self.reg = mem, reg
        self.dF = torch.empty((mem, like.numel()), dtype=torch.float64, device=like.device)  # float64 least squares
        self.dG = torch.empty((mem, like.numel()), dtype=like.dtype, device=like.device)
        self.FF = torch.zeros((mem, mem), dtype=torch.float64, device=like.device)
        self.f_prev = torch.empty_like(like, dtype=torch.float64)
        self.g_prev = torch.empty_like(like)
        self.reset()

    def reset(self) -> None:
        self.k, self.head, self.has_prev = 0, 0, False

    def step(self, g: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if self.has_prev:
            i = self.head
            torch.sub(f, self.f_prev, out=self.dF[i])
            torch.sub(g, self.g_prev, out=self.dG[i])
            self.head, self.k = (i + 1) % self.mem, min(self.k + 1, self.mem)
            row = self.dF[: self.k] @ self.dF[i]
            self.FF[i, : self.k] = row
            self.FF[: self.k, i] = row
        self.f_prev.copy_(f)
        self.g_prev.copy_(g)
        self.has_prev = True
        if self.k == 0:
            return g
        FF = self.FF[: self.k, : self.k]
        FF = FF + self.reg * float(FF.diagonal().max()) * torch.eye(self.k, dtype=torch.float64, device=FF.device)
        gamma = torch.linalg.solve(FF, self.dF[: self.k] @ f).to(g.dtype)
        return g - gamma @ self.dG[: self.k]


def _certify(Yt, Dt, Ut, rho, Mt, r, c, Wt):
    """Float64 certificate of an ADMM state: (primal upper bound, dual value, gap, feasible L̂ᵗ, feasible Aᵗ, s).

    Two dual estimates are repaired and the better one kept: ``ρD`` (the SVT remainder: spectral norm <= 1, sign and
    centring constraints violated) and ``-ρU`` with ``U = v - Y`` (in the normal cone of the constraint set at Y, so
    the sign and centring constraints hold before the repair; only its spectral norm exceeds 1). Both are divided by
    ``Wt`` to entry values; either repaired A is dual feasible, so the kept value is a true lower bound.
    """
    r64, c64, W64 = r.double(), c.double(), Wt.double()
    Lt = project_rows(Yt.double() / W64, Mt, r64)
    primal, s = nuclear_norm_upper(Lt, r64, c64)
    At, dval = repair_dual(-rho * Ut.double() / W64, Mt, r64, c64)
    if Dt is not None:
        A2, d2 = repair_dual(rho * Dt.double() / W64, Mt, r64, c64)
        if d2 > dval:
            At, dval = A2, d2
    gap = (primal - dval) / primal if primal > 0 else 0.0
    return primal, dval, gap, Lt, At, s


def _admm_map(v, rho, Mt, r, Wt, level, alpha=1.6):
    """One over-relaxed ADMM step in its Douglas-Rachford state ``v = Y + U`` (Y = the projection of v).

    Returns ``(v_new, Y, D, ‖X - Y‖)``: Y feasible (scaled), D = the SVT remainder (ρD is the dual estimate).
    """
    Y = Wt * project_rows(v / Wt, Mt, r, level=level)
    X, D, _ = svt(2 * Y - v, 1.0 / rho)
    v_new = v - Y + alpha * X + (1 - alpha) * Y  # U + Xr
    return v_new, Y, D, float(torch.linalg.norm(X - Y))


def _iterate(v, rho, Mt, r, c, Wt, tol, max_iter, deadline, check_every, anderson, best, ladder, t0):
    """The accelerated ADMM loop; returns (best certified tuple, iterations, rho, last state v, statistics).

    In float32 the loop stops with status "stalled" when the certified gap has not improved for 20 checks (float32
    rounding floor); the caller then continues in float64.
    """
    low = v.dtype != torch.float64
    reg = 1e-7 if low else 1e-10
    last_gain = 0
    aa = _Anderson(anderson, v.reshape(-1), reg) if anderson > 0 else None
    fn_last, g_last, Y_last, accepted, rejected = np.inf, None, None, 0, 0  # g_last: g(x) before an extrapolation
    status, it = "max_iter", 0
    level = torch.full((v.shape[0],), torch.inf, dtype=v.dtype, device=v.device)  # warm start of the projection
    for it in range(1, max_iter + 1):
        gv, Y, D, rp = _admm_map(v, rho, Mt, r, Wt, level)
        fn = float(torch.linalg.norm(gv - v))
        if g_last is not None and fn > fn_last:  # safeguard: the extrapolated point was worse; take the plain step
            rejected += 1
            aa.reset()
            v, g_last = g_last, None
            continue
        if it % check_every == 0 or time.perf_counter() > deadline:
            cert = _certify(Y, D, v - Y, rho, Mt, r, c, Wt)
            if cert[2] < best[2]:
                best, last_gain = cert, it
                ladder.append(("admm", it, time.perf_counter() - t0, cert[0], cert[1], cert[2]))
            if best[2] <= tol:
                status = "optimal"
                break
            if low and it - last_gain >= 20 * check_every:
                status = "stalled"
                break
            if time.perf_counter() > deadline:
                status = "time_limit"
                break
        rd = rho * float(torch.linalg.norm(Y - Y_last)) if Y_last is not None else rp
        Y_last = Y
        rescaled = it % 25 == 0 and (rp > 10 * rd or rd > 10 * rp)
        if rescaled:  # residual balancing: U = v - Y scales by 1/f; a new map, so the acceleration restarts
            f = 2.0 if rp > rd else 0.5
            rho *= f
            Yg = Wt * project_rows(gv / Wt, Mt, r, level=level)
            gv = Yg + (gv - Yg) / f
        if aa is None or rescaled:
            if aa is not None:
                aa.reset()
            v, g_last = gv, None
            continue
        v_next = aa.step(gv.reshape(-1), (gv - v).reshape(-1).double()).view_as(v)
        v, g_last, fn_last = v_next, gv, fn
        accepted += 1
    return best, it, rho, v, {"status": status, "aa_steps": accepted, "aa_rejected": rejected}


def _check_args(tol, time_limit, max_iter, device, dtype):
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise SolverError(f"tol must be a positive number, got {tol!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise SolverError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise SolverError(f"max_iter must be a positive integer, got {max_iter!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SolverError("device='cuda' but torch sees no CUDA device; use device='cpu'")
    if dtype is None:
        dtype = torch.float32 if dev.type == "cuda" else torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise SolverError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dev, dtype


def solve_ntp_svm_large(
    S: Any,
    tol: float = 1e-4,
    *,
    time_limit: float | None = None,
    max_iter: int = 20000,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    threads: int | None = None,
    check_every: int = 10,
    anderson: int = 5,
    rho: float | None = None,
    use_certificate: bool = True,
    expand: bool = True,
    seed: int = 0,
) -> SVMResult:
    """Solve NTP-SVM* on large instances and certify the answer (see the module docstring).

    Parameters
    ----------
    S : NTPData, scipy.sparse or dense 0/1 array, shape (V, m)
    tol : float
        Target relative duality gap (certified, a true upper bound on the relative suboptimality).
    time_limit : float, optional
        Wall-clock budget in seconds for the iterations; past it the best certified point is returned
        (``converged=False``, ``info["status"] == "time_limit"``, a :class:`SolverWarning`).
    max_iter : int
    device : str
        ``"cpu"`` or ``"cuda"`` (any torch device string).
    dtype : torch.float32 or torch.float64, optional
        Iteration precision (default float64 on CPU, float32 on CUDA); certification is always float64.
    threads : int, optional
        torch CPU threads for the solve (restored afterwards); default: leave torch's setting.
    check_every : int
        Iterations between certifications (each costs about two iterations).
    anderson : int
        Anderson memory (0: plain over-relaxed ADMM).
    rho : float, optional
        Initial ADMM penalty (default from the scale of S̃).
    use_certificate : bool
        Return S̃ at once when Prop. 3's certificate holds.
    expand : bool
        Return the full (V, m) L and A (default); False returns the reduced (V', m') entry values in ``L``/``dual``
        (``info["expanded"]`` is False, ``info["reduction"]`` maps them back with ``Reduction.expand``).
    seed : int
        Unused (the solver is deterministic); recorded for provenance.

    Returns
    -------
    SVMResult with ``method == "large"`` (or ``"tilde"`` when Prop. 3 certified S̃).
    """
    dev, dtype = _check_args(tol, time_limit, max_iter, device, dtype)
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    n_threads = torch.get_num_threads() if dev.type == "cpu" else 0
    try:
        red = reduce_sparse(S)
        out = _solve_reduced(red, float(tol), time_limit, int(max_iter), dev, dtype, int(check_every), int(anderson),
                             rho, use_certificate, t0)
    finally:
        torch.set_num_threads(old_threads)
    return _result(red, out, float(tol), expand, seed, t0, n_threads)


def _solve_reduced(red, tol, time_limit, max_iter, dev, dtype, check_every, anderson, rho, use_certificate, t0):
    Mt, r, c, Wt, St = _setup(red, dev, dtype)
    r64, c64 = r.double(), c.double()
    A_t, worst = tilde_polar(St, Mt, r64, c64)
    holds = bool(worst < 0) or bool(red.mask.all())
    p_t, s_t = nuclear_norm_upper(St, r64, c64)
    A_rep, d_t = repair_dual(A_t, Mt, r64, c64)
    best = (p_t, d_t, (p_t - d_t) / p_t if p_t > 0 else 0.0, St, A_rep, s_t)
    ladder = [("tilde", 0, time.perf_counter() - t0, best[0], best[1], best[2])]
    info = {"tilde_worst": worst, "tilde_gap": best[2], "status": "tilde", "device": str(dev), "dtype": str(dtype)}
    if (holds and use_certificate) or best[2] <= tol:
        return best, 0, holds, "tilde", {**info, "ladder": ladder}
    Y = Wt * St.to(dtype)
    rho = rho if rho is not None else 1.0 / max(p_t / max(min(red.mask.shape), 1), 1e-12)
    v = Y - (Wt.double() * A_t).to(dtype) / rho  # Y + U with the dual warm start U = -(polar factor of S̃) / ρ
    deadline = t0 + time_limit if time_limit is not None else np.inf
    best, it, rho, v, stats = _iterate(v, rho, Mt, r, c, Wt, tol, max_iter, deadline, check_every, anderson, best,
                                       ladder, t0)
    if stats["status"] == "stalled" and it < max_iter:  # float32 floor reached: finish in float64
        r, c, Wt = r.double(), c.double(), Wt.double()
        best, it2, rho, v, stats = _iterate(v.double(), rho, Mt, r, c, Wt, tol, max_iter - it, deadline, check_every,
                                            anderson, best, ladder, t0)
        it, info["dtype"] = it + it2, f"{dtype} -> torch.float64 (float32 floor at iteration {it})"
    return best, it, holds, "large", {**info, **stats, "rho": rho, "ladder": ladder}


def _result(red, out, tol, expand, seed, t0, n_threads) -> SVMResult:
    (primal, dval, gap, Lt, At, s), iters, holds, method, info = out
    viol = violation(Lt, torch.as_tensor(np.ascontiguousarray(red.mask.T), device=Lt.device))
    s = s.cpu().numpy()
    rank = int((s > 1e-8 * s.max()).sum()) if s.size and s.max() > 0 else 0
    L_hat, A_hat = Lt.T.cpu().numpy(), At.T.cpu().numpy()
    if expand:
        L, A = red.expand(L_hat), red.expand(A_hat)
    else:
        L, A = np.ascontiguousarray(L_hat), np.ascontiguousarray(A_hat)
        info = {**info, "reduction": red}
    status = Status.from_gap(float(gap), tol, certified_by_prop3=method == "tilde")
    if not status.solved:
        warnings.warn(f"NTP-SVM* (large) stopped ({info['status']}) at certified relative gap {gap:.2e} > tol "
                      f"{tol:.1e} after {iters} iterations; the best certified point is returned", SolverWarning,
                      stacklevel=3)
    L.setflags(write=False)
    A.setflags(write=False)
    stats = SolverStats(status, method, int(iters), time.perf_counter() - t0, float(gap), viol, tol, n_threads)
    return SVMResult(L=L, nuclear_norm=float(primal), dual=A, dual_value=float(dval), rank=rank,
                     certificate_holds=holds, reduced_shape=red.shape, stats=stats,
                     info={**info, "expanded": expand, "seed": seed})
