"""Predicted geometry (theory.md §4-5): factors and Grams of L_mm, the S̃ proxies and the closed forms of Props. 2
and 5 (all k-subsets; with the erratum on cos(w_v, h_j)). Prop. 3's certificate lives with the pattern
(:mod:`ntpgeom.theory.pattern`).
"""

from __future__ import annotations

from math import comb, sqrt
from typing import Any

import numpy as np

from ..errors import ShapeError, SolverError
from .pattern import PatternLike, reduce_pattern, singular_rank
from .tolerances import RANK_RTOL


def _svd(L: Any, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2:
        raise SolverError(f"L must be a 2-D V x m matrix, got shape {L.shape}")
    if not np.all(np.isfinite(L)):
        raise SolverError("L contains NaN or infinite entries")
    if not (rtol >= 0):
        raise SolverError(f"rtol must be >= 0, got {rtol!r}")
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    r = singular_rank(s, rtol)
    return U[:, :r], s[:r], Vt[:r]


def numerical_rank(L: Any, rtol: float = RANK_RTOL) -> int:
    """Number of singular values of L above ``rtol * σ_max``."""
    return _svd(L, rtol)[1].size


def factors(L: Any, rtol: float = RANK_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Balanced factors of ``L = UΣVᵀ``: ``W = UΣ^{1/2}`` (V x r) and ``H = Σ^{1/2}Vᵀ`` (r x m), ``WH = L``.

    ``r`` is the numerical rank (singular values above ``rtol * σ_max``). These are the directions W_mm, H_mm the
    embeddings converge to (Cor. 1), up to a rotation.

    Parameters
    ----------
    L : array_like, shape (V, m)
    rtol : float
        Relative cut-off of the numerical rank.

    Returns
    -------
    W : ndarray, shape (V, r)
    H : ndarray, shape (r, m)

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> St = g.S_tilde(g.corpora.synthetic())
    >>> W, H = g.factors(St)
    >>> W.shape, H.shape, bool(np.allclose(W @ H, St))
    ((30, 12), (12, 16), True)
    """
    U, s, Vt = _svd(L, rtol)
    h = np.sqrt(s)
    return U * h, h[:, None] * Vt


def grams(L: Any, rtol: float = RANK_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """``(G_W, G_H) = (UΣUᵀ, VΣVᵀ)`` of ``L = UΣVᵀ``, equal to ``WWᵀ`` and ``HᵀH`` of :func:`factors`.

    Parameters
    ----------
    L : array_like, shape (V, m)
    rtol : float
        Relative cut-off of the numerical rank.

    Returns
    -------
    G_W : ndarray, shape (V, V)
    G_H : ndarray, shape (m, m)

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> St = g.S_tilde(g.corpora.synthetic())
    >>> G_W, G_H = g.grams(St)
    >>> W, H = g.factors(St)
    >>> bool(np.allclose(G_W, W @ W.T) and np.allclose(G_H, H.T @ H))
    True
    """
    U, s, Vt = _svd(L, rtol)
    return (U * s) @ U.T, (Vt.T * s) @ Vt


def proxy_grams(S: PatternLike, which: str = "WH") -> tuple[np.ndarray | None, np.ndarray | None]:
    """Proxy Grams from S̃ (theory.md §5): ``((S̃S̃ᵀ)^{1/2}, (S̃ᵀS̃)^{1/2})``.

    Computed from the SVD of the reduced, multiplicity-weighted S̃ (exact; a SupportPattern's cached SVD is reused), so
    the cost is that of the distinct pattern plus writing the outputs.

    Parameters
    ----------
    S : NTPData, SupportPattern, or a 0/1 support matrix (V, m)
    which : {"WH", "W", "H"}
        The Grams to form; the other is None.

    Returns
    -------
    G_W : ndarray, shape (V, V), or None
    G_H : ndarray, shape (m, m), or None

    Examples
    --------
    >>> import ntpgeom as g
    >>> G_W, G_H = g.proxy_grams(g.corpora.synthetic())
    >>> G_W.shape, G_H.shape
    ((30, 30), (16, 16))
    """
    red = reduce_pattern(S)
    sr, sc = np.sqrt(red.r), np.sqrt(red.c)
    U, s, Vt = red.S_tilde_svd
    GW = GH = None
    if "W" in which:
        GW = (((U * s) @ U.T) / np.outer(sr, sr))[np.ix_(red.row_group, red.row_group)]
    if "H" in which:
        GH = (((Vt.T * s) @ Vt) / np.outer(sc, sc))[np.ix_(red.col_group, red.col_group)]
    return GW, GH


def direction_distance(A: Any, B: Any) -> float:
    """``‖A/‖A‖_F - B/‖B‖_F‖_F`` of two same-shape matrices: 0 iff they point the same way, at most 2.

    Parameters
    ----------
    A, B : array_like, same shape

    Returns
    -------
    float
        NaN if either is zero.

    Raises
    ------
    ShapeError
        Mismatched shapes or non-finite entries.

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(g.direction_distance(A, 3 * A), 12), round(g.direction_distance(A, -A), 12)
    (0.0, 2.0)
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.shape != B.shape:
        raise ShapeError(f"the two matrices have shapes {A.shape} and {B.shape}; they must match")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ShapeError("a matrix contains NaN or infinite values")
    a, b = np.linalg.norm(A), np.linalg.norm(B)
    if a == 0 or b == 0:
        return float("nan")
    return float(np.linalg.norm(A / a - B / b))


def cosine_matrix(X: np.ndarray, axis: int = 0) -> np.ndarray:
    """Cosines between the rows (axis=0) or columns (axis=1) of X."""
    X = np.asarray(X, dtype=np.float64)
    Y = X if axis == 0 else X.T
    n = np.linalg.norm(Y, axis=1)
    n = np.where(n > 0, n, 1.0)
    return (Y @ Y.T) / np.outer(n, n)


def k_subsets_closed_form(V: int, k: int) -> dict[str, Any]:
    """Closed forms of Props. 2 and 5 for all k-subsets of [V] (with the erratum of theory.md §5).

    Returns
    -------
    dict with
        ``cos_ww`` (= -1/(V-1)), ``cos_hh(t)`` (a function of ``t = |S_j ∩ S_j'|``), ``cos_wh_in``,
        ``cos_wh_out``, ``norm_ratio`` (‖w_v‖²/‖h_j‖² = (V-1)N/(k(V-k)), N = C(V-2, k-1)), ``m`` (= C(V, k)).
    """
    if not (1 <= k < V):
        raise SolverError(f"need 1 <= k < V, got V={V}, k={k}")
    N = comb(V - 2, k - 1)
    return {
        "m": comb(V, k),
        "cos_ww": -1.0 / (V - 1),
        "cos_hh": lambda t: (np.asarray(t, dtype=np.float64) - k * k / V) / (k - k * k / V),
        "cos_wh_in": sqrt((V - k) / (k * (V - 1))),
        "cos_wh_out": -sqrt(k / ((V - k) * (V - 1))),
        "norm_ratio": (V - 1) * N / (k * (V - k)),
    }
