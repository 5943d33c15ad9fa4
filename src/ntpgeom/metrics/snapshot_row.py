"""The columns of a metrics table and its per-snapshot row: the geometry measurements of one snapshot (theory.md §6).

:func:`snapshot_metrics` measures one snapshot (one row); :mod:`ntpgeom.metrics.tables` stacks the rows of a run
into a table. :class:`SnapshotLike` and :class:`RunLike` are the shapes of the inputs both accept.

The columns (:data:`COLUMNS`), what each measures and which claim judges it are listed in
:mod:`ntpgeom.metrics.tables`, with how large m is subsampled and how a snapshot of a subset of the contexts is
measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from ..data import NTPData
from ..theory import Theory, nuclear_norm
from ..theory.subspaces import cross_entropy, proj_F
from .collapse import collapse_baseline, collapse_index, neural_collapse
from .distances import best_scale_residual, direction_distance, gram_distance
from .prediction import Prediction, asymptotic_point, centred, factor_maps, rival_point, visible_H
from .reference import Reference, reference
from .restrict import check_contexts, is_all, snapshot_contexts
from .similarity import MetricsError, corr_map, offdiag, pearson, sim_ssim, similarity_null

__all__ = ["COLUMNS", "SnapshotLike", "RunLike", "snapshot_arrays", "snapshot_metrics", "reference_for"]

#: Column order of a metrics table.
COLUMNS: tuple[str, ...] = (
    "step", "ce", "gap", "norm_W", "norm_H", "norm_L", "norm_nuc", "softlabel_err", "softlabel_rel",
    "dir_mm", "dir_perp_mm", "dir_tilde", "dir_perp_tilde", "dir_perp_face", "sep_mm_tilde", "face_diameter",
    "slr_R", "slr_resid", "dir_pred", "dir_pred_rival", "pred_sep", "pred_is_path", "pred_certified",
    "gram_W_mm", "gram_H_mm", "gram_W_proxy", "gram_H_proxy",
    "sim_W_mm", "sim_H_mm", "pearson_W_mm", "pearson_H_mm",
    "sim_W_proxy", "sim_H_proxy", "pearson_W_proxy", "pearson_H_proxy",
    "offp_W", "offp_H", "offp_W_null", "offp_W_null_std", "offp_H_null", "offp_H_null_std",
    "offp_W_rival", "offp_H_rival", "offp_W_sep", "offp_H_sep",
    "collapse_H", "collapse_H_base", "collapse_H_base_std", "collapse_Lperp", "collapse_Lperp_base", "collapse_Lperp_base_std",
    "nc1", "nc2_H", "nc2_W", "nc3", "nc4")

NAN = float("nan")


class SnapshotLike(Protocol):
    """A training snapshot (:class:`ntpgeom.train.Snapshot`): ``W`` (V x d), ``H`` (d x m), ``L`` (V x m), ``b`` (V,);
    optionally ``contexts`` (k,) when H and L hold only those k contexts (then H is d x k and L is V x k)."""

    step: int
    W: np.ndarray
    H: np.ndarray
    L: np.ndarray
    b: np.ndarray | None
    has_bias: bool
    contexts: np.ndarray | None


Snapshot = SnapshotLike | Mapping[str, Any] | tuple[np.ndarray, np.ndarray] | np.ndarray


class RunLike(Protocol):
    """A training run (:class:`ntpgeom.train.Run`): its data, snapshot steps and snapshots."""

    data: NTPData
    steps: Sequence[int]
    path: Path | str | None

    def snapshot(self, step: int) -> SnapshotLike: ...


# ------------------------------------------------------------------------------------------------ snapshot
def _f64(A: Any) -> np.ndarray | None:
    return None if A is None else np.asarray(A, dtype=np.float64)


def snapshot_arrays(snap: Snapshot) -> tuple[int | None, np.ndarray | None, np.ndarray | None, np.ndarray,
                                             np.ndarray | None]:
    """The arrays of a snapshot, in float64.

    Parameters
    ----------
    snap : Snapshot, mapping, (W, H) tuple or ndarray
        A snapshot (``step, W, H, L, b, has_bias``), a mapping with those keys, a pair ``(W, H)`` or a bare ``L``.

    Returns
    -------
    tuple
        ``(step, W, H, L, b)``: None for what the snapshot lacks; ``L = W H`` when only W and H are given; ``b`` None
        when the model has no bias.
    """
    if isinstance(snap, np.ndarray):
        return None, None, None, np.asarray(snap, dtype=np.float64), None
    if isinstance(snap, tuple) and len(snap) == 2:
        W, H = (np.asarray(a, dtype=np.float64) for a in snap)
        return None, W, H, W @ H, None
    if isinstance(snap, Mapping):
        step, W, H, L, b, has_bias = (snap.get(k) for k in ("step", "W", "H", "L", "b", "has_bias"))
    else:
        step, W, H, L, b, has_bias = snap.step, snap.W, snap.H, snap.L, snap.b, snap.has_bias
    W, H = _f64(W), _f64(H)
    if L is None:
        if W is None or H is None:
            raise MetricsError("a snapshot needs logits L or both W and H")
        L = W @ H
    b = None if (b is None or has_bias is False) else np.asarray(b, dtype=np.float64).ravel()
    return (None if step is None else int(step)), W, H, np.asarray(L, dtype=np.float64), b


def _check(L: np.ndarray, W: np.ndarray | None, H: np.ndarray | None, V: int, m: int) -> None:
    if L.shape != (V, m):
        raise MetricsError(f"logits have shape {L.shape} but the data is V x m = ({V}, {m})")
    if not np.all(np.isfinite(L)):
        raise MetricsError("the snapshot's logits contain NaN or infinite values (training diverged?)")
    if W is not None and (W.ndim != 2 or W.shape[0] != V):
        raise MetricsError(f"W has shape {W.shape}, expected (V={V}, d)")
    if H is not None and (H.ndim != 2 or H.shape[1] != m):
        raise MetricsError(f"H has shape {H.shape}, expected (d, m={m})")


def _sims(A: np.ndarray, B: np.ndarray | None) -> tuple[float, float]:
    """Off-diagonal (SSIM structure term, Pearson) of two corr maps."""
    if B is None:
        return NAN, NAN
    a, b = offdiag(A), offdiag(B)
    return sim_ssim(a, b), pearson(a, b)


def _compare(out: dict[str, float], side: str, G: np.ndarray, corr: np.ndarray, refs: Sequence[tuple]) -> None:
    """Fill ``gram_<side>_<tag>``, ``sim_<side>_<tag>``, ``pearson_<side>_<tag>`` for each available reference."""
    for tag, G_ref, corr_ref in refs:
        if G_ref is not None:
            out[f"gram_{side}_{tag}"] = gram_distance(G, G_ref)
            out[f"sim_{side}_{tag}"], out[f"pearson_{side}_{tag}"] = _sims(corr, corr_ref)


def _offp(out: dict[str, float], side: str, corr: np.ndarray, pred: np.ndarray, rival: np.ndarray,
          n_perm: int, seed: int) -> None:
    """Fill ``offp_<side>`` (+ ``_null``, ``_null_std``, ``_rival``, ``_sep``): off-diagonal Pearson of the model's map
    with the prediction's, its permutation baseline, with the rival's, and prediction vs rival."""
    if corr.shape[0] < 3:
        return
    out[f"offp_{side}"] = pearson(offdiag(corr), offdiag(pred))
    out[f"offp_{side}_null"], out[f"offp_{side}_null_std"] = similarity_null(corr, pred, "pearson", n_perm, seed)
    out[f"offp_{side}_rival"] = pearson(offdiag(corr), offdiag(rival))
    out[f"offp_{side}_sep"] = pearson(offdiag(pred), offdiag(rival))


def _collapse(out: dict[str, float], name: str, X: np.ndarray, groups: np.ndarray, n_perm: int, seed: int) -> None:
    """Fill ``collapse_<name>`` and its random-grouping baseline (mean, std)."""
    out[f"collapse_{name}"] = collapse_index(X, groups)
    out[f"collapse_{name}_base"], out[f"collapse_{name}_base_std"] = collapse_baseline(X, groups, n_perm, seed)


def _logit_columns(out: dict[str, float], L: np.ndarray, ref: Reference, pred: Prediction | None) -> tuple:
    """Loss, soft labels, directions, sparse plus low rank and the prediction/rival distances of centred logits L."""
    data = ref.data
    ce = cross_entropy(L, data)
    out.update(ce=ce, gap=ce - data.entropy_bound, norm_L=float(np.linalg.norm(L)))
    PF = proj_F(L, data)
    Lp = L - PF
    err = float(np.linalg.norm(PF - ref.L_in))
    nLin = float(np.linalg.norm(ref.L_in))
    out.update(softlabel_err=err, softlabel_rel=err / nLin if nLin > 0 else NAN)
    if ref.L_mm is not None:
        out.update(dir_mm=direction_distance(L, ref.L_mm), dir_perp_mm=direction_distance(Lp, ref.L_mm))
        out["sep_mm_tilde"] = direction_distance(ref.S_tilde, ref.L_mm)
        out["dir_perp_face"] = out["dir_perp_mm"]
        if ref.face is not None and ref.face_distance is not None and ref.face.is_point is False:
            out["dir_perp_face"] = ref.face_distance(ref.face, Lp)
            out["sep_mm_tilde"] = ref.face_distance(ref.face, ref.S_tilde)
        if ref.tilde_optimal:  # S̃ is on the optimal face: distance to the face <= distance to S̃, and δ = 0
            out["dir_perp_face"] = min(out["dir_perp_face"], direction_distance(Lp, ref.S_tilde))
            out["sep_mm_tilde"] = 0.0
        if ref.face is not None:
            out["face_diameter"] = float(ref.face.diameter)
    out.update(dir_tilde=direction_distance(L, ref.S_tilde), dir_perp_tilde=direction_distance(Lp, ref.S_tilde))
    R, resid = best_scale_residual(L - ref.L_in, ref.L_ref)
    out.update(slr_R=R, slr_resid=resid)
    out["norm_nuc"] = nuclear_norm(L)
    L_pred = asymptotic_point(L, ref.L_in, ref.L_ref) if pred is None else pred.L
    rival = rival_point(L, ref.L_in, ref.S_tilde)
    out.update(dir_pred=direction_distance(L, L_pred), dir_pred_rival=direction_distance(L, rival),
               pred_sep=direction_distance(L_pred, rival), pred_is_path=float(pred is not None and pred.is_path),
               pred_certified=float(pred is None or pred.converged))
    return Lp, L_pred, rival


def snapshot_metrics(
    snapshot_or_arrays: Snapshot,
    theory: Theory | None,
    data: NTPData,
    *,
    ref: Reference | None = None,
    prediction: Prediction | None = None,
    max_contexts: int = 2000,
    n_perm: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """All geometry measurements of one snapshot (see the module docstring for the columns).

    Parameters
    ----------
    snapshot_or_arrays : Snapshot, mapping, (W, H) tuple or ndarray
        A training snapshot (attributes ``step, W (V x d), H (d x m), L (V x m), b (V,)``), a mapping with those
        keys, a pair ``(W, H)`` (then ``L = W H``), or the logits ``L`` alone (then only logit metrics).
    theory : Theory or None
        See :func:`reference`.
    data : NTPData
    ref : Reference, optional
        A prebuilt :func:`reference` (reused across snapshots by :func:`run_metrics`). When the snapshot holds a
        subset of the contexts (``contexts``) and ``ref`` is not restricted to exactly those, the reference restricted
        to them is built from ``theory`` and ``data`` (:mod:`ntpgeom.metrics.restrict`): the snapshot is measured
        against the theory's columns of its contexts, never against all m.
    prediction : Prediction, optional
        The finite-norm prediction for this snapshot (:func:`ntpgeom.metrics.prediction.prediction_point`); default
        the asymptotic form ``L_in + R·L_ref`` (cheap).

    Returns
    -------
    dict
        One float per name in :data:`COLUMNS` (``step`` as given, NaN if unknown).
    """
    ref = reference_for(snapshot_or_arrays, theory, data, ref, max_contexts, seed)
    data = ref.data
    V, m = data.V, data.m
    step, W, H, L, b = snapshot_arrays(snapshot_or_arrays)
    _check(L, W, H, V, m)
    out: dict[str, float] = {c: NAN for c in COLUMNS}
    out["step"] = NAN if step is None else float(step)
    # Softmax ignores a constant added to a column, so only the token-centred logits (I - 11ᵀ/V) L carry geometry
    # (every minimiser of the theory has 1ᵀL = 0, theory.md §2): a shared row of W is not distance from L_mm.
    L = centred(L)
    Lp, L_pred, rival = _logit_columns(out, L, ref, prediction)
    groups = ref.groups
    if data.n_supports < m:
        _collapse(out, "Lperp", Lp, groups, n_perm, seed)
    if W is None and H is None:
        return out
    maps_pred, maps_rival = factor_maps(L_pred, ref.idx), factor_maps(rival, ref.idx)
    if W is not None:
        Wc = centred(W)
        out["norm_W"] = float(np.linalg.norm(Wc))
        cW = corr_map(Wc.T)
        _compare(out, "W", Wc @ Wc.T, cW, (("mm", ref.G_W_mm, ref.corr_W_mm), ("proxy", ref.G_W_proxy, ref.corr_W_proxy)))
        _offp(out, "W", cW, maps_pred[0], maps_rival[0], n_perm, seed)
    if H is not None:
        Hv = visible_H(W, H)
        out["norm_H"] = float(np.linalg.norm(Hv))
        Hs = Hv[:, ref.idx] if len(ref.idx) < m else Hv
        cH = corr_map(Hs)
        _compare(out, "H", Hs.T @ Hs, cH, (("mm", ref.G_H_mm, ref.corr_H_mm), ("proxy", ref.G_H_proxy, ref.corr_H_proxy)))
        _offp(out, "H", cH, maps_pred[1], maps_rival[1], n_perm, seed)
        if data.n_supports < m:
            _collapse(out, "H", Hv, groups, n_perm, seed)
        if W is not None and ref.labels is not None and len(np.unique(ref.labels)) >= 2:
            nc = neural_collapse(H, W, ref.labels, b=b, weights=data.pi)
            out.update(nc1=nc.nc1, nc2_H=nc.nc2_H, nc2_W=nc.nc2_W, nc3=nc.nc3, nc4=nc.nc4)
    return out


def reference_for(snap: Snapshot, theory: Theory | None, data: NTPData, ref: Reference | None = None,
                  max_contexts: int = 2000, seed: int = 0) -> Reference:
    """The reference a snapshot is measured against: ``ref`` when it covers the snapshot's contexts (all of them, or
    exactly its ``contexts``), else :func:`reference` of ``(theory, data)`` restricted to the snapshot's contexts."""
    ctx = snapshot_contexts(snap)
    if ctx is not None and is_all(check_contexts(ctx, data.m), data.m):
        ctx = None
    if ref is not None:
        have = ref.contexts
        if (ctx is None and have is None) or (ctx is not None and have is not None and np.array_equal(ctx, have)):
            return ref
        if ref.contexts is None and ref.data.hash != data.hash:
            raise MetricsError("the reference was built for other data than the snapshot's; rebuild it for this data")
    return reference(theory, data, max_contexts, seed, contexts=ctx)
