"""The CUDA checks of issue 12, as one short script (under 4 minutes on an H100): prints a compact table.

(a) resume bit-identity on the device: N steps vs N/2 + resume N/2 (UFM mini-batch SGD; transformer full batch
    AdamW through the prefix tree), loss tables and final logits compared exactly;
(b) the device crossover of "auto" (benchmarks/bench_device.py, short form): steps/s on the CPU and the device;
(c) the paper-scale TinyStories setting (12 layers, d = 256, BPE 128, context length 6, the shared sample):
    ntpgeom vs the nanoGPT-style loop in tokens/s, fp32 / tf32 / bf16, FLOPs per step and the fraction of the
    card's bf16 peak; all contexts of the sample with bf16 and accumulation; a short training run's CE - ℋ;
(d) the launch-bound case: the UFM of experiment (a) (V = 10, m = 95), steps/s on the device vs the CPU;
(e) App. D.3, autoregressive: character contexts of every length 1..16 from the sample (the most frequent per
    length), one transformer trained with π-sampled mini-batches in bf16; CE_T - ℋ_T per length;
(f) App. D.4, d < V: the 4000-context stories data, a 4-layer d=256 transformer with a linear bottleneck
    k = V/2, V/4, V/8 before the output (bf16, full batch): CE - ℋ after a short run, per k.

Usage (the lead, on the GPU machine): ``PYTHONPATH=src python3 benchmarks/gpu_train_check.py``; here, as a smoke
test: ``PYTHONPATH=src python3 benchmarks/gpu_train_check.py --device cpu --small``. The TinyStories sample is read
from ``--text`` (default: ``$NTPGEOM_TEXT``, else ``shared/data/tinystories-sample.txt`` inside the checkout, which
travels to a device machine, else ``../shared/data/`` beside it). Writes the numbers as JSON to
``--json`` (default ``$OUT/gpu_train_check.json`` when ``$OUT`` is set). Each section catches its own failure and
reports it as one line, so one broken check does not hide the others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # lets (a) try deterministic algorithms on CUDA
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_device  # noqa: E402
import bench_train_tokens as btt  # noqa: E402

from ntpgeom.data import corpora, synthetic  # noqa: E402
from ntpgeom.train import train  # noqa: E402

RESULTS: dict = {}
JSON_PATH: list[str] = []  # written after every section, so a run cut short still returns what it measured


def _dump() -> None:
    if JSON_PATH:
        Path(JSON_PATH[0]).write_text(json.dumps(RESULTS, indent=1, default=str))


def section(name: str):
    def wrap(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            print(f"\n== {name}", flush=True)
            try:
                RESULTS[name] = fn(*a, **k)
            except Exception as exc:  # noqa: BLE001 - report and go on
                RESULTS[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"   FAILED: {type(exc).__name__}: {str(exc)[:300]}")
                traceback.print_exc(limit=int(os.environ.get("TB_LIMIT", "3")))
            print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
            _dump()
        return run
    return wrap


def _same(a, b) -> tuple[bool, float]:
    diff = max(float(np.max(np.abs(a.loss[k] - b.loss[k]), initial=0.0)) for k in a.loss)
    same = all(np.array_equal(a.loss[k], b.loss[k]) for k in a.loss)
    La, Lb = a.snapshot(a.steps[-1]).L, b.snapshot(b.steps[-1]).L
    return same and np.array_equal(La, Lb), max(diff, float(np.abs(La - Lb).max()))


@section("(a) resume bit-identity")
def check_resume(dev: str, small: bool) -> dict:
    cases = {
        "ufm sgd mini-batch": (synthetic.random_supports(10, 95, (1, 5), seed=0),
                               dict(model="ufm", lr=0.05, optimizer="sgd", batch_size=16), 40),
        "transformer adamw tree": (corpora.stories(), dict(model="transformer", d=32 if small else 64, layers=2,
                                                          lr=3e-3), 20),
        "transformer pi-sampler bf16": (corpora.stories(), dict(model="transformer", d=32, layers=2, lr=3e-3,
                                                               batch_size=64, sampler="pi", autocast="bf16"), 20),
    }
    cases["transformer adamw tree, deterministic algorithms"] = cases["transformer adamw tree"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (data, kw, N) in cases.items():
            torch.use_deterministic_algorithms("deterministic" in name, warn_only=True)
            whole = train(data, steps=N, device=dev, out=f"{tmp}/{name}-w", **kw)
            train(data, steps=N // 2, device=dev, out=f"{tmp}/{name}-p", **kw)
            part = train(steps=N, out=f"{tmp}/{name}-p", resume=True, device=dev)
            torch.use_deterministic_algorithms(False)
            same, diff = _same(whole, part)
            out[name] = {"identical": same, "max_abs_diff": diff, "device": part.config["device"]}
            print(f"   {name:50s} identical={same}  max|diff|={diff:.3g}  on {part.config['device']}")
    return out


@section("(b) device crossover (auto)")
def check_crossover(dev: str, small: bool) -> dict:
    names = ["exp. a", "ufm V=200", "mlp synthetic", "transformer stories d=64", "transformer stories d=128"]
    rows = []
    print(f"   {'problem':34s} {'work':>9s} {'cpu st/s':>9s} {'dev st/s':>9s} {'dev/cpu':>8s} auto right")
    for name, make, opts, steps in bench_device.PROBLEMS:
        if not any(n in name for n in names):
            continue
        steps = max(5, steps // (4 if small else 2))
        data = make()
        work = bench_device.param_count(bench_device.resolve(data, {**opts, "device": "cpu"}), data) * data.m
        cpu = bench_device.steps_per_second(data, opts, steps, "cpu", 1, 1)
        gpu = bench_device.steps_per_second(data, opts, steps, dev, 1, 1) if dev != "cpu" else float("nan")
        auto = "cuda" if work >= bench_device.AUTO_CUDA_WORK else "cpu"
        right = "n/a" if dev == "cpu" else ("yes" if (auto == "cuda") == (gpu > cpu) else "NO")
        rows.append({"problem": name, "work": work, "cpu": cpu, "device": gpu, "auto": auto, "right": right})
        print(f"   {name:34s} {work:9.2e} {cpu:9.1f} {gpu:9.1f} {gpu / cpu:8.2f} {auto:4s} {right}", flush=True)
    return {"threads": 1, "threshold": bench_device.AUTO_CUDA_WORK, "rows": rows}


@section("(c) paper-scale TinyStories (12 layers, d=256, bpe:128, T-1=6)")
def check_paper_scale(dev: str, small: bool, text: str) -> dict:
    d, layers, steps = (32, 2, 3) if small else (256, 12, 20)
    data = btt.stories_data(text, 300 if small else 4000)
    print(f"   data (top contexts): {data}")
    out = {"data": repr(data), "rows": []}
    modes = ["none", "bf16"] + (["tf32"] if dev != "cpu" else [])
    for mode in modes:
        ours = btt.ntpgeom_steps_per_second(data, d, layers, steps, dev, 1, mode)
        base = btt.baseline_steps_per_second(data, d, layers, steps, dev, "bf16" if mode == "bf16" else "none") \
            if mode != "tf32" else float("nan")
        row = {"autocast": mode, "ntpgeom_steps_s": ours, "ntpgeom_tokens_s": ours * data.n,
               "baseline_steps_s": base, "ratio": ours / base}
        if dev != "cpu":
            flops = btt.ntpgeom_step_flops(data, d, layers, dev)
            peak = btt.bf16_peak(torch.cuda.get_device_name())
            row.update(step_tflop=flops / 1e12, tflops=flops * ours / 1e12,
                       fraction_of_bf16_peak=None if peak is None else flops * ours / peak)
        out["rows"].append(row)
        frac = row.get("fraction_of_bf16_peak")
        print(f"   {mode:5s} ntpgeom {ours:8.2f} st/s {ours * data.n:10.3g} tok/s | baseline {base:8.2f} st/s | "
              f"ratio {row['ratio']:.2f}" + (f" | {row['tflops']:.1f} TFLOP/s = {100 * frac:.2f}% of bf16 peak"
                                             if frac is not None else ""), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        n_train = 20 if small else 600
        run = train(data, model="transformer", d=d, layers=layers, steps=n_train, lr=1e-3, device=dev,
                    autocast="bf16", out=f"{tmp}/short", snapshot_steps=[], log_every=max(1, n_train // 10))
        out["short_run"] = {"steps": n_train, "gap": float(run.loss["gap"][-1]), "gap0": float(run.loss["gap"][0]),
                            "wall_s": run.config["wall_seconds"]}
        print(f"   short bf16 run: {n_train} steps, CE-H {run.loss['gap'][0]:.3f} -> {run.loss['gap'][-1]:.4f} "
              f"in {run.config['wall_seconds']:.1f} s")
        full = btt.stories_data(text, 2000 if small else None)
        acc = 2 if small else 8
        run = train(full, model="transformer", d=d, layers=layers, steps=3 if small else 6, lr=1e-3, device=dev,
                    autocast="bf16", accumulate=acc, out=f"{tmp}/all", snapshot_steps=[], log_every=10 ** 6)
        out["all_contexts"] = {"m": full.m, "n": int(full.n), "accumulate": acc,
                               "steps_s": run.config["steps_per_second"],
                               "tokens_s": run.config["steps_per_second"] * full.n}
        print(f"   all contexts m={full.m} n={int(full.n)}: bf16, accumulate={acc}: "
              f"{run.config['steps_per_second']:.2f} st/s = {run.config['steps_per_second'] * full.n:.3g} tok/s")
    return out


@section("(d) UFM launch-bound case (V=10, m=95)")
def check_ufm(dev: str, small: bool) -> dict:
    data = synthetic.random_supports(10, 95, (1, 5), seed=0)
    steps = 500 if small else 4000
    out = {}
    for where in ["cpu"] + ([dev] if dev != "cpu" else []):
        with tempfile.TemporaryDirectory() as tmp:
            run = train(data, model="ufm", steps=steps, lr=0.05, device=where, out=f"{tmp}/u", snapshot_steps=[])
        out[where] = run.config["steps_per_second"]
        print(f"   {where:6s} {out[where]:9.1f} steps/s ({steps} steps, logged every step)")
    if dev != "cpu":
        out["ratio_device_cpu"] = out[dev] / out["cpu"]
        print(f"   device/cpu = {out['ratio_device_cpu']:.2f} (issue 12 measured ~550 steps/s on the H100 before)")
    return out


@section("(e) autoregressive, contexts of length 1..16 (App. D.3)")
def check_autoregressive(dev: str, small: bool, text: str) -> dict:
    from ntpgeom.data import from_text

    hi, per_len, steps = (6, 100, 20) if small else (16, 2000, 400)
    if not Path(text).is_file():
        raise FileNotFoundError(f"the TinyStories sample is not at {text}; copy it to shared/data/ or set NTPGEOM_TEXT")
    data = from_text(text, (1, hi), "char", top_k=per_len)
    print(f"   data: {data}")
    d, layers = (32, 2) if small else (256, 6)
    with tempfile.TemporaryDirectory() as tmp:
        run = train(data, model="transformer", d=d, layers=layers, steps=steps, lr=1e-3, device=dev,
                    autocast="bf16" if dev != "cpu" else "none", batch_size=min(4096, data.m // 2), sampler="pi",
                    out=f"{tmp}/ar", snapshot_steps=[], log_every=max(1, steps // 4), snapshot_contexts=1000)
        gaps = run.summary()["gap_by_length"]
        print(f"   {steps} steps, {run.config['steps_per_second']:.1f} st/s, CE-H {run.loss['gap'][-1]:.4f}")
        print("   CE_T - H_T: " + "  ".join(f"{T}:{g:.3f}" for T, g in gaps.items()))
    return {"m": data.m, "steps": steps, "steps_s": run.config["steps_per_second"], "gap_by_length": gaps,
            "entropy_by_length": {str(k): v for k, v in data.entropy_by_length().items()}}


@section("(f) d < V: bottleneck k = V/2, V/4, V/8 (App. D.4)")
def check_bottleneck(dev: str, small: bool, text: str) -> dict:
    data = btt.stories_data(text, 300 if small else 4000)
    d, layers, steps = (32, 2, 20) if small else (256, 4, 400)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in (data.V // 2, data.V // 4, data.V // 8):
            run = train(data, model="transformer", d=d, layers=layers, bottleneck=k, steps=steps, lr=1e-3,
                        device=dev, autocast="bf16" if dev != "cpu" else "none", out=f"{tmp}/k{k}",
                        snapshot_steps=[], log_every=steps)
            out[str(k)] = {"gap": float(run.loss["gap"][-1]), "steps_s": run.config["steps_per_second"]}
            print(f"   k={k:4d} (V={data.V}): CE-H {run.loss['gap'][-1]:.4f} after {steps} steps "
                  f"({run.config['steps_per_second']:.1f} st/s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="tiny sizes (a smoke test on the CPU)")
    ap.add_argument("--text", default=btt.DEFAULT_TEXT)
    ap.add_argument("--json", default=os.path.join(os.environ["OUT"], "gpu_train_check.json")
                    if os.environ.get("OUT") else None)
    ap.add_argument("--only", default="abcdef", help="sections to run, e.g. 'ac'")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.json:
        JSON_PATH.append(args.json)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") and torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}  device {args.device} ({name})  cpu threads available {os.cpu_count()}")
    RESULTS["env"] = {"torch": torch.__version__, "device": args.device, "card": name, "text": args.text}
    print(f"text: {args.text} ({'found' if Path(args.text).is_file() else 'MISSING: sections c, e, f will fail'})")
    if "a" in args.only:
        check_resume(args.device, args.small)
    if "b" in args.only:
        check_crossover(args.device, args.small)
    if "c" in args.only:
        check_paper_scale(args.device, args.small, args.text)
    if "d" in args.only:
        check_ufm(args.device, args.small)
    if "e" in args.only:
        check_autoregressive(args.device, args.small, args.text)
    if "f" in args.only:
        check_bottleneck(args.device, args.small, args.text)
    RESULTS["wall_s"] = time.perf_counter() - t0
    print(f"\ntotal {RESULTS['wall_s']:.1f} s")
    if args.json:
        _dump()
        print(f"numbers -> {args.json}")


if __name__ == "__main__":
    main()
