"""Benchmarks of ``max_margin`` (four norms) and ``fixed_features`` against cvxpy, in the same run, same threads.

Part A (``--part small``): Zipf supports (svm_instances.zipf_supports) V=60, m=300, 40 distinct supports: each norm
  ours vs cvxpy (SCS eps 1e-8 for nuclear/spectral, Clarabel for fro/max), values and wall times.
Part B (``--part scale``): the sizes each norm reaches: spectral ADMM and the max-norm LP against the reduced shape
  (Zipf, V = 200..2000, m = 10 x supports), relative gap 1e-4, time limit --limit s; fro/max closed forms at
  V = 5000, m = 10^5 (dense expansion dominates).
Part C (``--part ff``): fixed_features on random features (d, m, V): time, status, separability, in-residual;
  cvxpy + Clarabel on the same QP where it fits.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_max_margin.py --part small|scale|ff [--threads 1] [--limit 120]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
from svm_instances import zipf_supports
from threadpoolctl import threadpool_limits

from ntpgeom.data import synthetic
from ntpgeom.theory import fixed_features, max_margin, support_mask

warnings.simplefilter("ignore")


def _clock(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _cvx_norm(M, norm):
    import cvxpy as cp

    V, m = M.shape
    L, a = cp.Variable((V, m)), cp.Variable(m)
    Mf = M.astype(float)
    diff = L - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    obj = {"nuclear": cp.normNuc(L), "spectral": cp.sigma_max(L), "fro": cp.norm(L, "fro"), "max": cp.max(cp.abs(L))}
    prob = cp.Problem(cp.Minimize(obj[norm]), [cp.multiply(Mf, diff) == 0, cp.multiply(1 - Mf, diff + 1) <= 0])
    if norm in ("nuclear", "spectral"):
        prob.solve(solver=cp.SCS, eps_abs=1e-8, eps_rel=1e-8, max_iters=100000)
    else:
        prob.solve(solver=cp.CLARABEL)
    return prob.value


def part_small(args):
    M = zipf_supports(60, 300, 40, kmax=8, seed=0).toarray() != 0
    print(f"A. Zipf V=60 m=300 (40 supports), threads={args.threads}")
    for norm in ("nuclear", "fro", "max", "spectral"):
        res, w, c = _clock(lambda: max_margin(M, norm, tol=1e-7))
        val, wc, cc = _clock(lambda: _cvx_norm(M, norm))
        print(f"  {norm:8s} ours {res.value:.6f} gap {res.gap:.1e} {res.status.value} reduced {res.reduced_shape}"
              f" wall {w:.3f}s cpu {c:.3f}s | cvxpy {val:.6f} wall {wc:.2f}s cpu {cc:.2f}s | ratio {wc / w:.1f}x")
    lp, w, c = _clock(lambda: max_margin(M, "max", method="lp"))
    print(f"  max (lp) {lp.value:.6f} gap {lp.gap:.1e} wall {w:.3f}s cpu {c:.3f}s")


def part_scale(args):
    print(f"B. scale (time limit {args.limit}s, tol 1e-4, threads={args.threads})")
    for V, n in ((200, 100), (500, 300), (1000, 1000), (2000, 2000)):
        M = zipf_supports(V, 10 * n, n, seed=1).toarray() != 0
        for norm, method in (("spectral", "auto"), ("max", "lp")):
            res, w, c = _clock(lambda: max_margin(M, norm, tol=1e-4, method=method, time_limit=args.limit,
                                                  max_iter=10**6))
            print(f"  V={V} m={10 * n} {norm}/{method}: reduced {res.reduced_shape} gap {res.gap:.1e} "
                  f"{res.status.value} iters {res.stats.iterations} wall {w:.2f}s cpu {c:.2f}s "
                  f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    M = zipf_supports(5000, 10**5, 5000, seed=2)
    for norm in ("fro", "max"):
        res, w, c = _clock(lambda: max_margin(M, norm))
        print(f"  V=5000 m=1e5 {norm}: gap {res.gap:.1e} wall {w:.2f}s cpu {c:.2f}s")


def part_ff(args):
    print(f"C. fixed_features (tol 1e-6, time limit {args.limit}s, threads={args.threads})")
    # cvxpy + Clarabel only on the smallest cases: at V=200, m=1000, d=1200 it passed 11 GB RSS within 8 minutes
    cases = ((30, 100, 200, True), (30, 100, 40, True), (200, 1000, 1200, False), (200, 2000, 576, False),
             (500, 10000, 576, False), (500, 10000, 64, False))
    for V, m, d, cvx in cases[args.skip:]:
        data = synthetic.random_supports(V=V, m=m, seed=0)
        H = np.random.default_rng(0).standard_normal((d, m))
        res, w, c = _clock(lambda: fixed_features(data, H, time_limit=args.limit, max_iter=10**6, lsqr_iter=300))
        line = (f"  V={V} m={m} d={d}: {res.status.value} separable={res.separable} gap {res.gap:.1e} "
                f"spread {res.stats.residual:.1e} in_res {res.in_residual:.1e} iters {res.stats.iterations} "
                f"lsqr {res.info['lsqr_iterations']} wall {w:.2f}s cpu {c:.2f}s "
                f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
        if cvx:
            import cvxpy as cp

            mask = support_mask(data)
            W, a = cp.Variable((V, d)), cp.Variable(m)
            diff = W @ H - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
            prob = cp.Problem(cp.Minimize(cp.sum_squares(W)), [cp.multiply(mask, diff) == 0,
                                                                cp.multiply(~mask, diff + 1) <= 0])
            _, wc, cc = _clock(lambda: prob.solve(solver=cp.CLARABEL))
            val = np.sqrt(prob.value) if prob.status == "optimal" else prob.status
            line += f" | cvxpy {val} (ours {res.norm:.6g}) wall {wc:.2f}s cpu {cc:.2f}s"
        print(line, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("small", "scale", "ff"), default="small")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--skip", type=int, default=0, help="part ff: skip the first N cases")
    a = ap.parse_args()
    with threadpool_limits(a.threads):
        {"small": part_small, "scale": part_scale, "ff": part_ff}[a.part](a)
