"""The finite-norm prediction (theory.md §8): the point of the regularisation path with a given nuclear norm.

For a model whose token-centred logits have nuclear norm B, the theory predicts the norm-ball solution (Thm 3)
``L_B = argmin CE(L)  s.t.  ‖L‖_* <= B``; for d >= V it is the point of problem (8) with ``‖L_λ‖_* = B``, and
``λ = ‖∇CE(L_B)‖_2`` is the matching multiplier.

Solver: accelerated projected gradient (the one FISTA driver with gradient-based adaptive restarts,
:mod:`ntpgeom.theory.fista`) in the token-centred space
(``1ᵀL = 0``: the gradient of CE is centred and centring never raises the nuclear norm, so the optimum lies there).
The projection onto the nuclear-norm ball is an SVD plus the projection of the singular values onto the ℓ1-ball; the
step comes from the curvature bound ``∇²CE <= max_j π_j / 2``.

Accuracy (every answer is certified): the Frank-Wolfe duality gap over the ball,
``gap = ⟨∇CE(L), L⟩ + B ‖∇CE(L)‖_2 >= CE(L) - CE(L_B)`` for feasible L. Directions along the path are fixed by the
off-support mass, i.e. by ``CE - ℋ``, so convergence is judged on the relative gap
``gap <= tol · (CE(L) - ℋ)`` (or the gap at its round-off floor, see ``_Objective.floor``).

Cost grows as the path nears its asymptote (the margin directions have curvature ~ CE - ℋ). On the built-in
"synthetic" data (V = 30, m = 16, 1 thread), warm-started along ``path_points`` at tol = 1e-3: B = 100, 200, 300 take
150, 1870, 15180 iterations (~0.1 ms each; CE - ℋ = 7e-2, 7e-4, 6e-6); B = 400 (CE - ℋ = 6e-8) stops at relative gap
0.05 after 20000. tol = 1e-3 moves the direction by ~2e-5 against tol = 1e-6 at B = 300; ``converged`` says which held.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..reprs import short_repr
from .. import validate
from ..data import NTPData
from .fista import fista
from .geometry import direction_distance
from .norms import centre, nuclear_norm
from .tolerances import RESOLVED_FLOOR_RATIO
from . import subspaces
from .subspaces import L_in
from ..errors import SolverError, SolverWarning
from ..status import SolverStats, Status

DEFAULT_MAX_ITER = 20000


@dataclass(frozen=True, eq=False)
class PathPoint:
    """The norm-ball solution ``L_B = argmin_{‖L‖_* <= B} CE(L)``, certified.

    Attributes
    ----------
    L : ndarray, shape (V, m)
        Token-centred solution (``1ᵀL = 0``), ``‖L‖_* <= norm``; read-only.
    norm : float
        The radius B.
    ce : float
        ``CE(L)``.
    ce_minus_H : float
        ``CE(L) - ℋ``.
    lam : float
        The multiplier, ``‖∇CE(L)‖_2``: L is (approximately) the solution of (8) at this λ.
    gap : float
        Frank-Wolfe duality gap, a certified upper bound on ``CE(L) - CE(L_B)``.
    rel_gap : float
        ``gap / (CE(L) - ℋ)`` (inf if ``CE(L) = ℋ`` and gap > 0).
    iterations : int
    converged : bool
        Whether ``gap <= tol (CE - ℋ)`` or the gap is at the round-off floor.
    resolved : bool
        Whether the gap's round-off floor is below 1 % of ``CE - ℋ`` (so the relative certificate means something).
        When it is not (huge B), L is CE-optimal to round-off but its *direction* is not determined by the data in
        double precision (it stays near the start); judge such norms against L_mm, not against this point.
    seconds : float
    stats : SolverStats
        Status (``OPTIMAL`` iff ``converged``, else ``USER_LIMIT``), backend ``"fista"``, iterations, seconds,
        ``gap`` = ``rel_gap``, ``residual`` = ``max(‖L‖_* - B, 0) / B`` (the ball constraint's violation), tol,
        threads 0 (not set). Also readable as ``.status``.
    info : dict
        ``tol``, ``floor``, ``step``, ``restarts``.
    """

    __repr__ = short_repr

    L: np.ndarray
    norm: float
    ce: float
    ce_minus_H: float
    lam: float
    gap: float
    rel_gap: float
    iterations: int
    converged: bool
    resolved: bool
    seconds: float
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the solve.")

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        return {"norm": self.norm, "ce": self.ce, "ce_minus_H": self.ce_minus_H, "lam": self.lam, "gap": self.gap,
                "rel_gap": self.rel_gap, "iterations": self.iterations, "converged": self.converged,
                "resolved": self.resolved, "seconds": self.seconds, "status": self.status.value}


def _l1_ball(s: np.ndarray, B: float) -> np.ndarray:
    """Euclidean projection of a non-negative vector onto ``{x >= 0, Σx <= B}`` (sort-based, exact)."""
    if s.sum() <= B:
        return s
    u = np.sort(s)[::-1]
    css = np.cumsum(u) - B
    idx = np.arange(1, len(u) + 1)
    rho = int(np.nonzero(u - css / idx > 0)[0][-1])
    theta = css[rho] / (rho + 1)
    return np.maximum(s - theta, 0.0)


def left_svd(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The left singular vectors and singular values of a wide ``Z`` (V x m, V <= m) without the right ones: the SVD
    of the V x V triangular factor of ``Zᵀ = QR`` (``Z = Rᵀ Qᵀ``, so ``Z`` and ``Rᵀ`` share U and s). Householder QR
    and the SVD are both backward stable, as ``np.linalg.svd(Z)`` is; Q is never formed."""
    R = np.linalg.qr(Z.T, mode="r")
    U, s, _ = np.linalg.svd(R.T)
    return U, s


def _proj_ball(Z: np.ndarray, B: float) -> np.ndarray:
    """Euclidean projection of Z (V x m) onto the nuclear-norm ball of radius B. For V <= m through
    :func:`left_svd`: ``X = U diag(s'/s) Uᵀ Z`` with ``s'`` the ℓ1-ball projection of ``s`` (``s' = 0`` wherever
    ``s <= θ``, so only ``s > θ`` is divided by); ~2x less CPU than the full SVD on V x m = 102 x 413
    (``benchmarks/bench_path_point.py``), the same point to round-off."""
    if Z.shape[0] > Z.shape[1] or Z.shape[0] == 0:
        U, s, Vt = np.linalg.svd(Z, full_matrices=False)
        return Z if s.sum() <= B else (U * _l1_ball(s, B)) @ Vt
    U, s = left_svd(Z)
    if s.sum() <= B:
        return Z
    sp = _l1_ball(s, B)
    keep = sp > 0
    Uk = U[:, keep]
    return (Uk * (sp[keep] / s[keep])) @ (Uk.T @ Z)


class _Objective:
    """``CE - ℋ`` and ∇CE on dense arrays, accurate to relative round-off even when ``CE - ℋ`` is tiny.

    Per column, with q the softmax restricted to the support, ``d = log P - log q`` and r the off-support mass
    relative to the support: ``KL(P_j ‖ softmax_j) = Σ_S P (d + expm1(-d)) + log1p(r)`` (every term >= 0, no
    cancellation), and ``∇CE = π (P expm1(-d) - q r/(1+r))`` on the support, ``π e^{L - lse}`` off it.
    """

    def __init__(self, data: NTPData):
        self.data = data
        self.P = data.P.toarray()
        self.mask = self.P > 0
        with np.errstate(divide="ignore"):
            self.logP = np.where(self.mask, np.log(np.where(self.mask, self.P, 1.0)), 0.0)
        self.pi = np.asarray(data.pi, dtype=np.float64)
        self.H = float(data.entropy_bound)
        self.Lip = float(self.pi.max()) / 2.0

    def _parts(self, L: np.ndarray):
        M = np.where(self.mask, L, -np.inf).max(axis=0)
        Z = np.where(self.mask, np.exp(L - M), 0.0)
        lse_in = M + np.log(Z.sum(axis=0))
        t = L - lse_in  # log q on the support; off it, log(e^{L_v} / Σ_S e^{L_z})
        d = np.where(self.mask, self.logP - t, 0.0)
        off = np.where(self.mask, -np.inf, t)
        mo = off.max(axis=0)
        mo_f = np.where(np.isfinite(mo), mo, 0.0)
        log_r = mo_f + np.log(np.exp(off - mo_f).sum(axis=0))  # -inf where the support is every token
        return t, d, log_r

    def excess(self, L: np.ndarray) -> float:
        """``CE(L) - ℋ = Σ_j π_j KL(P_j ‖ softmax(ℓ_j))``."""
        _, d, log_r = self._parts(L)
        kl = (self.P * (d + np.expm1(-d))).sum(axis=0) + np.logaddexp(0.0, log_r)
        return float((self.pi * kl).sum())

    def grad(self, L: np.ndarray) -> np.ndarray:
        t, d, log_r = self._parts(L)
        o = np.exp(log_r - np.logaddexp(0.0, log_r))  # r / (1 + r)
        on = self.P * np.expm1(-d) - np.exp(np.where(self.mask, t, -np.inf)) * o
        offv = np.exp(np.where(self.mask, -np.inf, t) - np.logaddexp(0.0, log_r))
        return np.where(self.mask, on, offv) * self.pi

    def certify(self, L: np.ndarray, B: float, tol: float) -> tuple[float, float, float, float, bool]:
        """(CE - ℋ, gap, rel_gap, lam, converged) at a feasible L."""
        excess = max(self.excess(L), 0.0)
        G = self.grad(L)
        lam = float(np.linalg.norm(G, 2)) if G.any() else 0.0
        gap = max(float(np.vdot(G, L)) + B * lam, 0.0)
        rel = gap / excess if excess > 0 else (0.0 if gap == 0 else np.inf)
        return excess, gap, rel, lam, bool(gap <= max(tol * excess, self.floor(L, lam, B)))

    def floor(self, L: np.ndarray, lam: float, B: float) -> float:
        """Round-off level of the gap. ``⟨G, L⟩`` and ``B‖G‖_2`` (each about ``B‖G‖``) cancel at the optimum, and a
        double-precision L cannot place its logits closer than ``ε max|L|``, which leaves a gradient of up to
        ``π_max ε max|L|`` per entry that no representable L removes."""
        eps = np.finfo(np.float64).eps
        return 4 * eps * np.sqrt(L.size) * B * (lam + float(self.pi.max()) * (1.0 + float(np.abs(L).max())))


def _check_norm(norm: Any) -> float:
    return validate.real("the norm B", norm, lo=0.0, lo_open=True, error=SolverError)


def _default_start(data: NTPData, B: float) -> np.ndarray:
    """``L_in + t S̃`` with ``‖·‖_* = B`` (bisection on t; the path's sparse-plus-low-rank shape), or the ball
    projection of L_in when ``‖L_in‖_* >= B``."""
    Lin = L_in(data)
    St = subspaces.S_tilde(data)

    def nuc(t: float) -> float:
        return nuclear_norm(Lin + t * St)

    n0, ns = nuc(0.0), nuc(1.0)
    if n0 >= B or ns == 0:
        return _proj_ball(Lin, B)
    lo, hi = 0.0, (B + n0) / ns  # nuc(hi) >= hi ‖S̃‖_* - ‖L_in‖_* = B; nuc is convex and nuc(0) < B
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if nuc(mid) < B else (lo, mid)
    return _proj_ball(Lin + lo * St, B)


def _apg(obj: _Objective, B: float, X: np.ndarray, tol: float, max_iter: int, check_every: int):
    step = 1.0 / obj.Lip
    run = fista(obj.grad, lambda Z: _proj_ball(Z, B), X, step, lambda L: obj.certify(L, B, tol),
                lambda cert: cert[4], max_iter, check_every, certify_start=True)
    return run.X, run.iterations, run.certificate, {"step": step, "restarts": run.restarts}


def _extrapolate(a: tuple[np.ndarray, float], b: tuple[np.ndarray, float], B: float) -> np.ndarray:
    """Linear extrapolation in the norm of two path points ``(L, B)`` (the path is nearly linear in B far out:
    ``L_B ≈ L_in + R L_mm``)."""
    (La, Ba), (Lb, Bb) = a, b
    return Lb + (B - Bb) * (Lb - La) / (Bb - Ba) if Bb > Ba else Lb * (B / Bb)


def _cold_start(obj: _Objective, B: float, max_iter: int, check_every: int) -> tuple[np.ndarray, int]:
    """Continuation for a cold start: loose solves at B/8, B/4, B/2 (a third of the budget), then extrapolation.
    Returns the start and the iterations spent."""
    pts, spent = [], 0
    for f in (0.125, 0.25, 0.5):
        Bf = f * B
        X0 = _default_start(obj.data, Bf) if len(pts) < 2 else _proj_ball(_extrapolate(pts[-2], pts[-1], Bf), Bf)
        X, it, _, _ = _apg(obj, Bf, X0, 1e-3, max_iter // 9, check_every)
        pts.append((X, Bf))
        spent += it
    return _proj_ball(_extrapolate(pts[-2], pts[-1], B), B), spent


def _start(obj: _Objective, B: float, warm: Any, max_iter: int, check_every: int) -> tuple[np.ndarray, int]:
    data = obj.data
    if warm is None:
        return _cold_start(obj, B, max_iter, check_every)
    W = np.asarray(warm.L if isinstance(warm, PathPoint) else warm, dtype=np.float64)
    if W.shape != (data.V, data.m):
        raise SolverError(f"warm start has shape {W.shape}, expected {(data.V, data.m)} (V x m)")
    if not np.all(np.isfinite(W)):
        raise SolverError("warm start contains NaN or infinite entries")
    return _proj_ball(centre(W), B), 0


def path_point(data: NTPData, norm: float, *, warm: Any = None, tol: float = 1e-6, max_iter: int | None = None,
               check_every: int = 10) -> PathPoint:
    """Solve ``min CE(L) s.t. ‖L‖_* <= norm`` (Thm 3) to a certified relative gap ``tol``.

    Parameters
    ----------
    data : NTPData
    norm : float > 0
        The radius B (e.g. the nuclear norm of a model's token-centred logits).
    warm : ndarray (V, m) or PathPoint, optional
        Warm start (centred and projected onto the ball). Default: continuation through loose solves at B/8, B/4,
        B/2 started from ``L_in + t S̃`` (``‖·‖_* = B/8``), extrapolated to B.
    tol : float
        Target ``gap / (CE - ℋ)``.
    max_iter : int, optional
        Iteration cap, continuation included (default 20000).
    check_every : int
        Iterations between certificate checks.

    Returns
    -------
    PathPoint; a :class:`SolverWarning` is issued (and ``converged`` is False) if ``tol`` was not reached.
    """
    if not isinstance(data, NTPData):
        raise SolverError(f"the norm-ball problem needs an NTPData (it depends on P and π), got {type(data).__name__}")
    B = _check_norm(norm)
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise SolverError(f"tol must be a positive number, got {tol!r}")
    max_iter = DEFAULT_MAX_ITER if max_iter is None else int(max_iter)
    if max_iter < 0:
        raise SolverError(f"max_iter must be >= 0, got {max_iter!r}")
    t0 = time.perf_counter()
    obj = _Objective(data)
    check_every = max(int(check_every), 1)
    X0, spent = _start(obj, B, warm, max_iter, check_every)
    X, it, (excess, gap, rel, lam, conv), info = _apg(obj, B, X0, float(tol), max_iter - spent, check_every)
    it += spent
    nuc = nuclear_norm(X)
    if nuc > B:  # rounding only: rescale so that the gap is a certificate for a feasible point
        X = X * (B / nuc)
        excess, gap, rel, lam, conv = obj.certify(X, B, float(tol))
    if not conv:
        warnings.warn(f"norm-ball problem (B={B:g}) stopped at gap {gap:.2e} (relative {rel:.2e} > tol {tol:.1e}) "
                      f"after {it} iterations; raise max_iter or tol", SolverWarning, stacklevel=2)
    X.setflags(write=False)
    floor = obj.floor(X, lam, B)
    seconds = time.perf_counter() - t0
    stats = SolverStats(Status.OPTIMAL if conv else Status.USER_LIMIT, "fista", int(it), seconds, float(rel),
                        max(nuclear_norm(X) - B, 0.0) / B, float(tol), 0)
    return PathPoint(X, B, obj.H + excess, excess, lam, gap, float(rel), int(it), conv,
                     bool(floor <= RESOLVED_FLOOR_RATIO * excess), seconds, stats,
                     {"tol": float(tol), "floor": floor, **info})


def path_points(data: NTPData, norms: Sequence[float], **kw: Any) -> list[PathPoint]:
    """:func:`path_point` for every norm, solved in increasing order, each warm-started by linear extrapolation of
    the two previous solutions (the path is nearly linear in B: ``L_B ≈ L_in + R L_mm``). Returned in the order of
    ``norms``; keyword arguments (``tol``, ``max_iter``, ``check_every``) go to :func:`path_point`."""
    Bs = [_check_norm(b) for b in norms]
    if not Bs:
        raise SolverError("give at least one norm")
    if "warm" in kw:
        raise SolverError("path_points warm-starts itself; call path_point for a custom warm start")
    out: dict[int, PathPoint] = {}
    prev: list[PathPoint] = []
    for i in np.argsort(Bs, kind="stable"):
        B = Bs[int(i)]
        warm = None
        if len(prev) >= 2:
            warm = _extrapolate((prev[-2].L, prev[-2].norm), (prev[-1].L, prev[-1].norm), B)
        elif prev:
            warm = prev[-1].L * (B / prev[-1].norm) if B > prev[-1].norm else prev[-1].L
        pt = path_point(data, B, warm=warm, **kw)
        out[int(i)] = pt
        prev.append(pt)
    return [out[i] for i in range(len(Bs))]


def prediction_distances(data: NTPData, L_model: Any, *, L_mm: Any, S_tilde: Any = None,
                         point: PathPoint | None = None, **kw: Any) -> dict[str, Any]:
    """Direction distances (:func:`~ntpgeom.theory.direction_distance`) of a model's token-centred logits to the
    finite-norm prediction of its own norm, to L_mm and to S̃ (all centred too).

    Parameters
    ----------
    data : NTPData
    L_model : array, shape (V, m)
        The model's logits (any per-context offsets; they are removed).
    L_mm : array, shape (V, m)
        An NTP-SVM* solution.
    S_tilde : array, shape (V, m), optional
        Default: computed from ``data``.
    point : PathPoint, optional
        A precomputed prediction (e.g. from :func:`path_points` along a run); its norm should equal the model's.
        Default: ``path_point(data, B, **kw)``.

    Returns
    -------
    dict of scalars: ``norm`` (B = ‖centred L_model‖_*), ``dir_path``, ``dir_mm``, ``dir_tilde``, ``dir_path_mm``
    (the prediction's own distance to L_mm), ``path_norm``, ``path_gap``, ``path_rel_gap``, ``path_converged``,
    ``path_resolved``, ``lam``, ``path_ce_minus_H``.
    """
    Lc = centre(L_model)
    if Lc.shape != (data.V, data.m):
        raise SolverError(f"model logits have shape {Lc.shape}, expected {(data.V, data.m)} (V x m)")
    if not np.all(np.isfinite(Lc)):
        raise SolverError("model logits contain NaN or infinite entries")
    B = nuclear_norm(Lc)
    if B == 0:
        raise SolverError("the model's centred logits are zero: there is no direction to compare")
    St = subspaces.S_tilde(data) if S_tilde is None else centre(S_tilde)
    Lmm = centre(L_mm)
    pt = point if point is not None else path_point(data, B, **kw)
    return {"norm": B, "dir_path": direction_distance(Lc, pt.L), "dir_mm": direction_distance(Lc, Lmm),
            "dir_tilde": direction_distance(Lc, St), "dir_path_mm": direction_distance(pt.L, Lmm),
            "path_norm": pt.norm, "path_gap": pt.gap, "path_rel_gap": pt.rel_gap, "path_converged": pt.converged,
            "path_resolved": pt.resolved, "lam": pt.lam, "path_ce_minus_H": pt.ce_minus_H}
