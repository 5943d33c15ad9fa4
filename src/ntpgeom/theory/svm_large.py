"""NTP-SVM* at the size of real data (issue 14): 10^4-10^5 contexts, CPU or GPU, with a certified proxy ladder.

Algorithm. Anderson-accelerated, over-relaxed ADMM on the *reduced* problem (distinct token rows x distinct supports
with multiplicities r, c; theory.md §3) in the scaled variable ``X = diag(√r) L̂ diag(√c)``: every iteration is
one Gram product, one symmetric eigendecomposition of the smaller (V' x V') Gram, two products with the kept
eigenvectors (singular-value thresholding), and an exact per-context projection onto the margin constraints (a
finite Newton iteration on the level of each context, warm-started from the previous iteration's levels: about two
steps). Type-II Anderson acceleration (memory ``anderson``) extrapolates the ADMM fixed-point map, with a safeguard
that falls back to the plain step whenever the fixed-point residual grows. Warm start: S̃ and the polar factor of S̃
as the dual. Residual balancing of ρ every 25 iterations.

Precision ladder (``info["phases"]``). The default state is float32 (half the memory traffic of every elementwise
pass, which dominates on CPU) with the eigendecomposition in float64: float32 ``eigh`` of the Gram floors the
primal near 1e-4 relative, a float64 eigensolver on the float32 Gram near 1e-5. On CUDA a first phase also runs the
eigensolver in float32 (cheap there; ``fast_eigh``). A phase that stalls (certified gap down by < 25 % over 3 checks) hands its
state to the next; the last is all float64. ``dtype=torch.float64`` runs float64 throughout; on CPU the default is
float64 when ``tol < FLOAT32_MIN_TOL``.

Certificate (always float64). A point is reported only after: its entry values are re-projected in float64 (exactly
feasible up to rounding, ``max_violation``); its nuclear norm is bounded *above* by ``Σ_i ‖X q_i‖`` over the
eigenvectors q_i of its Gram (the nuclear norm is at most the sum of the column norms in any orthonormal basis); the
ADMM multiplier ``-ρU`` (in the normal cone of the constraint set, so sign and centring hold up to rounding) is
repaired into a dual-feasible A (off-support clipped to <= 0, columns centred, divided by an *upper* bound on its
spectral norm). So ``gap = (P - tr(AᵀS̃)) / P`` upper-bounds the relative suboptimality. Certifications run every
``check_every`` iterations (every second one while the gap is above 30 tol); each costs about 1.5 iterations.

Proxy ladder (``info["ladder"]``): (1) S̃ with Prop. 3's certificate — if it holds S̃ is returned at once, else S̃'s
own certified gap is the first rung; (2) the best certified point so far, at every check; (3) the exact solve once
``gap <= tol``. With ``time_limit`` the solver stops at the budget and returns the best certified point with
``converged=False`` and ``info["status"] == "time_limit"`` (a :class:`SolverWarning` is issued).

Memory model (n = V' x m' reduced entries, V' <= m' typically; b = 4 bytes in float32, 8 in float64 iterations):
  iterations ~ (10 + 2 anderson) * n * b (the state v, Y, U, X, the next v and its residual, projection temporaries,
  Anderson's ΔF and ΔG) plus a few V' x V' matrices (in float64 for the eigensolver); a certification ~6 * n * 8
  transiently. Never a dense V x m array, except the final expansion of L and A for the caller (2 * 8 * V * m bytes;
  ``expand=False`` returns the reduced matrices instead).
  The input: O(nnz + V m') for sparse S / NTPData (:func:`reduce_sparse`); a dense S costs what it costs.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import fields, replace
from typing import Any

import numpy as np
import torch

from .large_ops import (Anderson, nuclear_norm_upper, project_rows, reduce_sparse, repair_dual, support_index, svt,
                        tilde_polar, violation)
from ..errors import SolverWarning
from ..progress import Progress
from ..status import SolverStats, Status
from .large_state import FLOAT32_MIN_TOL  # noqa: F401 - re-exported (it moved to large_state)
from .large_state import (Certified, LargeOptions, LargeRun, LargeSolution, LargeTuning, PhaseEnd, check_large_args,
                          torch_threads)
from .dense_size import check_dense_size
from .pattern import Reduction, SupportPattern
from .solve_monitor import INTERRUPTED, SolveMonitor
from .svm_backends import BackendSolution, SolveOptions
from .svm_result import SVMResult
from .tolerances import ANDERSON_RIDGE_FLOAT32, ANDERSON_RIDGE_FLOAT64, RANK_RTOL, RHO_SCALE_FLOOR


def _setup(red, device, dtype):
    """Tensors of the reduced problem in the transposed (m', V') layout."""
    kw = {"device": device, "dtype": dtype}
    Mt = torch.as_tensor(np.ascontiguousarray(red.mask.T), device=device)
    r, c = torch.as_tensor(red.r, **kw), torch.as_tensor(red.c, **kw)
    Wt = torch.sqrt(c)[:, None] * torch.sqrt(r)[None, :]
    r64 = torch.as_tensor(red.r, device=device, dtype=torch.float64)
    St = Mt.double() - ((Mt * r64).sum(dim=1) / r64.sum())[:, None]  # S̃ entry values, (m', V'), float64
    return Mt, r, c, Wt, St


def _certify(Yt, Ut, rho, level, Mt, r, c, Wt, sup, best: Certified, primal_too) -> Certified:
    """Float64 certificate of an ADMM state, merged into ``best``; returns the new best :class:`Certified` point.

    The dual estimate is ``-ρU`` with ``U = v - Y``, which lies in the normal cone of the constraint set at Y, so
    after the division by ``Wt`` to entry values it meets the sign and centring constraints up to rounding and the
    repair mostly divides by its spectral norm. (The SVT remainder ``ρD``, the other classical estimate, has norm
    <= 1 but violates the sign constraints; on the Zipf benchmarks its certified gap was 3-5x larger, and in float32
    it floors near 1e-1.) With ``primal_too`` the primal point Y is also re-projected in float64 (warm-started from
    the iteration's levels) and its nuclear norm bounded. Any primal-feasible point and any dual-feasible A bound the
    same optimum, so the best primal and the best dual seen so far are kept separately and their gap reported: the
    primal converges much faster than the dual here, so once it stops moving at the gap's scale it is certified only
    at every third check (its bound needs a full eigendecomposition, the dual's only eigenvalues).
    """
    r64, c64, W64 = r.double(), c.double(), Wt.double()
    primal, dval, Lt, At, s = best.primal, best.dual_value, best.L, best.A, best.s
    A_new, d_new = repair_dual(-rho * Ut.double() / W64, Mt, r64, c64)
    if d_new > dval:
        At, dval = A_new, d_new
    if primal_too:
        L_new = project_rows(Yt.double() / W64, Mt, r64, level=level.double().clone(), sup=sup)
        p_new, s_new = nuclear_norm_upper(L_new, r64, c64)
        if p_new < primal:
            primal, Lt, s = p_new, L_new, s_new
    gap = (primal - dval) / primal if primal > 0 else 0.0
    return Certified(primal, dval, gap, Lt, At, s)


def _admm_map(v, rho, Mt, r, Wt, level, eig_dtype, sup, alpha=1.6):
    """One over-relaxed ADMM step in its Douglas-Rachford state ``v = Y + U`` (Y = the projection of v).

    Returns ``(v_new, Y, U, X, s)``: Y feasible (scaled), ``U = v - Y`` (``-ρU`` is the dual estimate), X = the SVT
    of ``Y - U``, s its singular values. Every temporary is a fresh tensor (Anderson keeps references).
    """
    Y = Wt * project_rows(v / Wt, Mt, r, level=level, sup=sup)
    U = v - Y
    X, _, s = svt(Y - U, 1.0 / rho, eig_dtype, remainder=False)
    v_new = torch.add(U, X, alpha=alpha).add_(Y, alpha=1 - alpha)  # U + relaxed X
    return v_new, Y, U, X, s


def _stalled(gaps, low, handoff):
    """A non-final precision phase is done: the certified gap fell by less than 25 % over the last 3 checks, or it
    reached ``handoff`` (30 tol for a float32 eigensolver, whose primal floor is near 1e-4: hand over early)."""
    return low and len(gaps) >= 1 and (gaps[-1] <= handoff or len(gaps) >= 4 and gaps[-1] > 0.75 * gaps[-4])


def _iterate(v, rho, level, eig_dtype, low, run: LargeRun, best: Certified, ladder) -> PhaseEnd:
    """The accelerated ADMM loop of one precision phase.

    ``run`` holds what the phase never changes. ``low``: a
    phase that may stop early with status "stalled" (its precision floor); the caller then continues one level up.
    Certifications run every ``check_every`` iterations, every second one while the gap is above 30 tol.
    """
    Mt, r, c, Wt = run.Mt, run.r, run.c, run.Wt
    idx, rw, B = run.sup64
    sup = (idx, rw.to(v.dtype), B.to(v.dtype))
    tol, check_every, deadline = run.tol, run.check_every, run.deadline
    ridge = ANDERSON_RIDGE_FLOAT32 if v.dtype != torch.float64 else ANDERSON_RIDGE_FLOAT64
    aa = Anderson(run.anderson, v.reshape(-1), ridge) if run.anderson > 0 else None
    fn_last, g_last, Y_last, accepted, rejected = np.inf, None, None, 0, 0  # g_last: g(x) before an extrapolation
    status, it, gaps, next_check, rank = "max_iter", 0, [], check_every, None
    p_hist, p_last = [], 0  # primal bounds computed in this phase, and the check that computed the last
    handoff = 30 * tol if eig_dtype == torch.float32 else 0.0
    for it in range(1, run.max_iter + 1):
        gv, Y, U, X, sv = _admm_map(v, rho, Mt, r, Wt, level, eig_dtype, sup)
        f = gv - v
        fn = float(torch.linalg.norm(f))
        run.monitor.tick(run.it0 + it)
        if g_last is not None and fn > fn_last:  # safeguard: the extrapolated point was worse; take the plain step
            rejected += 1
            aa.reset()
            v, g_last = g_last, None
            continue
        if it >= next_check or time.perf_counter() > deadline:
            primal_too = len(p_hist) < 2 or p_hist[-2] - p_hist[-1] > 0.2 * best.gap * p_hist[-1] or \
                len(gaps) - p_last >= 3  # the primal still moves at the gap's scale, or 3 checks without it
            cert = _certify(Y, U, rho, level, Mt, r, c, Wt, run.sup64, best, primal_too)
            if primal_too:
                p_hist.append(cert.primal)
                p_last = len(gaps)
            gaps.append(cert.gap)
            rank = int((sv > 1.0 / rho).sum())
            if cert.gap < best.gap:
                best = cert
                ladder.append(("admm", run.it0 + it, time.perf_counter() - run.t0, cert.primal, cert.dual_value,
                               cert.gap))
            run.monitor.record(run.it0 + it, best.gap, best)
            next_check = it + (check_every if best.gap <= 30 * tol else 2 * check_every)
            status = "optimal" if best.gap <= tol else "stalled" if _stalled(gaps, low, handoff) else \
                "time_limit" if time.perf_counter() > deadline else status
            if status != "max_iter":
                break
        rescaled = False
        if it % 25 == 0 and Y_last is not None:  # residual balancing
            rp, rd = float(torch.linalg.norm(X - Y)), rho * float(torch.linalg.norm(Y - Y_last))
            rescaled = rp > 10 * rd or rd > 10 * rp
        Y_last = Y
        if rescaled:  # U = v - Y scales by 1/m; a new map, so the acceleration restarts
            m = 2.0 if rp > rd else 0.5
            rho *= m
            Yg = Wt * project_rows(gv / Wt, Mt, r, level=level, sup=sup)
            gv = Yg + (gv - Yg) / m
        if aa is None or rescaled:
            if aa is not None:
                aa.reset()
            v, g_last = gv, None
            continue
        v_next = aa.step(gv.reshape(-1), f.reshape(-1)).view_as(v)
        v, g_last, fn_last = v_next, gv, fn
        accepted += 1
    return PhaseEnd(best, it, rho, v, status, accepted, rejected, rank)


#: Peak bytes per reduced entry V' x m' of the CPU solve (measured: 2.87 GiB at 1923 x 5000, bench_svm.py case 6).
LARGE_BYTES_PER_ENTRY = 320

#: Default initial penalty: RHO_SCALE * min(V', m') / ‖S̃‖_* (residual balancing raises it later). Starting low halved
#: the iterations on the Zipf benchmarks (V=1000, m=10^4: 90 iterations at 0.1, 110 at 0.25, 190-210 at 1.0).
RHO_SCALE = 0.1


def _phases(dtype, fast_eigh):
    """The precision ladder (state dtype, eigensolver dtype); each phase but the last ends when it stalls.

    float64: one phase. float32: float32 state with a float64 eigensolver (with ``fast_eigh`` first a float32
    eigensolver, fine down to gaps ~1e-3), then all float64.
    """
    f32, f64 = torch.float32, torch.float64
    if dtype == f64:
        return [(f64, f64)]
    return ([(f32, f32)] if fast_eigh else []) + [(f32, f64), (f64, f64)]


def solve_ntp_svm_large(
    S: Any,
    tol: float = 1e-4,
    *,
    time_limit: float | None = None,
    max_iter: int = 20000,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    threads: int | None = 1,
    expand: bool = True,
    seed: int = 0,
    tuning: LargeTuning | None = None,
    progress: Progress | None = None,
    **tuning_kw: float | bool | None,
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
        Iteration precision: float32 starts the precision ladder (module docstring), float64 runs float64
        throughout. Default float32, except float64 on CPU when ``tol < FLOAT32_MIN_TOL``. Certification is always
        float64. ``info["phases"]`` records what ran (dtype, eigensolver dtype, iterations, how each phase ended).
    threads : int, optional
        torch CPU threads and BLAS threads (threadpoolctl; the Gram products use scipy's BLAS on CPU) for the solve,
        restored afterwards and recorded in ``stats.threads``; default 1: on a busy machine a second thread spins
        at every barrier (V = 500, m = 2500: 1.9 CPU-s on 1 thread, 42.8 on 2; 4.1 with ``OMP_WAIT_POLICY=PASSIVE``
        in the environment before torch loads, as ``ntpgeom solve`` sets it; bench_svm.py --case threads). None
        leaves both settings as they are.
    tuning : LargeTuning, optional
        The ADMM's tuning below, as one record; its fields may also be given as keywords (they override it).
    check_every : int
        Iterations between certifications (each costs about 1.5 iterations; doubled while gap > 30 tol).
    anderson : int
        Anderson memory (0: plain over-relaxed ADMM).
    rho : float, optional
        Initial ADMM penalty (default ``RHO_SCALE * min(V', m') / ‖S̃‖_*``).
    use_certificate : bool
        Return S̃ at once when Prop. 3's certificate holds.
    expand : bool
        Return the full (V, m) L and A (default); False returns the reduced (V', m') entry values in ``L``/``dual``
        (``info["expanded"]`` is False, ``info["reduction"]`` maps them back with ``Reduction.expand``).
    seed : int
        Unused (the solver is deterministic); recorded for provenance.
    fast_eigh : bool, optional
        With a float32 state, start with a float32 eigensolver phase (handed over at 30 tol or when it stalls).
        Default: on CUDA only (there the float64 eigensolver costs several times the float32 one).
    progress : Progress, optional
        Called at every certification (:class:`~ntpgeom.theory.solve_monitor.SolveMonitor`: iteration, certified
        gap, elapsed seconds, estimate). Ctrl-C during the iterations returns the best certified point so far
        (``info["status"] == "interrupted"``, status ``user_limit`` unless it already meets ``tol``).

    Returns
    -------
    SVMResult with ``method == "large"`` (or ``"tilde"`` when Prop. 3 certified S̃).
    """
    unknown = sorted(set(tuning_kw) - {f.name for f in fields(LargeTuning)})
    if unknown:
        raise TypeError(f"solve_ntp_svm_large() got unexpected keyword argument(s) {unknown}")
    tn = replace(tuning or LargeTuning(), **tuning_kw)
    dev, dtype = check_large_args(tol, time_limit, max_iter, device, dtype)
    t0 = time.perf_counter()
    opts = LargeOptions(float(tol), time_limit, int(max_iter), dev, dtype, int(tn.check_every), int(tn.anderson),
                        tn.rho, tn.use_certificate, tn.fast_eigh, progress)
    with torch_threads(threads, dev) as n_threads:
        red = reduce_sparse(S)
        if expand:
            check_dense_size(red.row_group.size, red.col_group.size, 16, "expanding L and A to V x m")
        out = _solve_reduced(red, opts, t0)
    return _result(red, out, float(tol), expand, seed, t0, n_threads)


def _solve_reduced(red: Reduction, opts: LargeOptions, t0: float) -> LargeSolution:
    """S̃ and Prop. 3 (the first rung), then the precision phases; Ctrl-C during them returns the best certified
    point so far (``info["status"]`` "interrupted")."""
    dev, dtype, tol, max_iter = opts.device, opts.dtype, opts.tol, opts.max_iter
    if dev.type == "cpu":
        check_dense_size(*red.shape, LARGE_BYTES_PER_ENTRY, "the large solver on the reduced V' x m' pattern",
                         "build the dataset with fewer contexts (`ntpgeom data build ... --min-count N` or `--top-k "
                         "K`), or run it on a GPU: ntpgeom.solve_ntp_svm_large(data, device='cuda')")
    Mt, r64, c64, Wt, St = _setup(red, dev, torch.float64)
    A_t, worst = tilde_polar(St, Mt, r64, c64)
    holds = bool(worst < 0) or bool(red.mask.all())
    p_t, s_t = nuclear_norm_upper(St, r64, c64)
    A_rep, d_t = repair_dual(A_t, Mt, r64, c64)
    best = Certified(p_t, d_t, (p_t - d_t) / p_t if p_t > 0 else 0.0, St, A_rep, s_t)
    ladder = [("tilde", 0, time.perf_counter() - t0, best.primal, best.dual_value, best.gap)]
    info = {"tilde_worst": worst, "tilde_gap": best.gap, "status": "tilde", "device": str(dev), "dtype": str(dtype)}
    if (holds and opts.use_certificate) or best.gap <= tol:
        return LargeSolution(best, 0, holds, "tilde", {**info, "ladder": ladder})
    rho = opts.rho if opts.rho is not None else \
        RHO_SCALE / max(p_t / max(min(red.mask.shape), 1), RHO_SCALE_FLOOR)
    v = Wt * St - Wt * A_t / rho  # Y + U with Y = S̃ and the dual warm start U = -(polar factor of S̃) / ρ
    mon: SolveMonitor[Certified] = SolveMonitor("large", tol, max_iter, opts.time_limit, opts.progress, t0)
    mon.keep(best)
    run = LargeRun(Mt, r64, c64, Wt, support_index(Mt, r64), tol, mon.deadline, max_iter, opts.check_every,
                   opts.anderson, t0, mon)
    phases = _phases(dtype, dev.type == "cuda" if opts.fast_eigh is None else opts.fast_eigh)
    done: list[dict] = []
    try:
        mon.check(0, best.gap)  # S̃'s certified gap: the first rung
        best, iterations, end_info = _run_phases(run, v, rho, best, ladder, phases, done)
    except KeyboardInterrupt:
        best, iterations, end_info = mon.best, mon.iteration, {"status": INTERRUPTED}
    if done:
        info["dtype"] = " -> ".join(f"{p['dtype']} (eigh {p['eigh_dtype'].removeprefix('torch.')}, "
                                    f"{p['iterations']} it)" for p in done) \
            if len(done) > 1 or done[0]["dtype"] != str(dtype) else str(dtype)
    return LargeSolution(best, iterations, holds, "large", {**info, **end_info, "ladder": ladder, "phases": done})


def _run_phases(run: LargeRun, v, rho, best: Certified, ladder, phases, done) -> tuple[Certified, int, dict]:
    """The precision phases in turn (each hands its state to the next when it stalls); appends to ``done``."""
    r64, c64, Wt, max_iter = run.r, run.c, run.Wt, run.max_iter
    level = torch.full((v.shape[0],), torch.inf, dtype=torch.float64, device=v.device)  # the projection's warm start
    for k, (sdt, edt) in enumerate(phases):
        run = replace(run, r=r64.to(sdt), c=c64.to(sdt), Wt=Wt.to(sdt), max_iter=max_iter - run.it0)
        level = level.to(sdt)
        end = _iterate(v.to(sdt), rho, level, edt, k < len(phases) - 1, run, best, ladder)
        best, rho, v = end.best, end.rho, end.v
        run = replace(run, it0=run.it0 + end.iterations)
        done.append({"dtype": str(sdt), "eigh_dtype": str(edt), "iterations": end.iterations, "end": end.status,
                     "svt_rank": end.svt_rank})
        if end.status != "stalled" or run.it0 >= max_iter:
            break
    return best, run.it0, {**end.info(), "rho": rho}


def _result(red: Reduction, out: LargeSolution, tol, expand, seed, t0, n_threads) -> SVMResult:
    b, iters, holds, method, info = out.best, out.iterations, out.holds, out.method, out.info
    gap = b.gap
    viol = violation(b.L, torch.as_tensor(np.ascontiguousarray(red.mask.T), device=b.L.device))
    s = b.s.cpu().numpy()
    rank = int((s > RANK_RTOL * s.max()).sum()) if s.size and s.max() > 0 else 0
    L_hat, A_hat = b.L.T.cpu().numpy(), b.A.T.cpu().numpy()
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
    return SVMResult(L=L, nuclear_norm=float(b.primal), dual=A, dual_value=float(b.dual_value), rank=rank,
                     certificate_holds=holds, reduced_shape=red.shape, stats=stats,
                     info={**info, "expanded": expand, "seed": seed, "threads": n_threads})


def large_backend(pattern: SupportPattern, opts: SolveOptions) -> BackendSolution:
    """``method="large"`` of :func:`~ntpgeom.theory.svm.solve_ntp_svm`: this solver on ``pattern.reduction`` with the
    default precision ladder on the CPU, as a :class:`~ntpgeom.theory.svm_backends.BackendSolution`. It runs Prop. 3
    itself (float64 polar factor) and brings its own certified upper bound on ``‖L‖_*`` (``primal``)."""
    dev, dtype = check_large_args(opts.tol, opts.time_limit, opts.max_iter, "cpu", None)
    t0 = time.perf_counter()
    lo = LargeOptions(opts.tol, opts.time_limit, opts.max_iter, dev, dtype, opts.check_every, 5, opts.rho,
                      opts.use_certificate, None, opts.progress)
    red = pattern.reduction
    with torch_threads(opts.threads, dev) as n_threads:
        out = _solve_reduced(red, lo, t0)
    b = out.best
    s = np.sort(b.s.cpu().numpy())[::-1]
    return BackendSolution(out.method, red.expand(b.L.T.cpu().numpy()), red.expand(b.A.T.cpu().numpy()),
                           float(b.dual_value), s, out.iterations,
                           {**out.info, "expanded": True, "threads": n_threads}, primal=float(b.primal),
                           certificate_holds=out.holds)
