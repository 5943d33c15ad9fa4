"""The representation metrics (:func:`~ntpgeom.metrics.representation.layer_metrics`) of a training run's snapshots,
as extra columns next to the metrics table (issue 22, item 3: "for runs and probes").

A snapshot's H (d x m, or d x k when it holds only ``contexts``) is measured as stored — the raw hidden states, as
the representation literature measures them (RankMe, α-ReQ, CDNV) — with

- ``groups``: the support-group id of each of its contexts (``NTPData.support_groups``),
- ``W``: the snapshot's output matrix, ``P``: the next-token distributions of its contexts, ``weights``: their π.

Columns (:data:`REPRESENTATION_COLUMNS`, all float, NaN where undefined) are the keys of
:func:`~ntpgeom.metrics.representation.layer_metrics`; none of them is a name in :data:`~ntpgeom.metrics.COLUMNS`.
:func:`~ntpgeom.metrics.run_metrics` appends them to every run table (``representation=True``, the default);
:func:`add_columns` appends them to a table measured without them (``representation=False``, or saved before they
existed) without touching its columns.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from ..data import NTPData
from ..progress import Progress
from .representation import LAYER_KEYS, layer_metrics
from .restrict import check_contexts, snapshot_contexts
from .similarity import MetricsError
from .snapshot_row import RunLike, Snapshot, snapshot_arrays

__all__ = ["REPRESENTATION_COLUMNS", "snapshot_representation", "run_representation", "add_columns"]

#: Columns of :func:`run_representation` after ``step`` (the keys of ``layer_metrics`` with W and P given).
REPRESENTATION_COLUMNS: tuple[str, ...] = LAYER_KEYS


def snapshot_representation(snap: Snapshot, data: NTPData) -> dict[str, float]:
    """:func:`~ntpgeom.metrics.representation.layer_metrics` of one training snapshot (see the module docstring).

    Parameters
    ----------
    snap : Snapshot, mapping or (W, H) tuple
        ``H`` (d x m, or d x k with ``contexts``), ``W`` (V x d), as a snapshot, a mapping with those keys or a pair
        (:func:`~ntpgeom.metrics.snapshot_row.snapshot_arrays`).
    data : NTPData
        The run's data (m contexts).

    Returns
    -------
    dict[str, float]
        One value per name in :data:`REPRESENTATION_COLUMNS`: all NaN when the snapshot holds no H; the W-dependent
        ones (``lm_head_rank``, ``unc3``, ``ncc_agreement``) NaN when it holds no W.
    """
    _, W, H, _, _ = snapshot_arrays(snap)
    if H is None:
        return dict.fromkeys(REPRESENTATION_COLUMNS, math.nan)
    ctx = snapshot_contexts(snap)
    idx = np.arange(data.m) if ctx is None else check_contexts(ctx, data.m)
    if H.ndim != 2 or H.shape[1] != len(idx):
        raise MetricsError(f"the snapshot's H has shape {H.shape} but it holds {len(idx)} contexts; "
                           "H must be d x (number of contexts)")
    P = data.P[:, idx]
    out = layer_metrics(H, data.support_groups[idx], W=W, P=P, weights=data.pi[idx])
    return {k: out.get(k, math.nan) for k in REPRESENTATION_COLUMNS}


def run_representation(run: RunLike, steps: Sequence[int] | None = None, progress: Progress | None = None,
                       threads: int = 1) -> dict[str, np.ndarray]:
    """The representation table of a run: ``step`` (int64) and :data:`REPRESENTATION_COLUMNS`, one row per snapshot.

    Parameters
    ----------
    run : Run
        A :func:`ntpgeom.train.load_run` result.
    steps : sequence of int, optional
        Which snapshots (default: all), rows in step order.
    progress : Progress, optional
        Called as ``progress("representation", done, total)`` after each snapshot.
    threads : int
        BLAS threads while measuring (threadpoolctl).

    Returns
    -------
    dict of str to array
        ``step`` and one column per :data:`REPRESENTATION_COLUMNS` key, one row per snapshot.
    """
    from threadpoolctl import threadpool_limits

    steps = list(run.steps) if steps is None else sorted(int(s) for s in steps)
    if not steps:
        raise MetricsError(f"the run {run.path or ''} has no snapshots; train with snapshots enabled")
    rows = []
    with threadpool_limits(threads):
        for i, s in enumerate(steps):
            rows.append(snapshot_representation(run.snapshot(s), run.data))
            if progress is not None:
                progress("representation", i + 1, len(steps))
    table = {"step": np.asarray(steps, dtype=np.int64)}
    table.update({k: np.array([r.get(k, math.nan) for r in rows], dtype=np.float64) for k in REPRESENTATION_COLUMNS})
    return table


def add_columns(table: Mapping[str, np.ndarray], extra: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``table`` with the columns of ``extra`` appended (rows matched by ``step``; existing columns unchanged).

    Raises :class:`~ntpgeom.errors.MetricsError` when the two tables hold different steps or ``extra`` would
    overwrite a column of ``table``.
    """
    steps, other = np.asarray(table["step"]), np.asarray(extra["step"])
    if sorted(steps.tolist()) != sorted(other.tolist()):
        raise MetricsError("the two tables hold different snapshots (steps); measure the same steps")
    clash = (set(extra) - {"step"}) & set(table)
    if clash:
        raise MetricsError(f"the extra columns {sorted(clash)} already exist in the table")
    order = np.argsort(other, kind="stable")[np.searchsorted(np.sort(other), steps)]
    out = dict(table)
    out.update({k: np.asarray(v)[order] for k, v in extra.items() if k != "step"})
    return out
