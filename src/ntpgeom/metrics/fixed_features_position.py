"""A linear head on frozen features judged as a trajectory against the fixed-features prediction (Thrampoulidis,
NeurIPS 2024; :func:`ntpgeom.theory.fixed_features`).

GD on a head W over fixed H reaches the in-support log-odds (when the features allow it: ``result.compatible``) and
grows in the direction of W_mm. For each snapshot (W, H, L) of a run (``model="linear"``, or any run whose H is the
same frozen H) :func:`fixed_features_trajectory` returns one :class:`FixedFeaturesRow`:

- ``dist_W``: direction distance ``‖W/‖W‖ − W_mm/‖W_mm‖‖_F`` (:func:`ntpgeom.theory.direction_distance`);
- ``dist_L``: π-weighted direction distance of the token-centred F⊥ part of the logits, ``P_⊥(L)``, to ``W_mm H``
  (the logits' counterpart of dist_W; the F part stays finite and tends to L_in);
- ``dist_step``: direction distance of the update since the previous snapshot, ``W_t − W_s``, to W_mm, and
  ``growth``: ``‖W_t − W_s‖ / (‖W_mm‖ ln(t/s))``. GD gives ``W_t ≈ W* + ln(t) W_mm`` (W* finite), so the total
  direction approaches W_mm only like 1/ln t while the update's direction gets there much sooner and ``growth → 1``
  (NaN for the first snapshot and after step 0);
- ``in_residual``: ``‖P_F(L) − L_in‖_F / ‖L_in‖_F`` (absolute when L_in = 0): the in-support log-odds reached;
- with a ``rival`` (the unconstrained prediction: L_mm of the free/factored model, ``max_margin(data).L``): its
  π-weighted distance ``dist_rival`` and the position ``mu = (dist_rival − dist_L) / d(W_mm H, rival)``
  (:func:`ntpgeom.metrics.position.mu`: +1 at the fixed-features prediction, −1 at the rival; NaN when the two
  cannot be told apart).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from ..data import NTPData
from ..errors import MetricsError
from ..theory import direction_distance, proj_F
from ..theory.fixed_features import FixedFeaturesResult
from ..theory.pattern import support_mask
from ..theory.subspaces import L_in as compute_L_in
from .position import mm_distances, mu
from .prediction import centred
from .tables import RunLike, SnapshotLike

__all__ = ["FixedFeaturesRow", "fixed_features_rows", "fixed_features_trajectory"]


@dataclass(frozen=True)
class FixedFeaturesRow:
    """One snapshot against the fixed-features prediction (module docstring); NaN where undefined."""

    step: int
    dist_W: float
    dist_L: float
    dist_step: float
    growth: float
    in_residual: float
    dist_rival: float
    mu: float

    def to_dict(self) -> dict[str, Any]:
        """Plain floats (JSON: NaN becomes null through :mod:`ntpgeom.jsonable`)."""
        return asdict(self)


def fixed_features_rows(data: NTPData, snapshots: Iterable[SnapshotLike], result: FixedFeaturesResult,
                        rival: np.ndarray | None = None) -> list[FixedFeaturesRow]:
    """The rows of :func:`fixed_features_trajectory` for ``snapshots`` of a head on ``data`` (all m contexts).

    Parameters
    ----------
    data : NTPData
    snapshots : iterable of Snapshot
        W (V, d) and H (d, m), L (V, m); H is the frozen features ``result`` was computed on.
    result : FixedFeaturesResult
        ``fixed_features(data, H)``.
    rival : ndarray, shape (V, m), optional
        The unconstrained prediction (e.g. ``max_margin(data).L``); without it ``dist_rival`` and ``mu`` are NaN.

    Returns
    -------
    list of FixedFeaturesRow
    """
    mask = support_mask(data)
    Lin = compute_L_in(data)
    lin_norm = float(np.linalg.norm(Lin)) or 1.0
    pi = np.asarray(data.pi, dtype=np.float64)
    rows: list[FixedFeaturesRow] = []
    prev: SnapshotLike | None = None
    norm_mm = float(np.linalg.norm(result.W_mm))
    for s in snapshots:
        if s.contexts is not None or s.L.shape != mask.shape or s.W.shape != result.W_mm.shape:
            raise MetricsError(f"snapshot {s.step}: W {s.W.shape} / L {s.L.shape} do not match the prediction's "
                               f"W_mm {result.W_mm.shape} on all {mask.shape[1]} contexts (snapshot_contexts unset)")
        pred = result.W_mm @ s.H
        d_pred, d_riv, delta = (mm_distances(s.L, mask, pred, centred(rival))(pi) if rival is not None else
                                (mm_distances(s.L, mask, pred, centred(pred))(pi)[0], np.nan, np.nan))
        res = float(np.linalg.norm(proj_F(s.L, mask) - Lin)) / lin_norm
        d_step = growth = float("nan")
        if prev is not None and prev.step > 0 and s.step > prev.step:
            dW = s.W - prev.W
            d_step = direction_distance(dW, result.W_mm)
            growth = float(np.linalg.norm(dW)) / (norm_mm * float(np.log(s.step / prev.step)))
        rows.append(FixedFeaturesRow(int(s.step), direction_distance(s.W, result.W_mm), float(d_pred), d_step, growth,
                                     res, float(d_riv), mu(d_pred, d_riv, delta)))
        prev = s
    return rows


def fixed_features_trajectory(run: RunLike, result: FixedFeaturesResult,
                              rival: np.ndarray | None = None) -> list[FixedFeaturesRow]:
    """A linear-head run (``model="linear"``) against ``result = fixed_features(run.data, H)``, one row per snapshot
    (module docstring; :func:`fixed_features_rows` for snapshots held in memory).

    Parameters
    ----------
    run : Run
        A training run of the linear head on frozen features (:func:`ntpgeom.train.load_run`).
    result : FixedFeaturesResult
        ``ntpgeom.theory.fixed_features(run.data, H)`` for the run's own features H.
    rival : array, shape (V, m), optional
        A rival prediction of the logits (e.g. ``max_margin(run.data).L``): adds ``dist_rival`` and ``mu``.

    Returns
    -------
    list of FixedFeaturesRow
        One per snapshot, in step order: the direction distances of W to W_mm and of the logits to W_mm H, the
        update's direction and growth against W_mm, the in-support residual (and the rival's distance and μ).
    """
    return fixed_features_rows(run.data, (run.snapshot(t) for t in run.steps), result, rival)
