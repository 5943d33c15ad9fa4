"""Training speed: the distinct-context soft-label objective vs a per-token loop over the n raw pairs.

Runs, in the same process and with the same thread setting, one optimisation step (forward, loss, backward, AdamW) of:

- ``per-token``: what a first attempt would write: expand the data to its n raw (context, next token) pairs, run the
  model on all n contexts and take the mean token cross-entropy (``F.cross_entropy``);
- ``distinct``: the π-weighted soft-label CE over the m distinct contexts (``SoftLabelCE``), dense model path;
- ``distinct+tree`` (transformer): the same, with shared context prefixes computed once (``PrefixTree``);
- ``train()``: the full training loop (logging every step, snapshots, checkpoints) in steps per second.

Models: the UFM (d = 128) and the 4-layer transformer (d = 128, 4 heads) on the built-in "simplified stories" corpus
(V = 102, m = 413, n = 16426). Prints medians over repeats and ratios. Usage: ``python benchmarks/bench_train.py
[--threads 1] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from ntpgeom.data import corpora
from ntpgeom.train import SoftLabelCE, train
from ntpgeom.train.config import resolve
from ntpgeom.train.models import build_model


def raw_pairs(data):
    C = data.counts.tocoo()
    reps = C.data.astype(np.int64)
    return torch.as_tensor(np.repeat(C.col, reps)), torch.as_tensor(np.repeat(C.row, reps))


def make(kind, data, dtype, tree=True):
    torch.manual_seed(0)
    cfg = resolve(data, {"model": kind, "d": 128, "layers": 4, "heads": 4, "tree": tree, "device": "cpu"})
    net = build_model(cfg, data).to(dtype)
    return net, torch.optim.AdamW(net.parameters(), lr=1e-4)


def time_steps(step_fn, n_steps, repeats):
    step_fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n_steps):
            step_fn()
        out.append((time.perf_counter() - t) / n_steps)
    return statistics.median(out)


def bench(kind, data, dtype, repeats, n_fast, n_slow):
    ctx_idx, tok = raw_pairs(data)
    res = {}
    # per-token baseline
    net, opt = make(kind, data, dtype, tree=False)

    def per_token():
        if kind == "ufm":
            Lt = net.H.t()[ctx_idx] @ net.W.t()  # n x V logits, one row per raw pair
        else:
            Lt = net.out(net.features(ctx_idx))  # the model run on all n raw contexts
        loss = F.cross_entropy(Lt, tok)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    base_loss = float(per_token().detach())
    res["per-token"] = time_steps(per_token, n_slow, repeats)
    variants = [("distinct", False)] + ([("distinct+tree", True)] if kind == "transformer" else [])
    for name, tree in variants:
        net, opt = make(kind, data, dtype, tree=tree)
        loss_fn = SoftLabelCE(data, dtype=dtype)

        def distinct():
            _, Lt = net.logits()
            loss = loss_fn(Lt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        ours = float(distinct().detach())
        assert abs(ours - base_loss) < 1e-4 * max(1.0, abs(base_loss)), (ours, base_loss)  # same objective
        res[name] = time_steps(distinct, n_fast, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        steps = n_fast * repeats
        run = train(data, model=kind, d=128, steps=steps, lr=1e-4, dtype=str(dtype).split(".")[1],
                    threads=torch.get_num_threads(), out=f"{tmp}/run")
        res["train()"] = 1.0 / run.config["steps_per_second"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = corpora.stories()
    print(f"data: stories V={data.V} m={data.m} n={data.n} (n/m = {data.n / data.m:.1f}); "
          f"torch {torch.__version__}, torch threads = {torch.get_num_threads()}; medians over {args.repeats} repeats")
    for kind, dtype, n_fast, n_slow in (("ufm", torch.float64, 50, 5), ("ufm", torch.float32, 50, 5),
                                        ("transformer", torch.float32, 3, 1)):
        res = bench(kind, data, dtype, args.repeats, n_fast, n_slow)
        base = res["per-token"]
        print(f"\n{kind} d=128 {str(dtype).split('.')[1]}")
        for name, sec in res.items():
            print(f"  {name:14s} {1.0 / sec:10.2f} steps/s  {sec * 1e3:10.2f} ms/step  speed-up x{base / sec:8.1f}")


if __name__ == "__main__":
    main()
