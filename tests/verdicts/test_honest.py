"""Honest controls (plain-GD UFM, free logits, relabelled UFM judged over their trajectories) and the power table
(issue 19 item 4). Oracles: the audit's setting (a random-support instance where S̃ is not optimal: the GD UFM is the
theory's model, free logits converge to S̃), the 5-cycle (S̃ optimal: free logits are a positive), hand-counted
tables."""

from __future__ import annotations

import math

import pytest

from ntpgeom.data.synthetic import random_supports
from ntpgeom.metrics.position import Trend, rate
from ntpgeom.theory import compute_theory
from ntpgeom.verdicts.core import ControlVerdict
from ntpgeom.experiments.honest import honest_controls
from ntpgeom.verdicts.honest import CLAIMS_JUDGED, HonestControl, HonestControls, power_rows, power_table
from ntpgeom.verdicts.trajectory import ClaimTrajectory, TrajectoryJudgement


def test_small_instance_positives_pass_negatives_rejected():
    data = random_supports(8, 20, (1, 4), seed=1)
    th = compute_theory(data)
    res = honest_controls(data, th, seed=1, steps=3000, B=60, name="rs1")
    assert not res.tilde_optimal and [h.name for h in res.controls] == ["GD UFM", "GD free logits", "relabelled UFM"]
    ufm, free, rel = res.controls
    assert ufm.expected == "pass" and ufm.status == {"C1": "pass", "L_mm": "pass", "C2:W": "pass", "C2:H": "pass"}
    assert free.expected == "FAIL" and free.status["C1"] == "FAIL" and free.status["L_mm"] == "FAIL"
    assert rel.expected == "FAIL" and set(rel.status.values()) == {"FAIL"}
    rows = {r.claim: r for r in power_table([res])}
    assert (rows["C1"].passed, rows["C1"].positives, rows["C1"].rejected, rows["C1"].negatives) == (1, 1, 2, 2)
    assert (rows["C2:W"].positives, rows["C2:W"].negatives) == (1, 1)  # free logits: C2 n/a, not counted
    vs = res.rows()
    assert len(vs) == 12 and all(isinstance(v, ControlVerdict) and v.imitates for v in vs)
    assert {v.expected for v in vs if v.run == "rs1/GD free logits" and v.status == "n/a"} == {"—"}
    assert res.as_dict()["controls"][0]["status"]["C1"] == "pass"



def test_five_cycle_counts_free_logits_as_positive(five_cycle):
    pytest.importorskip("cvxpy")
    data = five_cycle
    th = compute_theory(data)
    res = honest_controls(data, th, seed=0, steps=3000, B=60, name="cycle")
    assert res.tilde_optimal
    by = {h.name: h for h in res.controls}
    assert by["GD free logits"].expected == "pass" and by["GD UFM"].expected == "pass"
    for name in ("GD UFM", "GD free logits"):
        assert by[name].status["C1"] == "pass" and by[name].status["L_mm"] == "pass"
        assert all(c.against == "face" for c in by[name].judgement.claims[:2])
    rows = {r.claim: r for r in power_table([res])}
    assert rows["C1"].positives == 2 and rows["C1"].passed == 2 and rows["C1"].negatives == 1


def _claim(name: str, status: str) -> ClaimTrajectory:
    return ClaimTrajectory(name, status, "", "rival", (1,), (), (), Trend(float("nan"), 1.0, 1.0, 0, ""),
                           rate([], [], alpha=0.05), B=1, alpha=0.05, seed=0)


def _control(name: str, expected: str, statuses: dict[str, str]) -> HonestControl:
    j = TrajectoryJudgement(tuple(_claim(c, statuses.get(c, "n/a")) for c in CLAIMS_JUDGED), False, "")
    return HonestControl(name, "", expected, j, 0.0)


def test_power_table_arithmetic_against_hand_counts():
    a = HonestControls("a", (_control("p", "pass", {"C1": "pass", "L_mm": "inconclusive", "C2:W": "pass"}),
                             _control("n1", "FAIL", {"C1": "FAIL", "L_mm": "FAIL"}),
                             _control("n2", "FAIL", {"C1": "inconclusive", "L_mm": "pass", "C2:W": "FAIL"})),
                       False, 0.0, 1, 1, 0.05)
    b = HonestControls("b", (_control("p", "pass", {"C1": "FAIL", "L_mm": "pass"}),
                             _control("p2", "pass", {"C1": "pass"}),
                             _control("n", "FAIL", {"C1": "FAIL", "L_mm": "inconclusive"})), False, 0.0, 1, 1, 0.05)
    rows = {r.claim: r for r in power_table([a, b])}
    # C1: positives p(a) pass, p(b) FAIL, p2 pass -> 2/3; negatives n1 FAIL, n2 inconclusive, n FAIL -> 2/3
    assert (rows["C1"].passed, rows["C1"].positives, rows["C1"].rejected, rows["C1"].negatives) == (2, 3, 2, 3)
    # L_mm: positives inconclusive, pass (p2 n/a: not counted) -> 1/2; negatives FAIL, pass, inconclusive -> 1/3
    assert (rows["L_mm"].passed, rows["L_mm"].positives, rows["L_mm"].rejected, rows["L_mm"].negatives) == (1, 2, 1, 3)
    assert rows["L_mm"].power == 0.5 and rows["L_mm"].specificity == pytest.approx(1 / 3)
    assert (rows["C2:W"].positives, rows["C2:W"].negatives, rows["C2:W"].rejected) == (1, 1, 1)
    assert rows["C2:H"].positives == 0 and math.isnan(rows["C2:H"].power) and math.isnan(rows["C2:H"].specificity)
    pr = power_rows(list(rows.values()))
    assert pr[0].claim == "C1" and pr[0].value == pytest.approx(2 / 3) and "2/3" in pr[0].note
