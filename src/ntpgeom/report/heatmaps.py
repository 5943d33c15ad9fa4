"""The paper's heatmaps (docs/theory.md §6): corr(H), corr(Wᵀ) and L/‖L‖ next to the theory, and L_mm next to S̃.

Contexts are ordered by support group (:func:`context_order`); every function writes one PNG (and its SVG twin) and
returns the PNG's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import NTPData
from ..metrics import SnapshotLike, corr_from_gram, corr_map
from ..theory import Theory, centre
from .style import CORR_CMAP, new_figure, save, styled

#: At most this many contexts are drawn in an m x m or V x m heatmap (a seeded sample when m is larger).
MAX_HEATMAP_CONTEXTS = 500
#: Context strings are used as tick labels up to this many contexts (tokens: up to this many tokens).
MAX_TICK_LABELS = 40


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


def _heatmap_columns(
    theory: Theory, snapshots: Sequence[SnapshotLike], order: np.ndarray
) -> list[tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None]]:
    """The columns of :func:`fig_heatmaps`: (title, corr(H), corr(Ẇᵀ), L/‖L‖) per snapshot, then the theory's
    L_mm (if solved) and the proxy S̃ (if known); contexts in ``order``, None where a map is unknown."""
    cols: list[tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None]] = []
    for s in snapshots:
        Wc = centre(s.W)
        H = np.asarray(s.H, dtype=np.float64)[:, order]
        cols.append((f"step {int(s.step)}", corr_map(H), corr_map(Wc.T), _unit(np.asarray(s.L, dtype=np.float64)[:, order])))
    Lmm = theory.L_mm
    if Lmm is not None:
        Wm, Hm = theory.W_mm, theory.H_mm
        cols.append(("theory: L_mm", corr_map(Hm[:, order]), corr_map(Wm.T), _unit(Lmm[:, order])))
    St = theory.S_tilde
    if St is not None:
        GWp, GHp = theory.G_W_proxy, theory.G_H_proxy
        Hp = theory.H_proxy  # a restricted theory (Theory.restrict): the whole S̃'s factor's columns
        cH = (corr_from_gram(GHp[np.ix_(order, order)]) if GHp is not None else
              corr_map(Hp[:, order]) if Hp is not None else corr_map(St[:, order]))
        cW = corr_from_gram(GWp) if GWp is not None else None
        cols.append(("proxy: S̃", cH, cW, _unit(St[:, order])))
    return cols


def fig_heatmaps(
    data: NTPData,
    theory: Theory,
    snapshots: Sequence[SnapshotLike],
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
    cols = _heatmap_columns(theory, snapshots, order)
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


def fig_mm_vs_tilde(data: NTPData, theory: Theory, path: str | Path) -> Path:
    """L_mm next to S̃ (each divided by its Frobenius norm, one shared symmetric colour range) and their difference
    (its own symmetric range); tokens x contexts, contexts ordered by support group."""
    order = context_order(data)
    g = np.asarray(data.support_groups)[order]
    strings = data.context_strings()
    ctx_labels = [strings[j] for j in order] if len(order) <= MAX_TICK_LABELS else None
    tok_labels = list(data.vocab) if data.V <= MAX_TICK_LABELS else None
    St = _unit(np.asarray(theory.S_tilde)[:, order])
    Lmm = theory.L_mm
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
        dist, cert = theory.dist_mm_tilde, theory.certificate
        sub = []
        if dist is not None:
            sub.append(f"‖L_mm/‖·‖ − S̃/‖·‖‖ = {dist:.3g}")
        if cert is not None:
            sub.append(f"Prop. 3 certificate {'holds' if cert.holds else 'fails'}")
        fig.suptitle("Max-margin logits vs the S̃ proxy" + (": " + ", ".join(sub) if sub else ""), y=1.02)
        return save(fig, path)
