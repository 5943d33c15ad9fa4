"""NTP-SVM* with a rank constraint (App. D.4, d < V): a heuristic for ``min ‖L‖_* s.t. L feasible, rank L <= d``.

A model with embedding dimension d < V has logits of rank <= d, so its max-margin direction can only be a solution
of NTP-SVM* restricted to rank <= d — a non-convex problem the paper leaves open. This module searches it with the
factored formulation ``L = A Bᵀ`` (A: V x d, B: m x d), with ``‖L‖_* = min (‖A‖²+‖B‖²)/2`` over the
factorisations:

1. start from an A (the top-d factor of the unconstrained solution, then perturbed copies, or random Gaussian ones);
2. alternate exact convex steps, each keeping L feasible: with A fixed, the minimum-norm B with ``A Bᵀ`` feasible
   (one least-distance problem per column); with B fixed, the minimum-norm A (one least-distance problem);
   a least-distance problem ``min ‖x‖ s.t. Gx >= h`` (after eliminating the equalities) is solved exactly by
   non-negative least squares (Lawson & Hanson, ch. 23);
3. after each step re-balance the factors through the SVD of L (then ``(‖A‖²+‖B‖²)/2 = ‖L‖_*``).

Every step keeps the constraints (up to rounding, reported as ``max_violation``), so each start returns a feasible
rank-<=d point and ``‖L‖_*`` never increases along it; the best over the starts is an upper bound on the rank-d
optimum (a lower bound is the unconstrained optimum). A start whose first step is infeasible (no rank-d feasible
point with that A) is counted as failed; if every start fails, the result says so (``L is None``): small d can be
infeasible (e.g. three singleton supports need rank 2). Dense numpy: a B-step solves one small problem per distinct
support; the A-step (one problem in V·d unknowns) runs only for small V·d, above that the descent uses B-steps
after each re-balancing (still monotone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import nnls

from ..reprs import short_repr
from ..status import SolverStats, Status
from .norms import nuclear_norm
from .pattern import PatternLike, support_mask
from .svm_backends import max_violation
from .tolerances import DESCENT_RISE_SLACK, LDP_INFEASIBLE, RANK_RTOL


@dataclass(frozen=True, eq=False)
class RankResult:
    """The best rank-<=d feasible point found.

    Attributes
    ----------
    d : int
    L : ndarray, shape (V, m), or None
        The best feasible L of rank <= d found (None: every start was infeasible).
    nuclear_norm : float
        ``‖L‖_*`` (inf when none was found).
    rank : int
        Numerical rank of L (singular values above 1e-8 σ_max; 0 when none).
    max_violation : float
        Largest constraint violation of L (rounding only).
    norms : tuple of float
        Final ``‖L‖_*`` of every start (inf for a failed one).
    stats : SolverStats
        Status (``LOCAL_OPTIMUM`` when the best start stopped by its ``rtol`` rule, ``USER_LIMIT`` when it ran out of
        ``iters`` steps or lost feasibility first, ``INFEASIBLE`` when every start failed), backend ``"alternating"``,
        iterations = alternating steps over all starts, seconds, ``gap`` NaN (a heuristic: no certificate),
        ``residual`` = ``max_violation``, tol = ``rtol``, threads 0. Also readable as ``.status``.
    """

    __repr__ = short_repr

    d: int
    L: np.ndarray | None
    nuclear_norm: float
    rank: int
    max_violation: float
    norms: tuple[float, ...]
    stats: SolverStats

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the search.")


def least_distance(G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """``argmin ‖x‖ s.t. G x >= h`` (G: p x n), or None when infeasible; exact, via one NNLS (Lawson-Hanson LDP)."""
    p, n = G.shape
    if p == 0:
        return np.zeros(n)
    E = np.vstack([G.T, h[None, :]])
    f = np.zeros(n + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * (n + p + 1))
    r = E @ u - f
    if np.linalg.norm(r) < LDP_INFEASIBLE or r[-1] > -LDP_INFEASIBLE:
        return None
    return -r[:n] / r[-1]


def _min_norm_subject(Eq: np.ndarray, G: np.ndarray, n: int) -> np.ndarray | None:
    """``argmin ‖x‖ s.t. Eq x = 0, G x >= 1`` (x in R^n), or None."""
    N = null_space(Eq) if len(Eq) else np.eye(n)
    if N.shape[1] == 0:
        return np.zeros(n) if len(G) == 0 else None
    y = least_distance(G @ N, np.ones(len(G)))
    return None if y is None else N @ y


def _b_step(A: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The minimum-norm B (m x d) with ``A Bᵀ`` feasible, column by column (one problem per distinct support:
    contexts with the same support get the same row)."""
    V, d = A.shape
    cols, first, inverse = np.unique(mask.T, axis=0, return_index=True, return_inverse=True)
    B_u = np.zeros((len(cols), d))
    for u, col in enumerate(cols):
        sup, off = np.flatnonzero(col), np.flatnonzero(~col)
        z0 = sup[0]
        b = _min_norm_subject(A[sup[1:]] - A[z0], A[z0] - A[off], d)
        if b is None:
            return None
        B_u[u] = b
    return B_u[inverse.ravel()]


def _a_step(B: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The minimum-norm A (V x d) with ``A Bᵀ`` feasible (one problem in the V·d entries of A)."""
    V, m = mask.shape
    d = B.shape[1]
    eq, ineq = [], []
    for j in range(m):
        sup = np.flatnonzero(mask[:, j])
        z0 = sup[0]
        for z, sign_rows in ((sup[1:], eq), (np.flatnonzero(~mask[:, j]), ineq)):
            for v in z:
                row = np.zeros((V, d))
                row[z0] += B[j]
                row[v] -= B[j]
                sign_rows.append(row.ravel())
    Eq = np.array(eq).reshape(-1, V * d)
    G = np.array(ineq).reshape(-1, V * d)
    a = _min_norm_subject(Eq, G, V * d)
    return None if a is None else a.reshape(V, d)


def _balanced(L: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    r = np.sqrt(s[:d])
    return U[:, :d] * r, Vt[:d].T * r


@dataclass(frozen=True, eq=False)
class Descent:
    """The end of one start of :func:`_descend`: the last feasible L (V, m) or None, the steps taken, and whether it
    stopped by its ``rtol`` rule."""

    L: np.ndarray | None
    steps: int
    stopped: bool


def _descend(A: np.ndarray, mask: np.ndarray, iters: int, rtol: float, a_steps: bool) -> Descent:
    """Alternate the two exact steps from A (only B-steps after each re-balancing when not ``a_steps``); the last
    feasible L (None if the first step is infeasible)."""
    d = A.shape[1]
    B = _b_step(A, mask)
    if B is None:
        return Descent(None, 0, False)
    L = A @ B.T
    best = nuclear_norm(L)
    steps, stopped = 0, False
    for it in range(iters):
        steps = it + 1
        A, B = _balanced(L, d)
        a_turn = a_steps and it % 2 == 0
        new = _a_step(B, mask) if a_turn else _b_step(A, mask)
        if new is None:  # numerically lost feasibility: keep the last point
            break
        L_new = new @ B.T if a_turn else A @ new.T
        norm = nuclear_norm(L_new)
        if norm > best * (1 + DESCENT_RISE_SLACK):
            break
        L, done = L_new, best - norm <= rtol * best
        best = norm
        if done and (it % 2 == 1 or not a_steps):
            stopped = True
            break
    return Descent(L, steps, stopped)


def solve_rank_constrained(S: PatternLike, d: int, *, L_ref: np.ndarray | None = None, starts: int = 5,
                           iters: int = 60, rtol: float = 1e-7, seed: int = 0,
                           max_a_variables: int = 2000) -> RankResult:
    """Best nuclear norm found for NTP-SVM* with rank ≤ d (heuristic, see the module docstring).

    Parameters
    ----------
    S : NTPData, SupportPattern or 0/1 matrix, shape (V, m)
    d : int
        Rank bound, >= 1.
    L_ref : ndarray, shape (V, m), optional
        The unconstrained solution (e.g. ``solve_ntp_svm(S).L``); its top-d factor is start 0.
    starts : int
        Number of starts: with ``L_ref``, its top-d factor and then that factor with growing Gaussian noise;
        without, random Gaussian A.
    iters, rtol
        Alternating steps per start and the relative decrease of ``‖L‖_*`` below which a start stops.
    max_a_variables : int
        A-steps (one problem in all V·d entries of A) only while ``V·d`` is at most this; above it every step is a
        B-step after re-balancing (still monotone, cheaper: one small problem per distinct support).
    """
    t0 = time.perf_counter()
    mask = support_mask(S)
    if not (isinstance(d, (int, np.integer)) and d >= 1):
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    rng = np.random.default_rng(seed)
    V = mask.shape[0]
    inits = []
    if L_ref is not None:  # start 0: the top-d factor; then that factor perturbed more and more
        A_ref = _balanced(np.asarray(L_ref, dtype=np.float64), d)[0]
        A_ref = np.hstack([A_ref, np.zeros((V, d - A_ref.shape[1]))])  # L_ref of rank < d: zero columns
        scale = np.sqrt(np.mean(A_ref ** 2))
        inits = [A_ref + (i / max(1, starts - 1)) * scale * rng.normal(size=(V, d)) for i in range(starts)]
    while len(inits) < starts:
        inits.append(rng.normal(size=(V, d)))
    norms, best, best_run, steps = [], None, None, 0
    for A0 in inits:
        run = _descend(A0, mask, iters, rtol, a_steps=V * d <= max_a_variables)
        L, steps = run.L, steps + run.steps
        norms.append(np.inf if L is None else nuclear_norm(L))
        if L is not None and (best is None or norms[-1] < nuclear_norm(best)):
            best, best_run = L, run
    if best is None:
        stats = SolverStats(Status.INFEASIBLE, "alternating", steps, time.perf_counter() - t0, float("nan"), np.inf,
                            float(rtol), 0)
        return RankResult(d, None, np.inf, 0, np.inf, tuple(norms), stats)
    s = np.linalg.svd(best, compute_uv=False)
    rank = int((s > RANK_RTOL * s[0]).sum())
    viol = max_violation(best, mask)
    status = Status.LOCAL_OPTIMUM if best_run.stopped else Status.USER_LIMIT
    stats = SolverStats(status, "alternating", steps, time.perf_counter() - t0, float("nan"), viol, float(rtol), 0)
    return RankResult(d, best, float(s.sum()), rank, viol, tuple(norms), stats)


def rank_profile(S: PatternLike, ds: list[int], **kwargs) -> dict[int, RankResult]:
    """:func:`solve_rank_constrained` for every d in ``ds``."""
    return {int(d): solve_rank_constrained(S, int(d), **kwargs) for d in ds}


__all__ = ["RankResult", "least_distance", "rank_profile", "solve_rank_constrained"]
