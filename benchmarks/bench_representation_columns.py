"""Added cost of the representation columns (``cdnv``, ``rankme``, ... :data:`ntpgeom.metrics.REPRESENTATION_COLUMNS`)
in :func:`ntpgeom.metrics.run_metrics`, on the built-in ``stories`` data (V = 102, m = 413): the UFM (Adam 0.05,
ridge 1e-5, 500 steps, as ``reproduce --quick -e stories``) and the transformer (4 layers, d = 128, AdamW 1e-3,
200 steps). Each table is measured with ``representation=False`` and ``True`` (alternating, ``--repeats`` each), and
``run_representation`` alone; wall and CPU seconds (CPU is the stable number on a shared machine).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_representation_columns.py [--out /tmp/repcols] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ntpgeom
from ntpgeom import corpora
from ntpgeom.metrics import run_metrics, run_representation

SPECS = {"ufm": dict(model="ufm", optimizer="adam", lr=0.05, steps=500, ridge=1e-5),
         "transformer": dict(model="transformer", d=128, optimizer="adamw", lr=1e-3, weight_decay=1e-6, steps=200,
                             layers=4, positional="none")}


def _timed(f):
    w, c = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/repcols")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    data = corpora.stories()
    th = ntpgeom.compute_theory(data)
    for name, kw in SPECS.items():
        rd = Path(a.out) / name
        if not rd.exists():
            ntpgeom.train(data, out=rd, seed=0, **kw)
        run = ntpgeom.load_run(rd)
        res = {False: [], True: []}
        for _ in range(a.repeats):
            for rep in (False, True):
                res[rep].append(_timed(lambda: run_metrics(run, th, representation=rep)))
        alone = _timed(lambda: run_representation(run))
        base = min(c for _, c in res[False])
        print(f"{name}: {len(run.steps)} snapshots; run_metrics without: wall {[round(w, 1) for w, _ in res[False]]} s, "
              f"cpu {[round(c, 1) for _, c in res[False]]} s; with: wall {[round(w, 1) for w, _ in res[True]]} s, "
              f"cpu {[round(c, 1) for _, c in res[True]]} s; run_representation alone: wall {alone[0]:.2f} s, "
              f"cpu {alone[1]:.2f} s = {100 * alone[1] / base:.1f} % of run_metrics' cpu", flush=True)


if __name__ == "__main__":
    main()
