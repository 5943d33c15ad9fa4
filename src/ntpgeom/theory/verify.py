"""A theory checked against its dataset, not only against its own file: :func:`check_theory`.

A theory file's content hash proves it was not damaged, not that it belongs to the data: the hash is written by the
file itself, so an edited copy (``L_in`` rows permuted, a Gram replaced) with a recomputed hash passes it. Every array
of a theory is a function of the data, so :func:`check_theory` recomputes what is cheap and checks the rest by its
defining identities: ``L_in`` and ``S̃`` recomputed from the data (closed forms, theory.md §§3, 5), Prop. 3's
certificate recomputed from the pattern, ``L_mm`` feasible for NTP-SVM*, ``L_mm = W_mm H_mm``, ``G_W = W_mm W_mmᵀ``,
``G_H = H_mmᵀH_mm``, ``G_W_proxy² = S̃S̃ᵀ``, ``G_H_proxy² = S̃ᵀS̃`` and ``H_proxyᵀH_proxy = G_H_proxy`` (each identity
checked on a fixed random vector: O(V m) work, no V x V product).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..data import NTPData
from ..errors import FormatError
from .pattern import support_pattern
from .subspaces import L_in as _closed_L_in
from .svm_backends import max_violation
from .tolerances import DIVISION_FLOOR, RECOMPUTE_RTOL

RTOL = RECOMPUTE_RTOL


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    return float(np.linalg.norm(a - b)) <= RTOL * (float(np.linalg.norm(a)) + float(np.linalg.norm(b))) + DIVISION_FLOOR


def _identities(th: Any, St: np.ndarray) -> list[tuple[str, Callable[[np.ndarray], tuple], str]]:
    """(name, x -> (lhs x, rhs x), side of x) for each stored array defined by an identity with others (a restricted
    theory keeps the whole data's proxies, which its S̃ columns alone do not determine: they are not checked)."""
    out = []
    W, H, L = th.W_mm, th.H_mm, th.L_mm
    if L is not None and W is not None and H is not None:
        out.append(("W_mm H_mm = L_mm", lambda x: (W @ (H @ x), L @ x), "m"))
    if th.G_W is not None and W is not None:
        out.append(("G_W = W_mm W_mmᵀ", lambda x: (th.G_W @ x, W @ (W.T @ x)), "V"))
    if th.G_H is not None and H is not None:
        out.append(("G_H = H_mmᵀ H_mm", lambda x: (th.G_H @ x, H.T @ (H @ x)), "m"))
    if th.contexts is not None:
        return out
    if th.G_W_proxy is not None:
        out.append(("G_W_proxy² = S̃S̃ᵀ", lambda x: (th.G_W_proxy @ (th.G_W_proxy @ x), St @ (St.T @ x)), "V"))
    if th.G_H_proxy is not None:
        out.append(("G_H_proxy² = S̃ᵀS̃", lambda x: (th.G_H_proxy @ (th.G_H_proxy @ x), St.T @ (St @ x)), "m"))
        if th.H_proxy is not None:
            out.append(("H_proxyᵀH_proxy = G_H_proxy", lambda x: (th.H_proxy.T @ (th.H_proxy @ x), th.G_H_proxy @ x),
                        "m"))
    return out


def check_theory(theory: Any, data: NTPData, where: str = "the theory") -> None:
    """Check that ``theory`` is the theory of ``data``; raise :class:`~ntpgeom.errors.FormatError` naming the first
    array that is not (and ``where`` it came from, e.g. the file).

    Parameters
    ----------
    theory : Theory
        (typed ``Any`` here: :mod:`ntpgeom.theory.bundle` imports this module) Computed, loaded or restricted (a restricted theory is checked against the restricted data it was made for).
    data : NTPData
        The dataset it should describe: its hash is checked first, then the arrays (module docstring).

    Returns
    -------
    None
        Returns quietly when every check holds.

    Notes
    -----
    Cost: the closed forms (``L_in``, the support pattern and its reduced SVD) plus O(V m) products; no solve.
    """
    V, m = data.V, data.m
    if theory.data_hash != data.hash:
        raise FormatError(f"{where} was computed for dataset {theory.data_hash}, not {data.hash}; recompute it")
    if tuple(np.shape(theory.S_tilde)) != (V, m) or tuple(np.shape(theory.L_in)) != (V, m):
        raise FormatError(f"{where}: S̃/L_in have shapes {np.shape(theory.S_tilde)}/{np.shape(theory.L_in)}, the data "
                          f"is {(V, m)}; recompute it")
    pattern = support_pattern(data)
    for name, stored, fresh in (("L_in", theory.L_in, _closed_L_in(data)), ("S̃", theory.S_tilde, pattern.S_tilde)):
        if not _close(stored, fresh):
            raise FormatError(f"{where}: its {name} is not the {name} of this data (edited or corrupt); recompute it")
    if theory.contexts is None and bool(theory.certificate.holds) != bool(pattern.certificate.holds):
        raise FormatError(f"{where}: its Prop. 3 certificate ({theory.certificate.holds}) is not this data's "
                          f"({pattern.certificate.holds}); recompute it")
    if theory.L_mm is not None:
        if np.shape(theory.L_mm) != (V, m) or not np.isfinite(theory.L_mm).all():
            raise FormatError(f"{where}: L_mm has shape {np.shape(theory.L_mm)} or non-finite entries; recompute it")
        stored = theory.svm.stats.residual if theory.svm is not None else 0.0
        viol = max_violation(theory.L_mm, data)
        if not viol <= max(2 * float(stored), RECOMPUTE_RTOL):
            raise FormatError(f"{where}: L_mm violates the NTP-SVM* constraints of this data by {viol:.3g} (edited or "
                              "corrupt); recompute it")
    rng = np.random.default_rng(0)
    St = np.asarray(theory.S_tilde, dtype=np.float64)
    for name, pair, side in _identities(theory, St):
        x = rng.standard_normal(m if side == "m" else V)
        try:
            ok = _close(*pair(x))
        except ValueError:  # mismatched shapes
            ok = False
        if not ok:
            raise FormatError(f"{where}: the identity {name} fails (edited or corrupt arrays); recompute it")
