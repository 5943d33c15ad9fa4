"""App. D.4 (``reproduce -e bottleneck``): widths below the vocabulary (d < V).

On ``synthetic`` (V = 30), the UFM at widths d = k ∈ {V, V/2, V/4, V/8, V/16}; per width the final loss gap, the
distance of ``P_⊥(L)`` to L_mm and to the best rank-≤k NTP-SVM* point the factored heuristic
(``ntpgeom.theory.rank_constrained``) finds (L_mm itself when k >= rank L_mm), and that point's nuclear norm over
‖L_mm‖_*. Recipe, data, measurement, figure and table; lab notes in docs/experiments.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..data import NTPData, corpora
from ..report.result import AppendixResult
from ..report.style import color_for, new_figure, save, styled
from ..theory import centre, cross_entropy, direction_distance, nuclear_norm, numerical_rank, proj_perp
from ..theory.rank_constrained import solve_rank_constrained
from .common import Rows, col, plot_finite, quick_factor, snap_arrays, ufm_run
from .experiment import Experiment, Runs
from .jobs import RunSpec

if TYPE_CHECKING:
    from ..theory import Theory
    from ..train import Run

NAME = "bottleneck"
TITLE = "D.4: widths below the vocabulary (d < V)"


def width(run: Run) -> int:
    """The width k of the geometry of a run: its ``bottleneck`` when set, else its ``d``."""
    b = run.config.get("bottleneck")
    return int(run.config["d"] if b is None else b)


def _rank_k_point(data: NTPData, ref: np.ndarray, k: int, starts: int, seed: int) -> tuple[np.ndarray | None, float, int]:
    """``(L, ‖L‖_*, rank)`` of the factored heuristic's best rank-≤k NTP-SVM* point started from the top-k factor of
    ``ref`` (and perturbed copies); L None when no start found a feasible point."""
    rc = solve_rank_constrained(data, k, L_ref=ref, starts=starts, seed=seed)
    return (None if rc.L is None else centre(rc.L)), rc.nuclear_norm, int(rc.rank)


def width_rows(runs: Sequence[Run], L_mm: np.ndarray, *, starts: int = 4, seed: int = 0) -> list[dict[str, Any]]:
    """One row per run (sorted by model kind, then width k): ``model, k, steps, gap, B, dir_mm, dir_rank_k,
    rank_k_norm_ratio, rank_k_rank, rank_k_found, rank_k_start`` at the run's last snapshot.

    The rank-≤k point is L_mm itself when its rank is at most k; otherwise the better (lower nuclear norm) of two
    heuristic searches, one started from L_mm's top-k factor and one from the run's own logits (whose column space
    the model found), ``rank_k_start`` saying which ("L_mm", "model", or "" when neither found a feasible point)."""
    data = runs[0].data
    Lmm = centre(L_mm)
    nuc_mm = nuclear_norm(Lmm)
    r_mm = numerical_rank(Lmm)
    from_mm: dict[int, tuple[np.ndarray | None, float, int]] = {}
    rows = []
    for run in sorted(runs, key=lambda r: (str(r.config["model"]), width(r))):
        k = width(run)
        L = centre(snap_arrays(run.snapshot(run.steps[-1]))[2])
        if k >= r_mm:  # L_mm itself has rank <= k: it is the rank-constrained optimum
            (rc_L, rc_nuc, rc_rank), start = (Lmm, nuc_mm, r_mm), "L_mm"
        else:
            if k not in from_mm:
                from_mm[k] = _rank_k_point(data, Lmm, k, starts, seed)
            cands = {"L_mm": from_mm[k], "model": _rank_k_point(data, L, k, starts, seed)}
            start = min(cands, key=lambda c: cands[c][1])
            (rc_L, rc_nuc, rc_rank), start = cands[start], start if cands[start][0] is not None else ""
        perp = proj_perp(L, data)
        found = rc_L is not None
        rows.append({"model": str(run.config["model"]), "k": k, "steps": int(run.steps[-1]),
                     "gap": cross_entropy(L, data) - data.entropy_bound,
                     "B": nuclear_norm(L), "dir_mm": direction_distance(perp, Lmm),
                     "dir_rank_k": direction_distance(perp, rc_L) if found else float("nan"),
                     "rank_k_norm_ratio": rc_nuc / nuc_mm if found else float("inf"),
                     "rank_k_rank": rc_rank if found else 0, "rank_k_found": found, "rank_k_start": start})
    return rows


def fig_widths(rows: Rows, rank_mm: int, V: int, path: str | Path) -> Path:
    """D.4: the loss gap, the direction of P_⊥(L) and the rank-constrained heuristic against the width k (one curve
    per model kind)."""
    models = list(dict.fromkeys(str(r.get("model", "ufm")) for r in rows))
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        for i, mdl in enumerate(models):
            sub = [r for r in rows if str(r.get("model", "ufm")) == mdl]
            k, c = col(sub, "k"), color_for(mdl, i)
            plot_finite(axes[0], k, col(sub, "gap"), True, color=c, marker="o", label=f"{mdl}, last step")
            plot_finite(axes[1], k, col(sub, "dir_mm"), color=c, marker="o", label=f"{mdl}: to L_mm")
            plot_finite(axes[1], k, col(sub, "dir_rank_k"), color=c, marker="s", linestyle="--",
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
        plot_finite(axes[2], k, ratio, color="#000000", marker="s", label="best ‖L‖_* found, rank ≤ k")
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


def measure(data: NTPData, runs: Runs, theory: Theory, folder: Path) -> AppendixResult:
    rows = width_rows(list(runs.values()), theory.L_mm)
    r_mm = numerical_rank(theory.L_mm)
    fig = fig_widths(rows, r_mm, data.V, folder / "bottleneck.png")
    said = f"rank L_mm = {r_mm}; " + "; ".join(
        f"{r['model']} k = {r['k']}: CE − ℋ {r['gap']:.2g}, dir to L_mm {r['dir_mm']:.3g}"
        + (f", to the rank-≤k point {r['dir_rank_k']:.3g} (norm x{r['rank_k_norm_ratio']:.3g})" if r["rank_k_found"]
           else ", no feasible rank-≤k point found") for r in rows)
    kinds = ", ".join(dict.fromkeys(r["model"] for r in rows))
    caption = (f"App. D.4, d < V, on 'synthetic' (V = {data.V}): {kinds} at widths k (the UFM with d = k; a neural "
               "model with a linear bottleneck d → k before the output layer), at the last step. Left: CE − ℋ; "
               "middle: the direction of P_⊥(L) against L_mm and against the best rank-≤k NTP-SVM* point found by "
               "the factored heuristic (started from L_mm's and from the model's own top-k factor; an upper bound on "
               "the rank-k optimum, and 'none found' is not a proof of infeasibility); right: that point's "
               "nuclear norm over ‖L_mm‖_*. Dashed: rank L_mm. The paper: smaller d converges more slowly; the "
               "rank-constrained problem is left open. "
               f"Measured: {said}.")
    cols = (("model", "model"), ("k", "width k"), ("steps", "steps"), ("gap", "CE − ℋ"), ("B", "‖L‖_*"), ("dir_mm", "dir(P⊥L, L_mm)"),
            ("dir_rank_k", "dir(P⊥L, rank-≤k point)"), ("rank_k_norm_ratio", "‖L_k‖_*/‖L_mm‖_*"),
            ("rank_k_rank", "rank of that point"), ("rank_k_start", "heuristic start"))
    numbers = {"rank_mm": r_mm, "runs": {f"{r['model']}-k{r['k']}": {k: v for k, v in r.items()
                                                                      if k not in ("model", "k")} for r in rows}}
    return AppendixResult(NAME, TITLE, caption, fig, cols, rows, numbers,
                          {"widths": rows}, said)


def recipes(quick: bool) -> tuple[RunSpec, ...]:
    """The UFM (Adam 0.05) for 2000 steps at every width (quick: 500 steps, the three largest widths)."""
    q = quick_factor(quick)
    V = corpora.synthetic().V
    widths = sorted({V, *(max(1, -(-V // f)) for f in (2, 4, 8, 16))}, reverse=True)
    return tuple(ufm_run(2000 // q, f"ufm-d{k}", d=k) for k in (widths[:3] if quick else widths))


EXPERIMENT = Experiment(NAME, TITLE, lambda quick: corpora.synthetic(),
                        {"default": recipes(False), "quick": recipes(True)}, measure, appendix=True)
