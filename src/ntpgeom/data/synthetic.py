"""Synthetic NTP datasets with known structure: random supports, all k-subsets, one-hot (neural collapse).

Every generator is deterministic given ``seed`` and records its parameters in ``meta``.
"""

from __future__ import annotations

import itertools
from math import comb
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import NTPDataError
from .dataset import NTPData

PROB_MODELS = ("uniform", "dirichlet", "counts")


def _pos_int(name: str, v: Any) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise NTPDataError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def _dataset(C: sp.csc_array, meta: dict[str, Any]) -> NTPData:
    V, m = C.shape
    return NTPData(
        C,
        [f"t{z}" for z in range(V)],
        np.arange(m, dtype=np.int64).reshape(m, 1),
        [f"c{j}" for j in range(m)],
        meta,
    )


def _fill(supports: list[np.ndarray], V: int, probs: str, rng: np.random.Generator, alpha: float, max_repeat: int) -> sp.csc_array:
    """Counts matrix for the given per-context supports under a probability model."""
    m = len(supports)
    sizes = np.array([len(s) for s in supports])
    rows = np.concatenate(supports)
    cols = np.repeat(np.arange(m), sizes)
    if probs == "uniform":
        vals = np.ones(len(rows))
    elif probs == "dirichlet":
        g = rng.gamma(alpha, size=len(rows))
        g = np.maximum(g, 1e-12)
        tot = np.bincount(cols, weights=g, minlength=m)
        vals = g / tot[cols]  # one unit of weight per context: uniform pi, random soft labels
    else:
        vals = rng.integers(1, max_repeat + 1, size=len(rows)).astype(np.float64)
    return sp.csc_array((vals, (rows, cols)), shape=(V, m))


def random_supports(
    V: int,
    m: int,
    support_sizes: int | tuple[int, int] | Sequence[int] = (1, 5),
    n_supports: int | None = None,
    probs: str = "dirichlet",
    *,
    alpha: float = 1.0,
    max_repeat: int = 10,
    seed: int = 0,
) -> NTPData:
    """Random sparse supports.

    Parameters
    ----------
    V, m : int
        Vocabulary size and number of distinct contexts.
    support_sizes : int, (lo, hi) or list
        Support size k, a range lo..hi (inclusive, drawn uniformly), or an explicit list to draw from.
    n_supports : int, optional
        Size of the pool of distinct supports that contexts share (each pool member is used at least once);
        ``None``: every context draws its own support (repeats only by chance).
    probs : {"uniform", "dirichlet", "counts"}
        ``uniform``: uniform P on each support, one count per entry; ``dirichlet``: P drawn from Dirichlet(alpha)
        on each support with uniform π (the paper's synthetic UFM setting); ``counts``: integer counts uniform in
        1..max_repeat (non-uniform π).
    seed : int
        Random seed.

    Returns
    -------
    NTPData, shape (V, m).
    """
    V, m = _pos_int("V", V), _pos_int("m", m)
    if probs not in PROB_MODELS:
        raise NTPDataError(f"probs must be one of {PROB_MODELS}, got {probs!r}")
    if isinstance(support_sizes, (int, np.integer)):
        choices = np.array([int(support_sizes)])
    elif isinstance(support_sizes, tuple) and len(support_sizes) == 2:
        choices = np.arange(int(support_sizes[0]), int(support_sizes[1]) + 1)
    else:
        choices = np.asarray(list(support_sizes), dtype=np.int64)
    if choices.size == 0 or choices.min() < 1 or choices.max() > V:
        raise NTPDataError(f"support sizes must lie in 1..V={V}, got {support_sizes!r}")
    rng = np.random.default_rng(seed)

    def draw(k: int) -> np.ndarray:
        return np.sort(rng.choice(V, size=k, replace=False))

    if n_supports is None:
        supports = [draw(int(k)) for k in rng.choice(choices, size=m)]
    else:
        n_supports = _pos_int("n_supports", n_supports)
        if n_supports > m:
            raise NTPDataError(f"n_supports={n_supports} exceeds m={m}; each pool support must be used by a context")
        capacity = sum(comb(V, int(k)) for k in np.unique(choices))
        if n_supports > capacity:
            raise NTPDataError(f"only {capacity} distinct supports of sizes {choices.tolist()} exist over V={V} tokens")
        pool: dict[tuple[int, ...], None] = {}
        while len(pool) < n_supports:
            pool.setdefault(tuple(draw(int(rng.choice(choices))).tolist()), None)
        pool_list = [np.array(s) for s in pool]
        assign = np.concatenate([np.arange(n_supports), rng.integers(0, n_supports, size=m - n_supports)])
        rng.shuffle(assign)
        supports = [pool_list[a] for a in assign]
    C = _fill(supports, V, probs, rng, alpha, max_repeat)
    meta = {
        "source": "synthetic:random_supports",
        "generator": {"V": V, "m": m, "support_sizes": np.asarray(choices).tolist(), "n_supports": n_supports,
                      "probs": probs, "alpha": alpha, "max_repeat": max_repeat},
        "seed": seed,
    }
    return _dataset(C, meta)


def all_k_subsets(V: int, k: int, probs: str = "uniform", *, alpha: float = 1.0, max_repeat: int = 10, seed: int = 0) -> NTPData:
    """Every support of size k exactly once: m = C(V, k) contexts (theory.md §5, Props. 2 and 5; there L_mm = S̃)."""
    V, k = _pos_int("V", V), _pos_int("k", k)
    if k > V:
        raise NTPDataError(f"k={k} exceeds V={V}")
    if comb(V, k) > 2_000_000:
        raise NTPDataError(f"C({V},{k}) = {comb(V, k)} contexts is too many; choose smaller V or k")
    supports = [np.array(c) for c in itertools.combinations(range(V), k)]
    C = _fill(supports, V, probs, np.random.default_rng(seed), alpha, max_repeat)
    return _dataset(C, {"source": "synthetic:all_k_subsets", "generator": {"V": V, "k": k, "probs": probs}, "seed": seed})


def one_hot(V: int, per_class: int | Sequence[int] = 1) -> NTPData:
    """One-hot labels (support size 1): the neural-collapse setting.

    ``per_class`` is the number of contexts (examples) of each class: an int (balanced) or a length-V sequence
    (imbalanced). Contexts are ordered by class; context j of class c has ``counts[c, j] = 1``.
    """
    V = _pos_int("V", V)
    if isinstance(per_class, (int, np.integer)):
        reps = np.full(V, _pos_int("per_class", per_class))
    else:
        reps = np.asarray(list(per_class), dtype=np.int64)
        if reps.shape != (V,) or reps.min() < 1:
            raise NTPDataError(f"per_class must be a positive int or {V} positive ints, got {per_class!r}")
    rows = np.repeat(np.arange(V), reps)
    m = len(rows)
    C = sp.csc_array((np.ones(m), (rows, np.arange(m))), shape=(V, m))
    return _dataset(C, {"source": "synthetic:one_hot", "generator": {"V": V, "per_class": reps.tolist()}})
