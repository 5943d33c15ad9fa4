"""The discrimination rule and the verdict record, on hand-made distances (closed cases of the rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntpgeom.verdicts import THRESHOLDS, Verdict, discriminate, judge, judge_row
from ntpgeom.verdicts.core import make, worst


@pytest.mark.parametrize(
    "d_ref, d_rival, delta, want",
    [
        (0.001, 0.115, 0.115, "pass"),  # at L_mm, a full resolution away from S̃
        (0.115, 0.0, 0.115, "FAIL"),  # at S̃
        (0.3, 0.316, 0.115, "inconclusive"),  # farther from both than they are from each other
        (0.005, 0.008, 0.1, "inconclusive"),  # near L_mm but not measurably nearer it than S̃ (μ = 0.03)
        (1.4, 1.4, 0.115, "FAIL"),  # far from the whole family (random)
        (0.005, 0.005, 0.0, "pass"),  # S̃ = L_mm: only the threshold counts
        (0.05, 0.05, 0.0, "FAIL"),
    ],
)
def test_discriminate_cases(d_ref, d_rival, delta, want):
    st, note = discriminate(d_ref, d_rival, delta, threshold=0.011, family=0.63)
    assert st == want, note


def test_discriminate_nan_is_na():
    assert discriminate(float("nan"), 0.1, 0.1, 0.01, 0.6)[0] == "n/a"


def test_verdict_record():
    v = make("C1", "pass", 0.004, 0.011, "<=", "note")
    assert v.margin == pytest.approx(0.007) and v.passed is True
    v = make("C2", "FAIL", 0.9, 0.997, ">=")
    assert v.margin == pytest.approx(-0.097) and v.passed is False
    assert make("C3", "pass", float("nan"), 0.07, "<=").status == "n/a"
    d = make("C4", "pass", float("nan"), 0.03, "<=").as_dict()
    assert d["value"] is None and d["status"] == "n/a" and d["check"] == "C4"
    with pytest.raises(ValueError):
        Verdict("C1", "yes", 0.0, 0.0, 0.0)
    with pytest.raises(Exception):
        v.status = "pass"  # frozen


def test_worst():
    assert worst(["pass", "inconclusive"]) == "inconclusive"
    assert worst(["pass", "FAIL", "inconclusive"]) == "FAIL"
    assert worst(["n/a", "pass"]) == "pass" and worst(["n/a"]) == "n/a"


def _row(**kw):
    base = dict(step=10, gap=1e-6, softlabel_rel=0.001, dir_pred=0.001, dir_pred_rival=0.12, pred_sep=0.12,
                pred_is_path=1.0, dir_mm=0.001, dir_tilde=0.12, dir_perp_face=0.001, dir_perp_tilde=0.12,
                sep_mm_tilde=0.12, collapse_H=0.001, collapse_H_base=0.9, collapse_H_base_std=0.02)
    for s in ("W", "H"):
        base.update({f"offp_{s}": 0.9995, f"offp_{s}_null": 0.0, f"offp_{s}_null_std": 0.05,
                     f"offp_{s}_rival": 0.99, f"offp_{s}_sep": 0.99})
    base.update(kw)
    return base


def test_judge_row_passes_a_good_row_and_gates_the_change():
    vs = {v.claim: v.status for v in judge_row(_row())}
    assert vs == {"loss": "pass", "C1": "pass", "C2": "pass", "C3": "pass", "C4": "pass", "L_mm": "pass"}
    # the same geometry already at the first snapshot: nothing was learnt, C2 and C3 fail
    vs = {v.claim: v.status for v in judge_row(_row(), _row(step=0))}
    assert vs["C2"] == "FAIL" and vs["C3"] == "FAIL"
    # loss at the paper's tolerance: 1e-3 fails by default, passes when configured
    assert judge_row(_row(gap=1e-3))[0].status == "FAIL"
    assert judge_row(_row(gap=1e-3), thresholds=THRESHOLDS.with_(loss=1e-2))[0].status == "pass"
    # within the permutation null: FAIL even if above the threshold
    v = [v for v in judge_row(_row(offp_H_null=0.97, offp_H_null_std=0.0099)) if v.claim == "C2"][0]
    assert v.status == "FAIL" and "null" in v.note  # r = 0.9995 <= 0.97 + 3 sd = 0.9997 < 1: reachable, not cleared


def test_judge_reads_last_and_first_rows():
    rows = [_row(step=0, offp_W=0.1, offp_H=0.1, collapse_H=0.8, dir_mm=1.0), _row(step=5)]
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    vs = {v.claim: v for v in judge(table, run="r")}
    assert vs["C2"].status == "pass" and vs["C3"].status == "pass" and vs["C1"].run == "r"
    assert "falls" in vs["C1"].note
    table["dir_mm"] = np.array([0.0005, 0.001])  # the distance to L_mm grows over the run: the trend fails
    assert {v.claim: v.status for v in judge(table)}["C1"] == "FAIL"
    assert math.isnan([v for v in judge({k: v[:1] for k, v in table.items()}) if v.claim == "C1"][0].margin) is False


def test_a_lone_step_zero_snapshot_is_untrained():
    table = {k: np.array([v]) for k, v in _row(step=0).items()}
    vs = {v.claim: v.status for v in judge(table)}
    assert vs["C2"] == "FAIL" and vs["C3"] == "FAIL"
    table["step"] = np.array([500])  # a lone late snapshot: initialisation unknown, no change gate
    vs = {v.claim: v.status for v in judge(table)}
    assert vs["C2"] == "pass" and vs["C3"] == "pass"


def test_c2_gate_is_na_where_the_map_cannot_reach_significance():
    """Rule: a C2 side is n/a when even r = 1 would not exceed null + null_z sd (the map is too small for the test);
    the other side is still judged. Both sides unreachable: C2 is n/a."""
    from ntpgeom.verdicts.judge import THRESHOLDS

    z = THRESHOLDS.null_z
    row = _row(offp_H_null=0.5, offp_H_null_std=0.5 / z + 1e-9)  # 0.5 + z sd just above 1
    v = [v for v in judge_row(row) if v.claim == "C2"][0]
    assert v.status == "pass" and "H: n/a: the map is too small" in v.note
    row = _row(offp_H_null=0.5, offp_H_null_std=0.5 / z - 1e-6)  # reachable (gate < 1), but r = 0.9995 < gate: FAIL
    assert [v for v in judge_row(row) if v.claim == "C2"][0].status == "FAIL"
    both = _row(offp_H_null=0.6, offp_H_null_std=0.2, offp_W_null=0.6, offp_W_null_std=0.2)
    v = [v for v in judge_row(both) if v.claim == "C2"][0]
    assert v.status == "n/a" and v.note.count("too small for the permutation test") == 2


def test_uncertified_path_point_makes_c1_c2_na():
    """A path point that did not converge is never replaced silently by L_in + R·L_mm: C1 and C2 are n/a."""
    st = {v.claim: v for v in judge_row(_row(pred_certified=0.0))}
    for c in ("C1", "C2"):
        assert st[c].status == "n/a" and "n/a: reference not certified" in st[c].note
    ok = {v.claim: v.status for v in judge_row(_row(pred_certified=1.0))}
    assert ok["C1"] == "pass" and ok["C2"] == "pass"
