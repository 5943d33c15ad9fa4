"""The support pattern S (theory.md §§3, 5): its validated mask, its reduction to distinct rows and columns with
multiplicities, the centred support matrix S̃ (full and reduced), Prop. 3's certificate, numerical rank and
singular-value thresholding.

Everything here depends on S only (never on P). :func:`support_pattern` computes the mask and the reduction once; the
result (:class:`SupportPattern`) caches S̃, the SVD of the reduced S̃ and Prop. 3's check, and every function of the
theory layer that takes a pattern accepts it in place of S, so one ``compute_theory`` does each computation once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Union

import numpy as np
import scipy.sparse as sp

from ..reprs import short_repr
from ..data import NTPData
from ..data.groups import column_groups
from ..errors import ShapeError, SolverError
from .dense_size import MASK_BYTES_PER_ENTRY, check_dense_size
from .tolerances import RANK_RTOL, TILDE_RANK_RTOL


#: What every function of the theory layer accepts as a support pattern S (shape (V, m)): a dataset, a
#: :class:`SupportPattern` (reused as is), a scipy.sparse matrix or a dense 0/1 array.
PatternLike = Union[NTPData, "SupportPattern", sp.spmatrix, sp.sparray, np.ndarray]


# ------------------------------------------------------------------------------------------------- masks
def dense_pattern(S: PatternLike) -> np.ndarray:
    """A support pattern given as NTPData, SupportPattern, scipy.sparse or array-like, as a dense ndarray (no
    validation). A sparse pattern too large for this machine's memory raises :class:`SolverError` first
    (:func:`check_dense_size`)."""
    if isinstance(S, SupportPattern):
        return S.mask
    if isinstance(S, NTPData):
        S = S.S
    if sp.issparse(S):
        check_dense_size(*S.shape, MASK_BYTES_PER_ENTRY, "the dense support mask")
        S = S.toarray()
    return np.asarray(S)


def pattern_mask(S: PatternLike) -> np.ndarray:
    """Boolean dense (V, m) mask of a support pattern, checked only for being 2-D (:class:`ShapeError`)."""
    S = dense_pattern(S)
    if S.ndim != 2:
        raise ShapeError(f"a support matrix must be 2-D (V x m), got shape {S.shape}")
    return S != 0


def support_mask(S: PatternLike) -> np.ndarray:
    """Validate a support pattern (NTPData, scipy.sparse or dense 0/1) and return a dense bool mask, shape (V, m).

    Raises :class:`SolverError` if it is not 2-D, not 0/1, or has an empty column.
    """
    if isinstance(S, SupportPattern):
        return S.mask
    S = dense_pattern(S)
    try:
        arr = np.asarray(S, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SolverError(f"the support matrix must be numeric 0/1, got {type(S).__name__} ({exc})") from exc
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise SolverError(f"the support matrix must be 2-D V x m with V >= 2 and m >= 1, got shape {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise SolverError("the support matrix must contain only 0 and 1; pass data.S or (counts > 0)")
    mask = arr != 0
    k = mask.sum(axis=0)
    if np.any(k == 0):
        raise SolverError(f"context {int(np.flatnonzero(k == 0)[0])} has an empty support; every column needs a 1")
    return mask


def centred_support(mask: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
    """S̃ = (I - 11ᵀ/V) S of a 0/1 ``mask`` (V, m), the one formula of the package.

    With row multiplicities ``r`` (shape (V,)) the mask is a reduced pattern and the result its reduced S̃: entries
    ``1 - k_j/V`` on the support and ``-k_j/V`` off it, with ``k_j = Σ_z r_z mask[z, j]`` and ``V = Σ r``.
    """
    if r is None:
        M = mask.astype(np.float64)
        return M - M.sum(axis=0, keepdims=True) / M.shape[0]
    return mask - (r[:, None] * mask).sum(axis=0) / r.sum()


def S_tilde(S: PatternLike) -> np.ndarray:
    """Centred support matrix ``S̃ = (I - 11ᵀ/V) S`` (theory.md §5).

    ``S̃[z,j] = (V - k_j)/V`` on the support and ``-k_j/V`` off it. It is feasible for NTP-SVM* with every margin
    constraint tight.

    Parameters
    ----------
    S : NTPData, SupportPattern, or a 0/1 support matrix (V, m)

    Returns
    -------
    ndarray, shape (V, m)
        Dense, float64; every column sums to 0.

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> St = g.S_tilde(g.corpora.synthetic())
    >>> St.shape, bool(np.allclose(St.sum(axis=0), 0))
    ((30, 16), True)
    """
    if isinstance(S, SupportPattern):
        return S.S_tilde
    return centred_support(pattern_mask(S))


# --------------------------------------------------------------------------------------------- reduction
@dataclass(frozen=True, eq=False)
class Reduction:
    """The distinct pattern of a support matrix.

    Attributes
    ----------
    mask : bool array, shape (V', m')
        Distinct rows x distinct columns of S.
    r : float array, shape (V',)
        Row (token) multiplicities.
    c : float array, shape (m',)
        Column (context) multiplicities.
    row_group : int array, shape (V,)
        Reduced row of each token.
    col_group : int array, shape (m,)
        Reduced column of each context.
    """

    __repr__ = short_repr

    mask: np.ndarray
    r: np.ndarray
    c: np.ndarray
    row_group: np.ndarray
    col_group: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    def expand(self, M: np.ndarray) -> np.ndarray:
        """Entry values of a reduced (V', m') matrix copied to the full (V, m) matrix."""
        return M[np.ix_(self.row_group, self.col_group)]

    def scaled(self, M: np.ndarray) -> np.ndarray:
        """``diag(√r) M diag(√c)``: a reduced (V', m') matrix with the singular values of its expansion."""
        return np.sqrt(self.r)[:, None] * M * np.sqrt(self.c)

    @cached_property
    def S_tilde(self) -> np.ndarray:
        """The reduced S̃, shape (V', m'); ``expand`` gives the full S̃."""
        return centred_support(self.mask, self.r)

    @cached_property
    def S_tilde_svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD ``(U, s, Vt)`` of ``scaled(S_tilde)``: shapes (V', q), (q,), (q, m'), q = min(V', m')."""
        return np.linalg.svd(self.scaled(self.S_tilde), full_matrices=False)


def reduce_pattern(S: PatternLike) -> Reduction:
    """Reduce a support pattern to its distinct columns and rows with multiplicities (theory.md §3, last point)."""
    if isinstance(S, SupportPattern):
        return S.reduction
    return _reduce_mask(support_mask(S))


def _reduce_mask(mask: np.ndarray) -> Reduction:
    col_group, col_first = column_groups(mask)
    m1 = mask[:, col_first]
    row_group, row_first = column_groups(m1.T)
    red = m1[row_first, :]
    c = np.bincount(col_group, minlength=len(col_first)).astype(np.float64)
    r = np.bincount(row_group, minlength=len(row_first)).astype(np.float64)
    return Reduction(red, r, c, row_group, col_group)


# ----------------------------------------------------------------------------------------- Prop. 3 and rank
def singular_rank(s: np.ndarray, rtol: float = RANK_RTOL) -> int:
    """Numerical rank from singular values ``s`` sorted in decreasing order: the number above ``rtol * s[0]``."""
    return int((s > rtol * s[0]).sum()) if s.size and s[0] > 0 else 0


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


@dataclass(frozen=True, eq=False)
class TildeCheck:
    """Prop. 3 evaluated on the reduced pattern.

    Attributes
    ----------
    holds : bool
    worst : float
        Largest off-support entry of A = UVᵀ (``-inf`` if none).
    reduced_index : (int, int)
        Its (reduced row, reduced column), ``(-1, -1)`` if none.
    A : ndarray, shape (V', m')
        Entry values of the full A = UVᵀ on the reduced pattern (a dual certificate for S̃ when ``holds``).
    """

    holds: bool
    worst: float
    reduced_index: tuple[int, int]
    A: np.ndarray


def tilde_check(red: Reduction) -> TildeCheck:
    """Prop. 3's sufficient condition for ``L_mm = S̃`` on a reduced pattern (uses ``red.S_tilde_svd``)."""
    U, s, Vt = red.S_tilde_svd
    rk = singular_rank(s, TILDE_RANK_RTOL)
    A = (U[:, :rk] @ Vt[:rk]) / np.sqrt(red.r)[:, None] / np.sqrt(red.c)
    if np.all(red.mask):
        return TildeCheck(True, -np.inf, (-1, -1), A)
    off = np.where(red.mask, -np.inf, A)
    idx = np.unravel_index(int(np.argmax(off)), off.shape)
    worst = float(off[idx])
    return TildeCheck(bool(worst < 0), worst, (int(idx[0]), int(idx[1])), A)


# ---------------------------------------------------------------------------------------- the bundle
@dataclass(frozen=True, eq=False)
class SupportPattern:
    """A validated support pattern with its reduction, computed once; S̃ and Prop. 3's check on first access.

    Attributes
    ----------
    mask : bool ndarray, shape (V, m)
    reduction : Reduction
    """

    __repr__ = short_repr

    mask: np.ndarray
    reduction: Reduction

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    @cached_property
    def S_tilde(self) -> np.ndarray:
        """Full S̃, shape (V, m)."""
        return centred_support(self.mask)

    @cached_property
    def tilde(self) -> TildeCheck:
        """Prop. 3 on the reduced pattern."""
        return tilde_check(self.reduction)

    @cached_property
    def certificate(self) -> TildeCertificate:
        """Prop. 3's certificate with the worst entry at full (token, context) indices."""
        t, red = self.tilde, self.reduction
        i, j = t.reduced_index
        if i < 0:
            return TildeCertificate(True, float(t.worst), (-1, -1))
        v = int(np.flatnonzero(red.row_group == i)[0])
        c = int(np.flatnonzero(red.col_group == j)[0])
        return TildeCertificate(bool(t.holds), float(t.worst), (v, c))


def support_pattern(S: PatternLike) -> SupportPattern:
    """Validate S (NTPData, sparse or dense 0/1, shape (V, m); a SupportPattern is returned as is) and reduce it."""
    if isinstance(S, SupportPattern):
        return S
    mask = support_mask(S)
    mask.setflags(write=False)
    return SupportPattern(mask, _reduce_mask(mask))


def tilde_certificate(S: PatternLike) -> TildeCertificate:
    """Check Prop. 3's sufficient condition for ``L_mm = S̃`` (theory.md §5).

    Parameters
    ----------
    S : NTPData, SupportPattern, or a 0/1 support matrix (V, m)

    Returns
    -------
    TildeCertificate
        ``holds`` (S̃ is optimal for NTP-SVM*), ``worst`` (the largest violation) and ``worst_index``.

    Examples
    --------
    >>> import ntpgeom as g
    >>> g.tilde_certificate(g.synthetic.all_k_subsets(6, 2)).holds
    True
    >>> g.tilde_certificate(g.corpora.synthetic()).holds
    False
    """
    return support_pattern(S).certificate


# --------------------------------------------------------------------------------------------- SVT
def svt(Z: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Singular-value thresholding via the eigendecomposition of the smaller Gram matrix.

    Returns ``(X, D)`` with ``X = prox_{τ‖·‖_*}(Z)`` and ``D = Z - X`` (singular values ``min(σ, τ)``), both of Z's
    shape.
    """
    tall = Z.shape[0] > Z.shape[1]
    Zt = Z.T if tall else Z
    w, Q = np.linalg.eigh(Zt @ Zt.T)
    s = np.sqrt(np.maximum(w, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(s > tau, 1.0 - tau / s, 0.0)
    QtZ = Q.T @ Zt
    X = (Q * keep) @ QtZ
    D = Zt - X
    return (X.T, D.T) if tall else (X, D)


__all__ = [
    "PatternLike", "dense_pattern", "pattern_mask", "support_mask", "centred_support", "S_tilde", "Reduction", "reduce_pattern",
    "singular_rank", "TildeCertificate", "TildeCheck", "tilde_check", "SupportPattern", "support_pattern",
    "tilde_certificate", "svt",
]
