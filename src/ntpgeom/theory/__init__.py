"""Theory layer: closed forms (L_in, S̃, the F / F⊥ split, cross-entropies), NTP-SVM*, the regularisation path and
the predicted geometry (theory.md §§3-5)."""

from .bundle import Theory, compute_theory, direction_distance, load_theory
from .geometry import (
    TildeCertificate,
    cosine_matrix,
    factors,
    grams,
    k_subsets_closed_form,
    numerical_rank,
    proxy_grams,
    tilde_certificate,
)
from .path import RegResult, lambda_max, path_diagnostics, regularization_path, solve_regularized
from .subspaces import L_in, S_tilde, ShapeError, cross_entropy, cross_entropy_in, entropy_bound, proj_F, proj_perp
from .svm import (
    Reduction,
    SolverError,
    SolverWarning,
    SVMResult,
    max_violation,
    project_columns,
    reduce_pattern,
    solve_ntp_svm,
)

__all__ = [
    "L_in", "S_tilde", "proj_F", "proj_perp", "cross_entropy", "cross_entropy_in", "entropy_bound", "ShapeError",
    "solve_ntp_svm", "SVMResult", "SolverError", "SolverWarning", "Reduction", "reduce_pattern", "project_columns",
    "max_violation", "factors", "grams", "proxy_grams", "tilde_certificate", "TildeCertificate", "cosine_matrix",
    "k_subsets_closed_form", "numerical_rank", "Theory", "compute_theory", "load_theory", "direction_distance",
    "RegResult", "solve_regularized", "regularization_path", "lambda_max", "path_diagnostics",
]
