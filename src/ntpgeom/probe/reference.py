"""The reference geometry of a probe: the theory of its data (solved, time-limited, the S̃ proxy, or read from a file
checked by data hash), restricted to the measured contexts, and the record of what it stands for."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import validate
from ..data import NTPData
from ..theory import SupportPattern, Theory, compute_theory, load_theory, support_pattern
from .model import ProbeError


def decide_solve(data: NTPData, solve: bool | str, max_reduced: int, solve_budget: float | None = None,
                 pattern: SupportPattern | None = None) -> tuple[bool, str]:
    """Whether to solve NTP-SVM* for L_mm: ``solve`` True/False, or "auto" = when the reduced pattern (distinct rows x
    distinct columns of S) has at most ``max_reduced`` entries, or whenever a time budget ``solve_budget`` is given
    (the solve then stops at the budget with its certified gap). Returns (decision, reason)."""
    shape = (pattern or support_pattern(data)).reduction.shape
    if solve == "auto" and solve_budget is None:
        ok = shape[0] * shape[1] <= max_reduced
        why = f"reduced pattern {shape[0]}x{shape[1]} {'<=' if ok else '>'} {max_reduced} entries"
        return ok, why
    do = True if solve == "auto" else bool(solve)
    budget = "" if solve_budget is None or not do else f", time budget {solve_budget:g} s"
    return do, f"requested (reduced pattern {shape[0]}x{shape[1]}{budget})"


def probe_theory(
    data: NTPData,
    *,
    solve: bool | str = "auto",
    max_reduced: int = 40_000,
    solve_budget: float | None = None,
    svm_tol: float = 1e-4,
    svm_max_iter: int = 3000,
    pattern: SupportPattern | None = None,
) -> tuple[Any, str]:
    """The reference geometry of ``data`` (:func:`ntpgeom.theory.compute_theory`) and why it was or was not solved.

    With ``solve_budget`` (seconds) the large solver runs with that time limit (``method="large"``): stopped early, it
    returns the best certified point, status ``user_limit``, with its certified relative gap (theory.svm_summary).
    ``pattern``: ``support_pattern(data)``, reused (and its reduced SVD, e.g. by :func:`restrict_theory`).
    """
    if solve_budget is not None:
        validate.real("--solve-budget", solve_budget, lo=0, error=ProbeError)
        if solve_budget <= 0 or solve is False:
            raise ProbeError("--solve-budget needs a positive number of seconds and --solve auto or yes")
    pattern = pattern or support_pattern(data)
    do_solve, why = decide_solve(data, solve, max_reduced, solve_budget, pattern)
    kw: dict[str, Any] = {"tol": svm_tol, "solve": do_solve, "max_iter": svm_max_iter, "pattern": pattern}
    if solve_budget is not None:
        kw.update(method="large", time_limit=float(solve_budget), max_iter=10**7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unconverged solve is reported through its status and gap
        theory = compute_theory(data, **kw)
    return theory, why


def given_theory(theory: str | Path | Any, data: NTPData) -> Any:
    """A theory read from a file (or given) for ``data``, refused unless its data hash matches."""
    if isinstance(theory, (str, Path)):
        th = load_theory(theory)
        where = f"--theory {theory}"
    else:
        th, where = theory, "the given theory"
    if th.data_hash != data.hash:
        raise ProbeError(f"{where} was computed for data {th.data_hash}, but this probe's data is {data.hash}: solve "
                         "the data.npz this probe writes (`ntpgeom solve OUT/data.npz -o THEORY.npz`) with the same "
                         "model, text and options")
    if tuple(th.S_tilde.shape) != (data.V, data.m):
        raise ProbeError(f"{where}: S̃ has shape {th.S_tilde.shape}, the data is {(data.V, data.m)} (corrupt file)")
    return th


def restrict_theory(theory: Any, data: NTPData, idx: np.ndarray, sub: NTPData,
                    pattern: SupportPattern | None = None) -> Theory:
    """The theory of ``data`` seen on the contexts ``idx`` only, as a theory of ``sub = data.select_contexts(idx)``.

    Column-local quantities are restricted (L_in, S̃, L_mm, H_mm: columns ``idx``); the row side is unchanged (W_mm,
    G_W, G_W_proxy); the context Grams are those of the full problem restricted to ``idx``: ``G_H = H_mmᵀH_mm`` and
    ``G_H_proxy = (S̃ᵀS̃)^{1/2}`` on rows and columns ``idx`` (from the reduced SVD of the full S̃ when the theory
    holds no m x m Gram; ``pattern`` = ``support_pattern(data)`` reuses its SVD). The solve record (status, gap,
    certificate) is that of the full problem, and so is whether S̃ is optimal (``tilde_optimal``: recorded in the
    meta, since the nuclear norms of some columns of S̃ and L_mm do not tell it).
    """
    idx = np.asarray(idx, dtype=np.int64)
    if theory.data_hash != data.hash:
        raise ProbeError(f"the theory was computed for data {theory.data_hash}, not {data.hash}")
    col = lambda A: None if A is None else np.asarray(A)[:, idx]  # noqa: E731
    Hmm = col(theory.H_mm)
    GH = None if Hmm is None else Hmm.T @ Hmm
    red = (pattern or support_pattern(data)).reduction
    _, s, Vt = red.S_tilde_svd  # the scaled reduced S̃ has the singular values of the whole S̃
    if theory.G_H_proxy is not None:
        GHp = np.asarray(theory.G_H_proxy)[np.ix_(idx, idx)]
    else:
        Hp = (np.sqrt(s)[:, None] * Vt / np.sqrt(red.c))[:, red.col_group[idx]]
        GHp = Hp.T @ Hp
    meta = {**dict(theory.meta), "restricted_from": theory.data_hash, "n_contexts_full": int(data.m),
            "tilde_optimal": _tilde_optimal(theory, float(s.sum()))}
    return Theory(sub.hash, col(theory.L_in), col(theory.S_tilde), theory.svm, col(theory.L_mm), theory.W_mm, Hmm,
                  theory.G_W, GH, theory.G_W_proxy, GHp, theory.certificate, theory.dist_mm_tilde, meta)


def _tilde_optimal(theory: Any, nuc_tilde: float) -> bool | None:
    """Whether the whole S̃ (nuclear norm ``nuc_tilde``) is optimal for the whole NTP-SVM*: Prop. 3's certificate, or
    ``‖S̃‖_* <= ‖L_mm‖_* (1 + 1e-6)`` (the rule of :func:`ntpgeom.metrics.reference`); None when L_mm is not solved."""
    if theory.L_mm is None:
        return None
    if theory.certificate.holds:
        return True
    nuc_mm = getattr(theory.svm, "nuclear_norm", None)
    if nuc_mm is None:
        L = np.asarray(theory.L_mm, dtype=np.float64)
        nuc_mm = float(np.linalg.svd(L - L.mean(axis=0), compute_uv=False).sum())
    return bool(nuc_tilde <= float(nuc_mm) * (1 + 1e-6))


def solve_record(theory: Any, why: str) -> dict[str, Any]:
    """The solve's scalars for the metrics: solved, status, certified gap, what L_mm stands for ("L_mm to certified
    gap g", "S̃ proxy", "L_mm = S̃ (Prop. 3)"), the reduced shape of the solved problem."""
    svm = theory.svm_summary or {}
    gap = svm.get("gap")
    if not theory.solved:
        against = "S̃ proxy"
    elif theory.certificate.holds:
        against = "L_mm = S̃ (Prop. 3 certificate)"
    else:
        against = f"L_mm to certified gap {gap:.2g}"
    return dict(
        solved=bool(theory.solved), solve_reason=why, certificate_holds=bool(theory.certificate.holds),
        svm_gap=gap, svm_converged=svm.get("converged"), svm_method=svm.get("method"), svm_rank=svm.get("rank"),
        svm_status=theory.status.value, svm_seconds=svm.get("seconds"), reference=against,
        dist_mm_tilde=theory.dist_mm_tilde, reduced_shape=list(theory.meta.get("reduced_shape") or []),
    )
