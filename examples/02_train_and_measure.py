"""Train the unconstrained-features model on a built-in corpus and measure its geometry against the theory.

Runs offline in seconds:  python examples/02_train_and_measure.py [RUN_FOLDER]
(without a folder the run goes to a temporary directory that is deleted at the end).
"""

import sys
import tempfile
from pathlib import Path

import ntpgeom as g

data = g.corpora.synthetic()
th = g.compute_theory(data)

with tempfile.TemporaryDirectory() as tmp:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "ufm"
    # The UFM (L = W H, both free) with a small ridge, trained by Adam on the π-weighted soft-label loss (§1, §2).
    run = g.train(data, model="ufm", steps=800, optimizer="adam", lr=0.05, ridge=1e-5, seed=0, out=out)
    snap = run.snapshot(run.steps[-1])
    print(f"trained {run.final_step} steps: CE − ℋ = {run.summary()['gap']:.2e}")

    # Subspace collapse (§4): contexts with equal supports share a direction -> index near 0; random groups do not.
    idx = g.collapse_index(snap.H, data.support_groups)
    base = g.collapse_baseline(snap.H, data.support_groups, n_perm=20, seed=0)
    print(f"collapse index of H: {idx:.3f} (random groupings of the same sizes: {base[0]:.3f})")

    # Every measurement of the report, per snapshot, and the verdicts on the paper's claims (last snapshot).
    table = g.run_metrics(run, th)
    from ntpgeom.report.verdicts import judge

    for v in judge(table, run="synthetic/ufm"):
        print(f"  {v.title:40s} {v.value:9.4g}  ({v.op} {v.threshold})  {v.status}")
    assert idx < base[0]
print("ok")
