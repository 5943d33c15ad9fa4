"""Subspace collapse (theory.md §4) and the neural-collapse measures NC1-NC4 for one-hot data (§5).

Subspace collapse: contexts with the same support set converge to the same direction. :func:`collapse_index`
measures how far from that a set of vectors is; :func:`collapse_baseline` gives its value under random groupings of
the same sizes, the scale against which a small index is meaningful.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..theory.norms import centre
from .similarity import MetricsError, as_matrix


def _groups(groups: Any, m: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.shape != (m,):
        raise MetricsError(f"groups must have one id per column (shape ({m},)), got shape {g.shape}")
    _, inv = np.unique(g, return_inverse=True)
    return inv.ravel()


def _index(U: np.ndarray, inv: np.ndarray) -> float:
    n_groups = int(inv.max()) + 1
    m = U.shape[1]
    counts = np.bincount(inv, minlength=n_groups).astype(np.float64)
    sums = np.zeros((U.shape[0], n_groups))
    np.add.at(sums.T, inv, U.T)
    means = sums / counts
    within = float(((U - means[:, inv]) ** 2).sum()) / m
    total = float(((U - U.mean(axis=1, keepdims=True)) ** 2).sum()) / m
    if within <= 0.0 or total <= 0.0:
        return 0.0
    return min(within / total, 1.0)


def _unit_columns(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=0)
    out = np.zeros_like(X)
    nz = n > 0
    out[:, nz] = X[:, nz] / n[nz]
    return out


def collapse_index(X: Any, groups: Any) -> float:
    """Subspace-collapse index of the columns of ``X`` under a grouping (0 = perfect collapse).

    With ``u_j = x_j / ‖x_j‖`` (a zero column stays zero), group means ``μ_g`` and the overall mean ``μ``:

        within = (1/m) Σ_j ‖u_j − μ_{g(j)}‖²,    total = (1/m) Σ_j ‖u_j − μ‖²,    index = within / total.

    ``total = within + between`` (between = spread of the group means around μ), so the index lies in [0, 1]: it is 0
    iff every group's columns share one direction, and it is the fraction of the directional spread that is *not*
    explained by the grouping (1 − R² of a one-way ANOVA on unit vectors). It is 0 when all columns share one
    direction (total = 0). Singleton groups contribute nothing to ``within``; compare against
    :func:`collapse_baseline`, which keeps the group sizes.

    Parameters
    ----------
    X : array, shape (d, m)
        Column vectors, e.g. context embeddings ``H`` or ``P_⊥(L)`` (V x m).
    groups : array, shape (m,)
        Group id of each column, e.g. ``NTPData.support_groups``.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import ntpgeom as g
    >>> data = g.corpora.synthetic()
    >>> round(g.collapse_index(g.compute_theory(data).H_mm, data.support_groups), 9)   # the prediction collapses
    0.0
    """
    X = as_matrix(X, "X")
    inv = _groups(groups, X.shape[1])
    return _index(_unit_columns(X), inv)


def collapse_baseline(X: Any, groups: Any, n_perm: int = 20, seed: int = 0) -> tuple[float, float]:
    """The collapse index under random groupings with the same group sizes: ``(mean, std)`` over ``n_perm`` shuffles.

    An index well below this baseline means the real grouping explains the geometry; at the baseline it does not.
    For unstructured directions the expected value is about ``(m − G)/(m − 1)`` (G groups).

    Parameters
    ----------
    X : array_like, shape (d, m)
        Context embeddings (columns).
    groups : int array, shape (m,)
        The grouping (e.g. ``data.support_groups``).
    n_perm : int
        Random groupings drawn.
    seed : int

    Returns
    -------
    mean, std : float

    Examples
    --------
    >>> import numpy as np, ntpgeom as g
    >>> X = np.random.default_rng(0).normal(size=(8, 12))
    >>> groups = np.repeat(np.arange(4), 3)
    >>> mean, std = g.collapse_baseline(X, groups, n_perm=20, seed=0)
    >>> bool(0.3 < mean < 1.0)
    True
    """
    X = as_matrix(X, "X")
    inv = _groups(groups, X.shape[1])
    if n_perm < 1:
        raise MetricsError(f"n_perm must be >= 1, got {n_perm}")
    U = _unit_columns(X)
    rng = np.random.default_rng(seed)
    vals = np.array([_index(U, rng.permutation(inv)) for _ in range(n_perm)])
    return float(vals.mean()), float(vals.std())


# ----------------------------------------------------------------------------------------------- neural collapse
@dataclass(frozen=True)
class NCMetrics:
    """Neural-collapse measures (Papyan, Han & Donoho 2020), all 0 at perfect collapse.

    Attributes
    ----------
    nc1 : float
        Within-class variability ``Tr(Σ_W Σ_B⁺) / C``.
    nc2_H, nc2_W : float
        Simplex-ETF error of the centred class means and of the centred classifier rows:
        ``‖G/‖G‖_F − (I − 11ᵀ/C)/√(C−1)‖_F`` with ``G`` the Gram of the unit-normalised vectors.
    equinorm_H, equinorm_W : float
        Coefficient of variation (std / mean) of the norms of the centred class means and classifier rows.
    nc3 : float
        Self-duality ``‖Ẇ/‖Ẇ‖_F − Ṁᵀ/‖Ṁ‖_F‖_F²`` (Ẇ: centred classifier rows, C x d; Ṁ: centred class means, d x C).
    nc4 : float
        Fraction of contexts (weighted) where the classifier's argmax differs from the nearest class centre
        (1 − agreement).
    n_classes : int
        C, the number of classes that occur.
    """

    nc1: float
    nc2_H: float
    nc2_W: float
    equinorm_H: float
    equinorm_W: float
    nc3: float
    nc4: float
    n_classes: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _etf_error(X: np.ndarray) -> float:
    """ETF error of the columns of X (d x C): Gram of unit columns vs the simplex ETF Gram, both Frobenius-normalised."""
    C = X.shape[1]
    U = _unit_columns(X)
    G = U.T @ U
    E = np.eye(C) - np.ones((C, C)) / C
    nG = np.linalg.norm(G)
    if nG == 0:
        return float("nan")
    return float(np.linalg.norm(G / nG - E / np.sqrt(C - 1)))


def _cv(v: np.ndarray) -> float:
    m = float(v.mean())
    return float(v.std() / m) if m > 0 else float("nan")


def neural_collapse(H: Any, W: Any, labels: Any, b: Any = None, weights: Any = None) -> NCMetrics:
    """NC1-NC4 for one-hot data (every context has a single next token, its class).

    Parameters
    ----------
    H : array, shape (d, m)
        Context embeddings (features), one column per context.
    W : array, shape (V, d)
        Classifier (unembedding) rows, one per token/class.
    labels : int array, shape (m,)
        Class (token id in 0..V-1) of each context; for one-hot NTPData this is ``data.S.indices``.
    b : array, shape (V,), optional
        Classifier bias (used by NC4 only).
    weights : array, shape (m,), optional
        Context weights (e.g. π); default uniform. Class means and Σ_W are weighted; Σ_B averages classes equally.

    Returns
    -------
    NCMetrics
        Measured over the C classes that occur (C >= 2). The global mean μ_G is the weighted mean of all features;
        classifier rows are centred over those C classes (softmax is invariant to a shared shift).
    """
    H = as_matrix(H, "H")
    W = as_matrix(W, "W")
    d, m = H.shape
    if W.shape[1] != d:
        raise MetricsError(f"W has shape {W.shape} but H has d = {d} rows; W must be V x d")
    y = np.asarray(labels)
    if y.shape != (m,) or not np.issubdtype(y.dtype, np.integer):
        raise MetricsError(f"labels must be {m} integer class ids, got shape {y.shape} dtype {y.dtype}")
    V = W.shape[0]
    if y.min() < 0 or y.max() >= V:
        raise MetricsError(f"labels must lie in 0..{V - 1} (rows of W)")
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (m,) or np.any(w < 0) or w.sum() <= 0:
        raise MetricsError("weights must be m non-negative numbers with a positive sum")
    w = w / w.sum()
    classes, inv = np.unique(y, return_inverse=True)
    inv = inv.ravel()
    C = len(classes)
    if C < 2:
        raise MetricsError("neural-collapse measures need at least two classes")
    cw = np.bincount(inv, weights=w, minlength=C)
    means = np.zeros((d, C))
    np.add.at(means.T, inv, (H * w).T)
    means /= cw
    mu_G = H @ w
    Mc = means - mu_G[:, None]
    D = H - means[:, inv]
    Sigma_W = (D * w) @ D.T
    Sigma_B = Mc @ Mc.T / C
    nc1 = float(np.trace(Sigma_W @ np.linalg.pinv(Sigma_B, rcond=1e-10, hermitian=True)) / C)
    Wc = centre(W[classes], dtype=None)
    nc2_H = _etf_error(Mc)
    nc2_W = _etf_error(Wc.T)
    nW, nM = np.linalg.norm(Wc), np.linalg.norm(Mc)
    nc3 = float(np.linalg.norm(Wc / nW - Mc.T / nM) ** 2) if nW > 0 and nM > 0 else float("nan")
    logits = W @ H
    if b is not None:
        logits = logits + np.asarray(b, dtype=np.float64).reshape(V, 1)
    pred = logits.argmax(axis=0)
    dist = ((H[:, :, None] - means[:, None, :]) ** 2).sum(axis=0) if m * C * d <= 5e7 else _sqdist(H, means)
    ncc = classes[dist.argmin(axis=1)]
    nc4 = float(w[pred != ncc].sum())
    return NCMetrics(
        nc1=nc1, nc2_H=nc2_H, nc2_W=nc2_W,
        equinorm_H=_cv(np.linalg.norm(Mc, axis=0)), equinorm_W=_cv(np.linalg.norm(Wc, axis=1)),
        nc3=nc3, nc4=nc4, n_classes=C,
    )


def _sqdist(H: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Squared distances (m x C) between the columns of H and of M, without the m x C x d temporary."""
    return (H * H).sum(axis=0)[:, None] - 2 * H.T @ M + (M * M).sum(axis=0)[None, :]
