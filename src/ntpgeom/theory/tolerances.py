"""Every numerical cut-off of the theory layer, named once with what it means (the values are the measured ones the
solvers were tuned and tested with; changing one changes results).

Rank cut-offs are relative to the largest singular value: a singular value ``s_i`` counts when
``s_i > rtol * s_max``.
"""

from __future__ import annotations

#: Reported numerical rank of a solution (``SVMResult.rank``, ``RankResult.rank``, :func:`numerical_rank`, factors
#: and Grams of L_mm): singular values above this fraction of σ_max.
RANK_RTOL = 1e-8

#: Rank of S̃ for Prop. 3's polar factor ``A = UVᵀ`` from a full numpy SVD (exact zero singular values of S̃ come out
#: near 1e-16 σ_max, real ones are >= 1e-3 σ_max on every pattern seen).
TILDE_RANK_RTOL = 1e-10

#: The same rank cut for the large solver, whose singular values are square roots of float64 Gram eigenvalues (about
#: half the digits: zero singular values come out near 1e-8 σ_max).
TILDE_RANK_RTOL_GRAM = 1e-7

#: Rank of the SCS answer (accurate to about its ``eps``) when its polar factor is tried as a dual certificate.
CVXPY_POLAR_RANK_RTOL = 1e-6

#: Largest NTP-SVM* constraint violation accepted from a caller's L_mm (``optimal_face``).
FEASIBILITY_TOL = 1e-6

#: Floor of ``typical singular value`` when the default ADMM penalty ``1 / (‖S̃‖_* / min(V', m'))`` is formed.
RHO_SCALE_FLOOR = 1e-12

#: Guard of a division by the objective or the gradient norm in the regularised problem's relative checks.
DIVISION_FLOOR = 1e-300

#: Ridge of Anderson's normal equations (relative to their largest diagonal entry), by state precision.
ANDERSON_RIDGE_FLOAT32 = 1e-7
ANDERSON_RIDGE_FLOAT64 = 1e-10

#: ``least_distance`` (Lawson-Hanson LDP): a NNLS residual below this, or a last component above minus it, means
#: the constraints are infeasible.
LDP_INFEASIBLE = 1e-12

#: An L_mm is taken as constant on the reduced pattern's blocks (its factors then come from the reduced SVD) when its
#: expansion matches it to this fraction of its largest entry (at least 1) (``bundle``'s L_mm geometry).
BLOCK_CONSTANT_ATOL = 1e-9

#: Relative rise of ``‖L‖_*`` that stops a rank-constrained descent (rounding slack on "never increases").
DESCENT_RISE_SLACK = 1e-9

#: ``face_distance``: a cosine to the members' cone at or below this is read as 0 (every member at >= 90°).
CONE_COS_FLOOR = 1e-12

#: A finite-norm path point is ``resolved`` when the gap's round-off floor is below this fraction of ``CE - ℋ``.
RESOLVED_FLOOR_RATIO = 1e-2

#: ``fixed_features``: the in-support log-odds are reachable with the features (``compatible``) when the relative
#: least-squares residual of the in-support equalities is at most this.
COMPATIBLE_RTOL = 1e-6

#: ``semantics``: singular values of S̃ within this fraction of the largest are a tie (their orthants are a choice).
SIGN_TIE_RTOL = 1e-9

#: ``verify.check_theory``: a stored float64 array agrees with its recomputation to ~1e-12 (relative); an edit moves
#: it by O(1). Also the floor of the stored L_mm's constraint violation allowed on reload.
RECOMPUTE_RTOL = 1e-6

__all__ = [
    "RANK_RTOL", "TILDE_RANK_RTOL", "TILDE_RANK_RTOL_GRAM", "CVXPY_POLAR_RANK_RTOL", "FEASIBILITY_TOL",
    "RHO_SCALE_FLOOR", "DIVISION_FLOOR", "ANDERSON_RIDGE_FLOAT32", "ANDERSON_RIDGE_FLOAT64", "LDP_INFEASIBLE",
    "DESCENT_RISE_SLACK", "CONE_COS_FLOOR", "BLOCK_CONSTANT_ATOL", "RESOLVED_FLOOR_RATIO", "TILDE_OPTIMAL_RTOL",
    "COMPATIBLE_RTOL", "SIGN_TIE_RTOL", "RECOMPUTE_RTOL",
]

#: Relative tolerance of "S̃ is optimal for NTP-SVM*": ``‖S̃‖_* <= ‖L_mm‖_* (1 + TILDE_OPTIMAL_RTOL)``
#: (:func:`ntpgeom.theory.restriction.tilde_is_optimal`).
TILDE_OPTIMAL_RTOL = 1e-6
