"""The two matrix helpers every layer shares: token centring and the nuclear norm (one implementation each)."""

from __future__ import annotations

from typing import Any

import numpy as np


def centre(L: Any, dtype: Any = np.float64) -> np.ndarray:
    """Token-centred logits ``(I - 11ᵀ/V) L``: every column minus its mean over tokens (softmax ignores per-context
    shifts). Shape (V, m) in and out; converted to ``dtype`` first (None: keep L's dtype)."""
    L = np.asarray(L, dtype=dtype)
    return L - L.mean(axis=0, keepdims=True)


def nuclear_norm(M: Any) -> float:
    """``‖M‖_*``, the sum of the singular values of a 2-D array."""
    return float(np.linalg.svd(M, compute_uv=False).sum())


__all__ = ["centre", "nuclear_norm"]
