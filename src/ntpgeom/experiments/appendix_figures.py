"""Figures of the appendix experiments (:mod:`ntpgeom.report.appendix`), drawn from the rows of
:mod:`ntpgeom.report.appendix_measure`; each writes one PNG (and its SVG twin) and returns the PNG's path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .style import EXTRA_COLORS, color_for, new_figure, save, styled, threshold_line

Rows = Sequence[Mapping[str, Any]]

#: Colour per optimiser (Okabe-Ito, as the model colours).
OPTIMIZER_COLORS = {"gd": "#0072B2", "ngd": "#009E73", "adam": "#D55E00", "adamw": "#CC79A7", "sgd": "#E69F00"}


def _col(rows: Rows, key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=np.float64)


def _plot(ax: Any, x: np.ndarray, y: np.ndarray, positive: bool = False, **kw: Any) -> None:
    keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if positive else True)
    if keep.any():
        ax.plot(x[keep], y[keep], **kw)


def fig_coarse_fine(series: Mapping[str, Rows], models: Mapping[str, str], path: str | Path,
                    c3_threshold: float | None = None) -> Path:
    """D.2: loss gap, coarse (collapse ratio) and fine (between-group Pearson) geometry over training, per run."""
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, (label, rows) in enumerate(series.items()):
            c = color_for(models[label], i)
            x = _col(rows, "step") + 1
            _plot(axes[0], x, _col(rows, "gap"), True, color=c, label=label, marker=".")
            _plot(axes[1], x, _col(rows, "coarse"), color=c, label=label, marker=".")
            _plot(axes[2], x, _col(rows, "fine"), color=c, label=label, marker=".")
        threshold_line(axes[1], c3_threshold, "C3 threshold")
        titles = ("Loss gap", "Coarse: collapse of H by support group", "Fine: corr(H) vs L_mm, across groups")
        ylabels = ("CE − ℋ  (nats)", "collapse index / random-group baseline", "Pearson (pairs with different supports)")
        for ax, t, yl in zip(axes, titles, ylabels):
            ax.set_xscale("log")
            ax.set_xlabel("step + 1")
            ax.set_title(t)
            ax.set_ylabel(yl)
            ax.legend(loc="best")
        axes[0].set_yscale("log")
        axes[1].set_ylim(-0.02, max(1.05, axes[1].get_ylim()[1]))
        axes[2].set_ylim(min(-0.05, axes[2].get_ylim()[0]), 1.02)
        return save(fig, path)


def fig_optimizers(series: Mapping[str, Rows], path: str | Path) -> Path:
    """Optimiser comparison against the regularisation path, each snapshot at its own nuclear norm B."""
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, (label, rows) in enumerate(series.items()):
            c, B = OPTIMIZER_COLORS.get(label, EXTRA_COLORS[i % len(EXTRA_COLORS)]), _col(rows, "B")
            for ax, key in zip(axes, ("dir_path", "dir_mm", "excess")):
                _plot(ax, B, _col(rows, key), True, color=c, label=label, marker="o", markersize=3)
        titles = ("Distance to the path point L̂_B", "Distance to L_mm", "Excess loss over the path point")
        ylabels = ("dir(L, L̂_B)  (L centred)", "dir(L, L_mm)", "CE(L) − CE(L̂_B)  (nats)")
        for ax, t, yl in zip(axes, titles, ylabels):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("B = ‖L‖_*  (the model's own nuclear norm)")
            ax.set_title(t)
            ax.set_ylabel(yl)
            ax.legend(loc="best")
        return save(fig, path)


def fig_by_length(rows: Rows, path: str | Path) -> Path:
    """D.3: ℋ_T and CE_T, CE_T − ℋ_T at several snapshots, and the per-length geometry, against the length T."""
    steps = sorted({int(r["step"]) for r in rows})
    last = [r for r in rows if int(r["step"]) == steps[-1]]
    T = _col(last, "T")
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        axes[0].plot(T, _col(last, "H_T"), "o-", color="#000000", label="ℋ_T (entropy bound)")
        axes[0].plot(T, _col(last, "H_T") + _col(last, "gap_T"), "s--", color="#D55E00",
                     label=f"CE_T (step {steps[-1]})")
        axes[0].set_ylabel("nats")
        axes[0].set_title("Entropy bound and loss per length")
        for i, s in enumerate(steps):
            sub = [r for r in rows if int(r["step"]) == s]
            shade = 0.25 + 0.75 * (i + 1) / len(steps)
            _plot(axes[1], _col(sub, "T"), _col(sub, "gap_T"), True, color="#D55E00", alpha=shade, marker=".",
                  label=f"step {s}")
        axes[1].set_yscale("log")
        axes[1].set_ylabel("CE_T − ℋ_T  (nats)")
        axes[1].set_title("Loss gap per length over training")
        _plot(axes[2], T, _col(last, "dir_perp_tilde"), color="#0072B2", marker="o", label=f"step {steps[-1]}")
        axes[2].set_ylabel("dir(P_⊥L_T, S̃_T)  (contexts of length T)")
        axes[2].set_title("Geometry per length: P_⊥(L) vs the S̃ proxy")
        for ax in axes:
            ax.set_xlabel("context length T")
            ax.set_xticks(T[:: max(1, len(T) // 8)])
            ax.legend(loc="best")
        return save(fig, path)


def fig_widths(rows: Rows, rank_mm: int, V: int, path: str | Path) -> Path:
    """D.4: the loss gap, the direction of P_⊥(L) and the rank-constrained heuristic against the width k (one curve
    per model kind)."""
    models = list(dict.fromkeys(str(r.get("model", "ufm")) for r in rows))
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, mdl in enumerate(models):
            sub = [r for r in rows if str(r.get("model", "ufm")) == mdl]
            k, c = _col(sub, "k"), color_for(mdl, i)
            _plot(axes[0], k, _col(sub, "gap"), True, color=c, marker="o", label=f"{mdl}, last step")
            _plot(axes[1], k, _col(sub, "dir_mm"), color=c, marker="o", label=f"{mdl}: to L_mm")
            _plot(axes[1], k, _col(sub, "dir_rank_k"), color=c, marker="s", linestyle="--",
                  label=f"{mdl}: to the rank-≤k point")
        axes[0].set_yscale("log")
        axes[0].set_ylabel("CE − ℋ  (nats)")
        axes[0].set_title("Loss gap")
        axes[1].set_ylabel("direction distance of P_⊥(L)")
        axes[1].set_title("Direction of the logits")
        best: dict[int, float] = {}  # the lowest norm ratio found at each width (over the runs' searches)
        for r in rows:
            best[int(r["k"])] = min(best.get(int(r["k"]), np.inf), float(r["rank_k_norm_ratio"]))
        k = np.array(sorted(best), dtype=np.float64)
        ratio = np.array([best[int(kk)] for kk in k])
        _plot(axes[2], k, ratio, color="#000000", marker="s", label="best ‖L‖_* found, rank ≤ k")
        for j, kk in enumerate(k[~np.isfinite(ratio)]):
            axes[2].axvline(kk, color="#D55E00", alpha=0.3, linewidth=6, label="heuristic found no feasible point" if j == 0 else None)
        axes[2].axhline(1.0, color="#444444", linewidth=1.0, linestyle=":")
        axes[2].set_ylabel("‖L_k‖_* / ‖L_mm‖_*")
        axes[2].set_title("Rank-constrained NTP-SVM* (heuristic)")
        for ax in axes:
            ax.axvline(rank_mm, color="#444444", linestyle=(0, (4, 3)), linewidth=1.0, label=f"rank L_mm = {rank_mm}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(k, [str(int(x)) for x in k])
            ax.minorticks_off()
            ax.set_xlabel(f"width k (V = {V})")
            ax.legend(loc="best")
        return save(fig, path)
