"""The checked result of NTP-SVM* (:class:`SVMResult`), shared by every backend, the large-scale solver included."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..reprs import short_repr
from ..status import SolverStats
from .tolerances import RANK_RTOL


@dataclass(frozen=True, eq=False)
class SVMResult:
    """A checked solution of NTP-SVM*.

    Attributes
    ----------
    L : ndarray, shape (V, m)
        Primal solution (exactly feasible up to rounding: ``max_violation``).
    nuclear_norm : float
        ``‖L‖_*``.
    dual : ndarray, shape (V, m)
        Dual-feasible A: ``‖A‖_2 <= 1``, ``1ᵀA = 0``, ``A <= 0`` off the support.
    dual_value : float
        ``tr(AᵀS̃)``, a lower bound on the optimum.
    rank : int
        Numerical rank of L (singular values above ``1e-8 σ_max``).
    certificate_holds : bool
        Whether Prop. 3's S̃ certificate holds for this S.
    reduced_shape : (int, int)
        Shape of the reduced problem.
    stats : SolverStats
        Status (``CERTIFIED_BY_PROP3`` when S̃ was returned, ``OPTIMAL`` when ``gap <= tol``, else ``USER_LIMIT``),
        backend (``"tilde"``, ``"fast"``, ``"cvxpy"``), iterations, seconds, relative duality gap
        ``(‖L‖_* - tr(AᵀS̃)) / ‖L‖_*`` (an upper bound on the relative suboptimality), ``residual`` = the largest
        constraint violation, tol, threads. Also readable as ``.status``, ``.method``, ``.gap``,
        ``.max_violation``, ``.iterations``, ``.seconds``, ``.converged``, ``.tol``, ``.threads``.
    info : dict
        Backend details (penalty, history, solver status), JSON-serialisable.
    """

    __repr__ = short_repr

    L: np.ndarray
    nuclear_norm: float
    dual: np.ndarray
    dual_value: float
    rank: int
    certificate_holds: bool
    reduced_shape: tuple[int, int]
    stats: SolverStats
    info: dict = field(default_factory=dict)

    status = property(lambda self: self.stats.status, doc="The :class:`~ntpgeom.status.Status` of the solve.")
    method = property(lambda self: self.stats.backend, doc="The backend that produced L.")
    gap = property(lambda self: self.stats.gap, doc="Certified relative duality gap.")
    max_violation = property(lambda self: self.stats.residual, doc="Largest constraint violation of L.")
    iterations = property(lambda self: self.stats.iterations)
    seconds = property(lambda self: self.stats.seconds)
    tol = property(lambda self: self.stats.tol)
    threads = property(lambda self: self.stats.threads)
    converged = property(lambda self: self.stats.converged, doc="Whether ``gap <= tol``.")

    @property
    def primal_value(self) -> float:
        """Alias of ``nuclear_norm``."""
        return self.nuclear_norm

    def factors(self, rtol: float = RANK_RTOL) -> tuple[np.ndarray, np.ndarray]:
        """``(W, H) = (UΣ^{1/2}, Σ^{1/2}Vᵀ)`` of L, shapes (V, r) and (r, m); see :func:`ntpgeom.theory.factors`."""
        from .geometry import factors

        return factors(self.L, rtol=rtol)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars (``status`` as its string value)."""
        V, m = self.L.shape
        return {
            "V": V, "m": m, "reduced_shape": list(self.reduced_shape), "nuclear_norm": self.nuclear_norm,
            "dual_value": self.dual_value, "gap": self.gap, "max_violation": self.max_violation, "rank": self.rank,
            "iterations": self.iterations, "seconds": self.seconds, "method": self.method,
            "converged": self.converged, "certificate_holds": self.certificate_holds, "tol": self.tol,
            "threads": self.threads, "status": self.status.value,
        }


__all__ = ["SVMResult"]
