"""Representation metrics of one layer's hidden states: class-distance normalised variance, effective rank, spectral
decay, anisotropy and spectra (issue 22, item 3).

Every function takes numpy arrays (``H`` is d x m': one column per measured context) and returns plain floats or
dicts. Inputs may be float32 or float64; every reduction is carried out in float64, in column chunks, so that memory
stays O(d² + d·chunk + #groups·d) whatever m' is. Sources:

- CDNV: Galanti, György & Hutter, "On the role of neural collapse in transfer learning" (ICLR 2022); its use over
  next-token classes: Wu & Papyan, "Linguistic Collapse: Neural Collapse in (Large) Language Models" (NeurIPS 2024).
- RankMe: Garrido, Balestriero, Najman & LeCun, "RankMe: Assessing the downstream performance of pretrained
  self-supervised representations by their rank" (ICML 2023).
- α-ReQ: Agrawal, Mondal, Ghosh & Richards, "α-ReQ: Assessing representation quality in self-supervised learning by
  measuring eigenspectrum decay" (NeurIPS 2022).
- Anisotropy (mean cosine) and normalised singular-value spectra: Ethayarajh (EMNLP 2019); Godey, de la Clergerie &
  Sagot, "Why do small language models underperform? Studying LM saturation via the softmax bottleneck" (2024).

The token-class measures of Wu & Papyan (GNC2, UNC3, NCC agreement, CDNV over next-token classes) live in
:mod:`ntpgeom.metrics.linguistic`; :func:`layer_metrics` gathers everything that applies to one layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .groupstats import (column_chunks, group_ids, group_sq_deviation, group_sums, hidden_matrix,
                         pair_ratio_mean, rankme_from_singular_values, singular_values)
from .linguistic import cdnv_by_next_token, gnc2, ncc_agreement, unc3
from .logit_rank import logit_rank_summary
from .similarity import MetricsError

__all__ = ["cdnv", "rankme", "rankme_from_singular_values", "alpha_req", "anisotropy", "spectrum", "eps_rank",
           "layer_metrics", "LAYER_KEYS",
           # defined in .linguistic and .logit_rank, re-exported: the whole suite from one module
           "cdnv_by_next_token", "gnc2", "unc3", "ncc_agreement", "logit_rank_summary"]


def cdnv(H: Any, labels: Any) -> float:
    """Class-distance normalised variance of the columns of ``H`` grouped by ``labels`` (0 = collapsed groups).

    With μ_a the mean of group a's columns and σ²_a = mean over the group of ‖h − μ_a‖² (unweighted),

        cdnv = mean over unordered pairs {a, b}, a ≠ b, of  (σ²_a + σ²_b) / (2 ‖μ_a − μ_b‖²),

    over the groups with at least 2 columns (a singleton has no measurable variance). Source: Galanti, György &
    Hutter (ICLR 2022), the variability-collapse measure Wu & Papyan (NeurIPS 2024) track in language models.
    Invariant to rotations, translations and scalings of all columns together.

    Parameters
    ----------
    H : array, shape (d, m')
        Hidden states, one column per context.
    labels : array, shape (m',)
        Group id of each column (e.g. the support-group id ``ProbeResult.groups`` / ``NTPData.support_groups``).

    Returns
    -------
    float
        NaN when fewer than 2 groups have at least 2 columns; +inf if two eligible groups share their mean.
        Memory O(d · G + block · G) for G groups (pairs are processed a block at a time).
    """
    X = hidden_matrix(H)
    inv, counts = group_ids(labels, X.shape[1])
    eligible = np.flatnonzero(counts >= 2)
    if len(eligible) < 2:
        return float("nan")
    G = len(eligible)
    remap = np.full(len(counts), G, dtype=np.intp)  # singletons go to a spare group G, dropped below (no copy of H)
    remap[eligible] = np.arange(G)
    sub = remap[inv]
    n = counts[eligible].astype(np.float64)
    means = group_sums(X, sub, G + 1)[:, :G] / n
    dev = group_sq_deviation(X, sub, np.hstack([means, np.zeros((X.shape[0], 1))]))[:G]
    return pair_ratio_mean(means, dev / n)


def rankme(H: Any, eps: float = 0.0) -> float:
    """RankMe effective rank of ``H`` (Garrido et al., ICML 2023).

    With σ_1 ≥ … ≥ σ_n the n = min(d, m') singular values of the **uncentred** H and p_k = σ_k / Σ_i σ_i + ε,

        rankme = exp(−Σ_k p_k ln p_k).

    It equals r for r equal non-zero singular values (exactly with ε = 0; up to O(n·ε·ln ε) otherwise), and is
    invariant to rotations and scalings of H. NaN for an all-zero H. Zero terms count 0 (0 ln 0 = 0).

    Parameters
    ----------
    H : array, shape (d, m')
    eps : float
        Added to every p_k. Default 0: the plain entropy of the normalised spectrum; Garrido et al. use 1e-7.

    Returns
    -------
    float
        The effective rank, in [1, min(d, m')] (NaN for an all-zero H).
    """
    return rankme_from_singular_values(singular_values(H, "H"), eps)


def alpha_req(H: Any, k_min: int = 1, k_max: int | None = None, rtol: float = 1e-10) -> float:
    """α-ReQ: the power-law decay exponent α of the eigenspectrum of the representation covariance (Agrawal et al.,
    NeurIPS 2022), λ_k ∝ k^(−α).

    λ_1 ≥ λ_2 ≥ … are the eigenvalues of the covariance of the columns of H (H centred over its columns: the squared
    singular values of the centred H divided by m'). α is minus the least-squares slope of ln λ_k against ln k over
    k = k_min .. k_max, where k_max defaults to the last eigenvalue ≥ ``rtol`` · λ_1 (numerical zeros, e.g. beyond
    rank m' − 1, are excluded). Larger α: faster decay, a lower-dimensional representation.

    Parameters
    ----------
    H : array, shape (d, m')
    k_min, k_max : int
        The (1-based, inclusive) range of ranks fitted.
    rtol : float
        Eigenvalues below ``rtol · λ_1`` count as zero.

    Returns
    -------
    float
        NaN when fewer than 2 eigenvalues are in range.
    """
    X = hidden_matrix(H)
    m = X.shape[1]
    if m < 2:
        return float("nan")
    lam = singular_values(X, "H", centre="columns") ** 2 / m
    if len(lam) == 0 or lam[0] <= 0:
        return float("nan")
    last = int(np.sum(lam >= rtol * lam[0]))
    hi = last if k_max is None else min(k_max, last)
    k = np.arange(k_min, hi + 1)
    if len(k) < 2:
        return float("nan")
    slope = np.polyfit(np.log(k), np.log(lam[k - 1]), 1)[0]
    return float(-slope)


def anisotropy(H: Any) -> float:
    """Mean cosine similarity between distinct columns of ``H`` (1: all columns point one way; ≈ 0: isotropic).

    With u_j = h_j / ‖h_j‖ over the non-zero columns (a zero column has no direction and is left out, n of them kept),

        anisotropy = (‖Σ_j u_j‖² − n) / (n (n − 1)) = mean over i ≠ j of u_iᵀ u_j,

    computed from the sum of the unit columns in O(d · m') time and O(d · chunk) memory (no m' x m' matrix). Source:
    Ethayarajh (EMNLP 2019); Godey et al. (2024) relate it to softmax-bottleneck saturation. NaN when n < 2.

    Parameters
    ----------
    H : array, shape (d, m')

    Returns
    -------
    float
        The mean cosine in [−1/(n − 1), 1], NaN when n < 2.
    """
    X = hidden_matrix(H)
    s = np.zeros(X.shape[0])
    n = 0
    for _, _, Xc in column_chunks(X):
        norms = np.linalg.norm(Xc, axis=0)
        nz = norms > 0
        s += (Xc[:, nz] / norms[nz]).sum(axis=1)
        n += int(nz.sum())
    if n < 2:
        return float("nan")
    return float((s @ s - n) / (n * (n - 1)))


def spectrum(M: Any, k: int | None = None) -> np.ndarray:
    """The top-``k`` singular values of ``M`` divided by the largest (σ_k / σ_1, descending, the first is 1).

    The normalised spectrum of Godey et al. (2024) for LM heads. ``k`` = None: all min(d, m). An all-zero M gives zeros.
    """
    s = singular_values(M, "M")
    if k is not None:
        if k < 1:
            raise MetricsError(f"k must be >= 1, got {k}")
        s = s[:k]
    return s / s[0] if len(s) and s[0] > 0 else np.zeros_like(s)


def eps_rank(M: Any, eps: float = 1e-3) -> int:
    """ε-rank of ``M``: the number of singular values σ_k ≥ ε · σ_max (0 for an all-zero M).

    The numerical rank at relative threshold ε; the low-rank structure of logit matrices (Golowich et al. 2026) is
    read off it at several ε.
    """
    if not eps > 0:
        raise MetricsError(f"eps must be > 0, got {eps}")
    s = singular_values(M, "M")
    if len(s) == 0 or s[0] <= 0:
        return 0
    return int(np.sum(s >= eps * s[0]))


#: Keys of :func:`layer_metrics`: always, with P, with W, with W and P.
LAYER_KEYS: tuple[str, ...] = ("cdnv", "rankme", "alpha_req", "anisotropy", "gnc2", "cdnv_next_token",
                               "gnc2_next_token", "lm_head_rank", "unc3", "ncc_agreement")


def layer_metrics(H: Any, groups: Any, W: Any = None, P: Any = None, weights: Any = None) -> dict[str, float]:
    """Every representation metric that applies to one layer's hidden states, as a flat ``dict[str, float]``.

    Keys (NaN where a metric is undefined, e.g. cdnv with fewer than two groups of size ≥ 2):

    ====================  ========================================================================================
    ``cdnv``              :func:`cdnv` of the columns of H by ``groups`` (support groups, unweighted)
    ``rankme``            :func:`rankme` of the uncentred H
    ``alpha_req``         :func:`alpha_req` of H (covariance eigenspectrum decay)
    ``anisotropy``        :func:`anisotropy` of H (mean cosine between distinct columns)
    ``gnc2``              :func:`~ntpgeom.metrics.linguistic.gnc2` of the support-group means
    ``cdnv_next_token``   with P: :func:`~ntpgeom.metrics.linguistic.cdnv_by_next_token` (classes = next tokens,
                          context j in class v with mass ω_j P[v, j])
    ``gnc2_next_token``   with P: GNC2 of the next-token class means (classes with ≥ 2 contexts, as
                          ``cdnv_next_token``)
    ``lm_head_rank``      with W: :func:`rankme` of the LM head W (V x d), its effective rank
    ``unc3``              with W and P: :func:`~ntpgeom.metrics.linguistic.unc3` over next-token classes
    ``ncc_agreement``     with W and P: :func:`~ntpgeom.metrics.linguistic.ncc_agreement` over next-token classes
    ====================  ========================================================================================

    Parameters
    ----------
    H : array, shape (d, m')
        Hidden states of the m' measured contexts (columns).
    groups : array, shape (m',)
        Support-group id of each context.
    W : array, shape (V, d), optional
        Unembedding (LM head) rows (for an intermediate layer: the logit-lens readout's rows).
    P : array or sparse matrix, shape (V, m'), optional
        Next-token distribution of each context (``NTPData.P`` restricted to the measured contexts).
    weights : array, shape (m',), optional
        Context weights ω (e.g. π) of the next-token measures; default 1.

    Returns
    -------
    dict of str to float
        The keys above that apply (those needing W or P only when given).
    """
    X = hidden_matrix(H)
    out = {"cdnv": cdnv(X, groups), "rankme": rankme(X), "alpha_req": alpha_req(X), "anisotropy": anisotropy(X),
           "gnc2": gnc2(X, groups)}
    if P is not None:
        out["cdnv_next_token"] = cdnv_by_next_token(X, P, weights)
        out["gnc2_next_token"] = gnc2(X, P, weights, min_contexts=2)
    if W is not None:
        Wm = hidden_matrix(W, "W")
        if Wm.shape[1] != X.shape[0]:
            raise MetricsError(f"W has shape {Wm.shape} but H has d = {X.shape[0]} rows; W must be V x d")
        out["lm_head_rank"] = rankme(Wm)
        if P is not None:
            if np.shape(P)[0] != Wm.shape[0]:
                raise MetricsError(f"P has {np.shape(P)[0]} rows but W has V = {Wm.shape[0]}; P must be V x m'")
            out["unc3"] = unc3(X, Wm, P, weights)
            out["ncc_agreement"] = ncc_agreement(X, Wm, P, weights)
    return {key: float(v) for key, v in out.items()}
