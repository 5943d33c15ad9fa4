"""Metrics layer: pure functions that measure how close trained geometry is to the theory (theory.md §§4-6).

Distances (``gram_distance``, ``direction_distance``), correlation maps and their agreement (``corr_map``,
``sim_ssim``, ``pearson``; ``offdiag`` and ``similarity_null`` for off-diagonal comparisons and their permutation
baselines), subspace collapse (``collapse_index``, ``collapse_baseline``), neural collapse
(``neural_collapse``: NC1-NC4), and the per-snapshot / per-run tables (``snapshot_metrics``, ``run_metrics``,
``save_table``, ``load_table``), and the finite-norm prediction a snapshot is judged against (``prediction_point``,
``visible_H``: the part of H the centred logits see); ``restrict``: the theory (``Theory.restrict``) and data restricted
to a snapshot's subset of contexts (``Snapshot.contexts``), which ``snapshot_metrics`` / ``run_metrics`` use by
themselves (``TheoryColumns``: deprecated name of the restricted :class:`~ntpgeom.theory.Theory`); representation
metrics of one layer's hidden states (``cdnv``, ``rankme``, ``alpha_req``, ``anisotropy``, ``spectrum``, ``eps_rank``,
``layer_metrics``: :mod:`~ntpgeom.metrics.representation`), Wu & Papyan's linguistic collapse over next-token classes
(``cdnv_by_next_token``, ``gnc2``, ``unc3``, ``ncc_agreement``: :mod:`~ntpgeom.metrics.linguistic`) and the ε-rank of
logit matrices (``logit_rank_summary``: :mod:`~ntpgeom.metrics.logit_rank`); for runs, the same per snapshot
(``run_representation``, appended to a metrics table by ``add_columns``: :mod:`~ntpgeom.metrics.representation_table`).
The implicit-bias fingerprint of a trajectory against the max-margin predictions of four norms (``fingerprint``:
:mod:`~ntpgeom.metrics.fingerprint`).
"""

from .collapse import NCMetrics, collapse_baseline, collapse_index, neural_collapse
from .fixed_features_position import FixedFeaturesRow, fixed_features_rows, fixed_features_trajectory
from .distances import best_scale_residual, direction_distance, gram_distance
from .fingerprint import Fingerprint, FingerprintRow, bias_predictions, fingerprint, run_trajectory
from .position import (RESOLUTION, Position, Rate, Trend, bootstrap_weights, c1_distances, c2_distances,
                       face_distances, mm_distances, position_interval, rate, trend)
from .prediction import Prediction, centred, nuclear_norm, prediction_point, visible_H
from ..theory import TheoryLike
from .linguistic import TokenClasses, cdnv_by_next_token, gnc2, ncc_agreement, token_classes, unc3
from .logit_rank import logit_rank_summary, logit_singular_values
from .representation import LAYER_KEYS, alpha_req, anisotropy, cdnv, eps_rank, layer_metrics, rankme, spectrum
from .representation_table import REPRESENTATION_COLUMNS, add_columns, run_representation, snapshot_representation
from .reference import FaceLike, Reference, context_subset, reference
from .restrict import TheoryColumns, restrict
from .similarity import MetricsError, as_matrix, corr_from_gram, corr_map, offdiag, pearson, sim_ssim, similarity_null
from .tables import (COLUMNS, SnapshotLike, load_table, reference_for, rows_to_table, run_metrics, save_table,
                     snapshot_metrics)

__all__ = [
    "corr_map", "corr_from_gram", "sim_ssim", "pearson", "collapse_index", "collapse_baseline", "neural_collapse",
    "NCMetrics", "gram_distance", "direction_distance", "best_scale_residual", "snapshot_metrics", "run_metrics",
    "reference", "Reference", "context_subset", "rows_to_table", "save_table", "load_table", "COLUMNS", "MetricsError",
    "offdiag", "similarity_null", "as_matrix", "visible_H", "centred", "nuclear_norm", "prediction_point", "Prediction",
    "TheoryLike", "FaceLike", "SnapshotLike", "restrict", "TheoryColumns", "reference_for",
    "Position", "Trend", "Rate", "RESOLUTION", "position_interval", "c1_distances", "mm_distances", "face_distances",
    "c2_distances", "bootstrap_weights", "trend", "rate",
    "fingerprint", "Fingerprint", "FingerprintRow", "bias_predictions", "run_trajectory",
    "cdnv", "rankme", "alpha_req", "anisotropy", "spectrum", "eps_rank", "layer_metrics", "LAYER_KEYS",
    "cdnv_by_next_token", "gnc2", "unc3", "ncc_agreement", "token_classes", "TokenClasses", "logit_rank_summary",
    "logit_singular_values", "REPRESENTATION_COLUMNS", "add_columns", "run_representation", "snapshot_representation",
    "FixedFeaturesRow", "fixed_features_rows", "fixed_features_trajectory",
]
