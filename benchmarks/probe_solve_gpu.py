"""Solve a saved probe's NTP-SVM* on a GPU and measure the probe against it there (issue 14: the SmolLM2 probe at 10^4
contexts against the exact L_mm), without the model: ``ntpgeom probe -o DIR`` wrote ``DIR/data.npz`` (every
context) and ``DIR/probe.npz`` (the model's W, H, L on the measured contexts); this script

1. solves NTP-SVM* for ``DIR/data.npz`` with the large solver on ``--device`` (float32 iterations, float64
   certificate) to ``--tol``, stopping at ``--budget`` seconds with the best certified point (status user_limit);
2. builds the theory from that solve (``compute_theory(data, svm=...)``: factors and Grams from the reduced SVD);
3. measures the saved probe against it (``ntpgeom.probe.remeasure``) and writes ``OUT/summary.json`` and the report
   ``OUT/index.html`` (+ 2 figures): small files that travel back (the dense L_mm itself, V x m, does not).

Usage (runs in about budget + 90 s; ``--budget 300`` -> under 7 minutes on an H100):
    PYTHONPATH=src python3 benchmarks/probe_solve_gpu.py out/kjv10k $OUT/kjv10k-mm --budget 300 --tol 1e-4
Prints the solve (gap, status, seconds, iterations, peak device memory) and the verdicts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch

from ntpgeom._io import write_json_atomic
from ntpgeom.data import load
from ntpgeom.probe import remeasure
from ntpgeom.report.probe_report import reference_line, write_probe_report
from ntpgeom.theory import compute_theory, support_pattern
from ntpgeom.theory.svm_large import solve_ntp_svm_large


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("probe_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds for the solve (time limit)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="CPU threads for the CPU parts (theory SVDs, measurement; a CPU solve); default: all cores")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    data = load(a.probe_dir / "data.npz")
    card = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu x{torch.get_num_threads()}"
    print(f"data {data!r}  device {a.device} ({card})  torch {torch.__version__}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm = solve_ntp_svm_large(data, tol=a.tol, time_limit=a.budget, device=a.device, max_iter=10**7)
    peak = torch.cuda.max_memory_allocated() / 2**30 if a.device.startswith("cuda") else float("nan")
    print(f"solve: reduced {svm.reduced_shape[0]} x {svm.reduced_shape[1]}  status {svm.stats.status.value}  "
          f"gap {svm.gap:.2e} (certified)  {svm.seconds:.1f} s  {svm.stats.iterations} iterations  "
          f"rank {svm.rank}  ‖L_mm‖_* {svm.nuclear_norm:.8g}  peak device memory {peak:.2f} GiB  "
          f"dtype {svm.info.get('dtype')}", flush=True)
    t1 = time.perf_counter()
    pattern = support_pattern(data)  # one reduction and one SVD of the reduced S̃ for the theory and the measurement
    theory = compute_theory(data, tol=a.tol, method="large", svm=svm, threads=a.threads, pattern=pattern)
    print(f"theory (factors, Grams, proxies): {time.perf_counter() - t1:.1f} s; dist(L_mm, S̃) = "
          f"{theory.dist_mm_tilde:.4g}", flush=True)
    t2 = time.perf_counter()
    result = remeasure(a.probe_dir, theory, pattern=pattern)
    print(f"measurement: {time.perf_counter() - t2:.1f} s", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    s = result.summary()
    s["gpu_solve"] = {"device": a.device, "card": card, "peak_device_gib": peak, "budget_s": a.budget,
                      "status": svm.stats.status.value, "gap": svm.gap, "seconds": svm.seconds,
                      "iterations": svm.stats.iterations, "ladder": svm.info.get("ladder")}
    write_json_atomic(a.out / "summary.json", s)
    write_probe_report(result, a.out, svg=False)
    print(f"reference: {reference_line(result.metrics)}")
    for v in s["verdicts"]:
        print(f"  {v['check']:32s} {v['status']:12s} {v['detail']}")
    print(f"total {time.perf_counter() - t0:.1f} s; wrote {a.out}/summary.json, index.html", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
