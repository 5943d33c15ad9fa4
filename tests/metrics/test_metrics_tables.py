"""snapshot_metrics / run_metrics / save_table on constructed snapshots whose answers are known in closed form.

The theory is a hand-built :class:`Theory` holding closed forms (L_in, S̃ and the Grams of S̃ from its SVD), so these
tests do not depend on the theory engine's solvers.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.metrics import COLUMNS, MetricsError, load_table, run_metrics, save_table, snapshot_metrics
from ntpgeom.theory import L_in, S_tilde, Theory, TildeCertificate


def _fake_theory(data, solved=True):
    St = S_tilde(data)
    U, s, Vt = np.linalg.svd(St, full_matrices=False)
    GW, GH = (U * s) @ U.T, (Vt.T * s) @ Vt
    return Theory(
        data_hash=data.hash, L_in=L_in(data), S_tilde=St, svm=None, L_mm=St if solved else None, W_mm=None, H_mm=None,
        G_W=GW if solved else None, G_H=GH if solved else None, G_W_proxy=GW, G_H_proxy=GH,
        certificate=TildeCertificate(False, float("nan"), (-1, -1)), dist_mm_tilde=None,
    )


def _factors(St, R):
    U, s, Vt = np.linalg.svd(St, full_matrices=False)
    r = int((s > 1e-10 * s[0]).sum())
    return np.sqrt(R) * U[:, :r] * np.sqrt(s[:r]), np.sqrt(R) * np.sqrt(s[:r])[:, None] * Vt[:r]


def test_sparse_plus_low_rank_snapshot_scores_perfectly():
    data = synthetic.random_supports(8, 40, (1, 4), n_supports=6, probs="dirichlet", seed=3)
    th = _fake_theory(data)
    R = 40.0
    W, H = _factors(th.S_tilde, R)
    W = W + 0.5  # a row shared by every token is invisible to softmax and removed before the Gram
    L = th.L_in + R * th.S_tilde
    row = snapshot_metrics({"step": 7, "W": W, "H": H, "L": L}, th, data)
    assert set(COLUMNS) <= set(row)
    assert row["step"] == 7
    assert -1e-12 <= row["gap"] < 1e-9
    assert row["softlabel_err"] == pytest.approx(0.0, abs=1e-9)
    assert row["dir_perp_mm"] == pytest.approx(0.0, abs=1e-9)
    assert row["dir_mm"] == pytest.approx(np.linalg.norm(L / np.linalg.norm(L) - th.S_tilde / np.linalg.norm(th.S_tilde)))
    assert row["slr_R"] == pytest.approx(R) and row["slr_resid"] == pytest.approx(0.0, abs=1e-9)
    for k in ("gram_W_mm", "gram_H_mm", "gram_W_proxy", "gram_H_proxy"):
        assert row[k] == pytest.approx(0.0, abs=1e-9), k
    for k in ("sim_W_mm", "sim_H_mm", "pearson_W_mm", "pearson_H_mm"):
        assert row[k] == pytest.approx(1.0, abs=1e-9), k
    assert row["collapse_H"] == pytest.approx(0.0, abs=1e-9)
    assert row["collapse_Lperp"] == pytest.approx(0.0, abs=1e-9)
    assert row["collapse_H_base"] > 0.3
    assert row["norm_W"] == pytest.approx(np.linalg.norm(W - W.mean(axis=0)))  # the shared row is not measured
    assert math.isnan(row["nc1"])  # not one-hot


def test_random_snapshot_fails_the_comparisons():
    data = synthetic.random_supports(8, 40, (1, 4), n_supports=6, probs="dirichlet", seed=3)
    th = _fake_theory(data)
    rng = np.random.default_rng(0)
    W, H = rng.normal(size=(8, 8)), rng.normal(size=(8, 40))
    row = snapshot_metrics((W, H), th, data)
    assert row["gap"] > 0.1
    assert row["gram_W_mm"] > 0.3 and row["gram_H_mm"] > 0.3
    assert row["sim_H_mm"] < 0.7 and row["pearson_W_mm"] < 0.7
    assert row["collapse_H"] > 0.5 * row["collapse_H_base"]
    assert row["dir_perp_mm"] > 0.5 and row["slr_resid"] > 0.5


def test_unsolved_theory_leaves_mm_columns_empty_and_uses_proxy():
    data = synthetic.random_supports(6, 20, (1, 3), probs="dirichlet", seed=1)
    th = _fake_theory(data, solved=False)
    W, H = _factors(th.S_tilde, 5.0)
    row = snapshot_metrics((W, H), th, data)
    assert math.isnan(row["gram_W_mm"]) and math.isnan(row["dir_mm"])
    assert row["gram_W_proxy"] == pytest.approx(0.0, abs=1e-9)
    assert row["slr_resid"] < 1  # falls back to S̃ as the low-rank reference


def test_one_hot_etf_snapshot_has_neural_collapse():
    data = synthetic.one_hot(5, per_class=3)
    th = _fake_theory(data)
    W, H = _factors(th.S_tilde, 10.0)
    row = snapshot_metrics((W, H), th, data)
    for k in ("nc1", "nc2_H", "nc2_W", "nc3", "nc4"):
        assert row[k] == pytest.approx(0.0, abs=1e-7), k
    row = snapshot_metrics((np.random.default_rng(1).normal(size=(5, 5)), np.random.default_rng(2).normal(size=(5, 15))), th, data)
    assert row["nc2_W"] > 0.1 and row["nc1"] > 0.1


def test_mismatched_inputs_raise():
    data = synthetic.random_supports(6, 20, (1, 3), seed=1)
    other = synthetic.random_supports(6, 20, (1, 3), seed=2)
    with pytest.raises(MetricsError, match="recompute the theory"):
        snapshot_metrics(np.zeros((6, 20)), _fake_theory(other), data)
    with pytest.raises(MetricsError):
        snapshot_metrics(np.zeros((6, 21)), None, data)
    with pytest.raises(MetricsError, match="NaN"):
        snapshot_metrics(np.full((6, 20), np.nan), None, data)


def test_run_metrics_and_table_roundtrip(tmp_path):
    data = synthetic.random_supports(8, 40, (1, 4), n_supports=6, probs="dirichlet", seed=3)
    th = _fake_theory(data)
    snaps = {s: _factors(th.S_tilde, R) for s, R in ((0, 0.5), (10, 5.0), (20, 50.0))}
    run = SimpleNamespace(data=data, steps=[0, 10, 20], path=None,
                          snapshot=lambda s: {"step": s, "W": snaps[s][0], "H": snaps[s][1], "L": th.L_in + snaps[s][0] @ snaps[s][1]})
    seen = []
    table = run_metrics(run, th, progress=lambda stage, i=None, n=None, numbers=None: seen.append((stage, i, n)))
    assert seen == [("metrics", 1, 3), ("metrics", 2, 3), ("metrics", 3, 3)]
    assert table["step"].tolist() == [0, 10, 20]
    assert np.all(np.diff(table["gap"]) < 0)  # larger scale along S̃: loss closer to ℋ
    pq, js = save_table(table, tmp_path / "metrics", meta={"data_hash": data.hash})
    for p in (pq, js):
        back, header = load_table(p)
        assert header["meta"]["data_hash"] == data.hash
        assert back["step"].tolist() == [0, 10, 20]
        for k in COLUMNS:
            np.testing.assert_allclose(back[k], table[k], rtol=0, atol=0, equal_nan=True)
