"""Helpers shared by the appendix experiments' modules: a snapshot's arrays in float64, the UFM run spec of their
recipes, and the figure helpers (a row column as an array, a curve drawn only where it is finite)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .jobs import RunSpec

if TYPE_CHECKING:
    from ..train import Snapshot


Rows = Sequence[Mapping[str, Any]]


def snap_arrays(snap: Snapshot) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    W = None if snap.W is None else np.asarray(snap.W, dtype=np.float64)
    return W, np.asarray(snap.H, dtype=np.float64), np.asarray(snap.L, dtype=np.float64)


def col(rows: Rows, key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=np.float64)


def plot_finite(ax: Any, x: np.ndarray, y: np.ndarray, positive: bool = False, **kw: Any) -> None:
    keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if positive else True)
    if keep.any():
        ax.plot(x[keep], y[keep], **kw)


def ufm_run(steps: int, name: str, optimizer: str = "adam", lr: float = 0.05, **kw: Any) -> RunSpec:
    """A UFM run of an appendix recipe, in the folder ``name``."""
    return RunSpec("ufm", {"optimizer": optimizer, "lr": lr, "steps": steps, **kw}, name)


def quick_factor(quick: bool) -> int:
    """The appendix budgets' step divisor: ``quick`` is a smoke size (the figures and tables, not the converged
    numbers), a quarter of the steps."""
    return 4 if quick else 1
