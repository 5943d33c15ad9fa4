"""The implicit-bias fingerprint: which max-margin prediction does a trajectory approach? (theory.md §8; issue 23)

Each normalised steepest descent converges in direction to the max-margin logits of its own norm
(:func:`ntpgeom.theory.max_margin`: nuclear for GD on ``W H``, Frobenius for GD on free logits, max-norm for sign
descent / Adam, spectral for Muon; :func:`ntpgeom.theory.fixed_features` ``W_mm H`` for a head on frozen ``H``).
:func:`fingerprint` measures a trajectory, a sequence of ``(step, L)`` with L (V x m), against all of them.

**The distance.** ``d(L, Y) = direction_distance(P_⊥L·D, P_⊥Y·D)`` with ``D = diag(√π)``: the π-weighted chordal
distance of the directions of the token-centred F⊥ parts (:func:`ntpgeom.theory.proj_perp`, then centring; the F
part of the logits converges to the finite ``L_in``, only the F⊥ part grows along the max-margin direction), the
distance of :mod:`.position`. It lies in [0, 2]; 0 means the same direction.

With ``centre=False`` the logits are not token-centred (``d`` compares ``P_⊥L`` as they are): the CE does not see
a per-context shift, but the parameters of free logits do, and an optimiser whose update is not column-centred (sign
descent, Adam) moves them along the max-norm solution's ``±1/2`` pattern; this is the view that separates ``fro``
from ``max`` (they are ``S̃`` and ``S̃ + c 1ᵀ`` up to scale).

**Ties.** Two predictions whose directions are within :data:`~.position.RESOLUTION` of each other cannot be told
apart by any trajectory: they are merged into one candidate named ``"a=b"`` (after token-centring the max-norm
solution is S̃, the Frobenius one: they always merge).

**The position** of candidate p at a snapshot is the rival-normalised μ of :func:`.position.mu` against its nearest
rival: ``μ_p = (d(L, Y_r) − d(L, Y_p)) / d(Y_p, Y_r)`` with r the other candidate closest to L. μ_p ∈ [−1, 1], +1 at
p, and μ_p > 0 exactly when p is the closest candidate. Its interval is :func:`.position.position_interval`'s seeded
π-weighted context bootstrap (the rival re-chosen in every replicate).

**The decision** (:attr:`Fingerprint.approaches`): candidate p is the one the trajectory approaches when, at the last
snapshot, the lower end of μ_p's interval is > 0 (p is closest, separated from every other candidate by the
bootstrap), and its distance decreases over the snapshots: Spearman ρ of d(L_t, Y_p) with the step < 0 with
one-sided permutation p-value ``p_down <= alpha`` (:func:`.position.trend`). Otherwise ``"undecided"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import ShapeError
from ..reprs import short_repr
from ..data import NTPData
from ..theory import NORMS, direction_distance, fixed_features, max_margins, proj_perp, support_mask
from .position import RESOLUTION, Position, position_interval, trend
from .prediction import centred
from .tables import RunLike

__all__ = ["UNDECIDED", "FingerprintRow", "Fingerprint", "bias_predictions", "fingerprint", "run_trajectory"]

#: :attr:`Fingerprint.approaches` when no candidate is both closest (interval) and approached (trend).
UNDECIDED = "undecided"

Trajectory = Sequence[tuple[int, np.ndarray]]


def bias_predictions(data: NTPData, norms: Sequence[str] = NORMS, H: np.ndarray | None = None,
                     **options: float) -> dict[str, np.ndarray]:
    """The predicted logits (V, m) by name: each of ``norms`` (:func:`ntpgeom.theory.max_margins`) and, with frozen
    features ``H`` (d, m), ``"fixed"`` = ``W_mm H`` (:func:`ntpgeom.theory.fixed_features`). ``options`` go to the
    solvers (e.g. ``tol``). The solvers' statuses are theirs to report; call them directly to keep the certificates.

    Parameters
    ----------
    data : NTPData
    norms : sequence of str
        Any of :data:`ntpgeom.theory.NORMS`.
    H : ndarray (d, m), optional
        Frozen features: adds the fixed-features prediction ``"fixed"``.
    **options : float
        Passed to the solvers.

    Returns
    -------
    dict str -> ndarray (V, m)
    """
    out = {n: r.L for n, r in max_margins(data, tuple(norms), **options).items()}
    if H is not None:
        H = np.asarray(H, dtype=np.float64)
        out["fixed"] = fixed_features(data, H, **options).W_mm @ H
    return out


def run_trajectory(run: RunLike) -> list[tuple[int, np.ndarray]]:
    """``(step, L)`` of every snapshot of a training run (float64 logits, V x m).

    Parameters
    ----------
    run : RunLike
        A :class:`ntpgeom.train.Run` (its ``steps`` and ``snapshot(step).L``).

    Returns
    -------
    list of (int, ndarray (V, m))
    """
    return [(int(s), np.asarray(run.snapshot(s).L, dtype=np.float64)) for s in run.steps]


@dataclass(frozen=True)
class FingerprintRow:
    """One candidate prediction at the last snapshot.

    ``d_first`` / ``d_last``: π-weighted direction distance at the first and last snapshot; ``mu``, ``lo``, ``hi``: the
    rival-normalised position and its bootstrap interval; ``rival``: the nearest other candidate; ``rho``, ``p_down``:
    the trend of the distance over the snapshots; ``approached``: the decision rule holds for this candidate."""

    prediction: str
    d_first: float
    d_last: float
    mu: float
    lo: float
    hi: float
    rival: str
    rho: float
    p_down: float
    approached: bool


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """The implicit-bias fingerprint of one trajectory (module docstring).

    Attributes
    ----------
    steps : tuple of int, length T
    distances : dict str -> ndarray, shape (T,)
        d(L_t, Y_p) per candidate (merged names ``"a=b"`` for tied predictions).
    rows : tuple of FingerprintRow
        One per candidate, closest first at the last snapshot.
    approaches : str
        The candidate the trajectory approaches, or :data:`UNDECIDED`.
    groups : dict str -> tuple of str
        Candidate name -> the predictions merged into it.
    B, alpha, seed : int, float, int
        Bootstrap replicates, level and seed.
    """

    __repr__ = short_repr

    steps: tuple[int, ...]
    distances: dict[str, np.ndarray]
    rows: tuple[FingerprintRow, ...]
    approaches: str
    groups: dict[str, tuple[str, ...]]
    B: int
    alpha: float
    seed: int


def _merge(Y: Mapping[str, np.ndarray], resolution: float) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]:
    """Tied predictions (direction distance <= resolution, unweighted after the same preprocessing) under one name
    ``"a=b"``: (name -> matrix, name -> the merged predictions)."""
    groups: list[list[str]] = []
    for name in Y:
        for g in groups:
            if direction_distance(Y[g[0]], Y[name]) <= resolution:
                g.append(name)
                break
        else:
            groups.append([name])
    return {"=".join(g): Y[g[0]] for g in groups}, {"=".join(g): tuple(g) for g in groups}


def _position(X: np.ndarray, Y: Mapping[str, np.ndarray], p: str, pi: np.ndarray, B: int, alpha: float,
              seed: int, resolution: float) -> tuple[Position, str]:
    """μ of candidate p against its nearest rival (re-chosen per bootstrap weight) and the rival at the weights π."""
    def dist(w: np.ndarray) -> tuple[float, float, float]:
        s = np.sqrt(w)
        Xs = X * s
        d = {n: direction_distance(Xs, M * s) for n, M in Y.items()}
        r = min((n for n in Y if n != p), key=d.__getitem__)
        return d[p], d[r], direction_distance(Y[p] * s, Y[r] * s)

    s0 = np.sqrt(pi)
    rival = min((n for n in Y if n != p), key=lambda n: direction_distance(X * s0, Y[n] * s0))
    return position_interval(dist, pi, B=B, alpha=alpha, seed=seed, resolution=resolution), rival


def fingerprint(data: NTPData, trajectory: Trajectory, predictions: Mapping[str, np.ndarray] | None = None, *,
                B: int = 200, alpha: float = 0.05, seed: int = 0, resolution: float = RESOLUTION,
                centre: bool = True) -> Fingerprint:
    """Measure a trajectory against every implicit-bias prediction (module docstring: distance, ties, decision).

    Parameters
    ----------
    data : NTPData
        V tokens, m contexts: the support pattern (F⊥) and the weights π.
    trajectory : sequence of (int, ndarray (V, m))
        Snapshots in any order (sorted by step here): a run (:func:`run_trajectory`), a probe series, or arrays.
    predictions : dict str -> ndarray (V, m), optional
        The candidates; default :func:`bias_predictions` (the four norms).
    B, alpha, seed : int, float, int
        Bootstrap replicates, interval level and seed (same seed, same intervals).
    resolution : float
        Predictions closer than this are merged; μ is NaN below it.
    centre : bool
        Token-centre logits and predictions (default); False compares the raw ``P_⊥L`` (module docstring).

    Returns
    -------
    Fingerprint
    """
    snaps = sorted(((int(s), np.asarray(L, dtype=np.float64)) for s, L in trajectory), key=lambda t: t[0])
    if not snaps or any(L.shape != (data.V, data.m) for _, L in snaps):
        raise ShapeError(f"the trajectory needs at least one snapshot of shape {(data.V, data.m)}")
    mask = support_mask(data)

    def prep(M: np.ndarray) -> np.ndarray:
        X = proj_perp(np.asarray(M, dtype=np.float64), mask)
        return centred(X) if centre else X

    preds = predictions if predictions is not None else bias_predictions(data)
    if len(preds) < 2:
        raise ShapeError("the fingerprint needs at least two predictions to compare")
    Y, groups = _merge({n: prep(M) for n, M in preds.items()}, resolution)
    pi = np.asarray(data.pi, dtype=np.float64)
    s0 = np.sqrt(pi)
    Xs = [prep(L) for _, L in snaps]
    steps = tuple(s for s, _ in snaps)
    dists = {n: np.array([direction_distance(X * s0, M * s0) for X in Xs]) for n, M in Y.items()}
    rows = []
    for n in Y:
        pos, rival = _position(Xs[-1], Y, n, pi, B, alpha, seed, resolution) if len(Y) > 1 else (None, "")
        tr = trend(dists[n], steps, seed=seed)
        ok = pos is not None and pos.resolved and pos.lo > 0 and tr.rho < 0 and tr.p_down <= alpha
        rows.append(FingerprintRow(n, float(dists[n][0]), float(dists[n][-1]),
                                   *((pos.mu, pos.lo, pos.hi) if pos else (np.nan,) * 3), rival,
                                   tr.rho, tr.p_down, bool(ok)))
    rows.sort(key=lambda r: r.d_last)
    won = [r.prediction for r in rows if r.approached]
    return Fingerprint(steps, dists, tuple(rows), won[0] if won else UNDECIDED, groups, B, alpha, seed)
