"""The one accelerated proximal-gradient (FISTA) driver of the theory layer, shared by the regularised problem (8)
(:mod:`ntpgeom.theory.path`: prox = singular-value thresholding) and the norm-ball problem
(:mod:`ntpgeom.theory.finite_norm`: prox = projection onto the nuclear-norm ball).

Iteration (Beck & Teboulle) with gradient-based adaptive restarts (O'Donoghue & Candès): from ``X``, ``Y``,
``Xn = prox(Y - step ∇f(Y))``; if ``⟨Y - Xn, Xn - X⟩ > 0`` the momentum restarts (``t = 1``, ``Y = Xn``), else
``Y = Xn + (t - 1)/t' (Xn - X)`` with ``t' = (1 + √(1 + 4t²))/2``. The caller's ``certify`` runs every
``check_every`` iterations and at the last one; the loop stops as soon as ``done(certificate)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import numpy as np

C = TypeVar("C")


@dataclass(frozen=True, eq=False)
class FistaRun(Generic[C]):
    """The end of a :func:`fista` run: the last iterate ``X`` (the shape of the start), the iterations run, the last
    certificate (whatever ``certify`` returns) and the number of momentum restarts."""

    X: np.ndarray
    iterations: int
    certificate: C
    restarts: int


def fista(grad: Callable[[np.ndarray], np.ndarray], prox: Callable[[np.ndarray], np.ndarray], X0: np.ndarray,
          step: float, certify: Callable[[np.ndarray], C], done: Callable[[C], bool], max_iter: int,
          check_every: int, *, certify_start: bool = False) -> FistaRun[C]:
    """Minimise ``f + g`` by FISTA with adaptive restarts (module docstring).

    Parameters
    ----------
    grad : X -> ∇f(X)
    prox : Z -> prox_{step g}(Z)
    X0 : ndarray
        Start (not modified).
    step : float
        ``1 / Lipschitz constant of ∇f``.
    certify : X -> certificate
        The caller's check of an iterate.
    done : certificate -> bool
        Whether to stop.
    max_iter, check_every : int
        Iteration cap (0 runs none) and iterations between checks.
    certify_start : bool
        Check the start first (and return it untouched if it is already ``done``).
    """
    X = X0  # never written in place; its memory layout is kept (it sets the summation order of np.vdot)
    Y, t, restarts, it = X.copy(), 1.0, 0, 0
    cert = certify(X) if certify_start else None
    if cert is None or not done(cert):
        for it in range(1, max_iter + 1):
            Xn = prox(Y - step * grad(Y))
            if np.vdot(Y - Xn, Xn - X) > 0:  # gradient-based adaptive restart
                t, Y, restarts = 1.0, Xn.copy(), restarts + 1
            else:
                tn = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
                Y = Xn + ((t - 1) / tn) * (Xn - X)
                t = tn
            X = Xn
            if it % check_every == 0 or it == max_iter:
                cert = certify(X)
                if done(cert):
                    break
    if cert is None:
        cert = certify(X)
    return FistaRun(X, it, cert, restarts)


__all__ = ["FistaRun", "fista"]
