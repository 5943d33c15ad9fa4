"""Non-uniqueness of L_mm (theory.md §8): probe the optimal face of NTP-SVM*.

The face at tolerance ``tol`` is ``{L feasible, 1ᵀL = 0, ‖L‖_* <= opt (1 + tol)}`` (token-centred: centring keeps
feasibility and never raises the nuclear norm, and logits are only defined up to per-context shifts). It is probed by
minimising and maximising ``n_directions`` random linear functionals over it (cvxpy + SCS), which returns extreme
points of the face in random directions; with L_mm itself they are the face's ``members``.

Size and symmetry. The probes run on the *reduced* pattern (distinct support columns and membership rows with
multiplicities, as in :mod:`ntpgeom.theory.svm`), in the scaled variable ``X = diag(√r) L̂ diag(√c)``, an isometry
onto the symmetric matrices of the full problem. The symmetric part of the face is the image of the whole face under
averaging over the swaps of identical rows/columns, so the probed diameter is a lower bound of the full face's
diameter (exact when the pattern has no duplicates, e.g. the 5-cycle). Problems whose reduced pattern has more than
``max_entries`` entries are not probed (status ``SKIPPED``, detail ``"not probed: ..."``), nor when cvxpy is
missing. Measured (2 shared cores, 1 thread): the 5-cycle ~3.5 s, built-in "synthetic" (reduced 17 x 12) ~14 s, built-in "stories" (39 x 31,
above the default limit) ~160 s with 2 directions at eps = 1e-6, and SCS then reports "optimal_inaccurate".

Uniqueness test. For a unique optimum the probed face shrinks as ``tol → 0`` (diameter ∝ tol for a sharp minimum:
≈ 12 × tol on one-hot and all-k-subsets patterns; ∝ √tol for quadratic growth: 0.122, 0.040, 0.013 at tol = 1e-3,
1e-4, 1e-5 on the built-in "synthetic" pattern), while a non-unique optimum keeps its diameter (0.32, 0.35, 0.36 on
the 5-cycle). So ``is_point`` is decided by probing again at ``tol / 30`` with 2 of the functionals: a point when
``diameter <= 50 tol`` (the sharp scale) or the finer diameter is at most half the coarse one (any growth order up to
about 5). A pattern whose face is not a point has ``is_point = False`` and a diameter that does not shrink.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ..reprs import short_repr
from .geometry import direction_distance
from ..errors import SolverError
from ..status import SolverStats, Status
from .pattern import reduce_pattern, support_mask
from .svm_backends import max_violation, project_columns
from .norms import centre, nuclear_norm
from .tolerances import CONE_COS_FLOOR, FEASIBILITY_TOL

RESOLUTION_PER_TOL = 50.0


@dataclass(frozen=True, eq=False)
class Face:
    """Probed optimal face of NTP-SVM*.

    Attributes
    ----------
    members : ndarray, shape (k, V, m)
        Token-centred points of the face: ``members[0]`` is the given L_mm, then the minimiser and maximiser of each
        random functional (k = 1 when not probed). Read-only.
    diameter : float
        Largest direction distance between two members (NaN when not probed): a **lower bound** of the face's
        diameter (the probes find some of its points; the summary says so).
    is_point : bool or None
        ``diameter <= resolution``, or ``diameter_fine <= diameter / 2`` (the face shrinks with the slack: a unique
        optimum). None when not probed.
    diameter_fine : float
        Diameter of the probes at slack ``tol / 30`` (2 functionals); NaN when not needed or not probed.
    detail : str
        ``"probed"``, ``"probed (inaccurate: ...)"`` or ``"not probed: <reason>"`` (was ``status`` before the
        solver contract; ``.status`` is now the :class:`~ntpgeom.status.Status`).
    opt : float
        ``‖L_mm‖_*`` (centred), the optimum the face is measured against.
    tol : float
        Relative slack of the face.
    resolution : float
        ``50 × tol``: diameters up to this are what a unique optimum shows at this slack.
    excess : float
        Largest ``‖member‖_* / opt - 1`` (<= tol up to solver accuracy).
    reduced_shape : (int, int)
    seconds : float
    stats : SolverStats
        Status (``OPTIMAL`` when probed accurately, ``USER_LIMIT`` when a probe ended inaccurate, e.g. at SCS's time
        limit, ``SKIPPED`` when not probed), backend ``"cvxpy"``, iterations = SCS solves, seconds, ``gap`` NaN (a
        probe certifies no gap), ``residual`` = ``excess``, tol, threads 0. Also readable as ``.status``.
    info : dict
        ``opt_check`` (cvxpy's own minimum), ``n_directions``, ``seed``.
    """

    __repr__ = short_repr

    members: np.ndarray
    diameter: float
    is_point: bool | None
    diameter_fine: float
    detail: str
    opt: float
    tol: float
    resolution: float
    excess: float
    reduced_shape: tuple[int, int]
    seconds: float
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the probes.")

    @property
    def probed(self) -> bool:
        return self.detail.startswith("probed")

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        return {"k": int(self.members.shape[0]), "diameter": self.diameter, "is_point": self.is_point,
                "diameter_fine": self.diameter_fine,
                "diameter_is": "a lower bound (largest distance between the probed members)",
                "status": self.status.value, "detail": self.detail, "opt": self.opt, "tol": self.tol,
                "resolution": self.resolution,
                "excess": self.excess, "reduced_shape": list(self.reduced_shape), "seconds": self.seconds}


def _reduced_problem(cp: Any, mask: np.ndarray, r: np.ndarray, c: np.ndarray):
    """cvxpy variable X (scaled reduced logits) and the feasibility + centring constraints."""
    V, m = mask.shape
    Wt = np.sqrt(r)[:, None] * np.sqrt(c)[None, :]
    X = cp.Variable((V, m))
    a = cp.Variable(m)
    Lh = cp.multiply(1.0 / Wt, X)
    Mf = mask.astype(np.float64)
    diff = Lh - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    cons = [cp.multiply(Mf, diff) == 0, cp.multiply(1.0 - Mf, diff + 1.0) <= 0, r @ Lh == 0]
    return X, cons, Wt


def _clean(Xv: np.ndarray, mask: np.ndarray, r: np.ndarray, Wt: np.ndarray) -> np.ndarray:
    """Exactly feasible, weighted-centred reduced logits from a solver answer in the scaled variable."""
    Lh = project_columns(Xv / Wt, mask, r)
    return Lh - (r @ Lh) / r.sum()


def _scs_kw(eps: float, time_limit: float | None) -> dict[str, Any]:
    kw: dict[str, Any] = {"eps_abs": eps, "eps_rel": eps, "max_iters": 100000}
    if time_limit is not None:
        kw["time_limit_secs"] = float(time_limit)
    return kw


def _min_norm(mask, r, c, eps, time_limit) -> float:
    """cvxpy's own optimum of the reduced problem (a check on the given L_mm)."""
    import cvxpy as cp

    X, cons, _ = _reduced_problem(cp, mask, r, c)
    prob = cp.Problem(cp.Minimize(cp.normNuc(X)), cons)
    prob.solve(solver=cp.SCS, **_scs_kw(eps, time_limit))
    return float(prob.value) if prob.value is not None else float("nan")


def _probe(mask, r, c, bound, n_directions, seed, eps, time_limit):
    """Minimise and maximise ``n_directions`` random functionals of X over ``{feasible, ‖X‖_* <= bound}``.
    Returns the (reduced, cleaned) points and the statuses that were not "optimal"."""
    import cvxpy as cp

    X, cons, Wt = _reduced_problem(cp, mask, r, c)
    ball = cons + [cp.normNuc(X) <= bound]
    rng = np.random.default_rng(seed)
    found, bad = [], []
    kw = _scs_kw(eps, time_limit)
    for _ in range(n_directions):
        C = rng.normal(size=mask.shape)
        for sense in (cp.Minimize, cp.Maximize):
            prob = cp.Problem(sense(cp.sum(cp.multiply(C, X))), ball)
            prob.solve(solver=cp.SCS, **kw)
            if prob.status != "optimal":
                bad.append(str(prob.status))
            if X.value is not None:
                found.append(_clean(np.asarray(X.value), mask, r, Wt))
    return found, bad


def _diameter(points: list[np.ndarray]) -> float:
    return max((direction_distance(a, b) for a in points for b in points), default=0.0)


def _not_probed(Lc: np.ndarray, opt: float, tol: float, shape, reason: str, t0: float, info: dict) -> Face:
    members = Lc[None].copy()
    members.setflags(write=False)
    seconds = time.perf_counter() - t0
    stats = SolverStats(Status.SKIPPED, "cvxpy", 0, seconds, float("nan"), 0.0, tol, 0)
    return Face(members, float("nan"), None, float("nan"), f"not probed: {reason}", opt, tol,
                RESOLUTION_PER_TOL * tol, 0.0, shape, seconds, stats, info)


def _validated(data: Any, L_mm: Any, tol: Any, n_directions: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """(support mask, L_mm as an array, its constraint violation), or a SolverError naming the problem."""
    mask = support_mask(data)
    L = np.asarray(getattr(L_mm, "L", L_mm), dtype=np.float64)
    if L.shape != mask.shape:
        raise SolverError(f"L_mm has shape {L.shape} but the support pattern is {mask.shape} (V x m)")
    if not np.all(np.isfinite(L)):
        raise SolverError("L_mm contains NaN or infinite entries")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise SolverError(f"tol must be a number in (0, 1), got {tol!r}")
    if not (isinstance(n_directions, (int, np.integer)) and n_directions >= 1):
        raise SolverError(f"n_directions must be a positive integer, got {n_directions!r}")
    viol = max_violation(L, mask)
    if viol > FEASIBILITY_TOL:
        raise SolverError(f"L_mm violates the NTP-SVM* constraints by {viol:.2e}; pass a solution of solve_ntp_svm")
    return mask, L, viol


def optimal_face(data: Any, L_mm: Any, *, n_directions: int = 4, tol: float = 1e-3, seed: int = 0,
                 max_entries: int = 400, eps: float = 1e-8, time_limit: float | None = 60.0) -> Face:
    """Probe the optimal face of NTP-SVM* around a solution L_mm.

    Parameters
    ----------
    data : NTPData, or 0/1 array or sparse matrix, shape (V, m)
        The support pattern.
    L_mm : array (V, m) or SVMResult
        An NTP-SVM* solution (must be feasible; its centred nuclear norm is taken as the optimum).
    n_directions : int
        Random linear functionals; each is minimised and maximised (2 n_directions probes).
    tol : float
        Relative slack of the face, ``‖L‖_* <= opt (1 + tol)``.
    seed : int
        Seed of the random functionals (same seed, same face).
    max_entries : int
        Largest reduced pattern (V' m') that is probed.
    eps, time_limit : float
        SCS accuracy and per-solve time limit (seconds).

    Returns
    -------
    Face
    """
    t0 = time.perf_counter()
    mask, L, viol = _validated(data, L_mm, tol, n_directions)
    Lc = centre(L)
    opt = nuclear_norm(Lc)
    red = reduce_pattern(mask)
    info: dict[str, Any] = {"n_directions": int(n_directions), "seed": int(seed), "max_violation": viol}
    if red.mask.size > max_entries:
        return _not_probed(Lc, opt, float(tol), red.shape, f"reduced pattern {red.shape} has more than "
                           f"{max_entries} entries (raise max_entries; cvxpy cost grows fast)", t0, info)
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        return _not_probed(Lc, opt, float(tol), red.shape, "cvxpy is not installed (pip install 'ntpgeom[cvx]')",
                           t0, info)
    opt_check = _min_norm(red.mask, red.r, red.c, eps, time_limit)
    info["opt_check"] = opt_check
    if opt_check < opt * (1.0 - tol):
        raise SolverError(f"L_mm is not optimal: ‖L_mm‖_* = {opt:.6g} but cvxpy finds {opt_check:.6g}; solve to a "
                          "smaller gap first")
    found, bad = _probe(red.mask, red.r, red.c, opt * (1.0 + tol), int(n_directions), seed, eps, time_limit)
    sr, sc = np.sqrt(red.r), np.sqrt(red.c)
    excess = max([nuclear_norm(sr[:, None] * Lh * sc) / opt - 1.0 for Lh in found], default=0.0)
    members = np.stack([Lc] + [red.expand(Lh) for Lh in found])
    members.setflags(write=False)
    diam = _diameter(list(members))
    res = RESOLUTION_PER_TOL * float(tol)
    fine = float("nan")
    if diam > res:  # does the face shrink with the slack (unique optimum) or not (a genuine face)?
        pts, bad2 = _probe(red.mask, red.r, red.c, opt * (1.0 + tol / 30), 2, seed, eps, time_limit)
        bad += bad2
        fine = _diameter([Lc] + [red.expand(Lh) for Lh in pts])
    is_point = bool(diam <= res or fine <= 0.5 * diam)
    accurate = not bad and excess <= 10 * tol
    detail = "probed" if accurate else f"probed (inaccurate: {sorted(set(bad))}, excess {excess:.1e})"
    seconds = time.perf_counter() - t0
    n_solves = 1 + 2 * int(n_directions) + (4 if diam > res else 0)
    stats = SolverStats(Status.OPTIMAL if accurate else Status.USER_LIMIT, "cvxpy", n_solves, seconds,
                        float("nan"), float(excess), float(tol), 0)
    return Face(members, float(diam), is_point, float(fine), detail, opt, float(tol), res, float(excess), red.shape,
                seconds, stats, info)


def face_distance(face: Face, L: Any) -> float:
    """Direction distance from L (token-centred) to the convex hull of the face's members.

    Every ray through the hull is a conic combination of the members, so the nearest direction is the projection of
    ``L/‖L‖_F`` onto the cone they generate (non-negative least squares, exact): with y that projection,
    ``distance = sqrt(2 - 2‖y‖)`` (``‖y‖`` is the cosine of the angle to the cone; when y = 0 the nearest ray is the
nearest member). When the face was not probed this
    is the distance to L_mm. ``L``: shape (V, m).
    """
    Lc = centre(L)
    if Lc.shape != face.members.shape[1:]:
        raise SolverError(f"L has shape {Lc.shape} but the face's members are {face.members.shape[1:]} (V x m)")
    if not np.all(np.isfinite(Lc)):
        raise SolverError("L contains NaN or infinite entries")
    n = float(np.linalg.norm(Lc))
    if n == 0:
        return float("nan")
    A = face.members.reshape(len(face.members), -1)
    A = (A / np.linalg.norm(A, axis=1, keepdims=True)).T
    l = Lc.ravel() / n
    w, _ = nnls(A, l)
    cos = min(float(np.linalg.norm(A @ w)), 1.0)
    if cos <= CONE_COS_FLOOR:  # every member at >= 90°: the best ray is extreme (cos = -1/‖x‖ on ⟨l, x⟩ = -1 is maximised
        cos = float((A.T @ l).max())  # at a vertex), i.e. one of the members
    return float(np.sqrt(max(2.0 - 2.0 * cos, 0.0)))
