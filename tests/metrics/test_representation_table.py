"""Representation columns of a run's snapshots: the definitions on the snapshot's contexts, appended to a table."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import MetricsError
from ntpgeom.metrics.representation import layer_metrics
from ntpgeom.metrics.representation_table import (REPRESENTATION_COLUMNS, add_columns, run_representation,
                                                  snapshot_representation)
from ntpgeom.train.run import Snapshot


def _snap(rng, data, step, d=5, contexts=None):
    k = data.m if contexts is None else len(contexts)
    W, H = rng.normal(size=(data.V, d)), rng.normal(size=(d, k))
    return Snapshot(step=step, W=W, H=H, L=W @ H, b=np.zeros(data.V), has_bias=False, contexts=contexts)


def _run(data, snaps):
    by_step = {s.step: s for s in snaps}
    return SimpleNamespace(data=data, steps=sorted(by_step), path=None, snapshot=lambda s: by_step[s])


def test_snapshot_representation_is_layer_metrics_on_its_contexts():
    data = synthetic.random_supports(7, 30, (1, 3), n_supports=5, probs="dirichlet", seed=1)
    rng = np.random.default_rng(0)
    ctx = np.array([1, 4, 5, 8, 11, 12, 17, 20, 21, 25, 29])
    snap = _snap(rng, data, 3, contexts=ctx)
    row = snapshot_representation(snap, data)
    P = data.P.toarray()[:, ctx]
    want = layer_metrics(snap.H, data.support_groups[ctx], W=snap.W, P=P, weights=data.pi[ctx])
    assert set(row) == set(REPRESENTATION_COLUMNS)
    for k in REPRESENTATION_COLUMNS:
        assert row[k] == pytest.approx(want[k], rel=1e-12, nan_ok=True), k
    bad = Snapshot(step=0, W=snap.W, H=snap.H[:, :4], L=snap.L[:, :4], b=snap.b, has_bias=False, contexts=ctx)
    with pytest.raises(MetricsError, match="contexts"):
        snapshot_representation(bad, data)


def test_run_representation_and_add_columns():
    data = synthetic.random_supports(6, 24, (1, 3), n_supports=4, probs="dirichlet", seed=2)
    rng = np.random.default_rng(1)
    run = _run(data, [_snap(rng, data, s) for s in (10, 0, 5)])
    calls = []
    rep = run_representation(run, progress=lambda *a: calls.append(a))
    assert rep["step"].tolist() == [0, 5, 10] and calls[-1] == ("representation", 3, 3)
    assert rep["rankme"][1] == pytest.approx(layer_metrics(run.snapshot(5).H, data.support_groups)["rankme"])
    table = {"step": np.array([10, 0, 5]), "ce": np.array([1.0, 3.0, 2.0])}
    merged = add_columns(table, rep)
    assert merged["ce"].tolist() == [1.0, 3.0, 2.0]  # existing columns untouched
    assert merged["rankme"].tolist() == [rep["rankme"][2], rep["rankme"][0], rep["rankme"][1]]
    with pytest.raises(MetricsError, match="different snapshots"):
        add_columns({"step": np.array([0, 5])}, rep)
    with pytest.raises(MetricsError, match="already exist"):
        add_columns({"step": np.array([0, 5, 10]), "cdnv": np.zeros(3)}, rep)
    with pytest.raises(MetricsError, match="no snapshots"):
        run_representation(_run(data, []))


@pytest.mark.slow
def test_trained_ufm_collapses_by_support_group(tmp_path):
    # theory.md §4: contexts with the same support converge to one direction, so the support-group CDNV falls
    import ntpgeom as g

    data = synthetic.random_supports(10, 60, (1, 3), n_supports=6, probs="dirichlet", seed=0)
    run = g.train(data, model="ufm", d=12, steps=100, optimizer="adam", lr=0.05, out=tmp_path / "r", seed=0)
    rep = run_representation(run)
    assert rep["step"][0] == 0 and rep["step"][-1] == 100
    assert rep["cdnv"][-1] < 0.1 * rep["cdnv"][0]
    assert rep["cdnv_next_token"][-1] < rep["cdnv_next_token"][0]
    assert all(np.isfinite(rep[k]).all() for k in REPRESENTATION_COLUMNS)
