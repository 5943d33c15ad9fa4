"""The theory of some of the contexts (the arrays of :meth:`Theory.restrict <ntpgeom.theory.Theory.restrict>`) and
whether S̃ is optimal for the whole problem (theory.md §§2-5).

A snapshot (or a probe) that holds only the contexts K (k of the m) is compared with the theory of the *whole* data
restricted to those columns, never with a theory recomputed on the subset (L_mm of a subset of contexts is another
problem: the nuclear norm does not split over columns). What each quantity needs:

- ``L_in``, ``S̃ = (I − 11ᵀ/V) S`` and ``L_mm`` are column-wise: their restriction is the restriction of the columns;
  so are the context factors ``H_mm`` and ``H_proxy`` (the columns K of the whole S̃'s ``Σ^{1/2}Vᵀ``).
- ``W_mm``, ``G_W`` and ``G_W_proxy`` are not per context: unchanged.
- ``G_H`` and ``G_H_proxy`` on K are the sub-matrices ``G[K, K]`` of the whole Grams, i.e. the Grams of the columns K
  of the whole factors, not the Grams of a factor of the restricted matrices.
- Whether S̃ is itself optimal (``tilde_optimal``), the solve (``svm``), Prop. 3's certificate and ``dist_mm_tilde``
  belong to the whole problem and are carried over (the nuclear norms of some columns of S̃ and L_mm do not tell
  whether S̃ is optimal).
- Not column-wise, hence not restricted: the finite-norm path point and the optimal face (a measurement on a subset
  uses the asymptotic form ``L_in + R·L_mm`` and judges against L_mm, and says so in its notes).
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from .geometry import factors
from .norms import centre, nuclear_norm
from .pattern import SupportPattern
from .tolerances import TILDE_OPTIMAL_RTOL


#: Largest number of contexts for which a restriction forms a k x k context Gram the whole theory does not hold
#: (``compute_theory``'s ``gram_max``).
GRAM_MAX = 5000


def tilde_is_optimal(nuc_tilde: float, nuc_mm: float, certificate_holds: bool = False, gap: float = 0.0) -> bool:
    """THE rule deciding whether S̃ solves NTP-SVM* of the whole data: Prop. 3's certificate, or
    ``‖S̃‖_* <= opt (1 + max(TILDE_OPTIMAL_RTOL, 2 gap))`` where ``opt`` is the optimum (``‖L_mm‖_*`` of a solved,
    centred L_mm, or the certified dual value) and ``gap`` the solver's relative duality gap (0: trust ``opt`` to
    TILDE_OPTIMAL_RTOL); then S̃ lies on the optimal face whatever L_mm the solver returned (e.g. the 5-cycle)."""
    return bool(certificate_holds or nuc_tilde <= nuc_mm * (1 + max(TILDE_OPTIMAL_RTOL, 2.0 * gap)))


def nuclear_norm_centred(A: np.ndarray) -> float:
    """``‖A − 1 mean(A)‖_*`` (the columns centred over the V rows)."""
    return nuclear_norm(centre(A))


def tilde_optimal_of(S_tilde: np.ndarray, L_mm: np.ndarray | None, certificate_holds: bool = False) -> bool | None:
    """:func:`tilde_is_optimal` from the dense arrays (None when L_mm is not solved)."""
    if L_mm is None:
        return None
    if certificate_holds:
        return True
    return tilde_is_optimal(nuclear_norm_centred(S_tilde), nuclear_norm_centred(L_mm))


def context_indices(contexts: np.ndarray | list[int], m: int, *, what: str = "contexts",
                    error: type[Exception] = ValidationError) -> np.ndarray:
    """``contexts`` as int64 indices (in the order given) into m contexts: 1-D, non-empty, distinct, in ``[0, m)``;
    else ``error`` with a message naming ``what``."""
    idx = np.asarray(contexts)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise error(f"{what} must be a non-empty 1-D integer array, got shape {idx.shape} and dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.min() < 0 or idx.max() >= m:
        raise error(f"{what} lie outside [0, {m}) (the data has m = {m} contexts); was the "
                    f"{what.split()[0]} taken on another dataset?")
    if np.unique(idx, return_counts=True)[1].max() > 1:
        raise error(f"{what} repeat an index; each context must appear once")
    return idx


def left_svd(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(U, s)`` of ``A = U Σ Vᵀ`` (V x m, V <= m) from the V x V Gram, singular values descending: one BLAS-3
    product instead of an SVD of the wide matrix (m ~ 10^5 columns)."""
    lam, U = np.linalg.eigh(A @ A.T)
    return U[:, ::-1], np.sqrt(np.clip(lam[::-1], 0.0, None))


def proxy_columns(S_tilde: np.ndarray, idx: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """The columns ``idx`` of the balanced factor ``H = Σ^{1/2}Vᵀ`` of the whole ``S̃ = UΣVᵀ`` (so that
    ``Hᵀ H = (S̃ᵀS̃)^{1/2}[idx, idx]``), as ``Σ^{-1/2} Uᵀ S̃[:, idx]`` over the singular values above ``rtol σ_max``
    (the others change that Gram by at most ``rtol σ_max`` per entry). Shape (r, len(idx))."""
    V, m = S_tilde.shape
    if V > m:
        return factors(S_tilde)[1][:, idx]
    U, s = left_svd(S_tilde)
    keep = s > rtol * s[0] if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    return (U[:, keep] / np.sqrt(s[keep])).T @ S_tilde[:, idx]


def _proxy_from_pattern(pattern: SupportPattern, idx: np.ndarray) -> np.ndarray:
    """The columns ``idx`` of the whole S̃'s factor ``Σ^{1/2}Vᵀ`` from the reduced SVD of ``pattern`` (every singular
    value: the scaled reduced S̃ has those of the whole S̃)."""
    red = pattern.reduction
    _, s, Vt = red.S_tilde_svd
    return (np.sqrt(s)[:, None] * Vt / np.sqrt(red.c))[:, red.col_group[idx]]


def _cols(A: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if A is None else np.asarray(A, dtype=np.float64)[:, idx]


def _gram(G: np.ndarray | None, F: np.ndarray | None, idx: np.ndarray, m: int, gram_max: int) -> np.ndarray | None:
    """The context Gram on ``idx``: ``G[idx, idx]`` of the whole Gram ``G`` (m x m) when held, else ``FᵀF`` of the
    restricted factor ``F`` (r x k) when k <= ``gram_max`` (0: never), else None."""
    if G is not None:
        G = np.asarray(G, dtype=np.float64)
        if G.shape != (m, m):
            raise ValidationError(f"a context Gram of the theory has shape {G.shape}, expected ({m}, {m})")
        return G[np.ix_(idx, idx)]
    return F.T @ F if F is not None and F.shape[1] <= gram_max else None


def restricted_columns(idx: np.ndarray, m: int, *, L_in: np.ndarray, S_tilde: np.ndarray, L_mm: np.ndarray | None,
                       H_mm: np.ndarray | None, H_proxy: np.ndarray | None, G_H: np.ndarray | None,
                       G_H_proxy: np.ndarray | None, whole: bool, pattern: SupportPattern | None = None,
                       gram_max: int = GRAM_MAX) -> dict[str, np.ndarray | None]:
    """The per-context fields of a theory (arrays with m columns, Grams m x m) restricted to the contexts ``idx``
    (checked by :func:`context_indices`), as keyword arguments for ``dataclasses.replace`` (see the module
    docstring). ``whole``: the arrays are those of the whole data (not already restricted), so the whole S̃'s proxy
    factor can be formed, from ``pattern``'s reduced SVD when given (every singular value) or from S̃ itself
    (:func:`proxy_columns`). Restricting to ``0..m−1`` returns the same fields (no Gram is formed)."""
    identity = len(idx) == m and bool(np.array_equal(idx, np.arange(m)))
    H_mm, Hp = _cols(H_mm, idx), _cols(H_proxy, idx)
    if Hp is None and G_H_proxy is None and whole and not identity:  # the whole S̃'s factor, on idx
        if pattern is not None and pattern.shape == np.shape(S_tilde):
            Hp = _proxy_from_pattern(pattern, idx)
        else:
            Hp = proxy_columns(np.asarray(S_tilde, dtype=np.float64), idx)
    form = 0 if identity else gram_max
    return {"L_in": _cols(L_in, idx), "S_tilde": _cols(S_tilde, idx), "L_mm": _cols(L_mm, idx), "H_mm": H_mm,
            "H_proxy": Hp, "G_H": _gram(G_H, H_mm, idx, m, form), "G_H_proxy": _gram(G_H_proxy, Hp, idx, m, form)}


__all__ = ["TILDE_OPTIMAL_RTOL", "GRAM_MAX", "tilde_is_optimal", "tilde_optimal_of", "nuclear_norm_centred",
           "context_indices", "proxy_columns", "left_svd", "restricted_columns"]
