"""Time and peak memory of the representation metrics (``ntpgeom.metrics.representation``) against what a user would
otherwise write, on hidden states of a probe's size.

H is d x m float32 (d = 576, SmolLM2-135M's width) with Zipf-distributed group ids. Each (metric, implementation) runs
in a fresh Python process, which reports its own wall and CPU seconds for the call and its peak resident memory
(``ru_maxrss``) minus the peak just before the call (H already built, in chunks), so the numbers are the metric's
own working memory (a call that stays below the earlier peak reads 0). Baselines:

- ``cdnv``: Wu & Papyan's approach (github.com/rhubarbwu/linguistic-collapse, ``lib/collapse.py``) in PyTorch:
  class means by a one-hot (m x C) product, the full C x C matrix of pair ratios, the mean of its upper triangle.
- ``rankme``: ``torch.linalg.svdvals`` of H (Garrido et al.'s reference computation), in float64 like ntpgeom.
- ``anisotropy``: the mean off-diagonal entry of the m x m cosine matrix (numpy), run only for m <= 20000.

Both sides are checked equal (relative 1e-6) before the table is printed: medians over ``--repeats`` runs, the ratio
baseline / ntpgeom of wall time and of memory.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_representation.py [--m 20000 100000] [--groups 3000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
metric, impl, d, m, G = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
rng = np.random.default_rng(0)
labels = (rng.zipf(1.3, size=m) - 1) % G
centres = rng.standard_normal((d, G), dtype=np.float32)
H = np.empty((d, m), dtype=np.float32)  # filled in chunks: no transient larger than the metrics' own memory
for j in range(0, m, 1024):
    H[:, j:j + 1024] = rng.standard_normal((d, min(1024, m - j)), dtype=np.float32) + centres[:, labels[j:j + 1024]]

def cdnv_baseline():
    X, y = torch.from_numpy(H.T).double(), torch.from_numpy(labels)
    _, inv, counts = torch.unique(y, return_inverse=True, return_counts=True)
    keep = counts >= 2
    onehot = torch.nn.functional.one_hot(inv, len(counts)).double()[:, keep]
    n = counts[keep].double()
    means = onehot.T @ X / n[:, None]
    sel = keep[inv]
    dev = X[sel] - means[torch.cumsum(keep.long(), 0)[inv[sel]] - 1]
    var = torch.zeros(len(n), dtype=torch.float64).index_add_(0, torch.cumsum(keep.long(), 0)[inv[sel]] - 1,
                                                             (dev * dev).sum(1)) / n
    D2 = torch.cdist(means, means) ** 2
    R = (var[:, None] + var[None, :]) / (2 * D2)
    iu = torch.triu_indices(len(n), len(n), 1)
    return float(R[iu[0], iu[1]].mean())

def rankme_baseline():
    s = torch.linalg.svdvals(torch.from_numpy(H).double())
    p = s / s.sum() + 1e-7
    return float(torch.exp(-(p * p.log()).sum()))

def anisotropy_baseline():
    U = H.astype(np.float64) / np.linalg.norm(H.astype(np.float64), axis=0)
    C = U.T @ U
    return float((C.sum() - np.trace(C)) / (m * (m - 1)))

from ntpgeom.metrics import representation as rep
fn = {"baseline": {"cdnv": cdnv_baseline, "rankme": rankme_baseline, "anisotropy": anisotropy_baseline}[metric],
      "ntpgeom": {"cdnv": lambda: rep.cdnv(H, labels), "rankme": lambda: rep.rankme(H),
                  "anisotropy": lambda: rep.anisotropy(H)}[metric]}[impl]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0, c0 = time.perf_counter(), time.process_time()
value = fn()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"value": value, "wall": wall, "cpu": cpu, "mem_mib": (peak - before) / 1024}))
"""


def run_child(metric: str, impl: str, d: int, m: int, G: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, metric, impl, str(d), str(m), str(G)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=576)
    ap.add_argument("--m", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--groups", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"d={args.d}, groups drawn from {args.groups} (Zipf 1.3), {args.repeats} repeats, medians; "
          "memory = peak RSS growth during the call")
    print(f"{'metric':11s} {'m':>7s} | {'ntpgeom wall/cpu s':>19s} {'MiB':>7s} | {'baseline wall/cpu s':>19s} "
          f"{'MiB':>7s} | {'time x':>6s} {'mem x':>6s}")
    for m in args.m:
        for metric in ("cdnv", "rankme", "anisotropy"):
            if metric == "anisotropy" and m > 20000:
                continue
            res = {impl: [run_child(metric, impl, args.d, m, args.groups) for _ in range(args.repeats)]
                   for impl in ("ntpgeom", "baseline")}
            a, b = res["ntpgeom"][0]["value"], res["baseline"][0]["value"]
            if abs(a - b) > 1e-6 * max(abs(a), abs(b), 1e-12):
                raise SystemExit(f"{metric} m={m}: ntpgeom {a!r} != baseline {b!r}")
            med = {impl: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "mem_mib")}
                   for impl, rs in res.items()}
            n, bl = med["ntpgeom"], med["baseline"]
            print(f"{metric:11s} {m:7d} | {n['wall']:9.2f}/{n['cpu']:<9.2f} {n['mem_mib']:7.0f} | "
                  f"{bl['wall']:9.2f}/{bl['cpu']:<9.2f} {bl['mem_mib']:7.0f} | {bl['wall'] / n['wall']:6.2f} "
                  f"{bl['mem_mib'] / max(n['mem_mib'], 1.0):6.1f}")


if __name__ == "__main__":
    main()
