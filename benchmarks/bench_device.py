"""Where device "auto" should switch from the CPU to the GPU: training steps/s on both, by problem size.

For each problem (model x data) runs ``ntpgeom.train`` for a fixed number of steps on the CPU (``--threads``) and on
CUDA, in the same process, and prints steps/s (median over ``--repeats``; the run's own ``steps_per_second``, which
excludes set-up), the ratio cuda/cpu, the rule's size ``work = parameters x contexts`` and what "auto" picks
(``ntpgeom.train.config.AUTO_CUDA_WORK``). The rule is right for a problem when "auto" picks the faster device.

Usage: ``python benchmarks/bench_device.py [--threads 1] [--repeats 3] [--json out.json]`` (needs CUDA for the GPU
column; without it only the CPU is timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

import torch

from ntpgeom.data import corpora, synthetic
from ntpgeom.train import train
from ntpgeom.train.config import AUTO_CUDA_WORK, param_count, resolve

PROBLEMS = [  # name, data factory, options, steps
    ("ufm V=10 m=95 (exp. a)", lambda: synthetic.random_supports(10, 95, (1, 5), seed=0), {"model": "ufm"}, 400),
    ("ufm stories", corpora.stories, {"model": "ufm"}, 300),
    ("ufm V=200 m=4000", lambda: synthetic.random_supports(200, 4000, (1, 8), seed=0), {"model": "ufm"}, 30),
    ("ufm V=500 m=20000", lambda: synthetic.random_supports(500, 20000, (1, 8), seed=0), {"model": "ufm"}, 5),
    ("mlp synthetic d=64", corpora.synthetic, {"model": "mlp", "d": 64}, 200),
    ("transformer synthetic d=16 L=1", corpora.synthetic, {"model": "transformer", "d": 16, "layers": 1,
                                                           "heads": 2}, 100),
    ("lstm stories d=64", corpora.stories, {"model": "lstm", "d": 64}, 30),
    ("transformer stories d=64 L=2", corpora.stories, {"model": "transformer", "d": 64, "layers": 2}, 30),
    ("transformer stories d=128 L=4", corpora.stories, {"model": "transformer"}, 20),
]


def steps_per_second(data, opts, steps, device, threads, repeats) -> float:
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            run = train(data, steps=steps, lr=1e-3, device=device, threads=threads, out=f"{tmp}/r",
                        snapshot_steps=[], log_every=steps, **opts)
            rates.append(run.config["steps_per_second"])
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", default="", help="run the problems whose name contains this")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    print(f"threads={args.threads}  cuda={torch.cuda.get_device_name() if cuda else 'none'}  "
          f"AUTO_CUDA_WORK={AUTO_CUDA_WORK:.0e}")
    print(f"{'problem':34s} {'work':>9s} {'cpu st/s':>9s} {'cuda st/s':>9s} {'cuda/cpu':>8s}  auto  right")
    rows = []
    for name, make, opts, steps in [p for p in PROBLEMS if args.only in p[0]]:
        data = make()
        work = param_count(resolve(data, {**opts, "device": "cpu"}), data) * data.m
        cpu = steps_per_second(data, opts, steps, "cpu", args.threads, args.repeats)
        gpu = steps_per_second(data, opts, steps, "cuda", args.threads, args.repeats) if cuda else float("nan")
        auto = "cuda" if work >= AUTO_CUDA_WORK else "cpu"
        right = "n/a" if not cuda else ("yes" if (auto == "cuda") == (gpu > cpu) else "NO")
        rows.append({"problem": name, "work": work, "cpu": cpu, "cuda": gpu, "auto": auto, "right": right})
        print(f"{name:34s} {work:9.2e} {cpu:9.1f} {gpu:9.1f} {gpu / cpu:8.2f}  {auto:4s}  {right}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
