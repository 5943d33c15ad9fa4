"""A linear head trained by GD on frozen features approaches the fixed-features NTP-SVM W_mm (Thrampoulidis 2024)."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import MetricsError
from ntpgeom.metrics.fixed_features_position import fixed_features_rows, fixed_features_trajectory
from ntpgeom.theory import direction_distance, fixed_features, max_margin
from ntpgeom.train import train


def test_gd_on_a_linear_head_approaches_W_mm(tmp_path):
    data = synthetic.random_supports(5, 8, (1, 2), seed=1)
    H = np.random.default_rng(0).standard_normal((10, data.m))  # d >= m random: separable
    ff = fixed_features(data, H)
    assert ff.separable and ff.compatible and ff.status.solved
    run = train(data, model="linear", features=H, optimizer="gd", lr=1.0, steps=1000, init_scale=0.01,
                out=tmp_path / "run", device="cpu")
    rows = fixed_features_trajectory(run, ff, rival=max_margin(data).L)
    dW = np.array([r.dist_W for r in rows])
    assert rows[-1].step == 1000 and [r.step for r in rows] == run.steps
    assert np.all(np.diff(dW[1:]) < 0)  # every snapshot after the first step is closer to W_mm's direction
    assert dW[-1] < 0.35 and dW[-1] < 0.25 * dW[0]
    # W_t ≈ W* + ln(t) W_mm: the late updates point along W_mm and grow by ‖W_mm‖ per unit of ln t
    d_step = np.array([r.dist_step for r in rows[-5:]])
    assert np.all(np.diff(d_step) < 0) and d_step[-1] < 0.2
    assert all(0.9 < r.growth < 1.1 for r in rows[-3:])
    assert rows[-1].dist_L < 0.25 and rows[-1].in_residual < 0.05  # in-support log-odds reached
    assert rows[-1].in_residual < rows[1].in_residual
    # an independent recomputation of one row's dist_W
    assert rows[-1].dist_W == pytest.approx(direction_distance(run.snapshot(1000).W, ff.W_mm), rel=1e-12)
    assert all(-1 <= r.mu <= 1 for r in rows if np.isfinite(r.mu)) and rows[-1].mu > rows[1].mu


def test_rows_refuse_a_mismatched_snapshot(tmp_path):
    data = synthetic.random_supports(5, 8, (1, 2), seed=1)
    H = np.random.default_rng(0).standard_normal((10, data.m))
    ff = fixed_features(data, H)
    run = train(data, model="linear", features=H[:6], optimizer="gd", steps=1, out=tmp_path / "run", device="cpu")
    with pytest.raises(MetricsError, match="do not match"):
        fixed_features_rows(data, run.snapshots(), ff)
    rows = fixed_features_rows(data, [], ff)
    assert rows == []
