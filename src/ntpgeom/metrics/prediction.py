"""Measurements against the finite-norm prediction and its nearest rival (theory.md §8).

- :func:`visible_H`: H in the space the token-centred logits see. ``(I − 11ᵀ/V) W H`` ignores the component of H
  along the null space of the centred W Ẇ; we keep ``Vᵣᵀ H`` (Ẇ = U S Vᵣᵀ, rank r), an isometric image of the visible
  part. Adding a row shared by all tokens to W (with a coordinate to H), rotating W → WQ, H → QᵀH, or shifting logit
  columns leaves every measurement of it unchanged.
- :func:`prediction_point`: the theory's prediction for logits of nuclear norm B = ‖L̇‖_*: the regularisation-path
  point ``L̂_B`` (``ntpgeom.theory.finite_norm.path_point``) when that module is available and converges, else the
  asymptotic sparse-plus-low-rank form ``L_in + R·L_mm`` (R by least squares).
- :func:`rival_point`: the same form with S̃ (the Frobenius max-margin) in place of L_mm: ``L_in + r·S̃``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..reprs import short_repr
from ..data import NTPData
from ..theory import cross_entropy, factors
from ..theory.norms import centre
from ..theory.norms import nuclear_norm
from .distances import best_scale_residual
from .similarity import corr_from_gram


#: below this loss gap (relative to ℋ) the path point is not computed: its direction is not resolved in float64
RESOLVED_GAP = 1e-10


def centred(L: np.ndarray) -> np.ndarray:
    """Token-centred logits ``(I − 11ᵀ/V) L`` (softmax ignores a constant per column). Shape (V, m) in and out, L's
    dtype; :func:`ntpgeom.theory.norms.centre`."""
    return centre(L, dtype=None)


def visible_H(W: np.ndarray | None, H: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """The part of H (d x m) the token-centred logits see, in coordinates of the row space of Ẇ (shape (r, m)).

    ``Ẇ = W − 1 w̄ᵀ`` (V x d) = U S Vᵣᵀ; returns ``Vᵣᵀ H``, so ``Ẇ H = U S (Vᵣᵀ H)``. Without W, H itself.
    """
    if W is None:
        return H
    Wc = centred(W)
    _, s, Vt = np.linalg.svd(Wc, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros((0, H.shape[1]))
    r = int((s > rtol * s[0]).sum())
    return Vt[:r] @ H


@dataclass(frozen=True, eq=False)
class Prediction:
    """The prediction a snapshot is judged against.

    Attributes
    ----------
    L : ndarray, shape (V, m)
        The predicted logits (path point, or ``L_in + R·L_ref``).
    norm : float
        Its nuclear norm target B (that of the snapshot's centred logits).
    is_path : bool
        True when ``L`` is the regularisation-path point of norm B (the finite-norm prediction); False for the
        asymptotic form.
    converged : bool
        Whether the path solver reported convergence (True for the asymptotic form).
    note : str
    """

    __repr__ = short_repr

    L: np.ndarray
    norm: float
    is_path: bool
    converged: bool
    note: str = ""


def asymptotic_point(L: np.ndarray, L_in: np.ndarray, L_ref: np.ndarray) -> np.ndarray:
    """``L_in + R·L_ref`` with R the least-squares scale of ``L − L_in`` onto ``L_ref`` (shape (V, m))."""
    R, _ = best_scale_residual(L - L_in, L_ref)
    return L_in + R * L_ref


def rival_point(L: np.ndarray, L_in: np.ndarray, S_tilde: np.ndarray) -> np.ndarray:
    """The Frobenius max-margin rival of the same form: ``L_in + r·S̃`` fitted to ``L`` (shape (V, m))."""
    return asymptotic_point(L, L_in, S_tilde)


def _ball_gap_bound(data: NTPData, B: float, L_in: np.ndarray, L_ref: np.ndarray) -> float:
    """An upper bound on CE(L̂_B) − ℋ: ``L_in + t·L_ref`` with ``t = (B − ‖L_in‖_*)/‖L_ref‖_*`` lies in the ball
    (triangle inequality), so the path point's loss is at most its loss (inf when B <= ‖L_in‖_*)."""
    t = (B - nuclear_norm(L_in)) / nuclear_norm(L_ref)
    if not t > 0:
        return float("inf")
    return cross_entropy(L_in + t * L_ref, data) - data.entropy_bound


def prediction_point(
    data: NTPData, L: np.ndarray, L_in: np.ndarray, L_ref: np.ndarray, *, warm: np.ndarray | None = None,
    finite_norm: bool = True, tol: float = 1e-5, max_iter: int | None = None,
) -> Prediction:
    """The prediction for the centred logits ``L`` (V x m): the path point of norm ‖L‖_* when ``finite_norm`` and
    ``ntpgeom.theory.finite_norm`` is available and converges; else the asymptotic form (the note says why)."""
    B = nuclear_norm(L)
    asym = asymptotic_point(L, L_in, L_ref)
    if not finite_norm:
        return Prediction(asym, B, False, True, "asymptotic form L_in + R·L_mm (finite-norm prediction not requested)")
    gap = _ball_gap_bound(data, B, L_in, L_ref)
    if gap <= RESOLVED_GAP * max(1.0, data.entropy_bound):
        return Prediction(asym, B, False, True, f"asymptotic form L_in + R·L_mm (at norm {B:.3g} the path point has "
                          f"CE − ℋ <= {gap:.2g}, at round-off: its direction is not resolved in double precision)")
    try:
        from ..theory.finite_norm import path_point
    except ImportError:
        return Prediction(asym, B, False, True, "asymptotic form L_in + R·L_mm (theory.finite_norm not available)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unconverged solve is reported in the note and falls back
        pp = path_point(data, B, warm=warm, tol=tol, max_iter=max_iter)
    if not pp.converged:
        return Prediction(asym, B, False, False,
                          f"asymptotic form L_in + R·L_mm (the path point of norm {B:.3g} did not converge: gap {pp.gap:.2g})")
    if not pp.resolved:
        return Prediction(asym, B, False, True, f"asymptotic form L_in + R·L_mm (at norm {B:.3g} the path point's "
                          "direction is not resolved in double precision: CE − ℋ is at round-off)")
    return Prediction(np.asarray(pp.L, dtype=np.float64), B, True, True, f"path point of norm {B:.3g} (λ = {pp.lam:.3g})")


def factor_maps(L: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """corr maps of the balanced factors of ``L`` (V x m): ``(corr(Wᵀ) (V x V), corr(H[:, idx]) (k x k))``."""
    W, H = factors(L)
    Hs = H[:, idx]
    return corr_from_gram(W @ W.T), corr_from_gram(Hs.T @ Hs)
