"""snapshot_metrics / run_metrics / save_table on constructed snapshots whose answers are known in closed form.

The theory is a hand-built :class:`Theory` holding closed forms (L_in, S̃ and the Grams of S̃ from its SVD), so these
tests do not depend on the theory engine's solvers. The last section: reparametrisations that leave the
token-centred logits unchanged leave every metric unchanged (theory.md §8).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntpgeom as g
from ntpgeom.data import synthetic
from ntpgeom.metrics import COLUMNS, MetricsError, load_table, run_metrics, save_table, snapshot_metrics, visible_H
from ntpgeom.theory import L_in, S_tilde, Theory, TildeCertificate
from ntpgeom.train.run import Snapshot


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
    assert [x for x in seen if x[0] == "metrics"] == [("metrics", 1, 3), ("metrics", 2, 3), ("metrics", 3, 3)]
    paths = [x[0] for x in seen if x[0] != "metrics"]  # a line before each path point (the first and last snapshots)
    assert len(paths) == 2 and paths[0].startswith("path point 1/2: norm") and paths[1].endswith("(step 20)")
    assert seen.index(("metrics", 1, 3)) == 2  # both before the measurements
    assert table["step"].tolist() == [0, 10, 20]
    assert np.all(np.diff(table["gap"]) < 0)  # larger scale along S̃: loss closer to ℋ
    pq, js = save_table(table, tmp_path / "metrics", meta={"data_hash": data.hash})
    for p in (pq, js):
        back, header = load_table(p)
        assert header["meta"]["data_hash"] == data.hash
        assert back["step"].tolist() == [0, 10, 20]
        for k in COLUMNS:
            np.testing.assert_allclose(back[k], table[k], rtol=0, atol=0, equal_nan=True)


# ----------------------------------------------------------------------------- invariance
# Reparametrisations that leave the token-centred logits unchanged leave every metric unchanged (theory.md §8):
# a row shared by all tokens added to W (with a coordinate added to H, or through W + 1aᵀ), W → WQ with H → QᵀH for an
# orthogonal Q, and per-context shifts of the logit columns.


@pytest.fixture(scope="module")
def setup():
    data = g.synthetic.random_supports(7, 24, (1, 3), n_supports=5, probs="dirichlet", seed=4)
    return data, g.compute_theory(data)


def _same(a: dict, b: dict, tol: float = 1e-7) -> None:
    for k in COLUMNS:
        x, y = a[k], b[k]
        if math.isnan(x) or math.isnan(y):
            assert math.isnan(x) and math.isnan(y), k
        else:
            assert y == pytest.approx(x, rel=tol, abs=tol), k


def _model(data, d, seed):
    rng = np.random.default_rng(seed)
    # a model in the regime: L_in + R·L_mm plus noise, factored through d dimensions
    return rng.normal(size=(data.V, d)), rng.normal(size=(d, data.m))


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), d=st.integers(3, 9), c=st.floats(-5, 5), shift=st.floats(-50, 50))
def test_shared_row_rotation_and_column_shifts_leave_metrics_unchanged(setup, seed, d, c, shift):
    data, th = setup
    W, H = _model(data, d, seed)
    base = snapshot_metrics({"W": W, "H": H}, th, data)
    rng = np.random.default_rng(seed + 1)
    # 1. a shared coordinate: W gains a column c·1 (the same entry for every token), H a coordinate row
    W1 = np.hstack([W, np.full((data.V, 1), c)])
    H1 = np.vstack([H, rng.normal(size=(1, data.m)) * 3])
    _same(base, snapshot_metrics({"W": W1, "H": H1}, th, data))
    # 2. the same vector added to every row of W (W + 1aᵀ): the logits shift per context
    _same(base, snapshot_metrics({"W": W + rng.normal(size=(1, d)), "H": H}, th, data))
    # 3. W → WQ, H → QᵀH
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    _same(base, snapshot_metrics({"W": W @ Q, "H": Q.T @ H}, th, data))
    # 4. per-context logit shifts
    L = W @ H + shift * rng.normal(size=(1, data.m))
    _same(base, snapshot_metrics({"W": W, "H": H, "L": L}, th, data))


def test_h_shift_along_w_null_space_is_invisible(setup):
    """The issue's case: sim_H moved 0.9999 → 0.743 when a shared row of W met a coordinate of H; now it stays."""
    data, th = setup
    L = th.L_in + 30 * th.L_mm
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    r = int((s > 1e-9 * s[0]).sum())
    W, H = U[:, :r] * np.sqrt(s[:r]), np.sqrt(s[:r])[:, None] * Vt[:r]
    base = snapshot_metrics({"W": W, "H": H}, th, data)
    W1 = np.hstack([W, np.ones((data.V, 1))])
    H1 = np.vstack([H, 40 * np.random.default_rng(0).normal(size=(1, data.m))])
    moved = snapshot_metrics({"W": W1, "H": H1}, th, data)
    assert moved["pearson_H_mm"] == pytest.approx(base["pearson_H_mm"], abs=1e-9)
    assert moved["collapse_H"] == pytest.approx(base["collapse_H"], abs=1e-9)


def test_visible_H_keeps_what_the_centred_logits_see():
    rng = np.random.default_rng(3)
    W, H = rng.normal(size=(6, 9)), rng.normal(size=(9, 11))  # d > V: H has a component no logit sees
    Hv = visible_H(W, H)
    Wc = W - W.mean(axis=0)
    assert Hv.shape[0] == np.linalg.matrix_rank(Wc) == 5
    # the centred logits are reproduced from the visible part: Ẇ H = U S (Vᵣᵀ H)
    U, s, Vt = np.linalg.svd(Wc, full_matrices=False)
    assert np.allclose(U[:, :5] * s[:5] @ Hv, Wc @ H, atol=1e-10)
    # and the Gram of the visible part is that of the projection of H onto the row space of Ẇ
    P = np.linalg.pinv(Wc) @ Wc
    assert np.allclose(Hv.T @ Hv, (P @ H).T @ (P @ H), atol=1e-10)


# ----------------------------------------------------------------------------- representation columns of a run
def _random_run(data, steps=(0, 4, 9), d=5, contexts=None):
    rng = np.random.default_rng(7)
    k = data.m if contexts is None else len(contexts)
    snaps = {}
    for s in steps:
        W, H = rng.normal(size=(data.V, d)), rng.normal(size=(d, k)).astype(np.float32)
        snaps[s] = Snapshot(step=s, W=W, H=H, L=W @ H, b=np.zeros(data.V), has_bias=False, contexts=contexts)
    return SimpleNamespace(data=data, steps=list(steps), path=None, snapshot=lambda s: snaps[s])


@pytest.mark.parametrize("contexts", [None, np.array([0, 2, 3, 5, 8, 9, 13, 17, 21, 22, 30, 33, 38])])
def test_run_table_has_the_representation_columns_of_each_snapshot(contexts):
    # each column equals the definitions (layer_metrics) applied directly to the snapshot's raw H on its contexts
    from ntpgeom.metrics.representation import layer_metrics
    from ntpgeom.metrics.representation_table import REPRESENTATION_COLUMNS

    data = synthetic.random_supports(8, 40, (1, 4), n_supports=6, probs="dirichlet", seed=3)
    th = _fake_theory(data)
    run = _random_run(data, contexts=contexts)
    table = run_metrics(run, th)
    assert list(table) == list(COLUMNS) + list(REPRESENTATION_COLUMNS)
    idx = np.arange(data.m) if contexts is None else contexts
    P = data.P.toarray()[:, idx]
    for i, s in enumerate(run.steps):
        snap = run.snapshot(s)
        want = layer_metrics(snap.H, data.support_groups[idx], W=snap.W, P=P, weights=data.pi[idx])
        for k in REPRESENTATION_COLUMNS:
            assert table[k][i] == pytest.approx(want[k], rel=1e-12, nan_ok=True), (s, k)
    assert np.isfinite(table["rankme"]).all() and np.isfinite(table["cdnv"]).all()


def test_representation_columns_leave_the_old_columns_bit_identical():
    data = synthetic.random_supports(8, 40, (1, 4), n_supports=6, probs="dirichlet", seed=3)
    th = _fake_theory(data)
    run = _random_run(data)
    old, new = run_metrics(run, th, representation=False), run_metrics(run, th)
    assert list(old) == list(COLUMNS)
    for k in COLUMNS:
        assert old[k].dtype == new[k].dtype and np.array_equal(old[k], new[k], equal_nan=True), k
    # the old columns are each snapshot's snapshot_metrics row, which (the probe's and the verdicts' row) has no
    # representation column
    rows = [snapshot_metrics(run.snapshot(s), th, data) for s in run.steps]
    assert all(set(r) == set(COLUMNS) for r in rows)
    free = run_metrics(run, th, finite_norm="none")
    for k in COLUMNS:
        np.testing.assert_array_equal(free[k], np.array([r[k] for r in rows], dtype=free[k].dtype), err_msg=k)


def test_a_snapshot_without_H_has_nan_representation_columns():
    from ntpgeom.metrics.representation_table import REPRESENTATION_COLUMNS

    data = synthetic.random_supports(8, 40, (1, 4), n_supports=6, probs="dirichlet", seed=3)
    th = _fake_theory(data)
    L = th.L_in + 3.0 * th.S_tilde
    run = SimpleNamespace(data=data, steps=[0], path=None, snapshot=lambda s: {"step": s, "L": L})
    table = run_metrics(run, th)
    assert all(np.isnan(table[k]).all() for k in REPRESENTATION_COLUMNS)
    assert np.isfinite(table["gap"]).all()


def test_the_split_keeps_every_import_path():
    from ntpgeom.metrics import snapshot_row, tables

    for name in ("COLUMNS", "SnapshotLike", "RunLike", "snapshot_metrics", "reference_for", "reference", "Reference",
                 "context_subset", "save_table", "load_table", "rows_to_table", "run_metrics", "TABLE_FORMAT",
                 "TABLE_VERSION"):
        assert getattr(tables, name) is not None, name
    assert tables.snapshot_metrics is snapshot_row.snapshot_metrics is g.snapshot_metrics
    assert tables.COLUMNS is snapshot_row.COLUMNS and g.run_metrics is tables.run_metrics
