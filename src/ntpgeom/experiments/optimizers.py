"""Open question 2 (``reproduce -e optimizers``, docs/theory.md §7-8): do GD, normalised GD and Adam follow the
regularisation path?

On ``synthetic``, the UFM (d = V, no ridge, one initialisation) trained by each optimiser; per snapshot the distance
of the model's centred logits to the certified path point L̂_B of its own nuclear norm B (``ntpgeom.theory.path_points``)
and to L_mm, and the excess ``CE(L_k) − CE(L̂_B)`` (≥ 0 up to the certified gap: L̂_B minimises CE over the ball of
radius B). Recipe, data, measurement, figure and table; lab notes in docs/experiments.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..data import NTPData, corpora
import warnings

from ..report.result import AppendixResult
from ..report.style import EXTRA_COLORS, new_figure, save, styled
from ..theory import centre, cross_entropy, direction_distance, nuclear_norm, path_points
from .common import Rows, col, plot_finite, quick_factor, snap_arrays, ufm_run
from .experiment import Experiment, Runs
from .jobs import RunSpec

if TYPE_CHECKING:
    from ..theory import Theory
    from ..train import Run

NAME = "optimizers"
TITLE = "Optimisers and the regularisation path (open question 2)"


#: Colour per optimiser (Okabe-Ito, as the model colours).
OPTIMIZER_COLORS = {"gd": "#0072B2", "ngd": "#009E73", "adam": "#D55E00", "adamw": "#CC79A7", "sgd": "#E69F00"}


def path_rows(run: Run, L_mm: np.ndarray, *, tol: float = 1e-3, max_iter: int = 5000,
              min_step: int = 1) -> list[dict[str, float]]:
    """Rows ``step, B, gap, dir_path, dir_mm, excess, path_norm, path_gap, converged`` per snapshot (step >=
    ``min_step``) of a run: its centred logits against the certified path point of its own nuclear norm."""
    data = run.data
    snaps = [(s, centre(snap_arrays(run.snapshot(s))[2])) for s in run.steps if s >= min_step]
    Bs = [nuclear_norm(L) for _, L in snaps]
    with warnings.catch_warnings():  # an unconverged point is reported in its row (``converged``), not warned
        warnings.simplefilter("ignore")
        points = path_points(data, Bs, tol=tol, max_iter=max_iter)
    Lmm, H = centre(L_mm), data.entropy_bound
    rows = []
    for (step, L), B, pt in zip(snaps, Bs, points):
        ce = cross_entropy(L, data)
        rows.append({"step": int(step), "B": B, "gap": ce - H, "dir_path": direction_distance(L, pt.L),
                     "dir_mm": direction_distance(L, Lmm), "excess": ce - pt.ce,
                     "path_norm": nuclear_norm(pt.L), "path_gap": pt.gap,
                     "converged": bool(pt.converged)})
    return rows


def common_range_mean(series: Mapping[str, list[dict[str, Any]]], key: str = "dir_path") -> tuple[dict[str, float],
                                                                                                   tuple[float, float]]:
    """The mean of ``key`` over a log-spaced grid of B in the range every series covers (interpolated in log B),
    per series, and that range; NaN means when the ranges do not overlap."""
    Bs = {lab: np.array([r["B"] for r in rows]) for lab, rows in series.items()}
    lo, hi = max(b.min() for b in Bs.values()), min(b.max() for b in Bs.values())
    out = {}
    for lab, rows in series.items():
        B, y = Bs[lab], np.array([r[key] for r in rows])
        o = np.argsort(B)
        out[lab] = float(np.mean(np.interp(np.log(np.geomspace(lo, hi, 25)), np.log(B[o]), y[o]))) if lo < hi \
            else float("nan")
    return out, (float(lo), float(hi))


def fig_optimizers(series: Mapping[str, Rows], path: str | Path) -> Path:
    """Optimiser comparison against the regularisation path, each snapshot at its own nuclear norm B."""
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, (label, rows) in enumerate(series.items()):
            c, B = OPTIMIZER_COLORS.get(label, EXTRA_COLORS[i % len(EXTRA_COLORS)]), col(rows, "B")
            for ax, key in zip(axes, ("dir_path", "dir_mm", "excess")):
                plot_finite(ax, B, col(rows, key), True, color=c, label=label, marker="o", markersize=3)
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


def measure(data: NTPData, runs: Runs, theory: Theory, folder: Path) -> AppendixResult:
    series = {lab: path_rows(run, theory.L_mm) for lab, run in runs.items()}
    fig = fig_optimizers(series, folder / "optimizers.png")
    means, (lo, hi) = common_range_mean(series)
    table = [{"optimizer": lab, "steps": r[-1]["step"], "B": r[-1]["B"], "gap": r[-1]["gap"],
              "dir_path": r[-1]["dir_path"], "dir_path_mean": means[lab], "dir_mm": r[-1]["dir_mm"],
              "excess": r[-1]["excess"], "norm_err": max(abs(x["path_norm"] - x["B"]) / x["B"] for x in r),
              "converged": all(x["converged"] for x in r)} for lab, r in series.items()]
    ok = sorted((v, k) for k, v in means.items() if np.isfinite(v))
    best = ok[0][1] if ok else None
    tied = [k for v, k in ok if v <= 1.05 * ok[0][0]] if ok else []  # within 5 % of the closest: no winner among them
    who = best if len(tied) == 1 else " and ".join(tied) + " about equally (within 5 %)"
    said = (f"closest to the path over B in [{lo:.3g}, {hi:.3g}]: {who}; mean distance "
            + ", ".join(f"{k} {v:.3g}" for k, v in means.items())) if best else \
        "the optimisers' norm ranges do not overlap; compare the last snapshots in the table"
    said += "; excess loss over L̂_B at the last step " + ", ".join(f"{lab} {r[-1]['excess']:.2g}"
                                                                    for lab, r in series.items())
    caption = ("Open question 2 (docs/theory.md §7-8) on 'synthetic': the UFM (d = V, no ridge, one initialisation) "
               "trained by GD, normalised GD and Adam; every snapshot at its own nuclear norm B = ‖L‖_* against the "
               "certified path point L̂_B = argmin CE over ‖L‖_* ≤ B (left), against L_mm (middle), and its excess "
               "loss over L̂_B (right; ≥ 0). GD on the unregularised loss is conjectured to follow the regularisation "
               "path (proven for linear models with fixed H); whether GD, NGD or Adam track L̂_B is the paper's second "
               "open question. Measured: "
               f"{said}.")
    cols = (("optimizer", "optimizer"), ("steps", "steps"), ("B", "‖L‖_*"), ("gap", "CE − ℋ"),
            ("dir_path", "dir(L, L̂_B), last"), ("dir_path_mean", "dir(L, L̂_B), mean"), ("dir_mm", "dir(L, L_mm)"),
            ("excess", "CE(L) − CE(L̂_B)"), ("norm_err", "max |‖L̂_B‖_* − B|/B"), ("converged", "path certified"))
    numbers = {"closest": best, "tied": tied, "B_range": [lo, hi], **{t["optimizer"]: {k: v for k, v in t.items()
                                                                          if k != "optimizer"} for t in table}}
    return AppendixResult(NAME, TITLE, caption, fig,
                          cols, table, numbers, series, said)


def recipes(quick: bool) -> tuple[RunSpec, ...]:
    """GD (lr 2.0) and normalised GD (lr 0.1) 3000 steps, Adam (lr 0.05) 1000 steps; quick: a sixteenth (the path
    points cost most)."""
    q = quick_factor(quick) ** 2
    return (ufm_run(3000 // q, "gd", "gd", 2.0), ufm_run(3000 // q, "ngd", "ngd", 0.1),
            ufm_run(1000 // q, "adam", "adam", 0.05))


EXPERIMENT = Experiment(NAME, TITLE,
                        lambda quick: corpora.synthetic(), {"default": recipes(False), "quick": recipes(True)},
                        measure, appendix=True)
