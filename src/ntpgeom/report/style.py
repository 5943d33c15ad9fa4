"""One consistent, print-readable figure style (no pyplot, no global state: every figure is a Figure + Agg canvas).

Figures are written as PNG (embedded in the report) and, unless switched off, as SVG beside it (for papers and
zooming). :func:`output` sets the PNG resolution and the SVG switch for the figures drawn inside a block.
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Any, Iterator

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._io import atomic_path

#: Default PNG resolution (dots per inch) of report figures.
DPI = 150

STYLE: dict[str, object] = {
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "image.interpolation": "nearest",
    "svg.fonttype": "none",  # text stays text in the SVG (searchable, small)
}

#: Colour per model kind (colour-blind safe Okabe-Ito palette), used in every curve figure.
MODEL_COLORS = {
    "ufm": "#0072B2",
    "transformer": "#D55E00",
    "lstm": "#009E73",
    "mlp": "#CC79A7",
}
EXTRA_COLORS = ["#E69F00", "#56B4E9", "#F0E442", "#000000"]
CORR_CMAP = "RdBu_r"
#: Colour and style of a verdict threshold line.
THRESHOLD_STYLE = {"color": "#444444", "linestyle": (0, (4, 3)), "linewidth": 1.0}

_OUTPUT: contextvars.ContextVar[tuple[int, bool]] = contextvars.ContextVar("ntpgeom_figure_output", default=(DPI, True))


def color_for(model: str, i: int = 0) -> str:
    """The colour of a model kind (fallback: a fixed extra palette by index)."""
    return MODEL_COLORS.get(model, EXTRA_COLORS[i % len(EXTRA_COLORS)])


@contextlib.contextmanager
def output(dpi: int | None = None, svg: bool | None = None) -> Iterator[None]:
    """PNG resolution and whether to write an SVG twin, for the figures saved inside the block."""
    cur_dpi, cur_svg = _OUTPUT.get()
    token = _OUTPUT.set((int(dpi or cur_dpi), cur_svg if svg is None else bool(svg)))
    try:
        yield
    finally:
        _OUTPUT.reset(token)


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Apply :data:`STYLE` for the figures made inside the block."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A Figure with an Agg canvas attached (thread-safe, independent of the pyplot backend)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def threshold_line(ax: object, y: float | None, label: str = "threshold") -> None:
    """A horizontal dashed line at a verdict threshold (nothing when ``y`` is None)."""
    if y is not None:
        ax.axhline(y, label=label, **THRESHOLD_STYLE)  # type: ignore[attr-defined]


def legend_below(ax: Any, ncol: int | None = None) -> Any:
    """The axes' legend placed under the axes, below their tick labels and x label, so that it never covers a curve
    (``loc="best"`` still covers data when the curves fill the panel). Returns the legend (None without labels);
    ``ncol``: default one column, two past six entries. A figure saved by :func:`save` includes it (tight box)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    renderer = ax.figure.canvas.get_renderer()
    bottom = ax.xaxis.get_tightbbox(renderer).y0  # display coordinates of the lowest tick label / x label
    y = float(ax.transAxes.inverted().transform((0.0, bottom))[1])
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, min(y, 0.0) - 0.02),
                     ncol=ncol or (1 if len(handles) <= 6 else 2), borderaxespad=0.0)


def data_ylim(ax: Any, floor: float = 0.0, margin: float = 0.08, default_top: float = 1.0) -> tuple[float, float]:
    """Set the y range of ``ax`` from the plotted data (lines and bands): ``floor`` (kept at the bottom, with a small
    pad) to the largest finite value plus ``margin`` of the span; ``default_top`` when nothing finite is drawn.
    Returns the limits set."""
    tops = [float(np.nanmax(y)) for line in ax.get_lines() for y in [np.asarray(line.get_ydata(), dtype=float)]
            if y.size and np.isfinite(y).any()]
    for coll in ax.collections:  # min-max bands (fill_between)
        paths = [p.vertices[:, 1] for p in coll.get_paths() if len(p.vertices)]
        tops += [float(np.nanmax(v)) for v in paths if np.isfinite(v).any()]
    top = max(tops) if tops else default_top
    span = max(top - floor, 1e-12)
    lim = (floor - 0.02 * span, top + margin * span)
    ax.set_ylim(*lim)
    return lim


def save(fig: Figure, path: str | Path) -> Path:
    """Save a figure as PNG (and its SVG twin, see :func:`output`) atomically; return the PNG's path.

    The tight bounding box is computed once and shared by both files (one layout pass fewer than two
    ``bbox_inches="tight"`` saves).
    """
    path = Path(path)
    dpi, svg = _OUTPUT.get()
    fig.set_dpi(dpi)
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(float(matplotlib.rcParams["savefig.pad_inches"]))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches=bbox)
    if svg:
        with atomic_path(path.with_suffix(".svg"), suffix=".svg") as tmp:
            fig.savefig(tmp, format="svg", bbox_inches=bbox)
    return path
