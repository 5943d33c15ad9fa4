"""Theory layer: the support pattern (mask, reduction, S̃, Prop. 3), closed forms (L_in, the F / F⊥ split,
cross-entropies), NTP-SVM*, the regularisation path and the predicted geometry (theory.md §§3-5).

Modules, bottom up: ``tolerances`` (every numerical cut-off, named) and ``norms`` (the one centring and nuclear norm)
→ ``pattern`` (everything that depends on S only) → ``subspaces`` (closed forms in L, P) → ``geometry`` (factors,
Grams, proxies, closed forms) → ``svm_backends`` (the NTP-SVM* backends) → ``svm`` (the checked solve, backend table
with ``large`` = ``svm_large`` on ``large_ops``/``large_state``) → ``fista`` (the one accelerated proximal-gradient
driver) → ``path`` (the regularised problem) → ``finite_norm`` (the norm-ball path point: the finite-norm
prediction), ``face`` (the optimal face of NTP-SVM*), ``rank_constrained`` → ``bundle``
(:class:`Theory`, one file); beside them ``max_margin`` (the max-margin logits in the nuclear, Frobenius, max and
spectral norms: which implicit bias), ``fixed_features`` (a head on frozen H: W_mm, W_in) and ``semantics``
(orthant clusters of S̃'s singular vectors, learning times).
Every solver result carries ``.status`` and ``.stats`` (:mod:`ntpgeom.status`).
"""

from ..errors import ShapeError, SolverError, SolverWarning
from ..status import SolverStats, Status
from .bundle import Theory, TheoryLike, compute_theory, load_theory
from .fixed_features import FixedFeaturesResult, fixed_features
from .max_margin import NORMS, MaxMarginResult, max_margin, max_margins, norm_value
from .semantics import (
    LearningTimes,
    OrthantClusters,
    TildeDirections,
    cluster_purity,
    learning_times,
    orthant_clusters,
    tilde_directions,
)
from .verify import check_theory
from .face import Face, face_distance, optimal_face
from .finite_norm import PathPoint, centre, path_point, path_points, prediction_distances
from .norms import nuclear_norm
from .geometry import (
    cosine_matrix,
    direction_distance,
    factors,
    grams,
    k_subsets_closed_form,
    numerical_rank,
    proxy_grams,
)
from .path import RegCheck, RegResult, lambda_max, path_diagnostics, regularization_path, solve_regularized
from .pattern import (
    Reduction,
    S_tilde,
    SupportPattern,
    TildeCertificate,
    reduce_pattern,
    support_mask,
    support_pattern,
    tilde_certificate,
)
from .subspaces import L_in, cross_entropy, cross_entropy_in, entropy_bound, proj_F, proj_perp
from .svm import BACKENDS, LARGE_AUTO_SIZE, METHODS, SVMResult, solve_ntp_svm
from .svm_backends import BackendSolution, SolveOptions, max_violation, project_columns

__all__ = [
    "L_in", "S_tilde", "proj_F", "proj_perp", "cross_entropy", "cross_entropy_in", "entropy_bound", "ShapeError",
    "solve_ntp_svm", "SVMResult", "SolverError", "SolverWarning", "Reduction", "reduce_pattern", "project_columns",
    "max_violation", "factors", "grams", "proxy_grams", "tilde_certificate", "TildeCertificate", "cosine_matrix",
    "k_subsets_closed_form", "numerical_rank", "Theory", "compute_theory", "load_theory", "check_theory", "direction_distance",
    "RegResult", "solve_regularized", "regularization_path", "lambda_max", "path_diagnostics",
    "Status", "SolverStats", "TheoryLike", "SupportPattern", "support_pattern", "support_mask", "RegCheck",
    "BACKENDS", "LARGE_AUTO_SIZE", "METHODS", "BackendSolution", "SolveOptions",
    "PathPoint", "path_point", "path_points", "prediction_distances", "centre", "Face", "optimal_face", "face_distance",
    "nuclear_norm", "max_margin", "max_margins", "MaxMarginResult", "NORMS", "norm_value", "fixed_features", "FixedFeaturesResult",
    "orthant_clusters", "OrthantClusters", "cluster_purity", "learning_times", "LearningTimes", "tilde_directions",
    "TildeDirections",
]
