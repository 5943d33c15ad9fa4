"""GPU check of ``ntpgeom reproduce --text FILE --paper-scale`` (issue 12): the paper's TinyStories run end to end.

Runs ``python3 -m ntpgeom reproduce --text shared/data/tinystories-sample.txt --paper-scale -o $OUT/ps`` (the full
budget on CUDA: the UFM, full batch, 3000 steps, and the 12-layer d = 256 transformer, π-sampled batches of 4096
contexts in bf16, 2000 steps; snapshots on 2000 contexts; see src/ntpgeom/experiments/paper_scale.py) under a wall-clock
limit, then prints per run the device, steps/s, training seconds, final CE − ℋ, the theory used, the total wall time,
and every verdict (the runs' and the controls'). Target: at most 4 minutes on an H100 (limit here: 540 s).

Usage (the lead, on the GPU machine, from the repository root)::

    PYTHONPATH=src python3 benchmarks/gpu_paper_scale.py            # writes $OUT/ps (or a temporary folder)
    PYTHONPATH=src python3 benchmarks/gpu_paper_scale.py --text PATH --limit 540

Standard library, numpy and torch only (plus ntpgeom itself, run as a subprocess). Exit code 0 when the run
finished within the limit, 1 otherwise (the output tail is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _default_text() -> str:
    for p in (os.environ.get("NTPGEOM_TEXT"), "shared/data/tinystories-sample.txt", "../shared/data/tinystories-sample.txt"):
        if p and Path(p).is_file():
            return p
    return "shared/data/tinystories-sample.txt"


def _runs(out: Path) -> list[dict]:
    rec = json.loads((out / "reproduce.json").read_text(encoding="utf-8"))
    rows = []
    for paths in rec.get("runs", {}).values():
        for p in paths:
            cfg = json.loads((Path(p) / "config.json").read_text(encoding="utf-8"))
            loss = json.loads((Path(p) / "loss.json").read_text(encoding="utf-8"))
            rows.append({"run": Path(p).name, "device": cfg.get("device"), "autocast": cfg.get("autocast"),
                         "batch": cfg.get("batch_size"), "steps": cfg.get("final_step"),
                         "steps_per_s": cfg.get("steps_per_second"), "train_s": cfg.get("wall_seconds"),
                         "gap": (loss.get("gap") or [float("nan")])[-1], "params": cfg.get("n_params")})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default=_default_text())
    ap.add_argument("--out", default=None, help="output folder (default: $OUT/ps, else a temporary folder)")
    ap.add_argument("--limit", type=float, default=540.0, help="wall-clock limit in seconds")
    ap.add_argument("--budget", default="auto", choices=("auto", "full", "reduced"))
    args = ap.parse_args()

    import torch

    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA (the CPU path: reduced budget)"
    print(f"device: {dev}; torch {torch.__version__}; corpus {args.text}", flush=True)
    out = Path(args.out or (Path(os.environ["OUT"]) / "ps" if os.environ.get("OUT") else
                            Path(tempfile.mkdtemp(prefix="ntpgeom-ps-")) / "ps"))
    cmd = [sys.executable, "-m", "ntpgeom", "reproduce", "--text", args.text, "--paper-scale", "--paper-budget",
           args.budget, "-o", str(out), "--overwrite", "--json"]
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "src")}
    print("running:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.limit, env=env)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-4000:]
        print(f"TIMEOUT after {args.limit:.0f} s; stderr tail:\n{tail.decode() if isinstance(tail, bytes) else tail}")
        return 1
    wall = time.perf_counter() - t0
    print(proc.stderr[-6000:], flush=True)  # the progress lines (timestamped)
    if proc.returncode != 0:
        print(f"FAILED (exit {proc.returncode}) after {wall:.0f} s\n{proc.stdout[-3000:]}")
        return 1
    summary = json.loads(proc.stdout)
    rec = json.loads((out / "reproduce.json").read_text(encoding="utf-8"))
    paper = rec.get("paper_scale", {})
    print(f"\nbudget: {paper.get('budget')} on {paper.get('device')}; m = {paper.get('m')}, V = {paper.get('V')}; "
          f"snapshots on {paper.get('snapshot_contexts')} contexts")
    print(f"theory: {paper.get('theory')}")
    if "message" in paper:
        print(paper["message"])
    print(f"\n{'run':<12} {'device':<8} {'autocast':<8} {'batch':>6} {'steps':>6} {'steps/s':>8} {'train s':>8} "
          f"{'CE-H':>10} {'params':>10}")
    for r in _runs(out):
        print(f"{r['run']:<12} {str(r['device']):<8} {str(r['autocast']):<8} {str(r['batch']):>6} {r['steps']:>6} "
              f"{r['steps_per_s']:>8} {r['train_s']:>8} {r['gap']:>10.3e} {r['params']:>10}")
    print("\nverdicts:")
    for v in summary["verdicts"]:
        val = "n/a" if v.get("value") is None else f"{v['value']:.4g}"
        print(f"  {v['run']:<40} {v['claim']:<6} {v['status']:<12} {val}")
    for t in summary.get("controls", []):
        bad = t.get("violations") or []
        print(f"{t['title']}: {'every impostor rejected' if not bad else 'VIOLATIONS: ' + '; '.join(bad)}")
    print(f"\nwall time: {wall:.1f} s (reproduce's own total {summary['seconds']:.1f} s; target <= 240 s on an H100)")
    return 0 if wall <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
