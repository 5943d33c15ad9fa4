"""Figure layout (issue 24): the collapse panels' y range follows the data, legends never cover the curves."""

from __future__ import annotations

import numpy as np

from ntpgeom.report.figures import Series, draw_collapse, fig_collapse, fig_loss_gap
from ntpgeom.report.style import output


def _table(scale: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = np.array([0, 1, 3, 10, 30, 100, 300])
    decay = scale * np.exp(-np.arange(len(steps)) / 3)
    return {"step": steps, "collapse_H": decay, "collapse_H_base": np.full(len(steps), 0.8 * scale),
            "collapse_Lperp": decay * 0.5 + rng.uniform(0, 0.01, len(steps)),
            "collapse_Lperp_base": np.full(len(steps), 0.7 * scale), "gap": decay + 1e-3}


def _series(scale: float) -> list[Series]:
    return [Series(f"run{i} with a long label", m, _table(scale * (1 - 0.2 * i), i))
            for i, m in enumerate(("ufm", "transformer", "lstm"))]




def _inside(box, xy) -> np.ndarray:
    return (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)


def test_collapse_y_range_follows_the_data_with_zero_as_floor():
    for scale in (0.25, 0.05, 1.4):
        fig = draw_collapse(_series(scale))
        for ax in fig.axes:
            top = max(float(np.nanmax(line.get_ydata())) for line in ax.get_lines())
            lo, hi = ax.get_ylim()
            assert -0.05 * top <= lo <= 0.0  # 0 stays the floor (a small pad below it)
            assert top < hi <= 1.2 * top  # above the data, with a margin, not a fixed 0-1 axis
        if scale < 0.3:
            assert fig.axes[0].get_ylim()[1] < 0.5


def test_legends_sit_outside_the_axes_and_cover_no_point(tmp_path):
    fig = draw_collapse(_series(0.25))
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) == 3
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box, axbox = legend.get_window_extent(r), ax.get_window_extent(r)
    assert box.y1 <= axbox.y0  # wholly below the panel
    assert box.y1 <= ax.xaxis.get_tightbbox(r).y0 + 1.0  # and below its tick labels and x label
    for a in fig.axes:
        for line in a.get_lines():
            xy = a.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
            assert not _inside(box, xy).any()
    with output(dpi=30, svg=False):  # the saved files still render (the tight box includes the legend)
        assert fig_collapse(_series(0.25), tmp_path / "c.png").is_file()
        assert fig_loss_gap(_series(0.25), tmp_path / "g.png", thresholds={"loss": 0.05}).is_file()


def test_trajectory_panel_with_only_nan_positions_renders(tmp_path):
    """A claim whose μ is NaN at every snapshot (inconclusive) gave the panel no data limits, and its log x axis over
    the default 0..1 range raised "Data cannot be log-scaled" from the legend placement (`ntpgeom report` of a 3-step
    run, a traceback). The axis now spans the steps."""
    from types import SimpleNamespace

    from ntpgeom.report.figures import fig_trajectory

    nan = float("nan")

    def claim(mu):
        return SimpleNamespace(steps=(1, 2, 3), positions=[SimpleNamespace(lo=m, hi=m) for m in mu], mu=mu,
                               d_face=(), status="inconclusive")

    claims = {"C1": claim([0.1, 0.2, 0.3]), "L_mm": claim([0.1, 0.2, 0.3]), "C2:W": claim([nan] * 3),
              "C2:H": claim([nan] * 3)}
    j = SimpleNamespace(claim=claims.__getitem__)
    path = fig_trajectory([("run", "ufm", j)], tmp_path / "t.png")
    assert path.exists() and path.stat().st_size > 0
