"""The paper's figures (docs/theory.md §6), drawn from metrics tables, snapshots and a Theory.

Curve figures take a list of :class:`Series` (one per run: a label, a model kind for the colour, a metrics table) and
compare runs on the same axes. Heatmap figures take the arrays. Every function writes one PNG (and its SVG twin, see
:func:`ntpgeom.report.style.output`) and returns the PNG's path. Curve figures take ``thresholds`` (claim -> value,
e.g. ``{"loss": 0.05, "C1": 0.35}``) and draw each as a dashed line on the axis where that claim is measured.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Mapping, Sequence

Thresholds = Mapping[str, float] | None

import numpy as np

from ..data import NTPData
from ..metrics import corr_from_gram, corr_map
from .style import CORR_CMAP, color_for, new_figure, save, styled, threshold_line

#: At most this many contexts are drawn in an m x m or V x m heatmap (a seeded sample when m is larger).
MAX_HEATMAP_CONTEXTS = 500
#: Context strings are used as tick labels up to this many contexts (tokens: up to this many tokens).
MAX_TICK_LABELS = 40


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


def _legend(ax: Any) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="best")


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
    """Soft-label recovery ``‖P_F(L_k) − L_in‖ / ‖L_in‖`` and the sparse-plus-low-rank residual over training."""
    with styled():
        fig = new_figure(9.0, 3.5)
        a1, a2 = fig.subplots(1, 2)
        for i, s in enumerate(merge_seeds(series)):
            c = color_for(s.model, i)
            _curve(a1, s, "softlabel_rel", True, color=c, label=s.label)
            _curve(a2, s, "slr_resid", True, color=c, label=s.label)
        for ax in (a1, a2):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("step + 1")
        a1.set_title("C4 soft labels")
        a1.set_ylabel("‖P_F(L) − L_in‖ / ‖L_in‖")
        a2.set_title("C1 sparse + low rank")
        a2.set_ylabel("‖L − L_in − R·L_mm‖ / ‖L − L_in‖")
        threshold_line(a1, _thr(thresholds, "C4"), "threshold C4")
        threshold_line(a2, _thr(thresholds, "C1"), "threshold C1")
        _legend(a1)
        _legend(a2)
        return save(fig, path)


def fig_similarity(series: Sequence[Series], path: str | Path, thresholds: Thresholds = None) -> Path:
    """Similarity of corr(H), corr(Wᵀ) to the predictions (sim, solid: L_mm; dashed: S̃ proxy), and the directional
    distance of ``P_⊥(L_k)`` to L_mm (or S̃), over training."""
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, s in enumerate(merge_seeds(series)):
            c = color_for(s.model, i)
            for ax, key in ((axes[0], "H"), (axes[1], "W")):
                for ref, ls in (("mm", "-"), ("proxy", "--")):
                    _curve(ax, s, f"sim_{key}_{ref}", False, ls, color=c,
                           label=f"{s.label} ({'L_mm' if ref == 'mm' else 'S̃'})")
            mm = _finite(np.asarray(s.table["dir_perp_mm"]))
            _curve(axes[2], s, "dir_perp_mm" if mm else "dir_perp_tilde", True, color=c,
                   label=f"{s.label} {'vs L_mm' if mm else 'vs S̃'}")
        axes[0].set_title("sim(corr(H), prediction)")
        axes[1].set_title("sim(corr(Wᵀ), prediction)")
        axes[2].set_title("‖P_⊥(L)/‖·‖ − L_mm/‖·‖‖")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("step + 1")
        for ax in axes[:2]:
            ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.02)
            ax.set_ylabel("sim (SSIM structure term)")
            threshold_line(ax, _thr(thresholds, "C2"), "threshold C2")
        axes[2].set_yscale("log")
        axes[2].set_ylabel("direction distance")
        _legend(axes[0])
        _legend(axes[2])
        return save(fig, path)


def fig_collapse(series: Sequence[Series], path: str | Path) -> Path:
    """Subspace-collapse index of H and of P_⊥(L) over training, with the random-grouping baseline (dotted)."""
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
            ax.set_ylim(-0.02, 1.02)
        _legend(axes[0])
        return save(fig, path)


# ------------------------------------------------------------------------------------------------ heatmaps
def context_order(data: NTPData, max_contexts: int = MAX_HEATMAP_CONTEXTS, seed: int = 0, prefer_groups: bool = False) -> np.ndarray:
    """Indices of the contexts to draw, ordered by support group (largest groups first, stable within a group).

    At most ``max_contexts``: a seeded sample when m is larger, or with ``prefer_groups`` the first ``max_contexts``
    in that order (contexts that share their support with others first; useful when most supports are singletons).
    """
    m = data.m
    sizes = np.bincount(np.asarray(data.support_groups))
    if m <= max_contexts or prefer_groups:
        idx = np.arange(m)
    else:
        idx = np.sort(np.random.default_rng(seed).choice(m, max_contexts, replace=False))
    g = np.asarray(data.support_groups)[idx]
    return idx[np.lexsort((idx, g, -sizes[g]))][:max_contexts]


def group_lines(ax: Any, groups: np.ndarray, square: bool) -> None:
    cuts = np.flatnonzero(np.diff(groups)) + 0.5
    if len(cuts) > 60:
        return
    for c in cuts:
        ax.axvline(c, color="k", linewidth=0.4, alpha=0.5)
        if square:
            ax.axhline(c, color="k", linewidth=0.4, alpha=0.5)


def _ticks(ax: Any, labels: Sequence[str] | None, axis: str) -> None:
    if labels is None or len(labels) > MAX_TICK_LABELS:
        (ax.set_xticks if axis == "x" else ax.set_yticks)([])
        return
    pos = np.arange(len(labels))
    if axis == "x":
        ax.set_xticks(pos, labels, rotation=90, fontsize=6.5)
    else:
        ax.set_yticks(pos, labels, fontsize=6.5)


def _unit(A: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(A)
    return A / n if n > 0 else A


def fig_heatmaps(
    data: NTPData,
    theory: Any,
    snapshots: Sequence[Any],
    path: str | Path,
    title: str = "",
) -> Path:
    """Side-by-side heatmaps as in the paper: rows corr(H), corr(Ẇᵀ), L/‖L‖; columns the given snapshots, then the
    theory (L_mm and its factors, if solved) and the proxy (S̃).

    Contexts are ordered by support group (thin lines separate groups); context strings label the axes when m is
    small. Correlation maps use the fixed range [−1, 1]; each logit panel is divided by its Frobenius norm and the row
    shares one symmetric range (max |entry| over the row). Every row has a colour bar.

    Parameters
    ----------
    snapshots : sequence of Snapshot-like objects (``step``, ``W`` V x d, ``H`` d x m, ``L`` V x m)
    """
    order = context_order(data)
    g = np.asarray(data.support_groups)[order]
    strings = data.context_strings()
    ctx_labels = [strings[j] for j in order] if len(order) <= MAX_TICK_LABELS else None
    tok_labels = list(data.vocab) if data.V <= MAX_TICK_LABELS else None
    cols: list[tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None]] = []
    for s in snapshots:
        W = np.asarray(s.W, dtype=np.float64)
        Wc = W - W.mean(axis=0, keepdims=True)
        H = np.asarray(s.H, dtype=np.float64)[:, order]
        cols.append((f"step {int(s.step)}", corr_map(H), corr_map(Wc.T), _unit(np.asarray(s.L, dtype=np.float64)[:, order])))
    Lmm = getattr(theory, "L_mm", None)
    if Lmm is not None:
        Wm, Hm = theory.W_mm, theory.H_mm
        cols.append(("theory: L_mm", corr_map(Hm[:, order]), corr_map(Wm.T), _unit(Lmm[:, order])))
    St = getattr(theory, "S_tilde", None)
    if St is not None:
        GWp = getattr(theory, "G_W_proxy", None)
        GHp = getattr(theory, "G_H_proxy", None)
        cH = corr_from_gram(GHp[np.ix_(order, order)]) if GHp is not None else corr_map(St[:, order])
        cW = corr_from_gram(GWp) if GWp is not None else None
        cols.append(("proxy: S̃", cH, cW, _unit(St[:, order])))
    nc = len(cols)
    rows = (("corr(H)", 1), ("corr(Wᵀ)", 2), ("L / ‖L‖_F", 3))
    with styled():
        fig = new_figure(2.55 * nc + 0.9, 2.55 * 3 + (1.4 if ctx_labels else 0.4))
        gs = fig.add_gridspec(3, nc + 1, width_ratios=[1] * nc + [0.06], wspace=0.25, hspace=0.35)
        for r, (rname, k) in enumerate(rows):
            lim = 1.0
            if k == 3:
                lim = max((float(np.abs(c[3]).max()) for c in cols if c[3] is not None), default=1.0) or 1.0
            im = None
            for cidx, col in enumerate(cols):
                ax = fig.add_subplot(gs[r, cidx])
                A = col[k]
                if A is None:
                    ax.set_axis_off()
                    continue
                im = ax.imshow(A, cmap=CORR_CMAP, vmin=-lim, vmax=lim, aspect="auto")
                ax.grid(False)
                if k == 1:
                    group_lines(ax, g, square=True)
                    _ticks(ax, ctx_labels if r == 0 and cidx == 0 else None, "y")
                    _ticks(ax, None, "x")
                elif k == 2:
                    _ticks(ax, tok_labels if cidx == 0 else None, "y")
                    _ticks(ax, None, "x")
                else:
                    group_lines(ax, g, square=False)
                    _ticks(ax, tok_labels if cidx == 0 else None, "y")
                    _ticks(ax, ctx_labels, "x")
                if r == 0:
                    ax.set_title(col[0])
                if cidx == 0:
                    ax.set_ylabel(rname)
            if im is not None:
                fig.colorbar(im, cax=fig.add_subplot(gs[r, nc]))
        if title:
            fig.suptitle(title, y=0.995)
        return save(fig, path)


def fig_mm_vs_tilde(data: NTPData, theory: Any, path: str | Path) -> Path:
    """L_mm next to S̃ (each divided by its Frobenius norm, one shared symmetric colour range) and their difference
    (its own symmetric range); tokens x contexts, contexts ordered by support group."""
    order = context_order(data)
    g = np.asarray(data.support_groups)[order]
    strings = data.context_strings()
    ctx_labels = [strings[j] for j in order] if len(order) <= MAX_TICK_LABELS else None
    tok_labels = list(data.vocab) if data.V <= MAX_TICK_LABELS else None
    St = _unit(np.asarray(theory.S_tilde)[:, order])
    Lmm = getattr(theory, "L_mm", None)
    panels: list[tuple[str, np.ndarray]] = []
    if Lmm is not None:
        Lm = _unit(np.asarray(Lmm)[:, order])
        panels = [("L_mm / ‖L_mm‖", Lm), ("S̃ / ‖S̃‖", St), ("difference", Lm - St)]
    else:
        panels = [("S̃ / ‖S̃‖ (L_mm not solved)", St)]
    lim = float(max(np.abs(p[1]).max() for p in panels[:2])) or 1.0
    dlim = float(np.abs(panels[2][1]).max()) if len(panels) == 3 else 1.0
    dlim = dlim if dlim > 0 else 1e-12
    with styled():
        fig = new_figure(3.6 * len(panels) + 0.5, 3.4 + (1.3 if ctx_labels else 0.0))
        axes = np.atleast_1d(fig.subplots(1, len(panels)))
        for i, (ax, (name, A)) in enumerate(zip(axes, panels)):
            l = dlim if i == 2 else lim
            im = ax.imshow(A, cmap=CORR_CMAP, vmin=-l, vmax=l, aspect="auto")
            ax.grid(False)
            group_lines(ax, g, square=False)
            _ticks(ax, tok_labels if i == 0 else None, "y")
            _ticks(ax, ctx_labels, "x")
            ax.set_title(name)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        dist = getattr(theory, "dist_mm_tilde", None)
        cert = getattr(theory, "certificate", None)
        sub = []
        if dist is not None:
            sub.append(f"‖L_mm/‖·‖ − S̃/‖·‖‖ = {dist:.3g}")
        if cert is not None:
            sub.append(f"Prop. 3 certificate {'holds' if cert.holds else 'fails'}")
        fig.suptitle("Max-margin logits vs the S̃ proxy" + (": " + ", ".join(sub) if sub else ""), y=1.02)
        return save(fig, path)
