"""verdicts.positions: a trajectory judgement as verdict rows — the value is the last μ with its interval, C2 the
worse of its sides, a run trained with ridge is labelled, a rebound is noted (constructed trajectories, by hand)."""

from __future__ import annotations

import pytest

from ntpgeom.metrics.position import Position, Rate, Trend
from ntpgeom.verdicts.positions import rebound_note, trajectory_json, trajectory_verdicts
from ntpgeom.verdicts.trajectory import ClaimTrajectory, TrajectoryJudgement


def _ct(name, status, mus, width=0.1):
    ps = tuple(Position(m, m - width / 2, m + width / 2, 0.1, 0.2, 0.3, True, 50, 0.05, 0) for m in mus)
    steps = tuple(range(1, len(mus) + 1))
    return ClaimTrajectory(name, status, f"{name} note", "rival", steps, ps, (), Trend(0.9, 0.01, 0.99, len(mus), "exact"),
                           Rate(0.05, 0.01, 0.09, 1.0, len(mus), 0.05), 50, 0.05, 0)


def _tj(c1=(0.1, 0.2, 0.3), w="pass", h="FAIL"):
    return TrajectoryJudgement((_ct("C1", "pass", c1), _ct("L_mm", "pass", (0.1, 0.2, 0.3)), _ct("C2:W", w, (0.4, 0.5, 0.6)),
                                _ct("C2:H", h, (0.0, -0.1, -0.2))), False, "S̃ is not optimal")


def test_rows_carry_the_last_mu_and_its_interval():
    rows = trajectory_verdicts(_tj(), "run")
    v = rows["C1"]
    assert v.status == "pass" and v.value == 0.3 and v.interval == pytest.approx((0.25, 0.35)) and v.margin == pytest.approx(0.25)
    assert v.threshold == 0.0 and v.op == ">=" and "rebound" not in v.note and "ridge" not in v.note
    assert rows["C2"].status == "FAIL" and rows["C2"].value == -0.2 and "C2:H decides" in rows["C2"].note
    assert trajectory_verdicts(_tj(w="pass", h="pass"))["C2"].status == "pass"
    assert trajectory_verdicts(_tj(w="n/a", h="n/a"))["C2"].status == "n/a"
    assert trajectory_verdicts(_tj(w="pass", h="inconclusive"))["C2"].status == "inconclusive"


def test_ridge_label_and_rebounds():
    rows = trajectory_verdicts(_tj(), "run", ridge=1e-5, gaps=[1e-3, 1e-4, 3e-4])
    assert "trained with ridge λ = 1e-05: a point on the regularisation path, not a test of the implicit bias" in rows["C1"].note
    assert rows["C1"].status == "pass"  # the status as computed
    wd = trajectory_verdicts(_tj(), "run", ridge=1e-6, kind="weight decay")
    assert all("trained with weight decay λ = 1e-06: a point on the regularisation path" in v.note for v in wd.values())
    assert "rebound: CE − ℋ 0.0003" in rows["C1"].note  # 3e-4 > 2 x the minimum 1e-4
    assert rebound_note(_ct("C1", "pass", (0.1, 0.2)), [1e-3, 1.9e-3 / 2]) == ""
    # μ fell from its maximum 0.6 to 0.3, more than the interval width 0.1
    note = rebound_note(_ct("C1", "pass", (0.1, 0.6, 0.3)))
    assert "rebound: μ +0.300" in note and "maximum +0.600" in note
    assert rebound_note(_ct("C1", "pass", (0.1, 0.35, 0.3))) == ""  # within the interval width


def test_json_has_every_snapshot():
    js = trajectory_json(_tj(), {"judged": True})
    c = js["claims"]["C1"]
    assert js["B"] == 50 and js["alpha"] == 0.05 and js["judged"] is True
    assert c["mu"] == [0.1, 0.2, 0.3] and c["lo"] == pytest.approx([0.05, 0.15, 0.25]) and c["rate"]["intercept"] == 0.05
    assert c["trend"]["rho"] == 0.9 and c["steps"] == [1, 2, 3]
