"""Building blocks of the large-instance NTP-SVM* solver (:mod:`ntpgeom.theory.svm_large`), in torch.

Everything works on the *reduced* pattern (distinct token rows x distinct supports, theory.md §3 last point) in the
transposed layout ``(m', V')`` (one reduced context per row, contiguous along tokens), on CPU or CUDA, in float32 or
float64. Names follow svm.py: ``mask`` the reduced supports, ``r``/``c`` the row/column multiplicities, ``Wt`` the
scaling ``√c_j √r_z`` that maps entry values ``L̂`` to the scaled variable ``X = diag(√r) L̂ diag(√c)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..data import NTPData
from ..errors import SolverError
from .dense_size import check_dense_size
from .pattern import Reduction, reduce_pattern
from .tolerances import TILDE_RANK_RTOL_GRAM


# ------------------------------------------------------------------------------------------------ reduction
def reduce_sparse(S: Any) -> Reduction:
    """:func:`~ntpgeom.theory.svm.reduce_pattern` without a dense V x m array when S is sparse (or NTPData).

    Same output (groups numbered by first occurrence); memory O(nnz + V m') instead of O(V m). Dense input is passed
    to ``reduce_pattern`` unchanged.
    """
    if isinstance(S, NTPData):
        S = S.S
    if not sp.issparse(S):
        return reduce_pattern(S)
    C = sp.csc_array(S)
    C.sum_duplicates()
    V, m = C.shape
    if V < 2 or m < 1:
        raise SolverError(f"the support matrix must be 2-D V x m with V >= 2 and m >= 1, got shape {C.shape}")
    data = np.asarray(C.data)
    if not np.all(data == 1):
        if np.any((data != 0) & (data != 1)):
            raise SolverError("the support matrix must contain only 0 and 1; pass data.S or (counts > 0)")
        C = C.copy()
        C.eliminate_zeros()
    C.sort_indices()
    ptr, idx = C.indptr, C.indices.astype(np.int64)
    k = np.diff(ptr)
    if np.any(k == 0):
        raise SolverError(f"context {int(np.flatnonzero(k == 0)[0])} has an empty support; every column needs a 1")
    groups: dict[bytes, int] = {}
    col_group = np.empty(m, dtype=np.int64)
    first: list[int] = []
    for j in range(m):
        g = groups.setdefault(idx[ptr[j]:ptr[j + 1]].tobytes(), len(groups))
        if g == len(first):
            first.append(j)
        col_group[j] = g
    check_dense_size(V, len(first), 10, "reducing the support pattern (V tokens x m' distinct supports)",
                     "build the dataset with fewer contexts (`ntpgeom data build ... --min-count N` or `--top-k K`)")
    m1 = C[:, np.asarray(first)].toarray() != 0  # V x m'
    packed = np.packbits(m1, axis=1)
    _, rfirst, rinv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(rfirst, kind="stable")
    rank = np.empty(len(rfirst), dtype=np.int64)
    rank[order] = np.arange(len(rfirst))
    row_group = rank[rinv.ravel()]
    red = m1[rfirst[order], :]
    c = np.bincount(col_group, minlength=len(first)).astype(np.float64)
    r = np.bincount(row_group, minlength=len(rfirst)).astype(np.float64)
    return Reduction(red, r, c, row_group, col_group)


# ------------------------------------------------------------------------------------------- projections
def support_index(Mt: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The supports as padded index lists: ``(idx, rw, B)``, shapes (m', kmax), (m', kmax), (m',).

    ``idx[j]`` lists the support of reduced context j (padded with its first token), ``rw`` the token weights r there
    (0 on padding), ``B = Σ_{z∈S_j} r_z``. Supports are small (k <= 16 on language data), so gathers through ``idx``
    cost a fraction of a pass over the (m', V') state.
    """
    k = Mt.sum(dim=1)
    kmax = max(int(k.max()), 1)
    order = torch.argsort((~Mt).to(torch.int8), dim=1, stable=True)[:, :kmax]  # support columns first
    pad = torch.arange(kmax, device=Mt.device)[None, :] >= k[:, None]
    idx = torch.where(pad, order[:, :1], order)
    rw = torch.where(pad, 0.0, r[idx])
    return idx, rw, rw.sum(dim=1)


def project_rows(Zt: torch.Tensor, Mt: torch.Tensor, r: torch.Tensor, max_steps: int = 200,
                 level: torch.Tensor | None = None, sup: tuple | None = None) -> torch.Tensor:
    """Weighted projection of every row of ``Zt`` (m', V') onto ``{x : x_z = a (z in S), x_v <= a - 1 (v not in S)}``.

    Minimises ``Σ_z r_z (x_z - Zt[j, z])²`` per row; the torch twin of ``svm.project_columns``. The level ``a`` is
    the root of the concave, increasing, piecewise-linear ``h(a) = B a - A - Σ_{v∉S} r_v (Zt[j, v] + 1 - a)_+``.
    Newton's step ``N(a) = (A + Σ_active r T) / (B + Σ_active r)`` (T = Z + 1 off the support, active: T > a) lands
    left of the root from any start (the tangent of a concave function lies above it); from the left it increases
    monotonically, the active sets shrink (nested), and it stops when a row's active weight repeats (the same set,
    so the same step: exact, and immune to rounding). The start is ``N(level)`` for a warm-start
    ``level`` (e.g. the previous ADMM iteration's; updated in place), else the in-support mean A / B. Sums over the
    off-support run over whole rows minus the support's share (``sup`` = :func:`support_index`, computed if not
    given), so a Newton step reads the state about four times. The output is feasible for any ``a``.
    """
    idx, rw, B = sup if sup is not None else support_index(Mt, r)
    Zs = Zt.gather(1, idx)
    A = (Zs * rw).sum(dim=1)
    rT = torch.addcmul(r, Zt, r)  # r (Z + 1)
    rTs = rw * (Zs + 1.0)

    def newton(a):
        act = Zt > (a - 1.0)[:, None]
        acts = Zs > (a - 1.0)[:, None]
        actf = act.to(Zt.dtype)
        w = actf @ r - (acts * rw).sum(dim=1)
        return (A + (actf * rT).sum(dim=1) - (acts * rTs).sum(dim=1)) / (B + w), w

    warm = level is not None and level.shape == A.shape
    if warm:  # N(level) is left of the root; it is the root if the active set there is the one at level
        a, w_prev = newton(level)
    else:
        a, w_prev = A / B, torch.full_like(A, -1.0)
    for _ in range(max_steps):
        a_new, w = newton(a)
        if bool(torch.all((w == w_prev) | (a_new <= a))):
            break
        a, w_prev = torch.maximum(a, a_new), w
    if warm:
        level.copy_(a)
    out = torch.minimum(Zt, (a - 1.0)[:, None])
    return out.scatter_(1, idx, a[:, None].expand(-1, idx.shape[1]).contiguous())


def gram(A: torch.Tensor) -> torch.Tensor:
    """``A Aᵀ`` with only its LOWER triangle guaranteed (what ``eigh``/``eigvalsh`` read by default).

    On CPU through BLAS ``syrk`` (scipy), half the flops of a general product and no copy of a transposed view;
    elsewhere a plain product.
    """
    if A.device.type == "cpu" and A.dtype in (torch.float32, torch.float64):
        from scipy.linalg import blas

        syrk = blas.ssyrk if A.dtype == torch.float32 else blas.dsyrk
        return torch.from_numpy(syrk(1.0, A.detach().numpy(), lower=1))
    return A @ A.T


def svt(Z: torch.Tensor, tau: float, eig_dtype: torch.dtype | None = None,
        remainder: bool = True) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Singular-value thresholding through the eigendecomposition of the smaller Gram matrix.

    Returns ``(X, D, s)``: ``X = prox_{τ‖·‖_*}(Z)``, ``D = Z - X`` (singular values ``min(σ, τ)``, so ``‖D‖_2 <= τ``;
    None unless ``remainder``) and the singular values ``s`` of Z (descending order not guaranteed: eigh's ascending
    order, square-rooted). The Gram and the products run in Z's dtype; the symmetric eigendecomposition in
    ``eig_dtype`` (default Z's): a float64 eigensolver on a float32 Gram removes most of float32's accuracy floor
    (the eigenvectors near the threshold are what float32 ``eigh`` gets wrong) at the cost of the eigensolver alone.
    """
    wide = Z.shape[0] <= Z.shape[1]
    Zs = Z if wide else Z.T
    G = gram(Zs)
    if eig_dtype is not None and eig_dtype != G.dtype:
        w, Q = torch.linalg.eigh(G.to(eig_dtype))
        w, Q = w.to(Z.dtype), Q.to(Z.dtype)
    else:
        w, Q = torch.linalg.eigh(G)
    s = torch.sqrt(torch.clamp(w, min=0.0))
    keep = s > tau
    Qk = Q[:, keep]
    shrink = 1.0 - tau / s[keep]
    X = (Qk * shrink) @ (Qk.T @ Zs)
    D = Zs - X if remainder else None
    if wide:
        return X, D, s
    return X.T, (D.T if D is not None else None), s


class Anderson:
    """Type-II Anderson acceleration of a fixed-point map x -> g(x) on flat tensors (ring buffer of ``mem`` differences).

    ``step(g, f)`` records ``g = g(x)``, ``f = g(x) - x`` and returns ``g - ΔG γ`` with ``γ = argmin ‖f - ΔF γ‖``
    (ridge-regularised normal equations in float64). Per step it reads the state about ``2 mem + 4`` times: the Gram
    ``ΔFᵀΔF`` gains one row, and ``ΔFᵀf`` is updated from the previous step's ``ΔFᵀf_prev`` (``f = f_prev + Δf``)
    instead of recomputed. ``g`` and ``f`` are kept by reference: the caller must not modify them in place.
    """

    def __init__(self, mem: int, like: torch.Tensor, reg: float):
        self.mem, self.reg = mem, reg
        self.dF = torch.empty((mem, like.numel()), dtype=like.dtype, device=like.device)
        self.dG = torch.empty((mem, like.numel()), dtype=like.dtype, device=like.device)
        self.FF = torch.zeros((mem, mem), dtype=torch.float64, device=like.device)
        self.Ff = torch.zeros(mem, dtype=torch.float64, device=like.device)  # ΔF_jᵀ f_prev
        self.reset()

    def reset(self) -> None:
        self.k, self.head, self.f_prev, self.g_prev = 0, 0, None, None

    def step(self, g: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if self.f_prev is not None:
            i = self.head
            torch.sub(f, self.f_prev, out=self.dF[i])
            torch.sub(g, self.g_prev, out=self.dG[i])
            self.head, self.k = (i + 1) % self.mem, min(self.k + 1, self.mem)
            row = (self.dF[: self.k] @ self.dF[i]).double()
            self.FF[i, : self.k] = row
            self.FF[: self.k, i] = row
            Ff = self.Ff[: self.k] + row  # ΔF_jᵀ f = ΔF_jᵀ f_prev + ΔF_jᵀ ΔF_i ...
            Ff[i] = float(self.dF[i] @ f)  # ... except for the new row
            self.Ff[: self.k] = Ff
        self.f_prev, self.g_prev = f, g
        if self.k == 0:
            return g
        FF = self.FF[: self.k, : self.k]
        FF = FF + self.reg * float(FF.diagonal().max()) * torch.eye(self.k, dtype=torch.float64, device=FF.device)
        gamma = torch.linalg.solve(FF, self.Ff[: self.k]).to(g.dtype)
        return g - gamma @ self.dG[: self.k]


# ------------------------------------------------------------------------------------------- certificates
def spectral_norm_upper(M: torch.Tensor) -> float:
    """An upper bound on ``‖M‖_2`` in float64: the largest Gram eigenvalue, inflated by its rounding error bound."""
    M = M.to(torch.float64)
    Ms = M if M.shape[0] <= M.shape[1] else M.T
    lam = float(torch.linalg.eigvalsh(gram(Ms))[-1])
    n = max(M.shape)
    return float(np.sqrt(max(lam, 0.0) * (1.0 + 8.0 * n * np.finfo(np.float64).eps)))


def repair_dual(At: torch.Tensor, Mt: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Make an estimate of the dual entry values (m', V') feasible and return it with its value ``tr(AᵀS̃)``.

    Off-support entries are clipped to <= 0, each context's in-support entries shifted so that the r-weighted column
    sum is 0 (``1ᵀA = 0`` for the expanded A), and A is divided by an upper bound on the spectral norm of the scaled
    ``diag(√r) A diag(√c)``, so the result is dual feasible and its value a true lower bound on the optimum. float64.
    """
    At, Mt, r, c = At.to(torch.float64), Mt, r.to(torch.float64), c.to(torch.float64)
    A = torch.where(Mt, At, torch.clamp(At, max=0.0))
    colsum = (A * r).sum(dim=1)
    k = (Mt * r).sum(dim=1)
    A = torch.where(Mt, A - (colsum / k)[:, None], A)
    nrm = spectral_norm_upper(torch.sqrt(c)[:, None] * A * torch.sqrt(r))
    if nrm <= 0:
        return A, 0.0
    A = A / nrm
    val = float((torch.where(Mt, A, 0.0) * r * c[:, None]).sum())
    return A, val


def _gram_eigh(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eigendecomposition of the smaller Gram of X (float64): returns (eigenvalues, eigenvectors, X oriented wide)."""
    Xs = X if X.shape[0] <= X.shape[1] else X.T
    w, Q = torch.linalg.eigh(gram(Xs))
    return w, Q, Xs


def nuclear_norm_upper(Lt: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> tuple[float, torch.Tensor]:
    """An upper bound on ``‖diag(√r) L̂ diag(√c)‖_*`` (= the nuclear norm of the expanded L), float64.

    For any orthonormal Q, ``‖X‖_* = ‖QᵀX‖_* <= Σ_i ‖q_iᵀX‖`` (triangle inequality over rank-one rows); with the
    eigenvectors of the Gram it is tight, and the row norms are computed to relative accuracy, unlike square roots of
    tiny Gram eigenvalues. Returns the bound and the singular values (descending) it sums.
    """
    X = torch.sqrt(c.to(torch.float64))[:, None] * Lt.to(torch.float64) * torch.sqrt(r.to(torch.float64))
    _, Q, Xs = _gram_eigh(X)
    s = torch.linalg.norm(Q.T @ Xs, dim=1).flip(0)
    return float(s.sum()) * (1.0 + 4.0 * max(X.shape) * np.finfo(np.float64).eps), s


def tilde_polar(St: torch.Tensor, Mt: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Prop. 3 on the reduced pattern: the entry values of ``A = UVᵀ`` of S̃ (m', V') and its worst off-support entry.

    The certificate holds when the worst entry is < 0 (then S̃ is optimal). float64, rank cut at
    ``TILDE_RANK_RTOL_GRAM`` (1e-7) σ_max.
    """
    sr, sc = torch.sqrt(r.to(torch.float64)), torch.sqrt(c.to(torch.float64))
    X = sc[:, None] * St.to(torch.float64) * sr
    w, Q, Xs = _gram_eigh(X)
    s = torch.sqrt(torch.clamp(w, min=0.0))
    keep = s > TILDE_RANK_RTOL_GRAM * float(s.max())
    Qk = Q[:, keep]
    P = (Qk / s[keep]) @ (Qk.T @ Xs)  # polar factor on the range
    P = P if X.shape[0] <= X.shape[1] else P.T
    A = P / sc[:, None] / sr
    off = torch.where(Mt, -torch.inf, A)
    return A, float(off.max())


def violation(Lt: torch.Tensor, Mt: torch.Tensor) -> float:
    """Largest NTP-SVM* constraint violation (in-support spread, margin shortfall) of entry values (m', V')."""
    Lt = Lt.to(torch.float64)
    hi = torch.where(Mt, Lt, -torch.inf).amax(dim=1)
    lo = torch.where(Mt, Lt, torch.inf).amin(dim=1)
    off = torch.where(Mt, -torch.inf, Lt).amax(dim=1)
    short = torch.clamp(off - (lo - 1.0), min=0.0)
    return float(max(float((hi - lo).max()), float(short.max()), 0.0))
