"""Figures without a solved L_mm (proxy only), with NaN-only columns, and with many contexts; threshold lines, axis
labels, SVG twins and the PNG resolution."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
from matplotlib.image import imread

from ntpgeom.data import synthetic
from ntpgeom.metrics import COLUMNS, rows_to_table, snapshot_metrics
from ntpgeom.report.figures import (
    MAX_HEATMAP_CONTEXTS,
    Series,
    context_order,
    fig_heatmaps,
    fig_mm_vs_tilde,
    fig_similarity,
    fig_softlabel,
)
from ntpgeom.report.style import output
from ntpgeom.theory import L_in, S_tilde, Theory, TildeCertificate


def _svg_texts(path) -> str:
    return " ".join(t.text or "" for t in ET.parse(path).getroot().iter() if t.tag.endswith("text"))


def _proxy_case():
    data = synthetic.random_supports(8, 30, (1, 3), n_supports=5, seed=0)
    St = S_tilde(data)
    U, s, _ = np.linalg.svd(St, full_matrices=False)
    th = Theory(data.hash, L_in(data), St, None, None, None, None, None, None, (U * s) @ U.T, None,
                TildeCertificate(False, float("nan"), (-1, -1)), None)
    rng = np.random.default_rng(0)
    snaps = [SimpleNamespace(step=k, W=rng.normal(size=(8, 4)), H=rng.normal(size=(4, 30)), L=rng.normal(size=(8, 30)))
             for k in (1, 10)]
    return data, th, snaps


def test_proxy_only_figures_render(tmp_path):
    data, th, snaps = _proxy_case()
    with output(dpi=30, svg=True):
        p = fig_heatmaps(data, th, snaps, tmp_path / "h.png", title="proxy only")
        m = fig_mm_vs_tilde(data, th, tmp_path / "m.png")
        rows = [snapshot_metrics({"step": s.step, "W": s.W, "H": s.H, "L": s.L}, th, data) for s in snaps]
        table = rows_to_table(rows)
        assert np.all(np.isnan(table["sim_H_mm"])) and set(COLUMNS) <= set(table)
        sim = fig_similarity([Series("ufm", "ufm", table)], tmp_path / "s.png", thresholds={"C2": 0.8})
    img = imread(p)
    # 2 snapshot columns + the proxy column (no L_mm column), 3 rows, at 30 dpi; not a blank canvas
    assert 100 < img.shape[1] < 600 and 100 < img.shape[0] < 600 and img[..., :3].std() > 0.05
    assert "step 1" in _svg_texts(p.with_suffix(".svg")) and "proxy: S̃" in _svg_texts(p.with_suffix(".svg"))
    assert "theory: L_mm" not in _svg_texts(p.with_suffix(".svg"))
    assert "L_mm not solved" in _svg_texts(m.with_suffix(".svg"))  # one panel, saying why
    texts = _svg_texts(sim.with_suffix(".svg"))
    assert "threshold C2" in texts and "ufm (S̃)" in texts and "ufm (L_mm)" not in texts  # proxy curves only


def test_png_resolution_follows_output_and_svg_can_be_switched_off(tmp_path):
    t = {"step": np.array([0, 10, 100]), "softlabel_rel": np.array([1.0, 0.5, 0.1]),
         "slr_resid": np.array([0.9, 0.5, 0.2])}
    with output(dpi=20, svg=False):
        low = fig_softlabel([Series("a", "ufm", t)], tmp_path / "low.png", thresholds={"C1": 0.35, "C4": 0.35})
    with output(dpi=60):
        high = fig_softlabel([Series("a", "ufm", t)], tmp_path / "high.png", thresholds={"C1": 0.35, "C4": 0.35})
    wl, wh = imread(low).shape[1], imread(high).shape[1]
    assert 2.5 < wh / wl < 3.5  # PNG width scales with the dpi
    assert not low.with_suffix(".svg").exists() and high.with_suffix(".svg").exists()
    texts = _svg_texts(high.with_suffix(".svg"))
    assert "threshold C1" in texts and "threshold C4" in texts and "step + 1" in texts


def test_context_order_groups_and_caps():
    data = synthetic.random_supports(6, 40, (1, 3), n_supports=4, seed=1)
    order = context_order(data)
    assert sorted(order.tolist()) == list(range(40))
    g = np.asarray(data.support_groups)[order]
    assert np.count_nonzero(np.diff(g)) == len(np.unique(g)) - 1  # each group contiguous
    big = synthetic.random_supports(6, MAX_HEATMAP_CONTEXTS + 50, (1, 2), seed=2)
    assert len(context_order(big)) == MAX_HEATMAP_CONTEXTS


def test_seed_groups_are_drawn_as_a_mean_with_a_band(tmp_path):
    from ntpgeom.report.figures import fig_loss_gap, merge_seeds

    a = {"step": np.array([0, 10, 100, 1000]), "gap": np.array([1.0, 0.5, 0.1, 0.01])}
    b = {"step": np.array([0, 10, 100]), "gap": np.array([3.0, 0.7, 0.3])}  # stopped earlier: common steps only
    solo = {"step": np.array([0, 10]), "gap": np.array([2.0, 1.0])}
    merged = merge_seeds([Series("ufm-seed0", "ufm", a, "ufm"), Series("ufm-seed1", "ufm", b, "ufm"),
                          Series("lstm", "lstm", solo)])
    assert [s.label for s in merged] == ["ufm (mean of 2 seeds)", "lstm"]
    t = merged[0].table
    np.testing.assert_array_equal(t["step"], [0, 10, 100])
    np.testing.assert_allclose(t["gap"], [2.0, 0.6, 0.2])
    np.testing.assert_allclose(t["gap__lo"], [1.0, 0.5, 0.1])
    np.testing.assert_allclose(t["gap__hi"], [3.0, 0.7, 0.3])
    with output(dpi=20):
        p = fig_loss_gap([Series("ufm-seed0", "ufm", a, "ufm"), Series("ufm-seed1", "ufm", b, "ufm")],
                         tmp_path / "g.png", thresholds={"loss": 0.05})
    svg = p.with_suffix(".svg").read_text()
    assert "ufm (mean of 2 seeds)" in _svg_texts(p.with_suffix(".svg")) and "ufm-seed0" not in svg
    assert re.search(r'id="(FillBetween)?PolyCollection_1"', svg)  # the min-max band (fill_between)


def test_representation_figure_draws_cdnv_and_rankme_of_runs_that_have_them(tmp_path):
    from ntpgeom.report.figures import fig_representation, has_representation

    steps = np.array([0, 9, 99])
    with_rep = {"step": steps, "cdnv": np.array([2.0, 0.5, 0.01]), "rankme": np.array([9.0, 6.0, 4.5])}
    old = {"step": steps, "gap": np.array([1.0, 0.5, 0.1])}  # a table measured before the columns existed
    empty = {"step": steps, "cdnv": np.full(3, np.nan), "rankme": np.full(3, np.nan)}
    assert not has_representation([Series("old", "ufm", old), Series("nan", "ufm", empty)])
    assert has_representation([Series("old", "ufm", old), Series("ufm", "ufm", with_rep)])
    with output(dpi=30, svg=True):
        p = fig_representation([Series("old", "ufm", old), Series("ufm run", "ufm", with_rep)], tmp_path / "r.png")
    texts = _svg_texts(p.with_suffix(".svg"))
    assert "cdnv" in texts and "rankme" in texts and "ufm run" in texts and imread(p)[..., :3].std() > 0.05
