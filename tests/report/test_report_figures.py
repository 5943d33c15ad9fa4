"""Figures without a solved L_mm (proxy only), with NaN-only columns, and with many contexts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from matplotlib.image import imread

from ntpgeom.data import synthetic
from ntpgeom.metrics import COLUMNS, snapshot_metrics, rows_to_table
from ntpgeom.report.figures import (
    MAX_HEATMAP_CONTEXTS,
    Series,
    context_order,
    fig_heatmaps,
    fig_mm_vs_tilde,
    fig_similarity,
)
from ntpgeom.theory import L_in, S_tilde


def test_proxy_only_figures_render(tmp_path):
    data = synthetic.random_supports(8, 30, (1, 3), n_supports=5, seed=0)
    St = S_tilde(data)
    U, s, Vt = np.linalg.svd(St, full_matrices=False)
    th = SimpleNamespace(L_mm=None, S_tilde=St, L_in=L_in(data), G_W_proxy=(U * s) @ U.T, G_H_proxy=None,
                         G_W=None, G_H=None, dist_mm_tilde=None, certificate=None, data_hash=data.hash)
    rng = np.random.default_rng(0)
    snaps = [SimpleNamespace(step=k, W=rng.normal(size=(8, 4)), H=rng.normal(size=(4, 30)), L=rng.normal(size=(8, 30)))
             for k in (1, 10)]
    p = fig_heatmaps(data, th, snaps, tmp_path / "h.png", title="proxy only")
    img = imread(p)
    assert img.shape[0] > 300 and img.shape[1] > 300 and img[..., :3].std() > 0.05
    assert fig_mm_vs_tilde(data, th, tmp_path / "m.png").exists()
    rows = [snapshot_metrics({"step": s.step, "W": s.W, "H": s.H, "L": s.L}, th, data) for s in snaps]
    table = rows_to_table(rows)
    assert np.all(np.isnan(table["sim_H_mm"])) and set(COLUMNS) <= set(table)
    assert fig_similarity([Series("ufm", "ufm", table)], tmp_path / "s.png").exists()


def test_context_order_groups_and_caps():
    data = synthetic.random_supports(6, 40, (1, 3), n_supports=4, seed=1)
    order = context_order(data)
    assert sorted(order.tolist()) == list(range(40))
    g = np.asarray(data.support_groups)[order]
    assert np.count_nonzero(np.diff(g)) == len(np.unique(g)) - 1  # each group contiguous
    big = synthetic.random_supports(6, MAX_HEATMAP_CONTEXTS + 50, (1, 2), seed=2)
    assert len(context_order(big)) == MAX_HEATMAP_CONTEXTS
