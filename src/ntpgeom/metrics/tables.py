"""The metrics table of a training run: one row of :func:`~ntpgeom.metrics.snapshot_row.snapshot_metrics` per
snapshot, with the representation columns of :mod:`ntpgeom.metrics.representation_table` appended.

A *table* is a plain ``dict[str, numpy.ndarray]`` of equal-length 1-D columns, one row per snapshot (column
``step`` first). :func:`save_table` writes it as parquet and JSON; :func:`load_table` reads either back.

Columns of :func:`snapshot_metrics` (NaN where an input is missing, e.g. the ``*_mm`` columns when L_mm was not solved).
H is measured as Ḣ = :func:`~ntpgeom.metrics.prediction.visible_H` (the part the centred logits see), W as Ẇ
(centred over tokens), so reparametrisations that leave the centred logits unchanged leave every column unchanged.
``L_k`` below always means the token-centred logits ``(I − 11ᵀ/V) L_k``: softmax ignores per-context offsets, and every
minimiser of the theory has ``1ᵀL = 0``, so an offset (e.g. from a row shared by all of W) is not geometry.

====================  ==================================================================================================
``step``              training step of the snapshot
``ce``, ``gap``       ``CE(L_k)`` and the loss gap ``CE(L_k) − ℋ`` (``gap``: judged by the loss claim)
``norm_W/H/L``        Frobenius norms ``‖Ẇ_k‖``, ``‖Ḣ_k‖``, ``‖L_k‖`` (centred W, visible H, centred L)
``softlabel_err``     ``‖P_F(L_k) − L_in‖_F`` (soft-label recovery); ``softlabel_rel`` divides by ``‖L_in‖_F``
                      (C4's statistic)
``dir_mm``            ``‖L_k/‖L_k‖ − L_mm/‖L_mm‖‖_F``; ``dir_perp_mm`` the same for ``P_⊥(L_k)``
``dir_tilde``         the same against S̃ (the proxy); ``dir_perp_tilde`` for ``P_⊥(L_k)``
``slr_R, slr_resid``  sparse plus low-rank fit ``L_k − L_in ≈ R·L_ref`` (L_ref = L_mm, else S̃): the scale R and the
                      relative residual ``‖L_k − L_in − R L_ref‖ / ‖L_k − L_in‖`` (descriptive: C1 judges
                      ``dir_pred``)
``gram_W_mm``         ``gram_distance(Ẇ Ẇᵀ, G_W)`` with Ẇ = W centred over tokens; ``gram_H_mm`` for ``HᵀH`` vs G_H;
                      ``gram_W_proxy``/``gram_H_proxy`` against the S̃ proxy Grams
``sim_*``/``pearson_*``  agreement (SSIM structure term, ε = 1e-5 / Pearson) of corr(Ẇᵀ) and corr(Ḣ) with the
                      predicted corr maps (``_mm``: from L_mm's Grams; ``_proxy``: from S̃'s), **off the diagonal**
                      (the unit diagonal is shared by every model)
``norm_nuc``          ``‖L_k‖_*``, the norm B whose prediction L̂_B the snapshot is judged against
``dir_pred``          C1's statistic, ``dir(L_k, L̂_B)``: the finite-norm prediction (path point,
                      ``pred_is_path`` = 1) or the asymptotic ``L_in + R·L_ref`` (``pred_is_path`` = 0);
                      ``pred_certified`` = 0: the path point did not converge (C1, C2 "n/a: reference not certified");
                      ``dir_pred_rival`` against the rival ``L_in + r·S̃``; ``pred_sep`` = dir(L̂_B, rival), the
                      resolution between the two
``offp_W/H``          C2's statistic: off-diagonal Pearson of corr(Ẇᵀ) / corr(Ḣ) with the maps of L̂_B's factors;
                      ``*_null``(``_std``) its permutation baseline; ``*_rival`` with the rival's maps; ``*_sep``
                      prediction vs rival maps
``dir_perp_face``     L_mm's statistic: distance of ``P_⊥(L_k)`` to the optimal face of NTP-SVM* (= ``dir_perp_mm``
                      when the face is a point or was not probed; S̃ counts as a face point when it is optimal);
                      ``sep_mm_tilde`` the same for S̃ (0 when S̃ is optimal); ``face_diameter`` its diameter
``collapse_H``        :func:`collapse_index` of Ḣ by support group (C3 judges it over ``collapse_H_base``);
                      ``collapse_Lperp`` of ``P_⊥(L_k)``; ``*_base`` the random-grouping baseline mean
                      (``*_base_std`` its std)
``nc1 .. nc4``        neural-collapse measures, one-hot data only (:func:`neural_collapse`)
====================  ==================================================================================================

Which column each claim judges, and how: :data:`ntpgeom.verdicts.CLAIMS` (``Claim.columns``, ``Claim.rule``).

For large m the m x m quantities (Gram of H, corr(H)) are measured on a fixed, seeded subset of at most
``max_contexts`` contexts (recorded as ``n_contexts_sampled``); every other column uses all contexts. A snapshot
that holds only some contexts (``Snapshot.contexts``, from ``snapshot_contexts`` in training) is measured on those
against the theory restricted to them (:mod:`ntpgeom.metrics.restrict`: CE and ℋ π-weighted over the subset, the
theory's columns, ``G_H[K, K]``); its prediction is the asymptotic form (``pred_is_path`` = 0).

:func:`run_metrics` appends :data:`~ntpgeom.metrics.REPRESENTATION_COLUMNS` after them (``cdnv``,
``rankme``, ``alpha_req``, ``anisotropy``, ``gnc2`` of the snapshot's raw H by support group, and with its W and the
data's P the next-token ones); no verdict reads them, and :func:`snapshot_metrics` (the probe's and the verdicts'
row) leaves them out. The run-level plumbing here: the finite-norm path points, warm-started along the run, for the
snapshots the verdicts read, BLAS threads, and progress.

Every name this module held before the split (``COLUMNS``, ``SnapshotLike``, ``snapshot_metrics``,
``reference_for``, ``reference``, ``Reference``, ``context_subset``, ``save_table``, ``load_table``, ...) is still
importable from it.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from ..theory import Theory, nuclear_norm
from ..progress import Progress, silent
from .prediction import centred, prediction_point
from .reference import Reference, context_subset, reference  # noqa: F401  (re-exported)
from .representation_table import snapshot_representation
from .restrict import is_all, snapshot_contexts
from .similarity import MetricsError
from .snapshot_row import (COLUMNS, NAN, RunLike, Snapshot, SnapshotLike, reference_for,  # noqa: F401  (re-exported)
                           snapshot_arrays, snapshot_metrics)
from .table_io import TABLE_FORMAT, TABLE_VERSION, load_table, save_table  # noqa: F401  (re-exported)

__all__ = ["COLUMNS", "Reference", "SnapshotLike", "RunLike", "context_subset", "reference", "reference_for",
           "snapshot_metrics", "run_metrics", "rows_to_table", "save_table", "load_table"]


def _predictions(run: RunLike, steps: Sequence[int], ref: Reference, finite_norm: str, warm_tol: float,
                 progress: Progress = silent) -> dict:
    """Finite-norm predictions (warm-started along the run) for the snapshots ``finite_norm`` selects (a line each)."""
    if finite_norm not in ("none", "ends", "all"):
        raise MetricsError(f"finite_norm must be 'none', 'ends' or 'all', got {finite_norm!r}")
    chosen = [] if finite_norm == "none" else (list(steps) if finite_norm == "all" else sorted({steps[0], steps[-1]}))
    out, warm = {}, None
    for s in chosen:
        snap = run.snapshot(s)
        ctx = snapshot_contexts(snap)
        if ref.contexts is not None or (ctx is not None and not is_all(ctx, run.data.m)):
            continue  # a subset of the contexts: the path point is not column-wise (metrics.restrict)
        L = centred(np.asarray(snapshot_arrays(snap)[3]))
        progress(f"path point {chosen.index(s) + 1}/{len(chosen)}: norm {nuclear_norm(L):.4g} (step {s})")
        out[s] = prediction_point(ref.data, L, ref.L_in, ref.L_ref, warm=warm, tol=warm_tol)
        warm = out[s].L if out[s].is_path else warm
    return out


def run_metrics(
    run: RunLike,
    theory: Theory | None,
    *,
    steps: Sequence[int] | None = None,
    max_contexts: int = 2000,
    n_perm: int = 20,
    seed: int = 0,
    progress: Progress | None = None,
    threads: int = 1,
    finite_norm: str = "ends",
    ref: Reference | None = None,
    representation: bool = True,
) -> dict[str, np.ndarray]:
    """The metrics table of a training run: one row per snapshot.

    Parameters
    ----------
    run : Run
        A :func:`ntpgeom.train.load_run` result (``.data``, ``.steps``, ``.snapshot(step)``).
    theory : Theory or None
        The theory of ``run.data`` (see :func:`reference`).
    steps : sequence of int, optional
        Which snapshots (default: all).
    progress : Progress, optional
        Called as ``progress("metrics", done, total)`` after each snapshot (:class:`ntpgeom.progress.Progress`).
    threads : int
        BLAS threads while measuring (default 1: fastest for these sizes; set through threadpoolctl).
    finite_norm : "ends", "all" or "none"
        For which snapshots the prediction is the regularisation-path point of the snapshot's norm (first and last
        by default: those the verdicts read); the others use the asymptotic form ``L_in + R·L_ref``.
    ref : Reference, optional
        A prebuilt :func:`reference` (e.g. with the optimal face).
    representation : bool
        Append :data:`~ntpgeom.metrics.REPRESENTATION_COLUMNS` (:func:`~ntpgeom.metrics.snapshot_representation` of
        each snapshot: ``cdnv``, ``rankme``, ... of its raw H). They never change a column of :data:`COLUMNS`.

    Returns
    -------
    dict[str, ndarray]
        Columns :data:`COLUMNS` (then :data:`~ntpgeom.metrics.REPRESENTATION_COLUMNS` with ``representation``), each
        of length ``len(steps)``, rows in step order.
    """
    from threadpoolctl import threadpool_limits

    data = run.data
    steps = list(run.steps) if steps is None else sorted(int(s) for s in steps)
    if not steps:
        raise MetricsError(f"the run {run.path or ''} has no snapshots; train with snapshots enabled")
    rows = []
    # one BLAS thread: these are many small products, where OpenBLAS threads only contend (10-100x slower here)
    with threadpool_limits(threads):
        # the reference of the first snapshot's contexts (the whole data, or a run's fixed subset: built once)
        ref = reference_for(run.snapshot(steps[0]), theory, data, ref, max_contexts, seed)
        preds = _predictions(run, steps, ref, finite_norm, 1e-5, progress or silent)
        for i, s in enumerate(steps):
            snap = run.snapshot(s)
            ref = reference_for(snap, theory, data, ref, max_contexts, seed)  # the same unless the contexts change
            row = snapshot_metrics(snap, theory, data, ref=ref, prediction=preds.get(s), n_perm=n_perm, seed=seed)
            if math.isnan(row["step"]):
                row["step"] = float(s)
            if representation:
                row.update(snapshot_representation(snap, data))
            rows.append(row)
            if progress is not None:
                progress("metrics", i + 1, len(steps))
    return rows_to_table(rows)


def rows_to_table(rows: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Stack per-snapshot dicts into a table (columns in :data:`COLUMNS` order, ``step`` as int64)."""
    names = list(COLUMNS) + [k for k in (rows[0] if rows else {}) if k not in COLUMNS]
    table = {k: np.array([r.get(k, NAN) for r in rows], dtype=np.float64) for k in names}
    table["step"] = table["step"].astype(np.int64)
    return table
