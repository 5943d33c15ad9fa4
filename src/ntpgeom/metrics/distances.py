"""Scale-free distances between matrices (theory.md §4, §6).

Both distances compare directions: each argument is divided by its Frobenius norm first, so the value lies in
[0, 2], is 0 iff the two are positive multiples of each other, and ignores the growing norm of trained weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..theory import direction_distance  # ‖L/‖L‖_F − L_ref/‖L_ref‖_F‖_F, shared with the theory layer
from .similarity import MetricsError


def gram_distance(G: Any, G_ref: Any) -> float:
    """Normalised Gram distance ``‖G/‖G‖_F − G_ref/‖G_ref‖_F‖_F``.

    Parameters
    ----------
    G, G_ref : arrays, shape (n, n)
        E.g. ``W Wᵀ`` (V x V) against the predicted ``U Σ Uᵀ``, or ``Hᵀ H`` (m x m) against ``V Σ Vᵀ``.

    Returns
    -------
    float in [0, 2]; NaN if either matrix is zero.

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> G = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> round(g.gram_distance(5 * G, G), 12)
    0.0
    """
    return direction_distance(G, G_ref)


def best_scale_residual(X: Any, X_ref: Any) -> tuple[float, float]:
    """Least-squares fit ``X ≈ R X_ref``: returns ``(R, ‖X − R X_ref‖_F / ‖X‖_F)``.

    Used for the sparse-plus-low-rank check ``L_k − L_in ≈ R L_mm`` (theory.md §4). ``R = ⟨X, X_ref⟩ / ‖X_ref‖²``;
    the relative residual is in [0, 1] (NaN if X is zero; (0, 1) if X_ref is zero).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(X_ref, dtype=np.float64)
    if X.shape != Y.shape:
        raise MetricsError(f"X has shape {X.shape} but X_ref has {Y.shape}; they must match")
    nx = np.linalg.norm(X)
    if nx == 0:
        return 0.0, float("nan")
    ny2 = float(np.vdot(Y, Y))
    if ny2 == 0:
        return 0.0, 1.0
    R = float(np.vdot(X, Y)) / ny2
    return R, float(np.linalg.norm(X - R * Y) / nx)
