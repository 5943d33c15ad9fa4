"""Predicted geometry (theory.md §4-5): factors and Grams of L_mm, the S̃ proxies, Prop. 3's certificate and the
closed forms of Props. 2 and 5 (all k-subsets; with the erratum on cos(w_v, h_j)).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb, sqrt
from typing import Any

import numpy as np

from .svm import SolverError, _tilde_check, reduce_pattern


def _svd(L: Any, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2:
        raise SolverError(f"L must be a 2-D V x m matrix, got shape {L.shape}")
    if not np.all(np.isfinite(L)):
        raise SolverError("L contains NaN or infinite entries")
    if not (rtol >= 0):
        raise SolverError(f"rtol must be >= 0, got {rtol!r}")
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    r = int((s > rtol * s[0]).sum()) if s.size and s[0] > 0 else 0
    return U[:, :r], s[:r], Vt[:r]


def numerical_rank(L: Any, rtol: float = 1e-8) -> int:
    """Number of singular values of L above ``rtol * σ_max``."""
    return _svd(L, rtol)[1].size


def factors(L: Any, rtol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Balanced factors of ``L = UΣVᵀ``: ``W = UΣ^{1/2}`` (V x r) and ``H = Σ^{1/2}Vᵀ`` (r x m), ``WH = L``.

    ``r`` is the numerical rank (singular values above ``rtol * σ_max``). These are the directions W_mm, H_mm the
    embeddings converge to (Cor. 1), up to a rotation.
    """
    U, s, Vt = _svd(L, rtol)
    h = np.sqrt(s)
    return U * h, h[:, None] * Vt


def grams(L: Any, rtol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """``(G_W, G_H) = (UΣUᵀ, VΣVᵀ)`` of ``L = UΣVᵀ``: shapes (V, V) and (m, m); equal to ``WWᵀ`` and ``HᵀH``."""
    U, s, Vt = _svd(L, rtol)
    return (U * s) @ U.T, (Vt.T * s) @ Vt


def proxy_grams(S: Any, which: str = "WH") -> tuple[np.ndarray | None, np.ndarray | None]:
    """Proxy Grams from S̃ (theory.md §5): ``((S̃S̃ᵀ)^{1/2}, (S̃ᵀS̃)^{1/2})``, shapes (V, V) and (m, m).

    Computed from the SVD of the reduced, multiplicity-weighted S̃ (exact), so the cost is that of the distinct
    pattern plus writing the outputs. ``which`` selects the Grams to form ("W", "H" or "WH"); the other is None.
    """
    red = reduce_pattern(S)
    sr, sc = np.sqrt(red.r), np.sqrt(red.c)
    St = red.mask - (red.r[:, None] * red.mask).sum(axis=0) / red.r.sum()
    U, s, Vt = np.linalg.svd(sr[:, None] * St * sc, full_matrices=False)
    GW = GH = None
    if "W" in which:
        GW = (((U * s) @ U.T) / np.outer(sr, sr))[np.ix_(red.row_group, red.row_group)]
    if "H" in which:
        GH = (((Vt.T * s) @ Vt) / np.outer(sc, sc))[np.ix_(red.col_group, red.col_group)]
    return GW, GH


@dataclass(frozen=True)
class TildeCertificate:
    """Prop. 3: with S̃ = UΣVᵀ and A = UVᵀ, S̃ solves NTP-SVM* if A[v, j] < 0 on every off-support entry.

    Attributes
    ----------
    holds : bool
    worst : float
        Largest off-support entry of A (``-inf`` if S has no off-support entries); the certificate holds iff < 0.
    worst_index : (int, int)
        (token v, context j) of that entry, ``(-1, -1)`` if none.
    """

    holds: bool
    worst: float
    worst_index: tuple[int, int]


def tilde_certificate(S: Any) -> TildeCertificate:
    """Check Prop. 3's sufficient condition for ``L_mm = S̃`` (S: NTPData, sparse or dense 0/1, shape (V, m))."""
    red = reduce_pattern(S)
    holds, worst, (i, j), _, _ = _tilde_check(red)
    if i < 0:
        return TildeCertificate(True, float(worst), (-1, -1))
    v = int(np.flatnonzero(red.row_group == i)[0])
    c = int(np.flatnonzero(red.col_group == j)[0])
    return TildeCertificate(bool(holds), float(worst), (v, c))


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
