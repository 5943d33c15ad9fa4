"""The report's path points (``ntpgeom.theory.path_point``, the finite-norm prediction) before and after the
projection through the left singular vectors only (issue 24 item 5).

In the same process, with one BLAS thread (``OMP_NUM_THREADS=1`` and threadpoolctl), on the built-in "simplified
stories" corpus (V = 102, m = 413, the data of ``reproduce``'s ``stories`` runs), each norm solved cold to
``tol = 1e-5`` (the report's tolerance, ``metrics.tables``) by:

- ``before``: the projection onto the nuclear-norm ball through the full thin SVD ``np.linalg.svd(Z)`` (what
  ``path_point`` did, and what a user would write);
- ``after``: ``ntpgeom.theory.finite_norm._proj_ball`` as it is now (QR's R factor, its SVD, ``U diag(s'/s) Uᵀ Z``).

Prints per norm and variant the median wall and CPU seconds over ``--repeats`` runs (alternated, so both see the
same machine load), the iterations, the certified relative gap, and the largest difference between the two solutions
(they must agree to round-off: the iterations are the same arithmetic up to the projection's rounding). The machine's
load average is printed: on a shared machine wall time follows the load, CPU time much less.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_path_point.py [--norms 200 600] [--repeats 3]``.

Measured 2026-12-08 at commit 63e94f9 (branch wip/hux, which added it) on a 2-core AMD EPYC (Zen 4, KVM guest),
shared, load average 6.4 at start, ``OMP_NUM_THREADS=1``, 3 repeats::

    norm  variant  wall s (median)  CPU s (median)  iterations  rel gap   max |ΔL| vs before
      200  before              4.94            1.46         290  8.42e-06  0.0e+00
      200  after               5.58            1.08         290  8.42e-06  7.0e-13
          CPU ratio before/after: 1.35x
      600  before              4.82            2.76         550  9.10e-06  0.0e+00
      600  after               6.99            2.36         550  9.10e-06  1.1e-12
          CPU ratio before/after: 1.17x

Wall time on this shared machine follows the other jobs, not the code (the 35-100 s path points of issue 19 were
wall times at load ~10). The report's slow path point is a run's *last* snapshot at a large norm: stories/ufm
(quick) ends at B = 1850, where the solve needs 8130-8490 iterations (~47 CPU s before this change) whatever the
start — warm from the first snapshot's point (what ``metrics.tables`` does), the cold continuation, and the model's
own logits were tried; the curvature of the margin directions (~ CE − ℋ = 2e-3) sets the count. A looser tolerance
(1e-3 instead of 1e-5) still took 5690 iterations, so it was not adopted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ntpgeom.experiments.registry import EXPERIMENTS
from ntpgeom.theory import finite_norm as FN

AFTER = FN._proj_ball


def before(Z: np.ndarray, B: float) -> np.ndarray:
    """The projection through the full thin SVD (the previous code)."""
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    return Z if s.sum() <= B else (U * FN._l1_ball(s, B)) @ Vt


def solve(proj, data, B: float):
    FN._proj_ball = proj
    try:
        c, t = time.process_time(), time.perf_counter()
        pp = FN.path_point(data, B, tol=1e-5)
        return time.perf_counter() - t, time.process_time() - c, pp
    finally:
        FN._proj_ball = AFTER


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--norms", type=float, nargs="+", default=[200.0, 600.0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = EXPERIMENTS["stories"].data(True)
    print(f"{data!r}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, 1 BLAS thread; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print("norm  variant  wall s (median)  CPU s (median)  iterations  rel gap   max |ΔL| vs before")
    with threadpool_limits(1):
        for B in args.norms:
            runs = {"before": [], "after": []}
            for _ in range(args.repeats):
                for name, proj in (("before", before), ("after", AFTER)):
                    runs[name].append(solve(proj, data, B))
            ref = runs["before"][0][2].L
            for name, rs in runs.items():
                pp = rs[0][2]
                print(f"{B:5.0f}  {name:7s}  {statistics.median(r[0] for r in rs):15.2f}  "
                      f"{statistics.median(r[1] for r in rs):14.2f}  {pp.iterations:10d}  {pp.rel_gap:.2e}  "
                      f"{float(np.abs(pp.L - ref).max()):.1e}")
            cpu = [statistics.median(r[1] for r in runs[k]) for k in ("before", "after")]
            print(f"      CPU ratio before/after: {cpu[0] / cpu[1]:.2f}x")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
