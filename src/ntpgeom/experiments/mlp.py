"""App. D.2 (``reproduce -e mlp``): an MLP learns the coarse but not the fine geometry.

On ``stories``, the UFM and a 4-layer MLP (d = 128); per snapshot the *coarse* geometry (subspace collapse of Ḣ by
support group over its random-grouping baseline, the C3 ratio) and the *fine* geometry (Pearson of corr(Ḣ) with the
prediction's corr(H) from L_mm, over pairs of contexts with **different** supports only, so that the collapse inside a
group does not count towards it). Recipe, data, measurement, figure and table; lab notes in docs/experiments.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ..data import NTPData, corpora
from ..metrics import collapse_baseline, collapse_index, corr_from_gram, corr_map, visible_H
from ..report.result import AppendixResult
from ..report.style import color_for, new_figure, save, styled, threshold_line
from ..theory import cross_entropy
from ..verdicts import THRESHOLDS
from .common import Rows, col, plot_finite, quick_factor, snap_arrays, ufm_run
from .experiment import Experiment, Runs
from .jobs import RunSpec

if TYPE_CHECKING:
    from ..theory import Theory
    from ..train import Run

NAME = "mlp"
TITLE = "D.2: MLP, coarse vs fine geometry"


def between_group_pearson(C: np.ndarray, C_ref: np.ndarray, groups: np.ndarray) -> float:
    """Pearson correlation of two m x m maps over the pairs i < j whose groups differ (NaN if constant)."""
    g = np.asarray(groups)
    iu, ju = np.triu_indices(len(g), k=1)
    keep = g[iu] != g[ju]
    a, b = C[iu[keep], ju[keep]], C_ref[iu[keep], ju[keep]]
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def coarse_fine(run: Run, theory: Theory, n_perm: int = 10) -> list[dict[str, float]]:
    """Rows ``step, gap, coarse, fine`` for every snapshot of ``run`` (see the module docstring); ``coarse`` is
    ``collapse_index(Ḣ) / collapse_baseline(Ḣ)`` (0 = collapsed, 1 = no more than random groups)."""
    data = run.data
    groups = np.asarray(data.support_groups)
    pred = corr_from_gram(np.asarray(theory.G_H, dtype=np.float64))
    gaps = dict(zip(run.loss["step"].tolist(), run.loss["gap"].tolist()))
    rows = []
    for step in run.steps:
        W, H, L = snap_arrays(run.snapshot(step))
        Hv = visible_H(W, H)
        base = collapse_baseline(Hv, groups, n_perm=n_perm, seed=0)[0]
        gap = gaps.get(step, cross_entropy(L, data) - data.entropy_bound)
        rows.append({"step": int(step), "gap": float(gap),
                     "coarse": collapse_index(Hv, groups) / base if base > 0 else float("nan"),
                     "fine": between_group_pearson(corr_map(Hv), pred, groups)})
    return rows


def fig_coarse_fine(series: Mapping[str, Rows], models: Mapping[str, str], path: str | Path,
                    c3_threshold: float | None = None) -> Path:
    """D.2: loss gap, coarse (collapse ratio) and fine (between-group Pearson) geometry over training, per run."""
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, (label, rows) in enumerate(series.items()):
            c = color_for(models[label], i)
            x = col(rows, "step") + 1
            plot_finite(axes[0], x, col(rows, "gap"), True, color=c, label=label, marker=".")
            plot_finite(axes[1], x, col(rows, "coarse"), color=c, label=label, marker=".")
            plot_finite(axes[2], x, col(rows, "fine"), color=c, label=label, marker=".")
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


def measure(data: NTPData, runs: Runs, theory: Theory, folder: Path) -> AppendixResult:
    series = {lab: coarse_fine(run, theory) for lab, run in runs.items()}
    models = {lab: str(run.config["model"]) for lab, run in runs.items()}
    thr = THRESHOLDS.C3
    fig = fig_coarse_fine(series, models, folder / "mlp.png", thr)
    table = [{"run": lab, "steps": r[-1]["step"], "gap": r[-1]["gap"], "coarse_first": r[0]["coarse"],
              "coarse": r[-1]["coarse"], "fine_first": r[0]["fine"], "fine": r[-1]["fine"]} for lab, r in series.items()]
    said = "; ".join(f"{t['run']}: coarse {t['coarse']:.3g} ({'≤' if t['coarse'] <= thr else '>'} the C3 threshold "
                     f"{thr:g}), fine {t['fine']:.3f}" for t in table)
    caption = ("App. D.2 on 'stories'. Left: CE − ℋ. Middle, the coarse geometry: collapse index of H by support group "
               "over its random-grouping baseline (0 = contexts with equal supports share one direction; dashed: the "
               "C3 threshold). Right, the fine geometry: Pearson of corr(H) with the prediction's corr(H) from L_mm, "
               "over pairs of contexts with different supports only. The paper: an MLP learns the coarse but not the "
               f"fine geometry. Measured at the last step: {said}.")
    return AppendixResult(NAME, TITLE, caption, fig,
                          (("run", "run"), ("steps", "steps"), ("gap", "CE − ℋ"), ("coarse_first", "coarse, first"),
                           ("coarse", "coarse, last"), ("fine_first", "fine, first"), ("fine", "fine, last")),
                          table, {t["run"]: {k: v for k, v in t.items() if k != "run"} for t in table}, series, said)


def recipes(quick: bool) -> tuple[RunSpec, ...]:
    """The UFM (Adam 0.05, ridge 1e-5, as the main ``stories`` recipe) and the 4-layer MLP (AdamW 1e-3), 1000 steps
    each (quick: 250)."""
    q = quick_factor(quick)
    return (ufm_run(1000 // q, "ufm", ridge=1e-5),
            RunSpec("mlp", {"d": 128, "layers": 4, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-6,
                            "steps": 1000 // q}))


EXPERIMENT = Experiment(NAME, TITLE, lambda quick: corpora.stories(),
                        {"default": recipes(False), "quick": recipes(True)}, measure, appendix=True)
