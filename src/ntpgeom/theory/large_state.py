"""The typed state of the large-instance NTP-SVM* solver (:mod:`ntpgeom.theory.svm_large`): its options, the fixed
tensors of one run, a certified point, the end of one precision phase and the end of the whole solve.

Tensors are in the solver's transposed reduced layout (m', V'): one reduced context per row.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from ..errors import SolverError
from ..progress import Progress
from .solve_monitor import SolveMonitor

#: Below this target gap the CPU default iterates in float64 from the start (the float32 phases floor near 1e-5).
FLOAT32_MIN_TOL = 3e-5


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
    progress: Progress | None = None


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
    monitor : SolveMonitor
        Progress, deadline and the best certified point so far (:mod:`ntpgeom.theory.solve_monitor`).
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
    monitor: SolveMonitor
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


def blas_threads(threads: int | None) -> Any:
    """Limit scipy's BLAS (the CPU Gram products) to ``threads``; a no-op without threadpoolctl (GPU scripts)."""
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a base dependency; bare GPU environments lack it
        return contextlib.nullcontext()
    return threadpool_limits(int(threads))


def check_large_args(tol: Any, time_limit: Any, max_iter: Any, device: Any, dtype: Any) -> tuple[torch.device, torch.dtype]:
    """Validate the large solver's arguments (:class:`~ntpgeom.errors.SolverError`); returns (device, dtype), the
    dtype defaulted (float32 on CUDA or when ``tol >= FLOAT32_MIN_TOL``, else float64)."""
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise SolverError(f"tol must be a positive number, got {tol!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise SolverError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise SolverError(f"max_iter must be a positive integer, got {max_iter!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SolverError("device='cuda' but torch sees no CUDA device; use device='cpu'")
    if dtype is None:
        dtype = torch.float32 if dev.type == "cuda" or tol >= FLOAT32_MIN_TOL else torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise SolverError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dev, dtype


@contextlib.contextmanager
def torch_threads(threads: int | None, dev: torch.device) -> Iterator[int]:
    """torch's and BLAS's CPU threads set to ``threads`` (None: left as they are) for the block, restored after;
    yields the torch threads in use (0 off the CPU)."""
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        with blas_threads(threads):
            yield torch.get_num_threads() if dev.type == "cpu" else 0
    finally:
        torch.set_num_threads(old_threads)


__all__ = ["FLOAT32_MIN_TOL", "LargeOptions", "LargeRun", "Certified", "PhaseEnd", "LargeSolution", "blas_threads",
           "check_large_args", "torch_threads"]
