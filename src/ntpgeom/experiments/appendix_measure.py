"""Measurements of the appendix experiments (:mod:`ntpgeom.report.appendix`): plain functions of runs, data and
theory that return rows (dicts of numbers), one function per experiment.

- :func:`coarse_fine`: D.2, per snapshot, the *coarse* geometry (subspace collapse of Ḣ by support group over its
  random-grouping baseline, the C3 ratio) and the *fine* geometry (Pearson of corr(Ḣ) with the prediction's corr(H)
  from L_mm, over pairs of contexts with **different** supports only, so that the collapse inside a group does not
  count towards it).
- :func:`path_rows`: optimiser comparison, per snapshot, the distance of the model's centred logits to the
  finite-norm prediction L̂_B at its own nuclear norm B (``ntpgeom.theory.path_points``) and to L_mm, and the excess
  ``CE(L_k) − CE(L̂_B)`` (≥ 0 up to the certified gap: L̂_B minimises CE over the ball of radius B).
- :func:`by_length`: D.3, per context length T, ℋ_T, ``CE_T − ℋ_T`` (π normalised within the length) and the
  direction distance of ``P_⊥(L)`` restricted to those contexts to the S̃ proxy.
- :func:`width_rows`: D.4, per width k, the final loss gap, the distance of ``P_⊥(L)`` to L_mm and to the best
  rank-≤k NTP-SVM* point the factored heuristic (``ntpgeom.theory.rank_constrained``) finds (L_mm itself when
  k >= rank L_mm), and that point's nuclear norm over ‖L_mm‖_*.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from ..data import NTPData
from ..metrics import collapse_baseline, collapse_index, corr_from_gram, corr_map, visible_H
from ..theory import S_tilde, centre, cross_entropy, direction_distance, numerical_rank, path_points, proj_perp
from ..theory.rank_constrained import solve_rank_constrained


def _snap_arrays(snap: Any) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    W = None if snap.W is None else np.asarray(snap.W, dtype=np.float64)
    return W, np.asarray(snap.H, dtype=np.float64), np.asarray(snap.L, dtype=np.float64)


def between_group_pearson(C: np.ndarray, C_ref: np.ndarray, groups: np.ndarray) -> float:
    """Pearson correlation of two m x m maps over the pairs i < j whose groups differ (NaN if constant)."""
    g = np.asarray(groups)
    iu, ju = np.triu_indices(len(g), k=1)
    keep = g[iu] != g[ju]
    a, b = C[iu[keep], ju[keep]], C_ref[iu[keep], ju[keep]]
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def coarse_fine(run: Any, theory: Any, n_perm: int = 10) -> list[dict[str, float]]:
    """Rows ``step, gap, coarse, fine`` for every snapshot of ``run`` (see the module docstring); ``coarse`` is
    ``collapse_index(Ḣ) / collapse_baseline(Ḣ)`` (0 = collapsed, 1 = no more than random groups)."""
    data = run.data
    groups = np.asarray(data.support_groups)
    pred = corr_from_gram(np.asarray(theory.G_H, dtype=np.float64))
    gaps = dict(zip(run.loss["step"].tolist(), run.loss["gap"].tolist()))
    rows = []
    for step in run.steps:
        W, H, L = _snap_arrays(run.snapshot(step))
        Hv = visible_H(W, H)
        base = collapse_baseline(Hv, groups, n_perm=n_perm, seed=0)[0]
        gap = gaps.get(step, cross_entropy(L, data) - data.entropy_bound)
        rows.append({"step": int(step), "gap": float(gap),
                     "coarse": collapse_index(Hv, groups) / base if base > 0 else float("nan"),
                     "fine": between_group_pearson(corr_map(Hv), pred, groups)})
    return rows


def path_rows(run: Any, L_mm: np.ndarray, *, tol: float = 1e-3, max_iter: int = 5000,
              min_step: int = 1) -> list[dict[str, float]]:
    """Rows ``step, B, gap, dir_path, dir_mm, excess, path_norm, path_gap, converged`` per snapshot (step >=
    ``min_step``) of a run: its centred logits against the certified path point of its own nuclear norm."""
    data = run.data
    snaps = [(s, centre(_snap_arrays(run.snapshot(s))[2])) for s in run.steps if s >= min_step]
    Bs = [float(np.linalg.svd(L, compute_uv=False).sum()) for _, L in snaps]
    with warnings.catch_warnings():  # an unconverged point is reported in its row (``converged``), not warned
        warnings.simplefilter("ignore")
        points = path_points(data, Bs, tol=tol, max_iter=max_iter)
    Lmm, H = centre(L_mm), data.entropy_bound
    rows = []
    for (step, L), B, pt in zip(snaps, Bs, points):
        ce = cross_entropy(L, data)
        rows.append({"step": int(step), "B": B, "gap": ce - H, "dir_path": direction_distance(L, pt.L),
                     "dir_mm": direction_distance(L, Lmm), "excess": ce - pt.ce,
                     "path_norm": float(np.linalg.svd(pt.L, compute_uv=False).sum()), "path_gap": pt.gap,
                     "converged": bool(pt.converged)})
    return rows


def per_context_ce(L: np.ndarray, data: NTPData) -> np.ndarray:
    """``CE_j = −Σ_z P[z, j] log softmax(L[:, j])_z``, shape (m,)."""
    Z = L - L.max(axis=0, keepdims=True)
    logsm = Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))
    P = data.P.tocoo()
    out = np.zeros(data.m)
    np.add.at(out, P.col, -P.data * logsm[P.row, P.col])
    return out


def by_length(run: Any, steps: Sequence[int] | None = None) -> list[dict[str, float]]:
    """Rows ``step, T, contexts, H_T, gap_T, dir_perp_tilde`` for every snapshot step in ``steps`` (default: the
    last) and every context length T of the run's data (which must have ``context_lengths``)."""
    data = run.data
    if data.context_lengths is None:
        raise ValueError("by_length needs data with several context lengths (context_len=(lo, hi))")
    lengths = np.asarray(data.context_lengths)
    H_T = data.entropy_by_length()
    St = S_tilde(data)
    rows = []
    for step in steps if steps is not None else run.steps[-1:]:
        L = _snap_arrays(run.snapshot(step))[2]
        ce, perp = per_context_ce(L, data), proj_perp(centre(L), data)
        for T in sorted(H_T):
            sel = lengths == T
            w = data.pi[sel] / data.pi[sel].sum()
            d = direction_distance(perp[:, sel], St[:, sel]) if np.any(St[:, sel]) else float("nan")
            rows.append({"step": int(step), "T": int(T), "contexts": int(sel.sum()), "H_T": H_T[T],
                         "gap_T": float(w @ ce[sel]) - H_T[T], "dir_perp_tilde": d})
    return rows


def width(run: Any) -> int:
    """The width k of the geometry of a run: its ``bottleneck`` when set, else its ``d``."""
    b = run.config.get("bottleneck")
    return int(run.config["d"] if b is None else b)


def _rank_k_point(data: NTPData, ref: np.ndarray, k: int, starts: int, seed: int) -> tuple[np.ndarray | None, float, int]:
    """``(L, ‖L‖_*, rank)`` of the factored heuristic's best rank-≤k NTP-SVM* point started from the top-k factor of
    ``ref`` (and perturbed copies); L None when no start found a feasible point."""
    rc = solve_rank_constrained(data, k, L_ref=ref, starts=starts, seed=seed)
    return (None if rc.L is None else centre(rc.L)), rc.nuclear_norm, int(rc.rank)


def width_rows(runs: Sequence[Any], L_mm: np.ndarray, *, starts: int = 4, seed: int = 0) -> list[dict[str, Any]]:
    """One row per run (sorted by model kind, then width k): ``model, k, steps, gap, B, dir_mm, dir_rank_k,
    rank_k_norm_ratio, rank_k_rank, rank_k_found, rank_k_start`` at the run's last snapshot.

    The rank-≤k point is L_mm itself when its rank is at most k; otherwise the better (lower nuclear norm) of two
    heuristic searches, one started from L_mm's top-k factor and one from the run's own logits (whose column space
    the model found), ``rank_k_start`` saying which ("L_mm", "model", or "" when neither found a feasible point)."""
    data = runs[0].data
    Lmm = centre(L_mm)
    nuc_mm = float(np.linalg.svd(Lmm, compute_uv=False).sum())
    r_mm = numerical_rank(Lmm)
    from_mm: dict[int, tuple[np.ndarray | None, float, int]] = {}
    rows = []
    for run in sorted(runs, key=lambda r: (str(r.config["model"]), width(r))):
        k = width(run)
        L = centre(_snap_arrays(run.snapshot(run.steps[-1]))[2])
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
                     "B": float(np.linalg.svd(L, compute_uv=False).sum()), "dir_mm": direction_distance(perp, Lmm),
                     "dir_rank_k": direction_distance(perp, rc_L) if found else float("nan"),
                     "rank_k_norm_ratio": rc_nuc / nuc_mm if found else float("inf"),
                     "rank_k_rank": rc_rank if found else 0, "rank_k_found": found, "rank_k_start": start})
    return rows
