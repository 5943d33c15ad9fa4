"""The paper's figures (docs/theory.md §6), drawn from metrics tables, snapshots and a Theory.

Curve figures take a list of :class:`Series` (one per run: a label, a model kind for the colour, a metrics table) and
compare runs on the same axes; the heatmaps live in :mod:`ntpgeom.report.heatmaps` (re-exported here). Every function writes one PNG (and its SVG twin, see
:func:`ntpgeom.report.style.output`) and returns the PNG's path. Curve figures take ``thresholds`` (claim -> value,
e.g. ``{"loss": 0.05, "C1": 0.35}``) and draw each as a dashed line on the axis where that claim is measured.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .heatmaps import MAX_HEATMAP_CONTEXTS, MAX_TICK_LABELS, context_order, fig_heatmaps, fig_mm_vs_tilde, group_lines
from ..verdicts.core import status_label
from ..verdicts.trajectory import TrajectoryJudgement
from .style import color_for, data_ylim, legend_below, new_figure, save, styled, threshold_line

Thresholds = Mapping[str, float] | None
__all__ = ["Series", "merge_seeds", "fig_trajectory", "fig_loss_gap", "fig_norms", "fig_softlabel", "fig_similarity", "fig_collapse",
           "draw_collapse", "fig_representation", "has_representation",
           "context_order", "group_lines", "fig_heatmaps", "fig_mm_vs_tilde", "MAX_HEATMAP_CONTEXTS", "MAX_TICK_LABELS"]

@dataclass(frozen=True)
class Series:
    """One run's curves: ``label`` (legend), ``model`` (colour), ``table`` (a metrics table). Series with the same
    ``group`` (e.g. one model trained with several seeds) are drawn as one mean curve with a min-max band."""

    label: str
    model: str
    table: Mapping[str, np.ndarray]
    group: str | None = None


def merge_seeds(series: Sequence[Series]) -> list[Series]:
    """One Series per group: the mean over its members at their common steps, with ``<col>__lo`` / ``<col>__hi``
    (min / max over the members) for the bands. Series without a group pass through."""
    groups: dict[Any, list[Series]] = {}
    for s in series:
        groups.setdefault(s.group if s.group is not None else id(s), []).append(s)
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        steps = reduce(np.intersect1d, [np.asarray(m.table["step"]) for m in members])
        table: dict[str, np.ndarray] = {"step": steps}
        for col in members[0].table:
            if col == "step" or not all(col in m.table for m in members):
                continue
            A = np.vstack([np.asarray(m.table[col], dtype=np.float64)[np.searchsorted(m.table["step"], steps)]
                           for m in members])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
                table[col], table[col + "__lo"], table[col + "__hi"] = (np.nanmean(A, 0), np.nanmin(A, 0),
                                                                         np.nanmax(A, 0))
        g = members[0].group
        out.append(Series(f"{g} (mean of {len(members)} seeds)", members[0].model, table, g))
    return out


def _x(table: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.asarray(table["step"], dtype=np.float64) + 1.0  # step + 1 so that step 0 sits on a log axis


def _finite(y: np.ndarray) -> bool:
    return bool(np.any(np.isfinite(y)))


def _curve(ax: Any, s: Series, key: str, positive: bool = False, fmt: str = "-", **kw: Any) -> bool:
    """Plot column ``key`` of a series over step + 1 (finite points; only positive ones with ``positive``, for log
    axes), with its min-max band when the series is a mean over seeds. Returns whether anything was drawn."""
    t, x = s.table, _x(s.table)
    if key not in t:  # a table from an older ntpgeom, or a column this run does not have
        return False
    y = np.asarray(t[key], dtype=np.float64)
    keep = np.isfinite(y) & (y > 0) if positive else np.isfinite(y)
    if not keep.any():
        return False
    ax.plot(x[keep], y[keep], fmt, **kw)
    if key + "__lo" in t:
        lo, hi = np.asarray(t[key + "__lo"])[keep], np.asarray(t[key + "__hi"])[keep]
        lo = np.where(lo > 0, lo, y[keep]) if positive else lo
        ax.fill_between(x[keep], lo, hi, color=kw.get("color"), alpha=0.2, linewidth=0)
    return True


def _log_steps(ax: Any, steps: Sequence[float]) -> None:
    """Log x axis over the positive ``steps`` (set explicitly: a panel whose values are all NaN has no data limits,
    and a log axis over the default 0..1 range cannot be drawn); linear when no step is positive."""
    pos = [float(s) for s in steps if s > 0]
    if pos:
        ax.set_xscale("log")
        ax.set_xlim(min(pos) / 1.25, max(pos) * 1.25)


def _legend(ax: Any) -> None:
    legend_below(ax)  # under the panel: a legend inside the axes covered the curves


def _thr(thresholds: Thresholds, claim: str) -> float | None:
    return None if not thresholds or claim not in thresholds else float(thresholds[claim])


def fig_loss_gap(series: Sequence[Series], path: str | Path, entropy: float | None = None,
                 thresholds: Thresholds = None) -> Path:
    """Loss gap ``CE(L_k) − ℋ`` over training, log y (and log x)."""
    with styled():
        fig = new_figure(5.2, 3.6)
        ax = fig.add_subplot()
        for i, s in enumerate(merge_seeds(series)):
            _curve(ax, s, "gap", True, color=color_for(s.model, i), label=s.label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step + 1")
        ax.set_ylabel("CE − ℋ  (nats)")
        threshold_line(ax, _thr(thresholds, "loss"), "threshold (loss → ℋ)")
        title = "Loss gap to the entropy bound"
        ax.set_title(title + (f" (ℋ = {entropy:.4f})" if entropy is not None else ""))
        _legend(ax)
        return save(fig, path)


def fig_norms(series: Sequence[Series], path: str | Path) -> Path:
    """Norm growth ``‖W_k‖``, ``‖H_k‖`` (and ``‖L_k‖``) over training, log-log."""
    with styled():
        fig = new_figure(9.6, 3.4)
        axes = fig.subplots(1, 3)
        for ax, key, name in zip(axes, ("norm_W", "norm_H", "norm_L"), ("‖W‖_F", "‖H‖_F", "‖L‖_F")):
            for i, s in enumerate(merge_seeds(series)):
                _curve(ax, s, key, True, color=color_for(s.model, i), label=s.label)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("step + 1")
            ax.set_ylabel(name + "  (Frobenius norm)")
            ax.set_title(name)
        _legend(axes[0])
        fig.suptitle("Norm growth", y=1.02)
        return save(fig, path)


def fig_softlabel(series: Sequence[Series], path: str | Path, thresholds: Thresholds = None) -> Path:
    """Soft-label recovery ``‖P_F(L_k) − L_in‖ / ‖L_in‖`` (C4) and C1's statistic ``dir_pred`` (the direction distance
    to the finite-norm prediction) over training."""
    with styled():
        fig = new_figure(9.0, 3.5)
        a1, a2 = fig.subplots(1, 2)
        for i, s in enumerate(merge_seeds(series)):
            c = color_for(s.model, i)
            _curve(a1, s, "softlabel_rel", True, color=c, label=s.label)
            _curve(a2, s, "dir_pred", True, color=c, label=s.label)
        for ax in (a1, a2):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("step + 1")
        a1.set_title("C4 soft labels")
        a1.set_ylabel("‖P_F(L) − L_in‖ / ‖L_in‖")
        a2.set_title("C1 sparse + low rank: distance to the prediction")
        a2.set_ylabel("dir(L, L_in + path point of its norm)")
        threshold_line(a1, _thr(thresholds, "C4"), "threshold C4")
        threshold_line(a2, _thr(thresholds, "C1"), "threshold C1")
        _legend(a1)
        _legend(a2)
        return save(fig, path)


def fig_similarity(series: Sequence[Series], path: str | Path, thresholds: Thresholds = None) -> Path:
    """C2's measurement: off-diagonal Pearson of corr(H), corr(Wᵀ) with the prediction's (solid), with S̃'s
    (dashed) and its permutation null (dotted); and the direction distance of ``P_⊥(L_k)`` to L_mm (or S̃), over
    training, with the thresholds of C2 and of "converges to L_mm"."""
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, s in enumerate(merge_seeds(series)):
            c = color_for(s.model, i)
            for ax, key in ((axes[0], "H"), (axes[1], "W")):
                for col, ls, ref in (("", "-", "prediction"), ("_rival", "--", "S̃"), ("_null", ":", "null")):
                    _curve(ax, s, f"offp_{key}{col}", False, ls, color=c, label=f"{s.label} ({ref})")
            mm = _finite(np.asarray(s.table["dir_perp_mm"]))
            _curve(axes[2], s, "dir_perp_mm" if mm else "dir_perp_tilde", True, color=c,
                   label=f"{s.label} {'vs L_mm' if mm else 'vs S̃'}")
        axes[0].set_title("C2: corr(H) vs prediction (off-diagonal)")
        axes[1].set_title("C2: corr(Wᵀ) vs prediction (off-diagonal)")
        axes[2].set_title("‖P_⊥(L)/‖·‖ − L_mm/‖·‖‖")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("step + 1")
        for ax in axes[:2]:
            ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
            ax.set_ylabel("Pearson, off the diagonal")
            threshold_line(ax, _thr(thresholds, "C2"), "threshold C2")
        threshold_line(axes[2], _thr(thresholds, "L_mm"), "threshold L_mm")
        axes[2].set_yscale("log")
        axes[2].set_ylabel("direction distance")
        _legend(axes[0])
        _legend(axes[2])
        return save(fig, path)


def draw_collapse(series: Sequence[Series]) -> Any:
    """The collapse-index figure of :func:`fig_collapse`, not saved (a :class:`matplotlib.figure.Figure`): each
    panel's y range follows its data (0 kept as the floor), the legend sits under the first panel."""
    with styled():
        fig = new_figure(9.0, 3.4)
        axes = fig.subplots(1, 2)
        for i, s in enumerate(merge_seeds(series)):
            c = color_for(s.model, i)
            for ax, key in zip(axes, ("collapse_H", "collapse_Lperp")):
                _curve(ax, s, key, False, color=c, label=s.label)
                _curve(ax, s, key + "_base", False, ":", color=c, linewidth=1.2)
        axes[0].set_title("Collapse index of H (dotted: random groups)")
        axes[1].set_title("Collapse index of P_⊥(L)")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("step + 1")
            ax.set_ylabel("collapse index (0 = collapsed)")
            data_ylim(ax)  # the data sit well below 1: a fixed 0-1 axis flattened them
        _legend(axes[0])
        return fig


def fig_collapse(series: Sequence[Series], path: str | Path) -> Path:
    """Subspace-collapse index of H and of P_⊥(L) over training, with the random-grouping baseline (dotted)."""
    with styled():
        return save(draw_collapse(series), path)


#: Columns of :func:`fig_representation`: (column, axis label, log y).
REPRESENTATION_PANELS = (("cdnv", "CDNV by support group (0 = collapsed)", True),
                         ("rankme", "RankMe effective rank of H", False))


def has_representation(series: Sequence[Series]) -> bool:
    """Whether any series holds a finite ``cdnv`` or ``rankme`` (tables from before those columns hold neither).

    Parameters
    ----------
    series : sequence of Series
        The runs' metrics tables.

    Returns
    -------
    bool
    """
    return any(np.isfinite(np.asarray(s.table[k], dtype=np.float64)).any()
               for s in series for k, _, _ in REPRESENTATION_PANELS if k in s.table)


def fig_representation(series: Sequence[Series], path: str | Path) -> Path:
    """Representation metrics of H over training (:data:`ntpgeom.metrics.REPRESENTATION_COLUMNS`): the CDNV of H by
    support group (log y) and its RankMe effective rank, one curve per run.

    Parameters
    ----------
    series : sequence of Series
        The runs' metrics tables (a run without the columns draws nothing).
    path : str or Path
        Where the PNG goes.

    Returns
    -------
    Path
        The PNG written.
    """
    with styled():
        fig = new_figure(7.2, 3.4)
        axes = fig.subplots(1, len(REPRESENTATION_PANELS))
        for ax, (key, name, log) in zip(axes, REPRESENTATION_PANELS):
            for i, s in enumerate(merge_seeds(series)):
                _curve(ax, s, key, log, color=color_for(s.model, i), label=s.label)
            ax.set_xscale("log")
            if log:
                ax.set_yscale("log")
            ax.set_xlabel("step + 1")
            ax.set_ylabel(name)
            ax.set_title(key)
        _legend(axes[0])
        return save(fig, path)


def fig_trajectory(runs: Sequence[tuple[str, str, TrajectoryJudgement]], path: str | Path) -> Path:
    """The trajectory judgement of each run (label, model kind, :class:`~ntpgeom.verdicts.TrajectoryJudgement`): per
    claim (C1, L_mm, and C2:W / C2:H when judged) the position μ against step (log x) with its bootstrap interval band
    and the zero line; a claim judged against the optimal face (S̃ optimal) shows the distance to the face."""
    names = ["C1", "L_mm"] + [c for c in ("C2:W", "C2:H")
                              if any(j.claim(c).positions for _, _, j in runs)]
    with styled():
        fig = new_figure(3.6 * len(names), 3.3)
        axes = np.atleast_1d(fig.subplots(1, len(names)))
        for ax, name in zip(axes, names):
            face = False
            for i, (label, model, j) in enumerate(runs):
                ct, c = j.claim(name), color_for(model, i)
                x = np.asarray(ct.steps, dtype=np.float64)
                if ct.positions:
                    lo, hi = np.array([p.lo for p in ct.positions]), np.array([p.hi for p in ct.positions])
                    ax.fill_between(x, lo, hi, color=c, alpha=0.2, linewidth=0)
                    ax.plot(x, ct.mu, "-o", color=c, markersize=3, label=f"{label} ({status_label(ct.status)})")
                elif ct.d_face:
                    face = True
                    ax.plot(x, ct.d_face, "--o", color=c, markersize=3, label=f"{label} (face, {status_label(ct.status)})")
            ax.axhline(0.0, color="0.3", linestyle=":", linewidth=1.0)
            _log_steps(ax, [s for _, _, j in runs for s in j.claim(name).steps])
            ax.set_xlabel("step")
            if face or ax is axes[0]:
                ax.set_ylabel("distance to the optimal face" if face else "position μ (+1 prediction, −1 rival)")
            ax.set_title(name)
            _legend(ax)
        fig.suptitle("Trajectories: position between the prediction and its rival", y=1.03)
        return save(fig, path)
