"""Tokens/s of ntpgeom's training against a plain nanoGPT-style loop of the same transformer, in one run.

Setting (issue 12): the TinyStories sample, ``bpe:128``, context length 6, the 4000 most frequent contexts
(``--max-contexts 4000``): m = 4000 distinct contexts standing for n raw (context, next token) pairs.

- **ntpgeom**: ``ntpgeom.train(model="transformer", ...)``, full batch: one step trains on all n pairs at once,
  through the m distinct contexts and their prefix tree (each distinct prefix computed once). Its steps/s comes from
  the wall times of two runs (N and 3N steps), so set-up and the end-point evaluations and checkpoints cancel.
- **baseline**: the same transformer module (ntpgeom's ``Transformer``, dense path, no tree) trained the usual way:
  one row per raw pair (the n windows, duplicates included), ``F.cross_entropy`` at the last position, AdamW,
  full batch (the same objective: the mean per-token CE over the n pairs equals ntpgeom's π-weighted CE).

Both count n trained tokens per step, so ``ratio = ntpgeom tokens/s / baseline tokens/s`` (the speed-up of training
on distinct contexts, ~n/m-fold less work when the tree is ignored). On CUDA the script also counts the FLOPs of one
ntpgeom step (``torch.utils.flop_counter``) and reports the achieved fraction of the card's bf16 dense peak.

Usage: ``PYTHONPATH=src python benchmarks/bench_train_tokens.py [--device cpu|cuda] [--threads 1] [--d 128]
[--layers 4] [--steps 20] [--autocast none|bf16] [--repeats 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ntpgeom.data import NTPData, from_text
from ntpgeom.train import train
from ntpgeom.train.models import Transformer

_ROOT = Path(__file__).resolve().parents[1]
#: where the TinyStories sample is looked for: $NTPGEOM_TEXT, shared/ inside the checkout (it travels to a device
#: machine), ../shared beside it (a developer's machine)
TEXT_CANDIDATES = [os.environ.get("NTPGEOM_TEXT", ""), str(_ROOT / "shared" / "data" / "tinystories-sample.txt"),
                   str(_ROOT.parent / "shared" / "data" / "tinystories-sample.txt"),
                   "/work/shared/data/tinystories-sample.txt"]
DEFAULT_TEXT = next((p for p in TEXT_CANDIDATES if p and Path(p).is_file()), TEXT_CANDIDATES[1])
#: dense bf16 tensor-core peaks (FLOP/s) by card name; the SXM figure for an H100 that is not a PCIe card
BF16_PEAK = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "4090": 165e12}


def stories_data(text: str = DEFAULT_TEXT, max_contexts: int | None = 4000, context_len: int = 6) -> NTPData:
    if not Path(text).is_file():
        raise FileNotFoundError(f"the TinyStories sample is not at {text}; copy it to shared/data/ in the checkout "
                                "or set NTPGEOM_TEXT")
    return from_text(text, context_len, "bpe:128", top_k=max_contexts)


def raw_rows(data: NTPData) -> tuple[np.ndarray, np.ndarray]:
    """The n raw (context, next) pairs as rows: contexts (n, T-1) and targets (n,) (counts must be integers)."""
    C = data.counts
    reps = C.data.astype(np.int64)
    cols = np.repeat(np.arange(data.m), np.diff(C.indptr))
    return np.repeat(data.contexts[cols], reps, axis=0), np.repeat(C.indices.astype(np.int64), reps)


def bf16_peak(name: str) -> float | None:
    for key, peak in BF16_PEAK.items():
        if key in name:
            return peak
    return None


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def baseline_steps_per_second(data: NTPData, d: int, layers: int, steps: int, device: str,
                              autocast: str = "none") -> float:
    """Steps/s of the plain loop (full batch over the n raw rows), after 3 warm-up steps."""
    ctx, tgt = raw_rows(data)
    torch.manual_seed(0)
    net = Transformer(torch.as_tensor(ctx, device=device), len(data.input_vocab), data.V, d, layers=layers,
                      tree=False).to(device)
    y = torch.as_tensor(tgt, device=device)
    cuda = device.startswith("cuda")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, **({"fused": True} if cuda else {"foreach": True}))

    def step() -> None:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=autocast == "bf16"):
            _, Lt = net.logits()
        loss = F.cross_entropy(Lt.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps / (time.perf_counter() - t0)


def ntpgeom_steps_per_second(data: NTPData, d: int, layers: int, steps: int, device: str, threads: int,
                             autocast: str = "none") -> float:
    """Steps/s of ``ntpgeom.train`` from two runs of ``steps`` and ``3 x steps`` steps: the difference of their wall
    times cancels the fixed costs (set-up, CUDA warm-up, the first and last evaluation and checkpoint)."""
    def wall(n: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            train(data, model="transformer", d=d, layers=layers, steps=n, lr=1e-3, device=device, threads=threads,
                  autocast=autocast, out=f"{tmp}/r", snapshot_steps=[], log_every=n, checkpoint_every=10 ** 9,
                  checkpoint_seconds=1e9)
            _sync(device)
            return time.perf_counter() - t0

    wall(2)  # warm-up: kernels loaded, allocator primed
    t1, t3 = wall(steps), wall(3 * steps)
    return 2 * steps / (t3 - t1) if t3 > t1 else 3 * steps / t3


def ntpgeom_step_flops(data: NTPData, d: int, layers: int, device: str) -> float:
    """FLOPs of one full-batch ntpgeom step (forward + backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    from ntpgeom.train.config import resolve
    from ntpgeom.train.models import build_model
    from ntpgeom.train.objective import SoftLabelCE

    cfg = resolve(data, {"model": "transformer", "d": d, "layers": layers, "heads": 4, "device": "cpu"})
    net = build_model(cfg, data, device).to(device)
    loss = SoftLabelCE(data, device, torch.float32)
    with FlopCounterMode(display=False) as fc:
        loss(net.logits()[1]).backward()
    return float(fc.get_total_flops())


def measure(data: NTPData, d: int, layers: int, steps: int, device: str, threads: int, autocast: str,
            repeats: int) -> dict:
    torch.set_num_threads(threads)
    ours = statistics.median(ntpgeom_steps_per_second(data, d, layers, steps, device, threads, autocast)
                             for _ in range(repeats))
    base = statistics.median(baseline_steps_per_second(data, d, layers, steps, device, autocast)
                             for _ in range(repeats))
    n = int(data.n)
    row = {"device": device, "threads": threads, "d": d, "layers": layers, "autocast": autocast, "m": data.m,
           "n": n, "ntpgeom_steps_s": ours, "baseline_steps_s": base, "ntpgeom_tokens_s": ours * n,
           "baseline_tokens_s": base * n, "ratio": ours / base}
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        peak = bf16_peak(name)
        flops = ntpgeom_step_flops(data, d, layers, device)
        row.update(card=name, step_flops=flops, achieved_flops=flops * ours,
                   fraction_of_bf16_peak=None if peak is None else flops * ours / peak)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--autocast", default="none", choices=["none", "bf16"])
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--max-contexts", type=int, default=4000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = stories_data(args.text, args.max_contexts)
    print(f"data: {data}")
    row = measure(data, args.d, args.layers, args.steps, args.device, args.threads, args.autocast, args.repeats)
    print(f"{'':10s} {'steps/s':>9s} {'tokens/s':>11s}")
    print(f"{'ntpgeom':10s} {row['ntpgeom_steps_s']:9.2f} {row['ntpgeom_tokens_s']:11.3g}")
    print(f"{'baseline':10s} {row['baseline_steps_s']:9.2f} {row['baseline_tokens_s']:11.3g}")
    print(f"ratio ntpgeom/baseline = {row['ratio']:.2f}  (device {args.device}, threads {args.threads}, "
          f"d={args.d}, layers={args.layers}, autocast {args.autocast}, m={data.m}, n={row['n']})")
    if "fraction_of_bf16_peak" in row and row["fraction_of_bf16_peak"] is not None:
        print(f"{row['card']}: {row['achieved_flops'] / 1e12:.2f} TFLOP/s = {100 * row['fraction_of_bf16_peak']:.2f}% "
              "of the bf16 dense peak")
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
