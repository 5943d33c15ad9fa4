"""The appendix experiments' measurement step (:mod:`ntpgeom.report.appendix`): per experiment, the rows
(:mod:`~ntpgeom.report.appendix_measure`), the figure (:mod:`~ntpgeom.report.appendix_figures`), the small table,
the main numbers and a caption that says what is shown, what the paper says and what was measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..data import NTPData
from ..theory import numerical_rank
from . import appendix_figures as AF
from . import appendix_measure as AM
from .result import AppendixResult
from .verdicts import THRESHOLDS

Runs = Mapping[str, Any]


def _mlp(data: NTPData, runs: Runs, theory: Any, folder: Path) -> AppendixResult:
    series = {lab: AM.coarse_fine(run, theory) for lab, run in runs.items()}
    models = {lab: str(run.config["model"]) for lab, run in runs.items()}
    thr = THRESHOLDS.C3
    fig = AF.fig_coarse_fine(series, models, folder / "mlp.png", thr)
    table = [{"run": lab, "steps": r[-1]["step"], "gap": r[-1]["gap"], "coarse_first": r[0]["coarse"],
              "coarse": r[-1]["coarse"], "fine_first": r[0]["fine"], "fine": r[-1]["fine"]} for lab, r in series.items()]
    said = "; ".join(f"{t['run']}: coarse {t['coarse']:.3g} ({'≤' if t['coarse'] <= thr else '>'} the C3 threshold "
                     f"{thr:g}), fine {t['fine']:.3f}" for t in table)
    caption = ("App. D.2 on 'stories'. Left: CE − ℋ. Middle, the coarse geometry: collapse index of H by support group "
               "over its random-grouping baseline (0 = contexts with equal supports share one direction; dashed: the "
               "C3 threshold). Right, the fine geometry: Pearson of corr(H) with the prediction's corr(H) from L_mm, "
               "over pairs of contexts with different supports only. The paper: an MLP learns the coarse but not the "
               f"fine geometry. Measured at the last step: {said}.")
    return AppendixResult("mlp", "D.2: MLP, coarse vs fine geometry", caption, fig,
                          (("run", "run"), ("steps", "steps"), ("gap", "CE − ℋ"), ("coarse_first", "coarse, first"),
                           ("coarse", "coarse, last"), ("fine_first", "fine, first"), ("fine", "fine, last")),
                          table, {t["run"]: {k: v for k, v in t.items() if k != "run"} for t in table}, series, said)


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


def _optimizers(data: NTPData, runs: Runs, theory: Any, folder: Path) -> AppendixResult:
    series = {lab: AM.path_rows(run, theory.L_mm) for lab, run in runs.items()}
    fig = AF.fig_optimizers(series, folder / "optimizers.png")
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
    return AppendixResult("optimizers", "Optimisers and the regularisation path (open question 2)", caption, fig,
                          cols, table, numbers, series, said)


def _log_steps(steps: list[int], k: int = 4) -> list[int]:
    pos = [s for s in steps if s > 0]
    if len(pos) <= k:
        return pos or steps[-1:]
    targets = np.geomspace(pos[0], pos[-1], k)
    return sorted({min(pos, key=lambda s: abs(np.log(s) - np.log(t))) for t in targets})


def _autoregressive(data: NTPData, runs: Runs, theory: Any, folder: Path) -> AppendixResult:
    run = next(iter(runs.values()))
    rows = AM.by_length(run, _log_steps(run.steps))
    fig = AF.fig_by_length(rows, folder / "autoregressive.png")
    last = [r for r in rows if r["step"] == rows[-1]["step"]]
    loop = {int(k): float(v) for k, v in (run.config.get("gap_by_length") or {}).items()}
    table = [{**r, "gap_T_loop": loop.get(r["T"])} for r in last]
    g = [r["gap_T"] for r in last]
    said = (f"ℋ_T {last[0]['H_T']:.3f} (T = {last[0]['T']}) → {last[-1]['H_T']:.3f} (T = {last[-1]['T']}); "
            f"CE_T − ℋ_T after {last[0]['step']} steps from {min(g):.3g} (T = {last[int(np.argmin(g))]['T']}) to "
            f"{max(g):.3g} (T = {last[int(np.argmax(g))]['T']})")
    caption = (f"App. D.3, autoregressive: character-level contexts of every length 1..{last[-1]['T']} from the "
               "'synthetic' corpus's sentences, one transformer trained on all lengths at once (the LM objective). "
               "Left: the entropy bound ℋ_T (π normalised within each length) and CE_T; middle: CE_T − ℋ_T at "
               "log-spaced steps; right: the direction distance of P_⊥(L) on the contexts of length T to the S̃ "
               "proxy (NTP-SVM* is not solved at this size). The paper trains on every prefix length at once and "
               f"reads the geometry per length. Measured: {said}.")
    cols = (("T", "T"), ("contexts", "contexts"), ("H_T", "ℋ_T"), ("gap_T", "CE_T − ℋ_T"),
            ("gap_T_loop", "CE_T − ℋ_T (training loop)"), ("dir_perp_tilde", "dir(P⊥L_T, S̃_T)"))
    numbers = {"steps": last[0]["step"], "H_T": {r["T"]: r["H_T"] for r in last},
               "gap_T": {r["T"]: r["gap_T"] for r in last}, "dir_perp_tilde": {r["T"]: r["dir_perp_tilde"] for r in last}}
    return AppendixResult("autoregressive", "D.3: autoregressive training over every context length", caption, fig,
                          cols, table, numbers, {"transformer": rows}, said)


def _bottleneck(data: NTPData, runs: Runs, theory: Any, folder: Path) -> AppendixResult:
    rows = AM.width_rows(list(runs.values()), theory.L_mm)
    r_mm = numerical_rank(theory.L_mm)
    fig = AF.fig_widths(rows, r_mm, data.V, folder / "bottleneck.png")
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
    return AppendixResult("bottleneck", "D.4: widths below the vocabulary (d < V)", caption, fig, cols, rows, numbers,
                          {"widths": rows}, said)


#: name -> measure(data, runs by folder name, theory, output folder) -> AppendixResult
MEASURES: dict[str, Callable[[NTPData, Runs, Any, Path], AppendixResult]] = {
    "mlp": _mlp, "optimizers": _optimizers, "autoregressive": _autoregressive, "bottleneck": _bottleneck,
}
