"""Fixed features (Thrampoulidis, NeurIPS 2024; constraints of theory.md §3): a linear head W (V × d) on frozen
context embeddings H (d × m), logits ``L = W H``.

GD on W reaches the in-support log-odds where the features allow it and grows in the direction of the fixed-features
NTP-SVM ::

    W_mm = argmin ‖W‖_F  s.t.  (w_z − w_v)ᵀ h_j ≥ 1  (z ∈ S_j, v ∉ S_j),  (w_z − w_z')ᵀ h_j = 0  (z, z' ∈ S_j).

Three things are computed by :func:`fixed_features`:

- ``W_mm`` by ADMM on ``min ½‖M‖² + I_K(L) s.t. M G = L`` with ``H = U_h G`` (thin SVD, ``W = M U_hᵀ``; the component
  of W orthogonal to the span of H never helps), K the NTP-SVM* constraint set (its exact weighted projection: the
  large solver's Newton iteration, torch on the CPU). Tokens with identical membership rows of S get identical rows of
  W_mm (the problem is strictly convex and symmetric under their swap), so they are merged with multiplicities ``r``;
  contexts are not (their features differ). **Certificate**: any ``A`` with ``1ᵀA = 0`` and ``A ≤ 0`` off the support
  gives ``tr(AᵀS̃) ≤ ⟨A, W H⟩ = ⟨A Hᵀ, W⟩`` for feasible W, hence ``‖W_mm‖_F ≥ tr(AᵀS̃)/‖A Hᵀ‖_F``; A is the ADMM
  multiplier, repaired. The primal is the iterate with its margins rescaled to >= 1; its in-support spread is reported
  as ``stats.residual`` (the status is OPTIMAL only when the gap is <= ``tol`` *and* the spread is <= ``feas_tol``).
  If the data are not NTP-separable with these features (e.g. ``d`` ≪ ``m`` on real text) the problem is infeasible:
  the lower bound grows without limit, the status stays USER_LIMIT and ``separable`` is False when the certified lower
  bound exceeds ``1e6`` times ``‖S̃‖_F / σ_min(H)`` (a Farkas-type certificate up to that factor).
- ``W_in``: the minimum-norm W whose in-support log-odds match L_in's, ``P_F(W H) = L_in`` in the least-squares
  sense (LSQR from zero; its solution lies in the span of ``(e_z − e_z') h_jᵀ``: the paper's W* in F).
- The NTP-compatibility check: ``in_residual = ‖P_F(W_in H) − L_in‖_F / ‖L_in‖_F`` (0 when the in-support log-odds
  are reachable with these features; then GD reaches ℋ on the support).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, lsqr
from threadpoolctl import threadpool_limits

from ..data import NTPData
from ..data.groups import column_groups
from ..errors import ShapeError, SolverError, SolverWarning
from ..reprs import short_repr
from ..status import SolverStats, Status, check_solver_options
from .pattern import centred_support, support_mask
from .large_ops import project_rows, support_index
from .subspaces import L_in, proj_F
from .svm_backends import balance_rho
from .tolerances import COMPATIBLE_RTOL, FEASIBILITY_TOL, RANK_RTOL

#: ``separable`` is False when the certified lower bound on ‖W_mm‖_F exceeds this times ``‖S̃‖_F / σ_min(H)``.
INFEASIBLE_FACTOR = 1e6


@dataclass(frozen=True, eq=False)
class FixedFeaturesResult:
    """The fixed-features predictions for a head on frozen H.

    Attributes
    ----------
    W_mm : ndarray, shape (V, d)
        The fixed-features NTP-SVM solution (margins >= 1; in-support spread ``stats.residual``).
    W_in : ndarray, shape (V, d)
        Minimum-norm W with ``P_F(W H) ≈ L_in`` (least squares).
    norm : float
        ``‖W_mm‖_F``.
    lower_bound : float
        Certified lower bound on the optimal ``‖W‖_F``.
    in_residual : float
        ``‖P_F(W_in H) − L_in‖_F / ‖L_in‖_F``: 0 when the in-support log-odds are reachable (NTP-compatibility).
    feature_rank : int
        Numerical rank of H.
    separable : bool or None
        True when W_mm was certified, False when the lower bound certifies (up to :data:`INFEASIBLE_FACTOR`) that
        no W separates, None when undecided.
    stats : SolverStats
        ``gap`` = ``(norm − lower_bound) / norm``, ``residual`` = largest in-support spread of ``W_mm H``.
    info : dict
    """

    __repr__ = short_repr

    W_mm: np.ndarray
    W_in: np.ndarray
    norm: float
    lower_bound: float
    in_residual: float
    feature_rank: int
    separable: bool | None
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the W_mm solve.")
    gap = property(lambda self: self.stats.gap, doc="Certified relative gap of ``‖W_mm‖_F``.")

    @property
    def compatible(self) -> bool:
        """Whether the in-support log-odds are reachable with these features (``in_residual <= 1e-6``)."""
        return bool(self.in_residual <= COMPATIBLE_RTOL)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        return {"norm": self.norm, "lower_bound": self.lower_bound, "in_residual": self.in_residual,
                "feature_rank": self.feature_rank, "separable": self.separable, "compatible": self.compatible,
                **self.stats.to_dict()}


def _features(H: Any, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``H = U_h G`` with ``G = diag(s) V_hᵀ`` (rank r): returns ``(U_h (d, r), s (r,), G (r, m))``."""
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or H.shape[1] != m:
        raise ShapeError(f"H must have shape (d, m) with m = {m} contexts, got {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ShapeError("H contains NaN or infinite entries")
    U, s, Vt = np.linalg.svd(H, full_matrices=False)
    r = int((s > RANK_RTOL * s[0]).sum()) if s.size and s[0] > 0 else 0
    if r == 0:
        raise ShapeError("H is zero: no head can separate anything")
    return U[:, :r], s[:r], s[:r, None] * Vt[:r]


def _check(M: torch.Tensor, U: torch.Tensor, rho: float, G: torch.Tensor, mask: torch.Tensor, r: torch.Tensor,
           St: torch.Tensor) -> tuple[float, float, float, torch.Tensor]:
    """Certified (upper, lower) bounds on ‖W_mm‖_F, the spread, and the rescaled primal M (float64 tensors; mask
    (V', m) bool, r (V', 1)). The dual A is ``−ρU`` made feasible: off-support entries clipped to <= 0, the
    (r-weighted) column sums set to 0 by shifting the support."""
    A = torch.where(mask, -rho * U, torch.clamp(-rho * U, max=0.0))
    k = (r * mask).sum(dim=0)
    A = torch.where(mask, A - (r * A).sum(dim=0) / k, A)
    s_val = float((r * A * St).sum())
    q = float(torch.sqrt((r * (A @ G.T) ** 2).sum()))
    lower = s_val / q if s_val > 0 and q > 0 else (np.inf if s_val > 0 else 0.0)
    L = M @ G
    lo = torch.where(mask, L, torch.inf).amin(dim=0)
    hi = torch.where(mask, L, -torch.inf).amax(dim=0)
    off = torch.where(mask, -torch.inf, L).amax(dim=0)
    margin = float((lo - off).min())
    if not margin > 0:
        return np.inf, lower, np.inf, M
    Ms = M / margin
    return float(torch.sqrt((r * Ms**2).sum())), lower, float((hi - lo).max()) / margin, Ms


def _admm(G: torch.Tensor, s: torch.Tensor, mask: torch.Tensor, r: torch.Tensor, opts: dict[str, Any]
          ) -> dict[str, Any]:
    """ADMM for ``min ½ Σ r_z ‖m_z‖² + I_K(L) s.t. M G = L`` (row-weighted penalty; ``G Gᵀ = diag(s²)``), in
    float64 torch on G's device; the projection is the large solver's warm-started Newton iteration
    (:func:`~ntpgeom.theory.large_ops.project_rows`, on the transposed layout; 6x faster than the sorting
    :func:`~ntpgeom.theory.project_columns` at V = 500, m = 3000, equal to 2e-15)."""
    rr = r[:, None]
    St = mask.double() - (rr * mask).sum(dim=0) / r.sum()  # the reduced S̃
    Mt = mask.T.contiguous()
    sup, level = support_index(Mt, r), torch.zeros(mask.shape[1], dtype=torch.float64, device=G.device)
    L, U = St.clone(), torch.zeros_like(St)
    rho = opts["rho"] or 1.0 / float((s**2).mean())
    best: dict[str, Any] = {"gap": np.inf, "upper": np.inf, "lower": 0.0, "spread": np.inf, "M": None}
    it = 0
    for it in range(1, opts["max_iter"] + 1):
        M = (rho * (L - U) @ G.T) / (1.0 + rho * s**2)
        MG = M @ G
        Lnew = project_rows((MG + U).T.contiguous(), Mt, r, level=level, sup=sup).T
        U = U + MG - Lnew
        rp, rd = float(torch.linalg.norm(MG - Lnew)), rho * float(torch.linalg.norm(Lnew - L))
        L = Lnew
        if it % opts["check_every"] == 0 or it == opts["max_iter"]:
            upper, lower, spread, Ms = _check(M, U, rho, G, mask, rr, St)
            best["lower"] = max(best["lower"], lower)  # every lower bound is valid
            gap = (upper - best["lower"]) / upper if np.isfinite(upper) else np.inf
            if spread <= opts["feas_tol"] and gap < best["gap"]:
                best.update(gap=gap, upper=upper, spread=spread, M=Ms)
            if (best["gap"] <= opts["tol"] or best["lower"] > opts["bound"]
                    or time.perf_counter() > opts["deadline"]):
                break
        if it % 10 == 0:
            rho, U = balance_rho(rho, U, rp, rd)
    if best["M"] is None:  # never feasible to feas_tol: keep the last iterate for inspection
        upper, _, spread, Ms = _check(M, U, rho, G, mask, rr, St)
        best.update(upper=upper, spread=spread, M=Ms)
    best.update(iterations=it, rho=rho, M=best["M"].cpu().numpy())
    return best


def _w_in(data: NTPData, G: np.ndarray, opts: dict[str, Any]) -> tuple[np.ndarray, float, int]:
    """Minimum-norm least squares ``P_F(M G) = L_in`` by LSQR; returns ``(M, relative residual, iterations)``."""
    mask = support_mask(data)
    target = L_in(data)
    V, rk = mask.shape[0], G.shape[0]

    def mv(x: np.ndarray) -> np.ndarray:
        return proj_F(x.reshape(V, rk) @ G, mask).ravel()

    def rmv(y: np.ndarray) -> np.ndarray:
        return (proj_F(y.reshape(mask.shape), mask) @ G.T).ravel()

    op = LinearOperator((mask.size, V * rk), matvec=mv, rmatvec=rmv, dtype=np.float64)
    out = lsqr(op, target.ravel(), atol=opts["lsqr_tol"], btol=opts["lsqr_tol"], iter_lim=opts["lsqr_iter"])
    M = out[0].reshape(V, rk)
    nrm = float(np.linalg.norm(target))
    res = float(np.linalg.norm(proj_F(M @ G, mask) - target) / nrm) if nrm > 0 else 0.0
    return M, res, int(out[2])


def fixed_features(data: NTPData, H: Any, tol: float = 1e-6, max_iter: int = 20000, threads: int = 1, *,
                   feas_tol: float = FEASIBILITY_TOL, rho: float | None = None, check_every: int = 20,
                   time_limit: float | None = None, lsqr_tol: float = 1e-12, lsqr_iter: int = 2000,
                   device: str = "cpu") -> FixedFeaturesResult:
    """The fixed-features predictions W_mm and W_in for a linear head on frozen ``H`` (module docstring).

    Parameters
    ----------
    data : NTPData
        V tokens, m contexts (its P gives L_in, its S the constraints).
    H : array, shape (d, m)
        Frozen context embeddings, one column per context of ``data``.
    tol : float
        Target relative gap of ``‖W_mm‖_F``.
    max_iter : int
        ADMM iterations.
    threads : int
        CPU threads (torch and BLAS), restored after the call.
    feas_tol : float
        Largest in-support spread of ``W_mm H`` accepted as feasible.
    rho, check_every, time_limit, lsqr_tol, lsqr_iter
        Initial ADMM penalty, iterations between checks, time limit in seconds (ADMM only; past it the best point so
        far, status USER_LIMIT), LSQR's atol/btol and iteration cap (W_in; ``info["lsqr_iterations"]``).
    device : str
        Torch device of the W_mm ADMM (float64 throughout; ``"cuda"`` for 10^4 contexts and more). W_in's LSQR runs
        on the CPU.

    Returns
    -------
    FixedFeaturesResult
    """
    check_solver_options(tol, max_iter, threads, check_every)
    check_solver_options(lsqr_tol, lsqr_iter, names={"tol": "lsqr_tol", "max_iter": "lsqr_iter"})
    t0 = time.perf_counter()
    mask = support_mask(data)
    Uh, s, G = _features(H, mask.shape[1])
    opts = {"tol": float(tol), "max_iter": int(max_iter), "rho": rho, "check_every": int(check_every),
            "feas_tol": float(feas_tol), "lsqr_tol": float(lsqr_tol), "lsqr_iter": int(lsqr_iter),
            "deadline": np.inf if time_limit is None else t0 + float(time_limit)}
    opts["bound"] = INFEASIBLE_FACTOR * float(np.linalg.norm(centred_support(mask))) / float(s[-1])
    row_group, row_first = column_groups(mask.T)
    r = np.bincount(row_group, minlength=len(row_first)).astype(np.float64)
    try:
        t64, old_threads = {"dtype": torch.float64, "device": torch.device(device)}, torch.get_num_threads()
    except (RuntimeError, TypeError) as exc:
        raise SolverError(f"device {device!r} is not a torch device ({exc})") from exc
    torch.set_num_threads(int(threads))  # torch's CPU threads, restored below; BLAS's by threadpoolctl
    try:
        with threadpool_limits(int(threads)):
            sol = _admm(torch.as_tensor(G, **t64), torch.as_tensor(s, **t64),
                        torch.as_tensor(mask[row_first], device=t64["device"]), torch.as_tensor(r, **t64), opts)
            M_in, in_res, lsqr_it = _w_in(data, G, opts)
    finally:
        torch.set_num_threads(old_threads)
    W_mm = (sol["M"] @ Uh.T)[row_group]
    W_in = M_in @ Uh.T
    for a in (W_mm, W_in):
        a.setflags(write=False)
    upper, lower = float(sol["upper"]), float(sol["lower"])
    gap = float((upper - lower) / upper) if np.isfinite(upper) and upper > 0 else np.inf
    status = Status.from_gap(gap, opts["tol"]) if sol["spread"] <= opts["feas_tol"] else Status.USER_LIMIT
    separable = True if status.solved else (False if lower > opts["bound"] else None)
    if not status.solved:
        why = (f"the data are not NTP-separable with these features (certified lower bound {lower:.3g} on ‖W‖_F)"
               if separable is False else f"relative gap {gap:.2e}, spread {sol['spread']:.1e}")
        warnings.warn(f"fixed_features: W_mm not certified: {why}", SolverWarning, stacklevel=2)
    stats = SolverStats(status, "admm", int(sol["iterations"]), time.perf_counter() - t0, gap, float(sol["spread"]),
                        opts["tol"], int(threads))
    info = {"rho": float(sol["rho"]), "reduced_rows": int(len(r)), "lsqr_iterations": lsqr_it}
    return FixedFeaturesResult(W_mm, W_in, upper, lower, in_res, int(len(s)), separable, stats, info)


__all__ = ["FixedFeaturesResult", "INFEASIBLE_FACTOR", "fixed_features"]
