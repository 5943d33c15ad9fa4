"""Low-rank structure of a model's logit matrix on the corpus contexts, next to the theory's L_mm and S̃ (issue 22).

Golowich et al. (2026) read the low-rank structure of language models' logit matrices off their ε-rank; the theory
(theory.md §3-4) predicts ``L ≈ L_in + R·L_mm`` with L_mm of low nuclear norm (and S̃ its proxy), so the ε-rank of the
model's logits is compared with the ranks of L_mm and S̃ at the same ε. Logits are token-centred first,
``(I − 11ᵀ/V) L`` (softmax ignores a constant per context; every minimiser of the theory has ``1ᵀL = 0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .groupstats import rankme_from_singular_values, singular_values
from .similarity import MetricsError

__all__ = ["logit_singular_values", "logit_rank_summary"]


def logit_singular_values(L: Any, name: str = "L") -> np.ndarray:
    """All min(V, m) singular values of the token-centred logits ``(I − 11ᵀ/V) L`` (L: V x m), descending, float64.

    Small matrices: the SVD. Larger ones: the eigenvalues of the Gram of the smaller side, accumulated over chunks
    (memory O(min(V, m)²), the input read in float64 a chunk at a time; values below ~1e-8 σ_max only resolved to that).
    """
    return singular_values(L, name, centre="tokens")


def _eps_rank(s: np.ndarray, eps: float) -> int:
    return int(np.sum(s >= eps * s[0])) if len(s) and s[0] > 0 else 0


def logit_rank_summary(L: Any, L_mm: Any = None, S_tilde: Any = None, eps: float = 1e-3,
                       k: int = 32) -> dict[str, Any]:
    """ε-rank and spectrum of a logit matrix next to rank(L_mm) and rank(S̃) at the same ε.

    Every matrix is token-centred (``(I − 11ᵀ/V) M``) and its ε-rank is the number of singular values
    σ ≥ ε · σ_max (as ``ntpgeom.metrics.representation.eps_rank``).

    Parameters
    ----------
    L : array, shape (V, m)
        The model's logits on the m corpus contexts.
    L_mm, S_tilde : array, shape (V, m), optional
        The max-margin logits (``Theory.L_mm``) and the centred support matrix S̃ of the same contexts.
    eps : float
        Relative threshold, 0 < eps < 1.
    k : int
        Length of the normalised spectrum returned.

    Returns
    -------
    dict
        ``eps``; ``eps_rank_L``; ``rankme_L`` (effective rank, :func:`~ntpgeom.metrics.representation.rankme` of
        the centred L); ``spectrum_L`` (ndarray: the top-k σ_i / σ_1); ``eps_rank_L_mm`` and ``eps_rank_S_tilde``
        (NaN when not given); ``max_rank`` = min(V − 1, m), the largest rank a centred V x m matrix can have.
    """
    if not 0 < eps < 1:
        raise MetricsError(f"eps must lie in (0, 1), got {eps}")
    if k < 1:
        raise MetricsError(f"k must be >= 1, got {k}")
    s = logit_singular_values(L)
    shape = np.shape(L)
    out: dict[str, Any] = {
        "eps": float(eps), "eps_rank_L": _eps_rank(s, eps),
        "rankme_L": rankme_from_singular_values(s),
        "spectrum_L": s[:k] / s[0] if len(s) and s[0] > 0 else np.zeros(min(k, len(s))),
        "max_rank": int(min(shape[0] - 1, shape[1])),
    }
    for key, M in (("eps_rank_L_mm", L_mm), ("eps_rank_S_tilde", S_tilde)):
        if M is None:
            out[key] = float("nan")
            continue
        if np.shape(M) != shape:
            raise MetricsError(f"{key[9:]} has shape {np.shape(M)} but L has shape {shape}; pass the same contexts")
        out[key] = _eps_rank(logit_singular_values(M, key[9:]), eps)
    return out
