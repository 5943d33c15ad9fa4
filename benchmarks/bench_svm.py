"""Benchmarks of the theory engine against cvxpy + SCS, in the same run and with the same thread setting.

Cases (issue 3):
  1. "simplified stories" (ntpgeom.data.corpora.stories(): V=102, m=413, 31 supports): NTP-SVM*.
  2. random supports without repeats, V=200, m=500: NTP-SVM*.
  3. scale: V=500, m=5000, 500 distinct supports, relative gap <= 1e-4: time and peak memory (child process);
     cvxpy + SCS on the same problem with a time limit, to show how far it gets.
  4. regularised problem (8), V=100, m=200: lambda=0.01 (as in the issue; it is above lambda_max, so L=0 is
     optimal and the case is trivial) and lambda=1e-3 (non-trivial): FISTA vs cvxpy + SCS at the same objective.

Both objectives are printed; ratios are cvxpy wall time (compile + solve) / ours, also SCS solve time alone / ours.
Our times are medians over --repeats runs; cvxpy runs once (it is slow).

Usage:  python benchmarks/bench_svm.py [--threads 1] [--repeats 5] [--cvx-limit 300] [--cases 1,2,3,4] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import ntpgeom.data as D
from ntpgeom.theory import lambda_max, solve_ntp_svm, solve_regularized

warnings.simplefilter("ignore")


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _cvx_svm(data, eps, limit):
    t = time.perf_counter()
    r = solve_ntp_svm(data, method="cvxpy", cvxpy_eps=eps, max_iter=1_000_000, time_limit=limit)
    return time.perf_counter() - t, r


def _row(rows, case, ours_t, ours_obj, ours_gap, cvx_t, cvx_solve, cvx_obj, cvx_gap, note=""):
    rows.append((case, ours_t, ours_obj, ours_gap, cvx_t, cvx_solve, cvx_obj, cvx_gap, note))
    print(f"  {case}: ours {ours_t:.4f}s obj {ours_obj:.10g} gap {ours_gap:.1e} | cvxpy {cvx_t:.2f}s "
          f"(SCS {cvx_solve if cvx_solve is not None else float('nan'):.2f}s) obj {cvx_obj:.10g} gap {cvx_gap:.1e} "
          f"| ratio {cvx_t / ours_t:.1f}x {note}", flush=True)


def case_svm(rows, name, data, tol, repeats, eps, limit):
    print(f"[{name}] {data!r}", flush=True)
    t_ours, r = _median_time(lambda: solve_ntp_svm(data, tol=tol), repeats)
    print(f"  ours: reduced {r.reduced_shape}, method {r.method}, {r.iterations} it, gap {r.gap:.2e}, "
          f"viol {r.max_violation:.1e}, rank {r.rank}", flush=True)
    t_cvx, c = _cvx_svm(data, eps, limit)
    _row(rows, name, t_ours, r.nuclear_norm, r.gap, t_cvx, c.info.get("scs_solve_time"), c.nuclear_norm, c.gap,
         f"(SCS status {c.info.get('status')}, eps {eps:g}; rel. obj. diff {(c.nuclear_norm - r.nuclear_norm) / r.nuclear_norm:.1e})")


def _scale_child(q, threads):
    with threadpool_limits(threads):
        data = D.synthetic.random_supports(500, 5000, (1, 8), n_supports=500, seed=0)
        t = time.perf_counter()
        r = solve_ntp_svm(data, tol=1e-4)
        dt = time.perf_counter() - t
    q.put((dt, r.nuclear_norm, r.gap, r.max_violation, r.iterations, r.reduced_shape, r.rank,
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20))


def _scale_cvx_child(q, threads, limit, mem_gib):
    cap = int(mem_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        with threadpool_limits(threads):
            data = D.synthetic.random_supports(500, 5000, (1, 8), n_supports=500, seed=0)
            c = solve_ntp_svm(data, method="cvxpy", cvxpy_eps=1e-4, max_iter=1_000_000, time_limit=limit)
        q.put(("ok", c.nuclear_norm, c.gap, c.info.get("status"), c.info.get("scs_solve_time")))
    except MemoryError:
        q.put(("oom", f"MemoryError under the {mem_gib:g} GiB cap"))
    except Exception as exc:  # noqa: BLE001 - report whatever cvxpy did
        q.put(("error", f"{type(exc).__name__}: {exc}"[:200]))


def case_scale(rows, threads, limit, mem_gib):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_scale_child, args=(q, threads))
    p.start()
    dt, nuc, gap, viol, it, red, rank, rss_gib = q.get()
    p.join()
    print(f"[scale] V=500, m=5000, 500 supports: ours {dt:.1f}s, gap {gap:.1e}, viol {viol:.1e}, {it} it, "
          f"reduced {red}, rank {rank}, peak RSS {rss_gib:.2f} GiB (whole child process)", flush=True)
    # cvxpy + SCS on the same problem in a child process capped at --cvx-mem GiB of address space (the PSD cone of a
    # 500 x 5000 nuclear norm is 5500 x 5500; uncapped, cvxpy passed 18 GiB while compiling on the dev machine)
    q2 = ctx.Queue()
    p2 = ctx.Process(target=_scale_cvx_child, args=(q2, threads, limit, mem_gib))
    t = time.perf_counter()
    p2.start()
    p2.join(limit * 3 + 60)
    if p2.is_alive():
        p2.kill()
        p2.join()
    t_cvx = time.perf_counter() - t
    out = q2.get() if not q2.empty() else ("died", f"exit code {p2.exitcode}")
    if out[0] == "ok":
        _, nuc_c, gap_c, status, t_scs = out
        _row(rows, "scale 500x5000", dt, nuc, gap, t_cvx, t_scs, nuc_c, gap_c,
             f"SCS status {status} within {limit:g}s; rel. obj. diff {(nuc_c - nuc) / nuc:.1e}")
    else:
        rows.append(("scale 500x5000", dt, nuc, gap, t_cvx, None, float("nan"), float("nan"), f"cvxpy: {out[1]}"))
        print(f"  cvxpy did not finish ({out[0]}: {out[1]}) after {t_cvx:.1f}s with a {mem_gib:g} GiB cap", flush=True)
    return rss_gib


def _cvx_reg(data, lam, eps, limit):
    import cvxpy as cp

    P, pi = data.P.toarray(), data.pi
    L = cp.Variable((data.V, data.m))
    obj = cp.sum(cp.multiply(pi, cp.log_sum_exp(L, axis=0) - cp.sum(cp.multiply(P, L), axis=0))) + lam * cp.normNuc(L)
    prob = cp.Problem(cp.Minimize(obj))
    t = time.perf_counter()
    prob.solve(solver=cp.SCS, eps=eps, max_iters=1_000_000, time_limit_secs=limit)
    return time.perf_counter() - t, prob.value, prob.solver_stats.solve_time, prob.status


def case_reg(rows, repeats, eps, limit):
    data = D.synthetic.random_supports(100, 200, (1, 5), seed=0)
    lm = lambda_max(data)
    print(f"[regularised] {data!r}, lambda_max = {lm:.4g}", flush=True)
    for lam in (0.01, 1e-3):
        t_cvx, v_cvx, t_scs, status = _cvx_reg(data, lam, eps, limit)
        # same objective: tighten our tolerance until we are at least as good as SCS's objective
        tol = 1e-6
        t_ours, r = _median_time(lambda: solve_regularized(data, lam, tol=tol), repeats)
        while r.objective > v_cvx and tol > 1e-11:
            tol /= 10
            t_ours, r = _median_time(lambda: solve_regularized(data, lam, tol=tol), repeats)
        _row(rows, f"reg lam={lam:g}", t_ours, r.objective, r.gap, t_cvx, t_scs, v_cvx, float("nan"),
             f"(SCS {status}; our tol {tol:g}; {'trivial: lam > lambda_max' if lam >= lm else 'non-trivial'})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cvx-limit", type=float, default=300.0, help="time limit for each cvxpy/SCS solve (s)")
    ap.add_argument("--cvx-mem", type=float, default=6.0, help="address-space cap (GiB) for cvxpy in case 3")
    ap.add_argument("--eps", type=float, default=1e-6, help="SCS eps_abs = eps_rel for cases 1, 2, 4")
    ap.add_argument("--cases", default="1,2,3,4")
    args = ap.parse_args()
    cases = {int(c) for c in args.cases.split(",")}
    print(f"threads: {args.threads} (threadpoolctl for BLAS in both solvers); repeats (ours): {args.repeats}; "
          f"SCS eps {args.eps:g}; cvxpy time limit {args.cvx_limit:g}s", flush=True)
    rows: list = []
    with threadpool_limits(args.threads):
        if 1 in cases:
            case_svm(rows, "stories", D.corpora.stories(), 1e-6, args.repeats, args.eps, args.cvx_limit)
        if 2 in cases:
            case_svm(rows, "random 200x500", D.synthetic.random_supports(200, 500, (1, 8), seed=0), 1e-6,
                     args.repeats, args.eps, args.cvx_limit)
    if 3 in cases:
        case_scale(rows, args.threads, args.cvx_limit, args.cvx_mem)
    with threadpool_limits(args.threads):
        if 4 in cases:
            case_reg(rows, args.repeats, args.eps, args.cvx_limit)
    print()
    print(f"{'case':<18} {'ours s (median)':>16} {'ours objective':>18} {'ours gap':>9} {'cvxpy s':>9} {'SCS s':>8} "
          f"{'cvxpy objective':>18} {'ratio':>8}")
    for case, t, o, g, tc, ts, oc, gc, note in rows:
        print(f"{case:<18} {t:>16.4f} {o:>18.10g} {g:>9.1e} {tc:>9.2f} {ts if ts is not None else float('nan'):>8.2f} "
              f"{oc:>18.10g} {(f'{tc / t:.1f}x' if np.isfinite(oc) else 'n/a'):>8} {'' if np.isfinite(oc) else note}")


if __name__ == "__main__":
    main()
