"""The training loop: objective, optimisers, schedules, stopping, and :func:`train`.

Objective (theory.md §1, §2): the π-weighted soft-label cross-entropy over the m distinct contexts,

    CE(L) = -Σ_j π_j Σ_{z∈S_j} P[z,j] log softmax(ℓ_j)_z,

computed with a log-sum-exp per context and a gather of the nnz(P) support entries (O(nnz + V m) per step, never
O(n)); it equals the mean per-token cross-entropy over the n raw pairs. Plus an optional ridge
``(λ/2)(‖W‖² + ‖H‖²)`` (``ridge``; the UFM's λ, on the context features H for the neural models) and the optimiser's
weight decay (decoupled for AdamW, L2 for the others).
"""

from __future__ import annotations

import math
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import _io
from ..data import NTPData
from ..data import load as load_data
from .models import MODELS, POSITIONAL, UFM_INITS, build_model
from .run import (
    FORMAT_NAME, FORMAT_VERSION, LOSS_KEYS, Run, TrainError, log_spaced_steps, read_config, write_config, write_loss,
    write_snapshot,
)

OPTIMIZERS = ("gd", "ngd", "sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
DTYPES = ("auto", "float32", "float64")

PRESETS: dict[str, dict[str, Any]] = {
    # the paper's recipe (theory.md §6): AdamW lr 1e-4, weight decay 1e-6, x0.4 every 5000 steps, full batch
    "paper": {"optimizer": "adamw", "lr": 1e-4, "weight_decay": 1e-6, "schedule": "step", "step_size": 5000,
              "gamma": 0.4, "batch_size": None, "warmup": 0},
}

_DEFAULTS: dict[str, Any] = {
    "d": None, "steps": 1000, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "ridge": 0.0,
    "schedule": "constant", "step_size": 5000, "gamma": 0.4, "warmup": 0, "min_lr_factor": 0.0, "schedule_steps": None,
    "batch_size": None, "momentum": 0.0, "betas": (0.9, 0.999), "eps": 1e-8, "tol": None, "seed": 0, "device": "auto",
    "dtype": "auto", "threads": 1, "layers": None, "heads": 4, "hidden": None, "positional": "none", "bias": False,
    "init": "normal", "init_scale": 0.1, "lstm_norm": False, "log_every": None, "snapshot_steps": "log",
    "checkpoint_every": 1000, "tree": True,
}
# may change when resuming a run (they do not alter the trajectory up to the resume point)
_RESUMABLE = {"steps", "tol", "log_every", "checkpoint_every", "snapshot_steps", "device", "threads"}


# ------------------------------------------------------------------------------------------------------ objective
class _FullCE(torch.autograd.Function):
    """CE over all contexts with the closed-form gradient ``dCE/dLᵀ[j, z] = π_j softmax(ℓ_j)_z - π_j P[z, j]``
    (one fused backward instead of autograd through logsumexp and the gather)."""

    @staticmethod
    def forward(ctx, Lt, flat, cols, q, pi):  # type: ignore[override]
        lse = torch.logsumexp(Lt, dim=1)
        ce = -(q * (Lt.reshape(-1)[flat] - lse[cols])).sum()
        ctx.save_for_backward(Lt, lse, flat, q, pi)
        return ce

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        Lt, lse, flat, q, pi = ctx.saved_tensors
        grad = torch.exp(Lt - lse[:, None]).contiguous().mul_(pi[:, None])
        grad.view(-1).index_put_((flat,), -q, accumulate=True)  # each (j, z) once: subtracts π_j P[z, j]
        return grad.mul_(g), None, None, None, None


class SoftLabelCE:
    """The π-weighted soft-label cross-entropy of a dataset, for logits in row layout ``Lᵀ`` (contexts x tokens).

    Precomputes the support entries of P (CSC order: context-major) as flat indices into ``Lᵀ`` and their weights
    ``q = π_j P[z,j]`` (they sum to 1). ``ce(Lt)`` costs one log-sum-exp per context and one gather of nnz entries.
    """

    def __init__(self, data: NTPData, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> None:
        P = data.P
        V, m = data.shape if hasattr(data, "shape") else (data.V, data.m)
        k = np.diff(P.indptr)
        cols = np.repeat(np.arange(m), k)
        self.V, self.m = V, m
        self.cols = torch.as_tensor(cols, device=device)
        self.rows = torch.as_tensor(P.indices.astype(np.int64), device=device)
        self.flat = self.cols * V + self.rows
        self.q = torch.as_tensor(data.pi[cols] * P.data, dtype=dtype, device=device)
        self.k = torch.as_tensor(k, device=device)
        self.indptr = torch.as_tensor(P.indptr[:-1].astype(np.int64), device=device)
        self.pi = torch.as_tensor(data.pi, dtype=dtype, device=device)
        self.entropy_bound = data.entropy_bound

    def __call__(self, Lt: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """CE of logits ``Lt`` (m x V), or the unbiased mini-batch estimate ``(m/b) Σ_{j∈idx} π_j CE_j`` when ``Lt``
        (b x V) holds the contexts ``idx``."""
        if idx is None:
            return _FullCE.apply(Lt, self.flat, self.cols, self.q.to(Lt.dtype), self.pi.to(Lt.dtype))
        lse = torch.logsumexp(Lt, dim=1)
        lens = self.k[idx]
        local = torch.repeat_interleave(torch.arange(len(idx), device=Lt.device), lens)
        ends = torch.cumsum(lens, 0)
        e = torch.repeat_interleave(self.indptr[idx] - (ends - lens), lens) + torch.arange(int(ends[-1]), device=Lt.device)
        logp = Lt[local, self.rows[e]] - lse[local]
        return -(self.m / len(idx)) * (self.q[e] * logp).sum()


def soft_label_ce(L: torch.Tensor | np.ndarray, data: NTPData) -> float:
    """CE(L) for logits ``L`` in the paper's orientation (V x m), float64. Convenience wrapper of :class:`SoftLabelCE`."""
    Lt = torch.as_tensor(np.asarray(L, dtype=np.float64)).t().contiguous()
    return float(SoftLabelCE(data)(Lt))


# ----------------------------------------------------------------------------------------------------- optimisers
class NormalizedGD(torch.optim.Optimizer):
    """Normalised gradient descent: ``θ ← θ - lr · g / ‖g‖`` with the global norm over all parameters.

    ``weight_decay`` adds ``wd · θ`` to the gradient before normalising (L2).
    """

    def __init__(self, params: Any, lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        grads = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                    grads.append((p, g, group["lr"]))
        if not grads:
            return
        norm = torch.sqrt(sum((g * g).sum() for _, g, _ in grads))
        scale = 1.0 / torch.clamp(norm, min=torch.finfo(norm.dtype).tiny)
        for p, g, lr in grads:
            p.add_(g * scale, alpha=-lr)


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float, momentum: float,
                   betas: Sequence[float], eps: float) -> torch.optim.Optimizer:
    """gd / sgd: torch SGD (L2 weight decay, optional momentum); ngd: :class:`NormalizedGD`; adam: Adam (L2);
    adamw: AdamW (decoupled weight decay)."""
    if name in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "ngd":
        return NormalizedGD(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=True)
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=True)


# ------------------------------------------------------------------------------------------------------ schedules
def lr_factor(step: int, schedule: str, *, step_size: int = 5000, gamma: float = 0.4, warmup: int = 0,
              min_lr_factor: float = 0.0, horizon: int = 1) -> float:
    """Learning-rate multiplier of the update taken at ``step`` (0-based), a pure function of the step.

    constant: 1; step: ``gamma ** (step // step_size)``; cosine: from 1 down to ``min_lr_factor`` over ``horizon``
    steps (after the warm-up). Every schedule is multiplied by a linear warm-up ``(step+1)/warmup`` during the first
    ``warmup`` steps.
    """
    if schedule == "constant":
        f = 1.0
    elif schedule == "step":
        f = gamma ** (step // step_size)
    else:
        span = max(1, horizon - warmup)
        t = min(1.0, max(0, step - warmup) / span)
        f = min_lr_factor + (1.0 - min_lr_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
    if step < warmup:
        f *= (step + 1) / warmup
    return f


# -------------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig:
    """The resolved hyper-parameters of a run (user value > preset > default); see :func:`train`."""

    model: str
    d: int
    steps: int
    optimizer: str
    lr: float
    weight_decay: float
    ridge: float
    schedule: str
    step_size: int
    gamma: float
    warmup: int
    min_lr_factor: float
    schedule_steps: int | None
    batch_size: int | None
    momentum: float
    betas: tuple[float, float]
    eps: float
    preset: str | None
    tol: float | None
    seed: int
    device: str
    dtype: str
    threads: int
    layers: int
    heads: int
    hidden: int | None
    positional: str
    bias: bool
    init: str
    init_scale: float
    lstm_norm: bool
    log_every: int
    snapshot_steps: Any
    checkpoint_every: int
    tree: bool


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(float(v))


def resolve_config(data: NTPData, user: dict[str, Any], preset: str | None) -> TrainConfig:
    """Merge user values, the preset and the defaults, and validate everything (before any work)."""
    model = user.get("model", "ufm")
    if model not in MODELS:
        raise TrainError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if preset is not None and preset not in PRESETS:
        raise TrainError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)} (or none)")
    v: dict[str, Any] = dict(_DEFAULTS)
    if preset is not None:
        v.update(PRESETS[preset])
    v.update({k: x for k, x in user.items() if x is not None})
    v["model"], v["preset"] = model, preset
    if "tol" in user:
        v["tol"] = user["tol"]
    if "batch_size" in user and user["batch_size"] is not None:
        v["batch_size"] = user["batch_size"]

    if v["d"] is None:
        v["d"] = data.V if model == "ufm" else 128
    if not _is_int(v["d"]) or v["d"] <= 0:
        raise TrainError(f"d must be a positive integer (embedding dimension), got {v['d']!r}")
    if not _is_int(v["steps"]) or v["steps"] < 0:
        raise TrainError(f"steps must be a non-negative integer, got {v['steps']!r}")
    if v["optimizer"] not in OPTIMIZERS:
        raise TrainError(f"unknown optimizer {v['optimizer']!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not _is_num(v["lr"]) or v["lr"] <= 0:
        raise TrainError(f"lr must be a positive number, got {v['lr']!r}")
    for name in ("weight_decay", "ridge", "momentum", "min_lr_factor", "eps"):
        if not _is_num(v[name]) or v[name] < 0:
            raise TrainError(f"{name} must be a number >= 0, got {v[name]!r}")
    if v["schedule"] not in SCHEDULES:
        raise TrainError(f"unknown schedule {v['schedule']!r}; choose one of {', '.join(SCHEDULES)}")
    if not _is_int(v["step_size"]) or v["step_size"] <= 0:
        raise TrainError(f"step_size must be a positive integer, got {v['step_size']!r}")
    if not _is_num(v["gamma"]) or not 0 < v["gamma"] <= 1:
        raise TrainError(f"gamma must lie in (0, 1], got {v['gamma']!r}")
    if not _is_int(v["warmup"]) or v["warmup"] < 0:
        raise TrainError(f"warmup must be a non-negative integer, got {v['warmup']!r}")
    if v["schedule_steps"] is not None and (not _is_int(v["schedule_steps"]) or v["schedule_steps"] <= 0):
        raise TrainError(f"schedule_steps must be a positive integer, got {v['schedule_steps']!r}")
    betas = tuple(v["betas"])
    if len(betas) != 2 or not all(_is_num(b) and 0 <= b < 1 for b in betas):
        raise TrainError(f"betas must be two numbers in [0, 1), got {v['betas']!r}")
    v["betas"] = tuple(float(b) for b in betas)
    bs = v["batch_size"]
    if bs is not None:
        if not _is_int(bs) or bs <= 0:
            raise TrainError(f"batch_size must be a positive integer (contexts per step) or None, got {bs!r}")
        if bs >= data.m:
            bs = None
    if v["optimizer"] in ("gd", "ngd") and bs is not None:
        raise TrainError(f"{v['optimizer']} is full-batch; use optimizer='sgd' (or adam/adamw) for mini-batches")
    if v["optimizer"] == "sgd" and "batch_size" not in user and data.m > 32:
        bs = 32  # SGD default: mini-batches of 32 contexts
    v["batch_size"] = None if bs is None else int(bs)
    if v["tol"] is not None and (not _is_num(v["tol"]) or v["tol"] <= 0):
        raise TrainError(f"tol must be a positive number (stop when CE - H < tol), got {v['tol']!r}")
    if not _is_int(v["seed"]):
        raise TrainError(f"seed must be an integer, got {v['seed']!r}")
    dev = v["device"]
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        tdev = torch.device(dev)
    except (RuntimeError, TypeError) as exc:
        raise TrainError(f"unknown device {dev!r}; use auto, cpu or cuda") from exc
    if tdev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError("device 'cuda' requested but CUDA is not available; use device='cpu' or 'auto'")
    v["device"] = str(tdev)
    if v["dtype"] not in DTYPES:
        raise TrainError(f"dtype must be one of {', '.join(DTYPES)}, got {v['dtype']!r}")
    if v["dtype"] == "auto":
        v["dtype"] = "float64" if model == "ufm" else "float32"
    if not _is_int(v["threads"]) or v["threads"] <= 0:
        raise TrainError(f"threads must be a positive integer (torch CPU threads), got {v['threads']!r}")
    if v["layers"] is None:
        v["layers"] = {"ufm": 1, "transformer": 4, "lstm": 2, "mlp": 2}[model]
    if not _is_int(v["layers"]) or v["layers"] <= 0:
        raise TrainError(f"layers must be a positive integer, got {v['layers']!r}")
    if not _is_int(v["heads"]) or v["heads"] <= 0:
        raise TrainError(f"heads must be a positive integer, got {v['heads']!r}")
    if model == "transformer":
        if v["d"] % v["heads"]:
            raise TrainError(f"d={v['d']} is not divisible by heads={v['heads']}; e.g. d=128 with 4 heads or d=132 with 6")
        if v["positional"] == "rope" and (v["d"] // v["heads"]) % 2:
            raise TrainError(f"rope needs an even head dimension, got d/heads = {v['d'] // v['heads']}")
    if v["hidden"] is not None and (not _is_int(v["hidden"]) or v["hidden"] <= 0):
        raise TrainError(f"hidden must be a positive integer, got {v['hidden']!r}")
    if v["positional"] not in POSITIONAL:
        raise TrainError(f"positional must be one of {', '.join(POSITIONAL)}, got {v['positional']!r}")
    if v["init"] not in UFM_INITS:
        raise TrainError(f"init must be one of {', '.join(UFM_INITS)}, got {v['init']!r}")
    if not _is_num(v["init_scale"]) or v["init_scale"] <= 0:
        raise TrainError(f"init_scale must be a positive number, got {v['init_scale']!r}")
    if v["log_every"] is None:
        v["log_every"] = 1 if v["batch_size"] is None else max(1, data.m // v["batch_size"])
    for name in ("log_every", "checkpoint_every"):
        if not _is_int(v[name]) or v[name] <= 0:
            raise TrainError(f"{name} must be a positive integer, got {v[name]!r}")
    ss = v["snapshot_steps"]
    if isinstance(ss, str):
        if ss != "log":
            raise TrainError(f"snapshot_steps must be 'log' or a list of step numbers, got {ss!r}")
    else:
        try:
            ss = sorted({int(s) for s in ss})
        except (TypeError, ValueError) as exc:
            raise TrainError(f"snapshot_steps must be 'log' or a list of step numbers, got {ss!r}") from exc
        if ss and ss[0] < 0:
            raise TrainError("snapshot_steps must be non-negative")
        v["snapshot_steps"] = ss
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(user) - names
    if unknown:
        raise TrainError(f"unknown training option(s) {sorted(unknown)}")
    return TrainConfig(**{k: v[k] for k in names})


def _snapshot_set(cfg: TrainConfig) -> set[int]:
    if cfg.snapshot_steps == "log":
        return set(log_spaced_steps(cfg.steps))
    return {s for s in cfg.snapshot_steps if s <= cfg.steps} | {0, cfg.steps}


# ---------------------------------------------------------------------------------------------------------- train
class _StopFlag:
    """SIGINT handler for the duration of training: first Ctrl-C stops cleanly at the next step, second one raises."""

    def __init__(self) -> None:
        self.set = False
        self._old: Any = None

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def train(
    data: NTPData | str | Path | None = None,
    model: str | None = None,
    d: int | None = None,
    steps: int | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    ridge: float | None = None,
    schedule: str | None = None,
    preset: str | None = None,
    tol: float | None = None,
    seed: int | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Any = None,
    **options: Any,
) -> Run:
    """Train a model on NTP data and record its geometry in a run folder.

    Parameters
    ----------
    data : NTPData or path to a dataset ``.npz``
        The training data (may be omitted when resuming: the run's own ``data.npz`` is used).
    model : {"ufm", "transformer", "lstm", "mlp"}
        Default "ufm".
    d : int
        Embedding dimension (default: V for the UFM, so that the rank constraint is inactive; 128 otherwise).
    steps : int
        Number of updates (default 1000). Snapshots and log entries refer to the parameters after k updates.
    optimizer : {"gd", "ngd", "sgd", "adam", "adamw"}
        Full-batch GD, normalised GD, SGD on mini-batches of contexts (``batch_size``, default 32), Adam, AdamW
        (default).
    lr : float
        Peak learning rate (default 1e-3).
    weight_decay : float
        Decoupled for AdamW, L2 for the others (default 0).
    ridge : float
        λ of the ridge ``(λ/2)(‖W‖² + ‖H‖²)`` added to the loss (default 0).
    schedule : {"constant", "step", "cosine"}
        ``step``: x``gamma`` every ``step_size`` steps; ``cosine``: to ``min_lr_factor`` over ``schedule_steps``
        (default ``steps``); all with an optional linear ``warmup``.
    preset : {"paper"} or None
        Named recipe filling every option not given explicitly; "paper": AdamW lr 1e-4, weight decay 1e-6,
        x0.4 every 5000 steps, full batch.
    tol : float, optional
        Stop as soon as CE - ℋ < tol (checked at logged steps).
    seed : int
        Seeds the initialisation and the mini-batch sampler (default 0).
    device : str
        "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:1", ...
    out : path
        The run folder (a temporary folder when None).
    resume : bool
        Continue the run in ``out`` from its checkpoint up to ``steps``. Options not given are taken from the run;
        options given must match it (``steps``, ``tol``, ``log_every``, ``checkpoint_every``, ``snapshot_steps``,
        ``device`` and ``threads`` may change; bit-identical continuation needs the same device and threads).
    overwrite : bool
        Replace an existing run in ``out``.
    progress : callable, optional
        Called as ``progress(step, total, ce, gap, norm_L)`` at logged steps.
    **options
        ``batch_size``, ``momentum``, ``betas``, ``eps``, ``step_size``, ``gamma``, ``warmup``, ``min_lr_factor``,
        ``schedule_steps``, ``dtype`` ("auto": float64 for the UFM, float32 otherwise), ``threads`` (torch CPU
        threads, default 1: fastest for these sizes on shared CPUs), ``layers`` (transformer 4, lstm 2, mlp 2),
        ``heads`` (4: the paper's 6 heads do not divide d=128), ``hidden`` (SwiGLU width, default 8d/3 rounded to 8),
        ``positional`` ("none" | "rope" | "learned"), ``bias`` (output bias, default False), ``init`` ("normal" |
        "lecun", UFM), ``init_scale`` (0.1), ``lstm_norm``, ``log_every``, ``snapshot_steps`` ("log" or a list),
        ``checkpoint_every`` (1000), ``tree`` (transformer and LSTM: compute each distinct context prefix once on
        full-batch steps, exactly equal to the dense path; default True).

    Returns
    -------
    Run
        The run folder, opened (see :mod:`ntpgeom.train.run` for the format).
    """
    user: dict[str, Any] = {k: x for k, x in dict(model=model, d=d, steps=steps, optimizer=optimizer, lr=lr,
                            weight_decay=weight_decay, ridge=ridge, schedule=schedule, tol=tol, seed=seed,
                            device=device, **options).items() if x is not None}
    run_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="ntpgeom-run-"))

    # ---- resolve data and configuration, validate everything before any work
    stored: dict[str, Any] | None = None
    if resume:
        if not (run_dir / "checkpoint.pt").exists():
            raise TrainError(f"cannot resume: {run_dir} has no checkpoint.pt; start a new run without --resume")
        stored = read_config(run_dir)
        if preset is None:
            preset = stored.get("preset")
        if data is None:
            data = run_dir / "data.npz"
    if data is None:
        raise TrainError("no training data given; pass an NTPData or a dataset file (.npz)")
    if isinstance(data, (str, Path)):
        data = load_data(data)
    if not isinstance(data, NTPData):
        raise TrainError(f"data must be an NTPData or a path to a dataset file, got {type(data).__name__}")
    if stored is not None:
        if stored.get("data_hash") != data.hash:
            raise TrainError(f"cannot resume {run_dir}: it was trained on data {stored.get('data_hash')}, not {data.hash}")
        for f in fields(TrainConfig):
            if f.name in _RESUMABLE or f.name == "preset":
                continue
            want = stored.get(f.name)
            if f.name in user:
                got = user[f.name]
                norm_got = list(got) if isinstance(got, tuple) else got
                if norm_got != want and not (f.name == "d" and got == want):
                    raise TrainError(f"cannot resume {run_dir}: {f.name}={got!r} differs from the run's {want!r}; "
                                     "drop the option or start a new run")
            user[f.name] = tuple(want) if isinstance(want, list) and f.name == "betas" else want
        for f in ("log_every", "checkpoint_every", "snapshot_steps", "device", "threads"):
            user.setdefault(f, stored.get(f))  # device/threads may be changed (then not bit-identical)
        user.setdefault("steps", stored.get("steps"))
        if "tol" not in user and tol is None:
            user["tol"] = stored.get("tol")
    cfg = resolve_config(data, user, preset)
    if not resume:
        if run_dir.exists() and not run_dir.is_dir():
            raise TrainError(f"{run_dir} exists and is not a folder; choose another output path")
        if run_dir.is_dir() and any(run_dir.iterdir()):
            if not overwrite:
                raise TrainError(f"{run_dir} already exists and is not empty; pass resume=True (--resume) to continue "
                                 "it, overwrite=True (--overwrite) to replace it, or choose another folder")
            if (run_dir / "config.json").exists():
                import shutil

                shutil.rmtree(run_dir)
            else:
                raise TrainError(f"refusing to overwrite {run_dir}: it is not an ntpgeom run folder")
    return _Trainer(data, cfg, run_dir, resume, progress).run()


class _Trainer:
    def __init__(self, data: NTPData, cfg: TrainConfig, run_dir: Path, resume: bool, progress: Any) -> None:
        self.data, self.cfg, self.dir, self.resume, self.progress = data, cfg, run_dir, resume, progress

    def _config_dict(self, status: str, final_step: int | None, stop_reason: str | None, **extra: Any) -> dict[str, Any]:
        c = asdict(self.cfg)
        c["betas"] = list(c["betas"])
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, **c, "versions": _io.versions(),
            "data_hash": self.data.hash, "entropy_bound": self.data.entropy_bound, "V": self.data.V, "m": self.data.m,
            "n": self.data.n, "status": status, "stop_reason": stop_reason, "final_step": final_step, **extra,
        }

    def run(self) -> Run:
        cfg = self.cfg
        old_threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
        try:
            return self._run()
        finally:
            torch.set_num_threads(old_threads)

    def _run(self) -> Run:
        cfg, data, run_dir = self.cfg, self.data, self.dir
        dev, dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            net = build_model(cfg.model, data, cfg.d, layers=cfg.layers, heads=cfg.heads, hidden=cfg.hidden,
                              positional=cfg.positional, bias=cfg.bias, init=cfg.init, init_scale=cfg.init_scale,
                              lstm_norm=cfg.lstm_norm, tree=cfg.tree, device=dev)
        net = net.to(device=dev, dtype=dtype)
        opt = make_optimizer(cfg.optimizer, net.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum, cfg.betas, cfg.eps)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)
        loss_fn = SoftLabelCE(data, dev, dtype)
        H_bound = data.entropy_bound
        log: dict[str, list] = {k: [] for k in LOSS_KEYS}
        start = 0
        prior_wall = 0.0
        if self.resume:
            ck = torch.load(run_dir / "checkpoint.pt", map_location=dev, weights_only=True)
            net.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            gen.set_state(ck["rng"])
            start = int(ck["step"])
            log = {k: list(ck["log"][k]) for k in LOSS_KEYS}
            prior_wall = float(ck.get("wall_seconds", 0.0))
            if start > cfg.steps:
                raise TrainError(f"the checkpoint is at step {start}, beyond steps={cfg.steps}; ask for more steps")
            # drop entries at/after the resume point: they are recomputed identically
            keep = [i for i, s in enumerate(log["step"]) if s < start]
            log = {k: [log[k][i] for i in keep] for k in LOSS_KEYS}
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            data.save(run_dir / "data.npz")
        n_params = sum(p.numel() for p in net.parameters())
        write_config(run_dir, self._config_dict("running", start if self.resume else None, None, n_params=n_params))

        snaps = _snapshot_set(cfg)
        horizon = cfg.schedule_steps or cfg.steps
        bs = cfg.batch_size
        m = data.m
        Wp = net.out.weight
        t0 = time.perf_counter()
        step = start
        stop_reason = "max_steps"
        status = "done"
        last_ckpt = start

        def save_checkpoint(k: int) -> None:
            state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "rng": gen.get_state(), "step": k,
                     "log": log, "wall_seconds": prior_wall + time.perf_counter() - t0,
                     "schedule": {"name": cfg.schedule, "step": k}}
            with _io.atomic_path(run_dir / "checkpoint.pt") as tmp:
                torch.save(state, tmp)
            write_loss(run_dir, log)

        with _StopFlag() as flag:
            while True:
                # parameters are now those after `step` updates
                want_log = step % cfg.log_every == 0 or step == cfg.steps or step in snaps
                if bs is None:
                    Ht, Lt = net.logits()
                    ce = loss_fn(Lt)
                    obj = ce + 0.5 * cfg.ridge * (Wp.pow(2).sum() + Ht.pow(2).sum()) if cfg.ridge else ce
                    full = (Ht, Lt, ce, obj)
                else:
                    full = None
                if want_log or flag.set:
                    with torch.no_grad():
                        if full is None:
                            Ht_f, Lt_f = net.logits()
                            ce_f = loss_fn(Lt_f)
                            obj_f = ce_f + 0.5 * cfg.ridge * (Wp.pow(2).sum() + Ht_f.pow(2).sum())
                        else:
                            Ht_f, Lt_f, ce_f, obj_f = full
                        vals = torch.stack([ce_f.detach(), obj_f.detach(), torch.linalg.vector_norm(Wp),
                                            torch.linalg.vector_norm(Ht_f), torch.linalg.vector_norm(Lt_f)]).tolist()
                    ce_v, obj_v, nW, nH, nL = vals
                    lr_now = cfg.lr * lr_factor(step, cfg.schedule, step_size=cfg.step_size, gamma=cfg.gamma,
                                                warmup=cfg.warmup, min_lr_factor=cfg.min_lr_factor, horizon=horizon)
                    for k_, x in zip(LOSS_KEYS, (step, ce_v, ce_v - H_bound, obj_v, nW, nH, nL, lr_now)):
                        log[k_].append(x)
                    if self.progress is not None:
                        self.progress(step, cfg.steps, ce_v, ce_v - H_bound, nL)
                    finished = step >= cfg.steps
                    if not math.isfinite(obj_v):
                        stop_reason, status, finished = "nonfinite", "stopped", True
                    elif cfg.tol is not None and ce_v - H_bound < cfg.tol:
                        stop_reason, finished = "tol", True
                    elif flag.set:
                        stop_reason, status, finished = "interrupted", "stopped", True
                    if step in snaps or finished:
                        with torch.no_grad():
                            b = net.out.bias.detach().double().cpu().numpy() if cfg.bias else None
                            write_snapshot(run_dir, step, Wp.detach().double().cpu().numpy(),
                                           Ht_f.detach().double().cpu().numpy().T, Lt_f.detach().double().cpu().numpy().T, b)
                    if finished:
                        break
                if step - last_ckpt >= cfg.checkpoint_every:
                    save_checkpoint(step)
                    last_ckpt = step
                # ---- one update
                if full is None:
                    idx = torch.randperm(m, generator=gen)[:bs].sort().values.to(dev)
                    Ht, Lt = net.logits(idx)
                    ce = loss_fn(Lt, idx)
                    obj = ce + 0.5 * cfg.ridge * (Wp.pow(2).sum() + (m / bs) * Ht.pow(2).sum()) if cfg.ridge else ce
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(step, cfg.schedule, step_size=cfg.step_size, gamma=cfg.gamma,
                                                 warmup=cfg.warmup, min_lr_factor=cfg.min_lr_factor, horizon=horizon)
                opt.zero_grad(set_to_none=True)
                obj.backward()
                opt.step()
                step += 1
                del full, Ht, Lt, ce, obj

        save_checkpoint(step)
        wall = prior_wall + time.perf_counter() - t0
        done_steps = step - start
        sps = done_steps / max(time.perf_counter() - t0, 1e-9)
        write_config(run_dir, self._config_dict(status, step, stop_reason, n_params=n_params,
                                                wall_seconds=round(wall, 3), steps_per_second=round(sps, 2)))
        return Run(run_dir)
