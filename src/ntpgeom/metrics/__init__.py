"""Metrics layer: pure functions that measure how close trained geometry is to the theory (theory.md §§4-6).

Distances (``gram_distance``, ``direction_distance``), correlation maps and their agreement (``corr_map``,
``sim_ssim``, ``pearson``), subspace collapse (``collapse_index``, ``collapse_baseline``), neural collapse
(``neural_collapse``: NC1-NC4), and the per-snapshot / per-run tables (``snapshot_metrics``, ``run_metrics``,
``save_table``, ``load_table``).
"""

from .collapse import NCMetrics, collapse_baseline, collapse_index, neural_collapse
from .distances import best_scale_residual, direction_distance, gram_distance
from .similarity import MetricsError, corr_from_gram, corr_map, pearson, sim_ssim
from .tables import (
    COLUMNS,
    Reference,
    context_subset,
    load_table,
    reference,
    rows_to_table,
    run_metrics,
    save_table,
    snapshot_metrics,
)

__all__ = [
    "corr_map", "corr_from_gram", "sim_ssim", "pearson", "collapse_index", "collapse_baseline", "neural_collapse",
    "NCMetrics", "gram_distance", "direction_distance", "best_scale_residual", "snapshot_metrics", "run_metrics",
    "reference", "Reference", "context_subset", "rows_to_table", "save_table", "load_table", "COLUMNS", "MetricsError",
]
