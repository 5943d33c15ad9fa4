"""The README's stated timings: wall time of ``ntpgeom reproduce --quick`` and of the default ``ntpgeom reproduce``,
run as a user runs them (a fresh process each, a fresh output folder), with the core count and the thread setting.

Each budget is timed (wall and CPU time) with ``--threads 1`` (the baseline: every run in turn, one torch/BLAS thread) and with
``--threads N`` for the other settings asked for (independent runs in N worker processes, one thread each); the
ratio of medians says whether the parallel setting pays on this machine. The load average before each timing is
recorded: a busy machine inflates every number, so quote only timings taken with a load near 0.

Writes a small Markdown table (``--out``, default ``benchmarks/timings.md``) and prints it.

Usage::

    python benchmarks/bench_timings.py --budget quick                 # seconds to a minute
    python benchmarks/bench_timings.py --budget default --threads 1,2  # about 10-20 minutes
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def time_reproduce(budget: str, threads: int) -> tuple[float, float, float, float]:
    """One ``ntpgeom reproduce`` in a fresh process and output folder: wall seconds, CPU seconds (user + system of
    the process and its workers: nearly what a quiet machine's wall time would be for a serial run), and the 1-min
    load average before and after. The CPU time is robust to other jobs; the wall time is not."""
    load = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ntpgeom", "reproduce", "-o", str(Path(tmp) / "r"), "--threads", str(threads)]
        if budget == "quick":
            cmd.append("--quick")
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if res.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
    return seconds, cpu, load, os.getloadavg()[0]


def fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{int(s // 60)} min {int(round(s % 60)):02d} s"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", choices=("quick", "default", "both"), default="quick")
    ap.add_argument("--threads", default="1,2", help="comma-separated --threads settings (1 = the baseline)")
    ap.add_argument("--repeats", type=int, default=1, help="timings per setting (the median is reported)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "timings.md")
    args = ap.parse_args(argv)
    settings = sorted({int(t) for t in args.threads.split(",")} | {1})
    budgets = ("quick", "default") if args.budget == "both" else (args.budget,)
    rows = []
    for budget in budgets:
        base = None
        for n in settings:
            runs = [time_reproduce(budget, n) for _ in range(args.repeats)]
            med = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            base = med if n == 1 else base
            load = (max(r[2] for r in runs), max(r[3] for r in runs))
            rows.append((budget, n, med, cpu, load, base / med if base else float("nan")))
            print(f"reproduce {budget} --threads {n}: {fmt_seconds(med)} wall, {fmt_seconds(cpu)} CPU (load before "
                  f"{load[0]:.2f}, after {load[1]:.2f})", flush=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} by `benchmarks/bench_timings.py` on {cpu_model()}, {os.cpu_count()} logical cores, "
        f"Python {platform.python_version()}; median of {args.repeats} run(s) per setting, each a fresh process and "
        "output folder. `--threads 1`: every run in turn on one torch/BLAS thread (the baseline); `--threads N`: "
        "independent runs in N worker processes of one thread each. CPU time: user + system seconds of the command "
        "and its workers, robust to other jobs on the machine (for a serial run it is about the wall time a quiet "
        "machine would give); the wall time grows with the load.",
        "",
        "| command | threads | wall time | CPU time | speed-up vs --threads 1 | 1-min load before / after |",
        "|---|---|---|---|---|---|",
    ]
    for budget, n, med, cpu, load, ratio in rows:
        cmd = "ntpgeom reproduce" + (" --quick" if budget == "quick" else "")
        lines.append(f"| `{cmd}` | {n} | {fmt_seconds(med)} ({med:.1f} s) | {fmt_seconds(cpu)} | {ratio:.2f}x | "
                     f"{load[0]:.2f} / {load[1]:.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print("\n" + text)


if __name__ == "__main__":
    main()
