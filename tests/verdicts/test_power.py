"""The power of the trajectory verdicts on a HELD-OUT family (issue 19 item 3): FAMILY = 1.0 was chosen on the tests'
instances (seeds below 100); here seeded random-support instances with seeds from 1000, where S̃ is clearly not
optimal, and the built-in corpora. Measured table: docs/experiments.md, "Power of the verdicts"
(benchmarks/power.py prints it)."""

from __future__ import annotations

import pytest

from ntpgeom.data import corpora
from ntpgeom.data.synthetic import random_supports
from ntpgeom.theory import compute_theory
from ntpgeom.theory.norms import nuclear_norm
from ntpgeom.experiments.honest import honest_controls
from ntpgeom.verdicts.honest import power_table
from ntpgeom.verdicts.trajectory import tilde_optimal


def _held_out(n: int):
    s = 1000
    while n:
        data = random_supports(8, 20, (1, 4), seed=s)
        th = compute_theory(data)
        if (not tilde_optimal(th)[0] and th.dist_mm_tilde > 0.05
                and nuclear_norm(th.S_tilde) > 1.0005 * nuclear_norm(th.L_mm - th.L_mm.mean(axis=0))):
            n -= 1
            yield data, th
        s += 1


@pytest.mark.slow
def test_power_on_held_out_family():
    res = [honest_controls(d, th, seed=0, steps=3000, B=100) for d, th in _held_out(10)]
    rows = {r.claim: r for r in power_table(res)}
    for claim in ("C1", "L_mm"):
        r = rows[claim]
        assert r.positives == 10 and r.negatives == 20
        assert r.rejected == 20, f"{claim}: a free-logit or relabelled control was not rejected"
        assert r.passed >= 7, f"{claim}: only {r.passed}/10 GD UFMs pass (measured 8/10)"
    for r in res:  # no GD UFM is ever judged FAIL: the misses are inconclusive, not wrong
        assert r.controls[0].status["C1"] != "FAIL" and r.controls[0].status["L_mm"] != "FAIL"


@pytest.mark.slow
def test_power_on_builtin_corpora():
    res = []
    for data in (corpora.synthetic(), corpora.stories()):
        res.append(honest_controls(data, compute_theory(data), seed=0, steps=3000, B=100))
    rows = {r.claim: r for r in power_table(res)}
    for claim in ("C1", "L_mm"):
        assert rows[claim].rejected == rows[claim].negatives == 4
        assert rows[claim].passed >= 1  # synthetic passes; stories is inconclusive at 3000 steps (measured)
        assert all(r.controls[0].status[claim] != "FAIL" for r in res)
