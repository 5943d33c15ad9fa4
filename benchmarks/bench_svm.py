"""Benchmarks of the theory engine against cvxpy + SCS, in the same run and with the same thread setting.

Cases (issue 3):
  1. "simplified stories" (ntpgeom.data.corpora.stories(): V=102, m=413, 31 supports): NTP-SVM*.
  2. random supports without repeats, V=200, m=500: NTP-SVM*.
  3. scale: V=500, m=5000, 500 distinct supports, relative gap <= 1e-4: time and peak memory (child process);
     cvxpy + SCS on the same problem with a time limit, to show how far it gets.
  4. regularised problem (8), V=100, m=200: lambda=0.01 (as in the issue; it is above lambda_max, so L=0 is
     optimal and the case is trivial) and lambda=1e-3 (non-trivial): FISTA vs cvxpy + SCS at the same objective.
Large instances (issue 14; Zipf supports from svm_instances.py; every run in a child process for its peak RSS; both
solvers to the same certified relative gap 1e-4; ratio = existing ADMM ("fast") time / large-solver time):
  5. V=1000, m=10^4, 2000 distinct supports: large solver vs the existing ADMM (capped at --baseline-limit s; a
     capped baseline gives a lower bound on the ratio).
  6. V=2000, m=5*10^4, 5000 distinct supports: large solver only (time limit --large-limit s).
  7. scaling (``--case scaling``, a few minutes): time and peak RSS against m (fixed 500 supports; m = 2500..20000)
     and against the number of distinct supports (fixed m = 10^4; 250..2000), V=500, with fitted log-log exponents.
  8. crossover: both solvers on small Zipf instances (the size above which method="auto" picks "large").
  9. threads (``--case threads``): two V=500 scaling instances of case 7 (m = 2500, 5000; 500 supports), large
     solver, 1 vs 2 torch/BLAS threads (OpenMP's default active wait, then OMP_WAIT_POLICY=PASSIVE); wall and CPU
     seconds of the solve alone (time.process_time in the child), same run.
 10. reduced (``--case reduced``): cases 1 and 2 against cvxpy + SCS given the same symmetry reduction (distinct
     rows x distinct supports with multiplicities: min ||diag(sqrt r) L diag(sqrt c)||_* on the reduced
     constraints), the fair comparison: the full-problem ratio of case 1 mostly measures the reduction.

Both objectives are printed; ratios are cvxpy wall time (compile + solve) / ours, also SCS solve time alone / ours.
Our times are medians over --repeats runs; cvxpy runs once (it is slow).

Usage:  python benchmarks/bench_svm.py [--threads 1] [--repeats 5] [--cvx-limit 300] [--cases 1,2,3,4,5,6,7,8]
        python benchmarks/bench_svm.py --case large --threads 2      (case 6)
        python benchmarks/bench_svm.py --case scaling --threads 1    (case 7)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
import warnings

import numpy as np
import torch
from svm_instances import zipf_supports
from threadpoolctl import threadpool_limits

import ntpgeom.data as D
from ntpgeom.theory import lambda_max, solve_ntp_svm, solve_regularized
from ntpgeom.theory.svm_large import solve_ntp_svm_large

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


def _zipf_child(q, method, V, m, n, threads, tol, limit, dtype="auto"):
    with threadpool_limits(threads):
        torch.set_num_threads(threads)
        S = zipf_supports(V, m, n, seed=0)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        t = time.perf_counter()
        if method == "large":
            r = solve_ntp_svm_large(S, tol=tol, time_limit=limit, threads=threads,
                                    dtype=None if dtype == "auto" else getattr(torch, dtype), expand=False)
        else:
            r = solve_ntp_svm(S, tol=tol, method="fast", max_iter=10**6, threads=threads)
        dt = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_SELF)
    q.put((dt, r.nuclear_norm, r.dual_value, r.gap, r.iterations, r.reduced_shape, r.method,
           r.info.get("status", "optimal" if r.converged else "max_iter"), ru.ru_maxrss / 2**20,
           ru.ru_utime + ru.ru_stime, r.info.get("dtype", ""), r.info.get("svt_rank"), r.stats.threads,
           ru.ru_maxrss / 2**20 - rss0))


def _zipf_run(method, V, m, n, threads, tol=1e-4, limit=None, cap=None, dtype="auto"):
    """One solve in a spawned child; returns the child's tuple, or None if it ran past ``cap`` seconds (killed)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_zipf_child, args=(q, method, V, m, n, threads, tol, limit, dtype))
    p.start()
    p.join(cap)
    if p.is_alive():
        p.kill()
        p.join()
        return None
    return q.get()


def _fmt(out):
    dt, P, Dv, gap, it, red, meth, status, rss, cpu = out[:10]
    extra = (f" (+{out[13]:.2f} GiB over the child before the solve) [{out[10]}; SVT rank {out[11]}; torch threads "
             f"{out[12]}]") if len(out) > 10 and meth == "large" else ""
    return (f"{dt:8.1f}s wall ({cpu:.1f} CPU-s, whole child) gap {gap:.1e} P {P:.8g} D {Dv:.8g} {it:5d} it "
            f"{meth}/{status} reduced {red} peak RSS {rss:.2f} GiB{extra}")


def case_large(rows, threads, V, m, n, baseline_limit, large_limit, dtype="auto"):
    name = f"zipf {V}x{m} ({n}) {dtype}"
    ours = _zipf_run("large", V, m, n, threads, limit=large_limit, dtype=dtype)
    print(f"[{name}] large: {_fmt(ours)}", flush=True)
    if baseline_limit <= 0:
        rows.append((name, ours[0], ours[1], ours[3], float("nan"), None, float("nan"), float("nan"),
                     f"large only, {ours[7]}, peak RSS {ours[8]:.2f} GiB"))
        return
    base = _zipf_run("fast", V, m, n, threads, cap=baseline_limit)
    if base is None:
        print(f"  existing ADMM: killed at the {baseline_limit:g}s cap -> ratio > {baseline_limit / ours[0]:.1f}x",
              flush=True)
        rows.append((name, ours[0], ours[1], ours[3], baseline_limit, None, float("nan"), float("nan"),
                     f"baseline capped at {baseline_limit:g}s: ratio > {baseline_limit / ours[0]:.1f}x"))
        return
    print(f"  existing ADMM: {_fmt(base)} | ratio {base[0] / ours[0]:.1f}x, rel. obj. diff "
          f"{(base[1] - ours[1]) / ours[1]:.1e}", flush=True)
    _row(rows, name, ours[0], ours[1], ours[3], base[0], None, base[1], base[3], "(baseline = existing ADMM)")


def _slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def case_scaling(threads, V=500, n0=500, m0=10_000):
    print(f"[scaling] V={V}, Zipf supports, large solver, tol 1e-4; memory = peak RSS of the child and its increase "
          f"during the solve", flush=True)
    for label, grid in ((f"m ({n0} supports)", [(V, mm, n0) for mm in (m0 // 4, m0 // 2, m0, 2 * m0)]),
                        (f"supports (m = {m0})", [(V, m0, nn) for nn in (n0 // 2, n0, 2 * n0, 4 * n0)])):
        res = [(_zipf_run("large", V, mm, nn, threads)) for V, mm, nn in grid]
        xs = [g[1] if label.startswith("m") else g[2] for g in grid]
        for x, o in zip(xs, res):
            print(f"  {label} = {x:6d}: {_fmt(o)}", flush=True)
        print(f"  fitted exponent vs {label}: wall ~ x^{_slope(xs, [o[0] for o in res]):.2f}, CPU ~ "
              f"x^{_slope(xs, [o[9] for o in res]):.2f}, peak RSS ~ x^{_slope(xs, [o[8] for o in res]):.2f}, solve's "
              f"RSS increase ~ x^{_slope(xs, [max(o[13], 1e-3) for o in res]):.2f}", flush=True)


def case_crossover(threads):
    print("[crossover] large vs existing ADMM, tol 1e-4 (ratio > 1: large is faster)", flush=True)
    for V, m, n in ((100, 1000, 200), (200, 2000, 400), (300, 3000, 600), (500, 5000, 1000)):
        a, b = _zipf_run("large", V, m, n, threads), _zipf_run("fast", V, m, n, threads)
        print(f"  {V}x{m} ({n}) reduced {a[5]} ({a[5][0] * a[5][1]} entries): large {a[0]:.2f}s ({a[4]} it), "
              f"fast {b[0]:.2f}s ({b[4]} it), ratio {b[0] / a[0]:.2f}x", flush=True)


def _threads_child(q, V, m, n, threads):
    torch.set_num_threads(threads)
    S = zipf_supports(V, m, n, seed=0)
    c, t = time.process_time(), time.perf_counter()
    r = solve_ntp_svm_large(S, tol=1e-4, threads=threads, expand=False)
    q.put((time.perf_counter() - t, time.process_time() - c, r.gap, r.iterations, r.stats.threads))


def case_threads(V=500):
    print(f"[threads] V={V} scaling instances (case 7), large solver, tol 1e-4: wall and CPU of the solve, 1 thread, "
          "2 threads, 2 threads with OMP_WAIT_POLICY=PASSIVE, in turn, each in a fresh child", flush=True)
    import os

    ctx = mp.get_context("spawn")
    for m, n in ((2500, 500), (5000, 500)):
        out = []
        for threads, policy in ((1, None), (2, None), (2, "PASSIVE")):
            old = os.environ.pop("OMP_WAIT_POLICY", None)
            if policy is not None:
                os.environ["OMP_WAIT_POLICY"] = policy  # read by the child's OpenMP runtime when torch loads
            q = ctx.Queue()
            p = ctx.Process(target=_threads_child, args=(q, V, m, n, threads))
            p.start()
            os.environ.pop("OMP_WAIT_POLICY", None)
            if old is not None:
                os.environ["OMP_WAIT_POLICY"] = old
            out.append(q.get())
            p.join()
        (w1, c1, g1, i1, _), (w2, c2, _, i2, _), (w3, c3, _, i3, _) = out
        print(f"  m={m:6d} supports={n:5d}: 1 thread {w1:6.2f}s wall {c1:6.2f} CPU-s ({i1} it, gap {g1:.1e}) | "
              f"2 threads {w2:6.2f}s wall {c2:6.2f} CPU-s ({i2} it) | 2 threads, passive wait {w3:6.2f}s wall "
              f"{c3:6.2f} CPU-s ({i3} it) | CPU ratios {c2 / c1:.2f}, {c3 / c1:.2f}", flush=True)


def _cvx_reduced(data, eps, limit):
    """cvxpy + SCS on the reduced problem (the same symmetry reduction the fast solver uses)."""
    import cvxpy as cp

    from ntpgeom.theory import support_pattern

    red = support_pattern(data).reduction
    M = red.mask.astype(np.float64)
    V, m = M.shape
    t = time.perf_counter()
    L, a = cp.Variable((V, m)), cp.Variable(m)
    diff = L - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    scaled = np.sqrt(red.r)[:, None] * np.ones((1, m))
    obj = cp.normNuc(cp.multiply(cp.multiply(scaled, L), np.ones((V, 1)) @ np.sqrt(red.c)[None, :]))
    prob = cp.Problem(cp.Minimize(obj), [cp.multiply(M, diff) == 0, cp.multiply(1.0 - M, diff + 1.0) <= 0])
    prob.solve(solver=cp.SCS, eps_abs=eps, eps_rel=eps, max_iters=1_000_000, time_limit_secs=limit)
    return time.perf_counter() - t, prob.solver_stats.solve_time, prob.value, prob.status, (V, m)


def case_reduced(repeats, eps, limit):
    print(f"[reduced] ours (fast, tol 1e-6, median of {repeats}) vs cvxpy + SCS (eps {eps:g}) on the same reduced "
          "problem", flush=True)
    for name, data in (("stories", D.corpora.stories()),
                       ("random 200x500", D.synthetic.random_supports(200, 500, (1, 8), seed=0))):
        t, r = _median_time(lambda: solve_ntp_svm(data, tol=1e-6, method="fast"), repeats)
        tc, ts, val, status, shape = _cvx_reduced(data, eps, limit)
        print(f"  {name} reduced {shape}: ours {t:.3f}s obj {r.nuclear_norm:.10g} gap {r.gap:.1e} | cvxpy+SCS "
              f"{tc:.2f}s (SCS solve {ts:.2f}s, {status}) obj {val:.10g} | ratio {tc / t:.1f}x (SCS alone "
              f"{ts / t:.1f}x), rel. obj. diff {(val - r.nuclear_norm) / r.nuclear_norm:.1e}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cvx-limit", type=float, default=300.0, help="time limit for each cvxpy/SCS solve (s)")
    ap.add_argument("--cvx-mem", type=float, default=6.0, help="address-space cap (GiB) for cvxpy in case 3")
    ap.add_argument("--eps", type=float, default=1e-6, help="SCS eps_abs = eps_rel for cases 1, 2, 4")
    ap.add_argument("--baseline-limit", type=float, default=900.0, help="cap (s) on the existing ADMM in case 5")
    ap.add_argument("--large-limit", type=float, default=600.0, help="time limit (s) of the large solver in case 6")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float64", "float32"],
                    help="iteration precision of the large solver in cases 5, 6 (certificates are float64 either way)")
    ap.add_argument("--cases", default="1,2,3,4")
    ap.add_argument("--case", default=None, help="one named case: 'scaling' (= --cases 7, a few minutes), "
                    "'large' (= 6: V=2000, m=5e4, 5000 supports)")
    args = ap.parse_args()
    named = {"scaling": "7", "large": "6", "crossover": "8", "threads": "9", "reduced": "10"}
    if args.case is not None and args.case not in named:
        ap.error(f"--case must be one of {sorted(named)}, got {args.case!r}")
    cases = {int(c) for c in (named[args.case] if args.case else args.cases).split(",")}
    print(f"threads: {args.threads} (threadpoolctl for BLAS in both solvers, torch.set_num_threads for the large "
          f"solver); repeats (ours): {args.repeats}; SCS eps {args.eps:g}; cvxpy time limit {args.cvx_limit:g}s",
          flush=True)
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
    if 5 in cases:
        case_large(rows, args.threads, 1000, 10_000, 2000, args.baseline_limit, None, args.dtype)
    if 6 in cases:
        case_large(rows, args.threads, 2000, 50_000, 5000, 0, args.large_limit, args.dtype)
    if 7 in cases:
        case_scaling(args.threads)
    if 8 in cases:
        case_crossover(args.threads)
    if 9 in cases:
        case_threads()
    if 10 in cases:
        with threadpool_limits(args.threads):
            case_reduced(args.repeats, args.eps, args.cvx_limit)
    print()
    print(f"{'case':<18} {'ours s (median)':>16} {'ours objective':>18} {'ours gap':>9} {'cvxpy s':>9} {'SCS s':>8} "
          f"{'cvxpy objective':>18} {'ratio':>8}")
    for case, t, o, g, tc, ts, oc, gc, note in rows:
        print(f"{case:<18} {t:>16.4f} {o:>18.10g} {g:>9.1e} {tc:>9.2f} {ts if ts is not None else float('nan'):>8.2f} "
              f"{oc:>18.10g} {(f'{tc / t:.1f}x' if np.isfinite(oc) else 'n/a'):>8} {'' if np.isfinite(oc) else note}")


if __name__ == "__main__":
    main()
