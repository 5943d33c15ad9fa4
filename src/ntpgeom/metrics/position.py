"""Where a model sits between the prediction and its nearest rival, with uncertainty (theory.md §8).

**The position.** With X the model, Y_p the prediction and Y_r the rival,

    μ = (d(X, Y_r) − d(X, Y_p)) / d(Y_p, Y_r)  ∈ [−1, 1]

(+1: at the prediction, −1: at the rival; the triangle inequality bounds it). **d is the π-weighted direction
distance** ``d(A, B) = ‖A D/‖A D‖_F − B D/‖B D‖_F‖_F`` with ``D = diag(√π)``: the chordal distance of the two
directions when context j weighs π_j, as in the loss. It is :func:`ntpgeom.theory.direction_distance` of the
column-scaled matrices.

- C1 (logits, :func:`c1_distances`): X = the token-centred logits, Y_p = ``L_in + R·L_mm``, Y_r = ``L_in + r·S̃``, with
  R and r the (π-weighted) least-squares scales of the F⊥ part ``P_⊥(X)`` onto L_mm and S̃
  (:func:`ntpgeom.metrics.prediction.asymptotic_point`).
- L_mm (the F⊥ part, :func:`mm_distances`): X = ``P_⊥(L)``, Y_p = L_mm, Y_r = S̃ (directions only).
- C2 (:func:`c2_distances`): X = corr(Ẇᵀ) or corr(Ḣ), Y_p / Y_r = the corr maps of the balanced factors of the two
  fitted points above; there d is the off-diagonal RMS difference (pairs of contexts weighted by ``π_j π_j'``), a
  pseudo-metric, so μ keeps its bounds.
- Against an optimal face (when S̃ is itself optimal it is no rival): the distance of X to the face's cone
  (:func:`ntpgeom.theory.face_distance` on the column-scaled members), no μ.

**The interval** (:func:`position_interval`): a seeded π-weighted context bootstrap — each of B replicates draws m
contexts with replacement with probabilities π (multinomial counts c), refits R and r and recomputes μ with the
weights c/m in place of π; the interval is the (α/2, 1 − α/2) percentile interval (for C2:W, whose model map does not
depend on the weights, the point estimate can fall just outside it). Below ``resolution`` (default
:data:`RESOLUTION`) the prediction and the rival cannot be told apart: μ is then NaN and ``resolved`` False.

**Trend and rate** (:func:`trend`, :func:`rate`): the Spearman rank correlation of a measurement with log step (ranks
ignore the log: it is the rank correlation with the step), one-sided p-values by exact permutation for n <= 8
snapshots (seeded Monte Carlo, 20 000 permutations, beyond); the least-squares fit ``d ≈ a + b / ln t`` over
snapshots with t >= 2 and the t-interval of the extrapolated intercept a (the distance left at t → ∞).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from ..reprs import short_repr
from ..theory import direction_distance, face_distance, proj_perp
from .prediction import asymptotic_point, centred, factor_maps, rival_point, visible_H
from .reference import FaceLike
from .similarity import corr_map

__all__ = ["RESOLUTION", "Position", "Trend", "Rate", "mu", "c1_distances", "mm_distances", "face_distances",
           "c2_distances", "bootstrap_weights", "position_interval", "trend", "rate"]

#: d(prediction, rival) below this is within the accuracy of a certified L_mm direction (√ of a 1e-6 duality gap)
RESOLUTION = 1e-3

Distances = Callable[[np.ndarray], tuple[float, float, float]]  # column weights (m,) -> (d_pred, d_rival, delta)


def mu(d_pred: float, d_rival: float, delta: float, resolution: float = RESOLUTION) -> float:
    """``(d_rival − d_pred) / delta`` clipped to [−1, 1] (rounding); NaN when ``delta <= resolution`` or not finite."""
    if not (math.isfinite(delta) and delta > resolution and math.isfinite(d_pred) and math.isfinite(d_rival)):
        return float("nan")
    return float(min(1.0, max(-1.0, (d_rival - d_pred) / delta)))


def _cols(w: np.ndarray, *mats: np.ndarray) -> list[np.ndarray]:
    s = np.sqrt(np.asarray(w, dtype=np.float64))
    return [M * s for M in mats]


def c1_distances(L: np.ndarray, L_in: np.ndarray, L_mm: np.ndarray, S_tilde: np.ndarray) -> Distances:
    """C1's measurement: weights w (m,) → π-weighted (d(L, L_in + R·L_mm), d(L, L_in + r·S̃), d(prediction, rival)).
    All arrays (V, m); L and L_mm are token-centred here."""
    Lc, Lm = centred(np.asarray(L, dtype=np.float64)), centred(np.asarray(L_mm, dtype=np.float64))

    def dist(w: np.ndarray) -> tuple[float, float, float]:
        X, Li, M, S = _cols(w, Lc, L_in, Lm, S_tilde)
        pred, riv = asymptotic_point(X, Li, M), rival_point(X, Li, S)
        return direction_distance(X, pred), direction_distance(X, riv), direction_distance(pred, riv)

    return dist


def mm_distances(L: np.ndarray, mask: np.ndarray, L_mm: np.ndarray, S_tilde: np.ndarray) -> Distances:
    """The L_mm claim's measurement: weights w → (d(P_⊥L, L_mm), d(P_⊥L, S̃), d(L_mm, S̃)), π-weighted directions."""
    X0 = centred(proj_perp(np.asarray(L, dtype=np.float64), mask))
    Lm = centred(np.asarray(L_mm, dtype=np.float64))

    def dist(w: np.ndarray) -> tuple[float, float, float]:
        X, M, S = _cols(w, X0, Lm, S_tilde)
        return direction_distance(X, M), direction_distance(X, S), direction_distance(M, S)

    return dist


def face_distances(X: np.ndarray, face: FaceLike, L_in: np.ndarray | None = None) -> Callable[[np.ndarray], float]:
    """Weights w → the π-weighted direction distance of X (V x m, token-centred here) to the cone of the optimal face.
    With ``L_in`` (C1 against the face: ``X ≈ L_in + R·Y`` with Y on the face) the distance of ``X − L_in``."""
    X0 = centred(np.asarray(X, dtype=np.float64))
    if L_in is not None:
        X0 = X0 - L_in

    def dist(w: np.ndarray) -> float:
        s = np.sqrt(np.asarray(w, dtype=np.float64))
        return face_distance(replace(face, members=face.members * s), X0 * s)

    return dist


def _map_distance(A: np.ndarray, B: np.ndarray, w: np.ndarray | None) -> float:
    """RMS of ``A − B`` off the diagonal, pair (i, j) weighted by ``w_i w_j`` (uniform when w is None): a
    pseudo-metric, so μ of maps stays in [−1, 1]."""
    n = A.shape[0]
    om = np.ones((n, n)) if w is None else np.outer(w, w)
    np.fill_diagonal(om, 0.0)
    tot = float(om.sum())
    return float(np.sqrt((om * (A - B) ** 2).sum() / tot)) if tot > 0 else float("nan")


def c2_distances(W: np.ndarray, H: np.ndarray, L_in: np.ndarray, L_mm: np.ndarray, S_tilde: np.ndarray,
                 side: str) -> Distances:
    """C2's measurement on one side ("W": corr(Ẇᵀ), V x V; "H": corr(Ḣ), m x m, Ḣ = ``visible_H``): weights w →
    (d(map, prediction's map), d(map, rival's map), d(the two maps)), with the maps of the balanced factors of the
    fitted ``L_in + R·L_mm`` and ``L_in + r·S̃`` (of the column-scaled logits) and d the weighted off-diagonal RMS
    (H pairs weighted by ``w_j w_j'``; W pairs uniformly)."""
    if side not in ("W", "H"):
        raise ValueError(f"side must be 'W' or 'H', got {side!r}")
    W, H = np.asarray(W, dtype=np.float64), np.asarray(H, dtype=np.float64)
    Wc = centred(W)
    Lc, Lm = Wc @ H, centred(np.asarray(L_mm, dtype=np.float64))
    model = corr_map(Wc.T) if side == "W" else corr_map(visible_H(W, H))
    k, idx = (0 if side == "W" else 1), np.arange(Lc.shape[1])

    def dist(w: np.ndarray) -> tuple[float, float, float]:
        X, Li, M, S = _cols(w, Lc, L_in, Lm, S_tilde)
        mp, mr = factor_maps(asymptotic_point(X, Li, M), idx)[k], factor_maps(rival_point(X, Li, S), idx)[k]
        ww = None if side == "W" else np.asarray(w, dtype=np.float64)
        return _map_distance(model, mp, ww), _map_distance(model, mr, ww), _map_distance(mp, mr, ww)

    return dist


@dataclass(frozen=True, eq=False)
class Position:
    """μ of one snapshot with its bootstrap interval.

    Attributes
    ----------
    mu, lo, hi : float
        The position at the weights π and its (α/2, 1 − α/2) percentile bootstrap interval (NaN when not resolved).
    d_pred, d_rival, delta : float
        The raw π-weighted direction distances: model–prediction, model–rival, prediction–rival.
    resolved : bool
        ``delta > resolution``: prediction and rival can be told apart on this data.
    B, alpha, seed : int, float, int
    """

    __repr__ = short_repr

    mu: float
    lo: float
    hi: float
    d_pred: float
    d_rival: float
    delta: float
    resolved: bool
    B: int
    alpha: float
    seed: int


def bootstrap_weights(pi: np.ndarray, B: int, seed: int) -> np.ndarray:
    """(B, m) context weights: multinomial counts of m draws with probabilities π, divided by m (seeded)."""
    pi = np.asarray(pi, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return rng.multinomial(len(pi), pi / pi.sum(), size=B) / len(pi)


def position_interval(dist: Distances, pi: np.ndarray, *, B: int = 200, alpha: float = 0.05, seed: int = 0,
                      resolution: float = RESOLUTION) -> Position:
    """μ at the weights π with its seeded π-weighted context-bootstrap interval (module docstring)."""
    if B < 1 or not 0 < alpha < 1:
        raise ValueError(f"need B >= 1 and 0 < alpha < 1, got B={B}, alpha={alpha}")
    d_p, d_r, delta = dist(np.asarray(pi, dtype=np.float64))
    m0 = mu(d_p, d_r, delta, resolution)
    if not math.isfinite(m0):
        return Position(m0, float("nan"), float("nan"), d_p, d_r, delta, False, B, alpha, seed)
    reps = np.array([mu(*dist(w), resolution) for w in bootstrap_weights(pi, B, seed)])
    reps = reps[np.isfinite(reps)]
    lo, hi = (np.quantile(reps, [alpha / 2, 1 - alpha / 2]) if reps.size else (np.nan, np.nan))
    return Position(m0, float(lo), float(hi), d_p, d_r, delta, True, B, alpha, seed)


@dataclass(frozen=True)
class Trend:
    """Spearman ρ of a measurement with log step; one-sided p-values of ρ > 0 (``p_up``) and ρ < 0 (``p_down``)."""

    rho: float
    p_up: float
    p_down: float
    n: int
    method: str


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


def trend(values: Sequence[float], steps: Sequence[int], *, seed: int = 0, n_mc: int = 20_000) -> Trend:
    """Rank correlation of ``values`` with ``log(steps)``, with exact (n <= 8) or seeded Monte Carlo permutation
    p-values. NaN values are dropped; fewer than 3 points: ρ NaN, p-values 1."""
    v, s = np.asarray(values, dtype=np.float64), np.asarray(steps, dtype=np.float64)
    ok = np.isfinite(v)
    v, s = v[ok], s[ok]
    n = int(v.size)
    if n < 3 or np.ptp(v) == 0:
        return Trend(float("nan"), 1.0, 1.0, n, "too few distinct points")
    a, b = _ranks(v), _ranks(s)
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    rho = float(a @ b) / den
    if n <= 8:
        perms = np.array(list(itertools.permutations(range(n))))
        method = f"exact permutation ({len(perms)})"
    else:
        rng = np.random.default_rng(seed)
        perms = np.array([rng.permutation(n) for _ in range(n_mc)])
        method = f"Monte Carlo permutation ({n_mc}, seed {seed})"
    null = (a[perms] @ b) / den
    eps = 1e-12
    return Trend(rho, float(np.mean(null >= rho - eps)), float(np.mean(null <= rho + eps)), n, method)


@dataclass(frozen=True)
class Rate:
    """Least-squares fit ``d ≈ intercept + slope / ln t``; ``lo``/``hi`` the (1 − α) t-interval of the intercept."""

    intercept: float
    lo: float
    hi: float
    slope: float
    n: int
    alpha: float


def rate(distances: Sequence[float], steps: Sequence[int], *, alpha: float = 0.05) -> Rate:
    """Fit of the distance against 1/ln t over snapshots with t >= 2 (NaN with fewer than 3)."""
    from scipy.stats import t as student

    d, t = np.asarray(distances, dtype=np.float64), np.asarray(steps, dtype=np.float64)
    ok = np.isfinite(d) & (t >= 2)
    d, x = d[ok], 1.0 / np.log(t[ok])
    n = int(d.size)
    if n < 3 or np.ptp(x) == 0:
        return Rate(float("nan"), float("nan"), float("nan"), float("nan"), n, alpha)
    A = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(A, d, rcond=None)
    resid = d - A @ coef
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 * float(np.linalg.inv(A.T @ A)[0, 0]))
    q = float(student.ppf(1 - alpha / 2, n - 2))
    return Rate(float(coef[0]), float(coef[0] - q * se), float(coef[0] + q * se), float(coef[1]), n, alpha)
