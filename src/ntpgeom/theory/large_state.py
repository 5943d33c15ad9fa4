"""The typed state of the large-instance NTP-SVM* solver (:mod:`ntpgeom.theory.svm_large`): its options, the fixed
tensors of one run, a certified point, the end of one precision phase and the end of the whole solve.

Tensors are in the solver's transposed reduced layout (m', V'): one reduced context per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class LargeTuning:
    """The ADMM's tuning of :func:`~ntpgeom.theory.svm_large.solve_ntp_svm_large` (given there as keywords or as
    ``tuning=``; see its docstring for their meaning)."""

    check_every: int = 10
    anderson: int = 5
    rho: float | None = None
    use_certificate: bool = True
    fast_eigh: bool | None = None


@dataclass(frozen=True)
class LargeOptions:
    """The validated options of one large solve (see ``solve_ntp_svm_large`` for their meaning)."""

    tol: float
    time_limit: float | None
    max_iter: int
    device: torch.device
    dtype: torch.dtype
    check_every: int
    anderson: int
    rho: float | None
    use_certificate: bool
    fast_eigh: bool | None


@dataclass(frozen=True, eq=False)
class LargeRun:
    """What one precision phase of the ADMM loop reads and never changes.

    Attributes
    ----------
    Mt : bool tensor (m', V')
        The reduced supports.
    r, c : tensors (V',), (m',)
        Row and column multiplicities, in the phase's state dtype.
    Wt : tensor (m', V')
        The scaling ``√c_j √r_z`` (state dtype).
    sup64 : (idx, rw, B)
        :func:`~ntpgeom.theory.large_ops.support_index` in float64.
    tol, deadline : float
        Target gap; wall-clock time (``time.perf_counter``) past which the phase stops (inf: none).
    max_iter : int
        Iterations left for this phase.
    check_every, anderson : int
    t0 : float
        Start of the whole solve (for the ladder's times).
    it0 : int
        Iterations run by the earlier phases.
    """

    Mt: torch.Tensor
    r: torch.Tensor
    c: torch.Tensor
    Wt: torch.Tensor
    sup64: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    tol: float
    deadline: float
    max_iter: int
    check_every: int
    anderson: int
    t0: float
    it0: int = 0


@dataclass(frozen=True, eq=False)
class Certified:
    """A certified point: an upper bound ``primal`` on ``‖L‖_*`` of the feasible ``L`` (m', V' entry values, float64),
    the value ``dual_value`` of the dual-feasible ``A`` (m', V'), their relative ``gap`` and the singular values
    ``s`` the bound sums."""

    primal: float
    dual_value: float
    gap: float
    L: torch.Tensor
    A: torch.Tensor
    s: torch.Tensor


@dataclass(frozen=True, eq=False)
class PhaseEnd:
    """The end of one precision phase: the best certified point, the iterations run, the penalty and state it left,
    how it ended (``"optimal"``, ``"stalled"``, ``"time_limit"``, ``"max_iter"``), Anderson's accepted and rejected
    steps and the SVT rank at the last check (None: no check)."""

    best: Certified
    iterations: int
    rho: float
    v: torch.Tensor
    status: str
    aa_steps: int
    aa_rejected: int
    svt_rank: int | None

    def info(self) -> dict[str, Any]:
        """The JSON-ready fields recorded in ``SVMResult.info``."""
        return {"status": self.status, "aa_steps": self.aa_steps, "aa_rejected": self.aa_rejected,
                "svt_rank": self.svt_rank}


@dataclass(frozen=True, eq=False)
class LargeSolution:
    """The end of a large solve on the reduced pattern: the best certified point, the iterations, whether Prop. 3's
    certificate holds (float64 polar factor), the method that produced it (``"tilde"`` or ``"large"``) and ``info``
    (ladder, phases, dtype, ...)."""

    best: Certified
    iterations: int
    holds: bool
    method: str
    info: dict = field(default_factory=dict)


__all__ = ["LargeOptions", "LargeRun", "Certified", "PhaseEnd", "LargeSolution"]
