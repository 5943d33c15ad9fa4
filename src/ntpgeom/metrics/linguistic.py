"""Linguistic collapse: the neural-collapse measures of Wu & Papyan, "Linguistic Collapse: Neural Collapse in (Large)
Language Models" (NeurIPS 2024), over next-token classes.

In a language model every token occurrence is a sample whose class is the token that follows it. ntpgeom stores
*distinct* contexts instead: context j (hidden state h_j, a column of H) is followed by token v with probability
``P[v, j]``, and occurs with weight ω_j (``weights``, e.g. π_j ∝ n_j; default 1). Since equal contexts have equal
hidden states, class v's samples are the contexts j with ``P[v, j] > 0``, each with mass ``a_vj = ω_j P[v, j]``; with
ω = the context counts n_j this reproduces Wu & Papyan's per-occurrence statistics exactly. ``labels`` may be either

- a (V x m) matrix (dense or scipy sparse) of non-negative class masses, e.g. ``NTPData.P``, or
- an int array (m,) of class ids (one class per context: ``P`` one-hot), e.g. the support-group ids.

Classes are the rows with positive mass. With class masses a_c = Σ_j a_cj:

- class mean μ_c = Σ_j a_cj h_j / a_c; class variance σ²_c = Σ_j a_cj ‖h_j − μ_c‖² / a_c;
- μ_G = the unweighted average of the class means (Wu & Papyan's default), μ̇_c = μ_c − μ_G.

Definitions (each a mean over classes or over unordered pairs of classes c ≠ c'):

- **CDNV** (NC1, after Galanti et al. 2022): mean of (σ²_c + σ²_c') / (2 ‖μ_c − μ_c'‖²) over pairs of classes with at
  least ``min_contexts`` distinct contexts.
- **GNC2** (hyperspherical uniformity, after Liu et al. 2023): mean of the logarithmic inverse-distance kernel
  log(1 / ‖μ̂_c − μ̂_c'‖) over pairs, μ̂_c = μ̇_c / ‖μ̇_c‖ (lower = more uniformly spread on the sphere).
- **UNC3** (uniform duality): coefficient of variation std_c / mean_c (population std) of the cosines
  cos(w_c, μ̇_c) between each class's classifier row and its centred mean (0 = every class equally aligned).
- **NCC agreement** (NC4): ω-weighted fraction of contexts where the linear classifier's argmax_c w_cᵀh_j (+ b_c)
  equals the nearest class mean argmin_c ‖h_j − μ_c‖, both over the classes that occur (Wu & Papyan take the linear
  argmax over the whole vocabulary; a token that never occurs has no mean to compare with).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .groupstats import CHUNK_ENTRIES, column_chunks, hidden_matrix, pair_ratio_mean
from .similarity import MetricsError

__all__ = ["TokenClasses", "token_classes", "cdnv_by_next_token", "gnc2", "unc3", "ncc_agreement"]


@dataclass(frozen=True)
class TokenClasses:
    """The classes of a set of contexts and their means (see the module docstring); built by :func:`token_classes`.

    Attributes
    ----------
    ids : int array, shape (C,)
        Class ids (token ids, or the given labels) of the C classes with positive mass.
    A : scipy.sparse.csc_array, shape (C, m)
        Mass a_cj of context j in class c.
    mass : array, shape (C,)
        a_c = Σ_j a_cj.
    n_contexts : int array, shape (C,)
        Number of contexts with a_cj > 0.
    means : array, shape (d, C)
        Class means μ_c.
    """

    ids: np.ndarray
    A: sp.csc_array
    mass: np.ndarray
    n_contexts: np.ndarray
    means: np.ndarray

    def variances(self, X: np.ndarray) -> np.ndarray:
        """σ²_c for every class (length C), from the non-zeros of A a block at a time (memory O(d · block))."""
        coo = self.A.tocoo()
        r, c, v = coo.row, coo.col, coo.data
        out = np.zeros(len(self.ids))
        step = max(1, CHUNK_ENTRIES // max(X.shape[0], 1))
        for k0 in range(0, len(v), step):
            sl = slice(k0, k0 + step)
            D = np.asarray(X[:, c[sl]], dtype=np.float64) - self.means[:, r[sl]]
            out += np.bincount(r[sl], weights=v[sl] * np.einsum("ij,ij->j", D, D), minlength=len(self.ids))
        return out / self.mass


def _classes(ids: np.ndarray, A: sp.csc_array, X: np.ndarray) -> TokenClasses:
    mass = np.asarray(A.sum(axis=1)).ravel()
    sums = np.zeros((X.shape[0], len(ids)))
    for j0, j1, Xc in column_chunks(X):
        sums += np.asarray(A[:, j0:j1] @ Xc.T).T
    return TokenClasses(ids=ids, A=A, mass=mass, n_contexts=np.diff(A.tocsr().indptr), means=sums / mass)


def token_classes(H: Any, labels: Any, weights: Any = None) -> TokenClasses:
    """The classes of the columns of ``H`` (d x m) given ``labels`` (int array (m,) or (V x m) masses) and optional
    context weights ω (m,): see the module docstring."""
    X = hidden_matrix(H)
    m = X.shape[1]
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (m,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise MetricsError(f"weights must be {m} finite non-negative numbers, got shape {w.shape}")
    if sp.issparse(labels) or np.ndim(labels) == 2:
        P = sp.csr_array(labels, dtype=np.float64)
        if P.shape[1] != m:
            raise MetricsError(f"P must be V x m with m = {m} columns (one per column of H), got shape {P.shape}")
        if not np.all(np.isfinite(P.data)) or np.any(P.data < 0):
            raise MetricsError("P must hold finite non-negative masses")
        A = sp.csr_array(P @ sp.diags_array(w))
        A.eliminate_zeros()
        ids = np.flatnonzero(np.diff(A.indptr) > 0)
        A = A[ids]
    else:
        g = np.asarray(labels)
        if g.shape != (m,):
            raise MetricsError(f"labels must have one id per column (shape ({m},)), got shape {g.shape}")
        ids, inv, _ = np.unique(g, return_inverse=True, return_counts=True)
        A = sp.csr_array((w, (inv.ravel(), np.arange(m))), shape=(len(ids), m))
        A.eliminate_zeros()
        keep = np.flatnonzero(np.diff(A.indptr) > 0)
        ids, A = ids[keep], A[keep]
    return _classes(ids, sp.csc_array(A), X)


def cdnv_by_next_token(H: Any, P: Any, weights: Any = None, min_contexts: int = 2) -> float:
    """CDNV over next-token classes (Wu & Papyan 2024, NC1): contexts weighted by their next-token probabilities.

    Mean over unordered pairs of token classes v ≠ v' of (σ²_v + σ²_v') / (2 ‖μ_v − μ_v'‖²), with μ_v, σ²_v the
    mean and variance of the hidden states of the contexts followed by v, context j weighted by ω_j P[v, j] (module
    docstring); only classes with at least ``min_contexts`` distinct contexts count (a class seen after one context
    has zero variance by construction). With one-hot ``P`` (int labels) and no weights this is :func:`cdnv`.

    Parameters
    ----------
    H : array, shape (d, m)
    P : array or sparse matrix, shape (V, m), or int array (m,)
        Next-token distribution of each context (``NTPData.P``), or one class id per context.
    weights : array, shape (m,), optional
        Context weights ω (``NTPData.pi`` or the counts n_j for Wu & Papyan's per-occurrence statistics).
    min_contexts : int
        Minimum number of distinct contexts for a class to count.

    Returns
    -------
    float
        NaN when fewer than 2 classes qualify.
    """
    X = hidden_matrix(H)
    tc = token_classes(X, P, weights)
    keep = tc.n_contexts >= min_contexts
    if keep.sum() < 2:
        return float("nan")
    return pair_ratio_mean(tc.means[:, keep], tc.variances(X)[keep])


def _unit_centred_means(tc: TokenClasses, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    means = tc.means if keep is None else tc.means[:, keep]
    Mc = means - means.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(Mc, axis=0)
    nz = norms > 0
    return Mc[:, nz] / norms[nz], nz


def gnc2(H: Any, labels: Any, weights: Any = None, min_contexts: int = 1) -> float:
    """Hyperspherical uniformity of the class means (Wu & Papyan 2024, GNC2; Liu et al. 2023).

    Mean over unordered pairs of classes c ≠ c' of log(1 / ‖μ̂_c − μ̂_c'‖), μ̂_c the unit centred class mean
    over the classes with at least ``min_contexts`` distinct contexts (a class whose centred mean is 0 has no
    direction and is left out). Lower is more uniform; invariant to rotations, scalings and translations of H. Pairs
    are processed a block at a time (memory O(block · C)). Two classes seen after the same single context share
    their mean, and the log kernel is +inf there: over next-token classes, ``min_contexts=2`` (as
    :func:`cdnv_by_next_token`) avoids most such ties.

    Parameters
    ----------
    H : array, shape (d, m)
    labels : int array (m,) or (V x m) class masses (see :func:`token_classes`)
    weights : array, shape (m,), optional
    min_contexts : int
        Minimum number of distinct contexts for a class to count.

    Returns
    -------
    float
        NaN with fewer than 2 classes; +inf if two unit means coincide.
    """
    tc = token_classes(H, labels, weights)
    U, _ = _unit_centred_means(tc, tc.n_contexts >= min_contexts)
    C = U.shape[1]
    if C < 2:
        return float("nan")
    step = max(1, CHUNK_ENTRIES // C)
    total = 0.0
    with np.errstate(divide="ignore"):
        for i0 in range(0, C - 1, step):
            i1 = min(i0 + step, C - 1)
            D2 = np.maximum(2.0 - 2.0 * (U[:, i0:i1].T @ U), 0.0)
            upper = np.arange(C)[None, :] > np.arange(i0, i1)[:, None]
            total += float(-0.5 * np.log(D2[upper]).sum())
    return total / (C * (C - 1) / 2)


def _classifier(W: Any, d: int, tc: TokenClasses) -> np.ndarray:
    Wm = hidden_matrix(W, "W")
    if Wm.shape[1] != d:
        raise MetricsError(f"W has shape {Wm.shape} but H has d = {d} rows; W must be V x d")
    if tc.ids.min(initial=0) < 0 or tc.ids.max(initial=0) >= Wm.shape[0]:
        raise MetricsError(f"class ids must be token ids in 0..{Wm.shape[0] - 1} (rows of W)")
    return np.asarray(Wm[tc.ids], dtype=np.float64)


def unc3(H: Any, W: Any, labels: Any, weights: Any = None) -> float:
    """Uniform duality (Wu & Papyan 2024, UNC3): coefficient of variation of the classifier-mean cosines.

    cos_c = w_cᵀ μ̇_c / (‖w_c‖ ‖μ̇_c‖) for each class c with w_c ≠ 0 and μ̇_c ≠ 0 (w_c: row ``ids[c]`` of W;
    μ̇_c: the centred class mean); UNC3 = std_c(cos_c) / mean_c(cos_c) (population std). 0: every class is
    equally aligned with its classifier. NaN with fewer than 2 classes or a zero mean cosine.

    Parameters
    ----------
    H : array, shape (d, m)
    W : array, shape (V, d)
        Classifier (unembedding) rows; class ids index its rows.
    labels : int array (m,) of token ids, or (V x m) class masses such as ``NTPData.P``
    weights : array, shape (m,), optional
    """
    X = hidden_matrix(H)
    tc = token_classes(X, labels, weights)
    Wc = _classifier(W, X.shape[0], tc)
    U, nz = _unit_centred_means(tc)
    wn = np.linalg.norm(Wc[nz], axis=1)
    ok = wn > 0
    if ok.sum() < 2:
        return float("nan")
    cos = np.einsum("cd,dc->c", Wc[nz][ok], U[:, ok]) / wn[ok]
    mean = float(cos.mean())
    return float(cos.std() / mean) if mean != 0 else float("nan")


def ncc_agreement(H: Any, W: Any, labels: Any, weights: Any = None, b: Any = None) -> float:
    """Agreement of the linear classifier with the nearest-class-centre rule (Wu & Papyan 2024, NC4).

    ω-weighted fraction of contexts j with argmax_c (w_cᵀ h_j + b_c) = argmin_c ‖h_j − μ_c‖, both over the C
    classes that occur (rows ``ids`` of W). 1: the classifier decides as the nearest class mean. Computed a block of
    contexts at a time (memory O(C · block)).

    Parameters
    ----------
    H : array, shape (d, m)
    W : array, shape (V, d)
    labels : int array (m,) of token ids, or (V x m) class masses such as ``NTPData.P``
    weights : array, shape (m,), optional
        Context weights ω (default 1); also weight the class means.
    b : array, shape (V,), optional
        Classifier bias.
    """
    X = hidden_matrix(H)
    tc = token_classes(X, labels, weights)
    Wc = _classifier(W, X.shape[0], tc)
    bias = np.zeros(len(tc.ids)) if b is None else np.asarray(b, dtype=np.float64).ravel()[tc.ids]
    w = np.ones(X.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    M = tc.means
    half_sq = 0.5 * np.einsum("ij,ij->j", M, M)
    agree = 0.0
    step = max(1, CHUNK_ENTRIES // max(len(tc.ids), X.shape[0], 1))
    for j0 in range(0, X.shape[1], step):
        Xc = np.asarray(X[:, j0:j0 + step], dtype=np.float64)
        lin = (Wc @ Xc + bias[:, None]).argmax(axis=0)
        ncc = (half_sq[:, None] - M.T @ Xc).argmin(axis=0)
        agree += float(w[j0:j0 + step][lin == ncc].sum())
    total = float(w.sum())
    return agree / total if total > 0 else float("nan")

