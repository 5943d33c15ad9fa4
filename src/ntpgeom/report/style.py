"""One consistent, print-readable figure style (no pyplot, no global state: every figure is a Figure + Agg canvas)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._io import atomic_path

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
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "image.interpolation": "nearest",
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


def color_for(model: str, i: int = 0) -> str:
    """The colour of a model kind (fallback: a fixed extra palette by index)."""
    return MODEL_COLORS.get(model, EXTRA_COLORS[i % len(EXTRA_COLORS)])


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


def save(fig: Figure, path: str | Path) -> Path:
    """Save a figure as PNG atomically and return the path."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path
