"""Power of the trajectory verdicts (issue 19 item 3): judge_trajectory's FAMILY = 1.0 was chosen on the honest
controls of the tests' instances; this checks it on the built-in data and on a HELD-OUT family the tests never use.

Held-out family: ``random_supports(8, 20, (1, 4), seed=s)`` for s = 1000, 1001, ... keeping the first ``--n`` where
S̃ is clearly not optimal (‖S̃‖_* more than 0.05 % above ‖L_mm‖_*, and dir(L_mm, S̃) > 0.05). On each dataset the
honest controls (:func:`ntpgeom.experiments.honest.honest_controls`: the plain-GD UFM, GD free logits, the UFM on
token-relabelled data) are trained and judged. Printed per claim (C1, L_mm): power = share of GD UFMs (and, where S̃
is optimal, free logits) passing; specificity = share of the negatives (free logits, relabelled UFMs) rejected (FAIL)
and share not passing.

Usage:  python benchmarks/power.py [--n 10] [--steps 3000] [--B 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

from ntpgeom.data import corpora
from ntpgeom.data.synthetic import random_supports
from ntpgeom.theory import compute_theory
from ntpgeom.theory.norms import nuclear_norm
from ntpgeom.experiments.honest import honest_controls
from ntpgeom.verdicts.honest import HonestControls, power_table
from ntpgeom.verdicts.trajectory import tilde_optimal

FIRST_SEED = 1000  # the tests use seeds below 100


def held_out(n: int, first: int = FIRST_SEED) -> list[tuple[str, object]]:
    """The first ``n`` seeded random-support instances (seeds from ``first``) where S̃ is clearly not optimal."""
    out, s = [], first
    while len(out) < n:
        data = random_supports(8, 20, (1, 4), seed=s)
        th = compute_theory(data)
        clear = (not tilde_optimal(th)[0] and th.dist_mm_tilde is not None and th.dist_mm_tilde > 0.05
                 and nuclear_norm(th.S_tilde) > 1.0005 * nuclear_norm(th.L_mm - th.L_mm.mean(axis=0)))
        if clear:
            out.append((f"random-supports seed {s}", (data, th)))
        s += 1
    return out


def builtin() -> list[tuple[str, object]]:
    out = []
    for name, data in (("ufm-synthetic", random_supports(10, 95, (1, 5), probs="dirichlet", seed=0)),
                       ("synthetic", corpora.synthetic()), ("stories", corpora.stories())):
        out.append((name, (data, compute_theory(data))))
    return out


def study(datasets, steps: int, B: int, threads: int) -> list[HonestControls]:
    res = []
    for name, (data, th) in datasets:
        t = time.perf_counter()
        r = honest_controls(data, th, seed=0, steps=steps, B=B, threads=threads, name=name)
        print(f"  {name}: " + "; ".join(f"{h.name} C1 {h.status['C1']}, L_mm {h.status['L_mm']}" for h in r.controls)
              + f" ({time.perf_counter() - t:.1f}s)", flush=True)
        res.append(r)
    return res


def table(title: str, res: list[HonestControls]) -> str:
    lines = [title, "claim  power (positives passed)  specificity (negatives FAIL)  negatives not passing"]
    for row in power_table(res):
        if row.claim not in ("C1", "L_mm"):
            continue
        not_pass = sum(1 for r in res for h in r.controls
                       if h.expected == "FAIL" and h.status.get(row.claim) not in ("pass", "n/a"))
        lines.append(f"{row.claim:<5}  {row.passed}/{row.positives} ({row.power:.2f})".ljust(34)
                     + f"{row.rejected}/{row.negatives} ({row.specificity:.2f})".ljust(30)
                     + f"{not_pass}/{row.negatives}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--B", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    t0 = time.perf_counter()
    print("built-in data", flush=True)
    b = study(builtin(), a.steps, a.B, a.threads)
    print("held-out family", flush=True)
    h = study(held_out(a.n), a.steps, a.B, a.threads)
    print()
    print(table("Built-in data (ufm-synthetic, synthetic, stories)", b))
    print()
    print(table(f"Held-out family ({a.n} random-support instances, seeds >= {FIRST_SEED})", h))
    print(f"\n(total {time.perf_counter() - t0:.0f}s; steps {a.steps}, B {a.B}, threads {a.threads})")


if __name__ == "__main__":
    main()
