"""The training configuration: one frozen dataclass, its constraints, resolution against the data, and resume.

:class:`TrainConfig` holds every hyper-parameter of a run with its default on the field; the field's ``help`` (in
its metadata) documents it once for the API docstring and the command line. :data:`CONSTRAINTS` declares what each
field accepts (in the scikit-learn manner) and :func:`resolve` checks a configuration once, at the boundary, before
any work: user value > preset > field default, then the data-dependent defaults (``d``, ``layers``, ``log_every``,
``batch_size`` for SGD, ``dtype``, ``device``). :func:`reconcile` rebuilds the configuration of a run being resumed.

This module does not import PyTorch (the command line builds its options from it); ``device`` checks do, lazily.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable, Mapping

from ..validate import SEED, Interval, OneOf
from .run import TrainError

MODELS = ("ufm", "transformer", "lstm", "mlp", "linear")
OPTIMIZERS = ("gd", "ngd", "sgd", "adam", "adamw", "sign", "muon")
SCHEDULES = ("constant", "step", "cosine")
DTYPES = ("auto", "float32", "float64")
POSITIONAL = ("none", "rope", "learned")
UFM_INITS = ("normal", "lecun")
SAMPLERS = ("uniform", "pi", "group")
AUTOCASTS = ("none", "bf16", "tf32")

PRESETS: dict[str, dict[str, Any]] = {
    # the paper's recipe (theory.md §6): AdamW lr 1e-4, weight decay 1e-6, x0.4 every 5000 steps, full batch
    "paper": {"optimizer": "adamw", "lr": 1e-4, "weight_decay": 1e-6, "schedule": "step", "step_size": 5000,
              "gamma": 0.4, "batch_size": None, "warmup": 0},
}
# the paper's TinyStories model (12 layers, d = 256) with its recipe (App. D: BPE 128, context length 6)
PRESETS["paper-tinystories"] = {**PRESETS["paper"], "model": "transformer", "d": 256, "layers": 12}

#: device "auto" picks CUDA when ``parameters x contexts`` reaches this. Measured on an H100 against one CPU thread
#: (benchmarks/gpu_train_check.py section (b), benchmarks/gpu_h100.md): CUDA/CPU steps/s 0.57 at 1.0e5 (UFM of
#: experiment (a)), 0.77 at 4.7e5 (MLP), 3.1 at 4.7e7 (2-layer transformer), 4.5 at 3.4e8, 5.6 at 3.4e9; the
#: crossover lies between 4.7e5 and 4.7e7, and 5e6 sits at its geometric middle.
AUTO_CUDA_WORK = 5e6
#: refuse a model whose parameters, gradients, optimiser state and full-batch logits exceed this fraction of RAM
MEMORY_FRACTION = 0.8


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of a training run (defaults on the fields; ``None``/"auto" are resolved by
    :func:`resolve` against the data, and a run's ``config.json`` records the resolved values)."""

    model: str = _opt("ufm", "ufm | transformer | lstm | mlp | linear (a head W on frozen features, see features).")
    d: int | None = _opt(None, "Embedding dimension (default: V for ufm, 128 otherwise).")
    steps: int = _opt(1000, "Number of updates.")
    optimizer: str = _opt("adamw", "gd | ngd | sgd | adam | adamw | sign | muon (sign descent; Newton-Schulz "
                                         "orthogonalised updates with --momentum).")
    lr: float = _opt(1e-3, "Peak learning rate.")
    weight_decay: float = _opt(0.0, "Weight decay (decoupled for adamw, L2 for the others).")
    ridge: float = _opt(0.0, "Ridge lambda: adds (lambda/2)(|W|^2 + |H|^2) to the loss.")
    schedule: str = _opt("constant", "constant | step (x gamma every step_size) | cosine (to min_lr_factor).")
    step_size: int = _opt(5000, "Steps between decays of the step schedule.")
    gamma: float = _opt(0.4, "Decay factor of the step schedule, in (0, 1].")
    warmup: int = _opt(0, "Linear warm-up steps.")
    min_lr_factor: float = _opt(0.0, "Final learning-rate factor of the cosine schedule.")
    schedule_steps: int | None = _opt(None, "Horizon of the cosine schedule (default: steps).")
    batch_size: int | None = _opt(None, "Contexts per step (default: all; sgd: 32).")
    momentum: float = _opt(0.0, "SGD / Muon momentum.")
    betas: tuple[float, float] = _opt((0.9, 0.999), "Adam betas.")
    eps: float = _opt(1e-8, "Adam epsilon.")
    preset: str | None = _opt(None, "Named recipe filling the options not given: paper (AdamW 1e-4, wd 1e-6, "
                                    "x0.4 every 5000 steps, full batch); paper-tinystories (the same with the "
                                    "paper's 12-layer d=256 transformer).")
    tol: float | None = _opt(None, "Stop as soon as CE - H < tol (checked at logged steps).")
    seed: int = _opt(0, "Seeds the initialisation and the mini-batch sampler.")
    device: str = _opt("auto", "auto | cpu | cuda | cuda:N; auto: cuda when parameters x contexts >= "
                               + f"{AUTO_CUDA_WORK:.0e}".replace("e+0", "e") + " and CUDA is available, else cpu.")
    dtype: str = _opt("auto", "auto | float32 | float64 (auto: float64 for ufm, float32 otherwise).")
    threads: int = _opt(1, "torch CPU threads.")
    layers: int | None = _opt(None, "Layers (default: transformer 4, lstm 2, mlp 2).")
    heads: int = _opt(4, "Attention heads (must divide d).")
    hidden: int | None = _opt(None, "SwiGLU width (default 8d/3 rounded up to 8).")
    positional: str = _opt("none", "Transformer position encoding: none | rope | learned.")
    bias: bool = _opt(False, "Output-layer bias (then L != WH).")
    init: str = _opt("normal", "UFM initialisation: normal (N(0, init_scale^2)) | lecun.")
    init_scale: float = _opt(0.1, "Scale of the UFM's normal initialisation.")
    lstm_norm: bool = _opt(False, "RMS-normalise the LSTM's context embedding.")
    log_every: int | None = _opt(None, "Steps between loss-log entries (default 1 full-batch, one epoch otherwise).")
    snapshot_steps: str | tuple[int, ...] = _opt("log", "'log' (0, 1, 2, 5, 10, ...) or a list of steps.")
    checkpoint_every: int = _opt(1000, "Steps between checkpoints (a first one is written before the first update).")
    checkpoint_seconds: float = _opt(120.0, "Seconds between checkpoints (whichever of steps and time comes first).")
    tree: bool = _opt(True, "Transformer and LSTM: compute each distinct prefix once on full-batch steps (exact).")
    sampler: str = _opt("uniform", "Mini-batch contexts: uniform (without replacement) | pi (drawn by pi) | group "
                                   "(a support group uniformly, then a context in it); importance-weighted, unbiased.")
    accumulate: int = _opt(1, "Micro-batches per update (gradient accumulation); full batch: the contexts in this "
                              "many chunks (exact gradient, less memory).")
    autocast: str = _opt("none", "none | bf16 (autocast the model to bfloat16, float32 master weights and loss) | "
                                 "tf32 (TF32 matmuls on CUDA); needs dtype float32.")
    snapshot_contexts: int | None = _opt(None, "Snapshots hold H and L of this many contexts only (a fixed random "
                                               "subset, seeded; for large m); the logged loss still uses all.")
    bottleneck: int | None = _opt(None, "Neural models: a linear layer d -> bottleneck before the output, so that "
                                        "the geometry's d is the bottleneck (App. D.4, d < V).")
    features: str | None = _opt(None, "Linear model: frozen context features H (d x m), a .npy/.npz file (API: also "
                                      "an array); d is taken from H. The run keeps a copy (features.npy) and "
                                      "records its sha256 here.")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (tuples as lists)."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        if not isinstance(self.snapshot_steps, str):
            out["snapshot_steps"] = list(self.snapshot_steps)
        return out


FIELDS = {f.name: f for f in fields(TrainConfig)}
#: may change when resuming (they do not alter the trajectory up to the resume point)
RESUMABLE = frozenset({"steps", "tol", "log_every", "checkpoint_every", "checkpoint_seconds", "snapshot_steps",
                       "device", "threads"})


# --------------------------------------------------------------------------------------------------- constraints
_POS_INT, _NONNEG_INT = Interval(True, 0, open_lo=True), Interval(True, 0)
_SEED = SEED  # the one seed range (ntpgeom.validate)
_POS, _NONNEG = Interval(False, 0, open_lo=True), Interval(False, 0)
_UNIT = Interval(False, 0.0, 1.0, open_lo=True)
_BETA = Interval(False, 0.0, 1.0, open_hi=True)

#: what each field accepts: a list of alternatives (``None`` accepts None); relations between fields and the device
#: are checked by :func:`_check_relations`.
CONSTRAINTS: dict[str, list[Any]] = {
    "model": [OneOf(MODELS)], "d": [_POS_INT, None], "steps": [_NONNEG_INT], "optimizer": [OneOf(OPTIMIZERS)],
    "lr": [_POS], "weight_decay": [_NONNEG], "ridge": [_NONNEG], "schedule": [OneOf(SCHEDULES)],
    "step_size": [_POS_INT], "gamma": [_UNIT], "warmup": [_NONNEG_INT], "min_lr_factor": [_NONNEG],
    "schedule_steps": [_POS_INT, None], "batch_size": [_POS_INT, None], "momentum": [_NONNEG], "betas": ["betas"],
    "eps": [_NONNEG], "preset": [OneOf(tuple(PRESETS)), None], "tol": [_POS, None], "seed": [_SEED],
    "device": [str], "dtype": [OneOf(DTYPES)], "threads": [_POS_INT], "layers": [_POS_INT, None],
    "heads": [_POS_INT], "hidden": [_POS_INT, None], "positional": [OneOf(POSITIONAL)], "bias": [bool],
    "init": [OneOf(UFM_INITS)], "init_scale": [_POS], "lstm_norm": [bool], "log_every": [_POS_INT, None],
    "snapshot_steps": ["snapshots"], "checkpoint_every": [_POS_INT], "checkpoint_seconds": [_POS], "tree": [bool],
    "sampler": [OneOf(SAMPLERS)], "accumulate": [_POS_INT], "autocast": [OneOf(AUTOCASTS)],
    "bottleneck": [_POS_INT, None], "snapshot_contexts": [_POS_INT, None], "features": [str, None],
}


def _accepts(c: Any, v: Any) -> bool:
    if c is None:
        return v is None
    if isinstance(c, (Interval, OneOf)):
        return c.accepts(v) if isinstance(c, Interval) else v in c.choices
    if c == "betas":
        return isinstance(v, (tuple, list)) and len(v) == 2 and all(_BETA.accepts(b) for b in v)
    if c == "snapshots":
        return v == "log" or (isinstance(v, (tuple, list)) and all(_NONNEG_INT.accepts(s) for s in v))
    return isinstance(v, c)


def _describe(c: Any) -> str:
    if c is None:
        return "None"
    if isinstance(c, Interval):
        return c.describe()
    return {"betas": "two numbers in [0, 1)", "snapshots": "'log' or a list of non-negative step numbers",
            bool: "True or False", str: "a string"}[c]


def validate(values: Mapping[str, Any]) -> None:
    """Check every value against :data:`CONSTRAINTS`; raise :class:`TrainError` naming the first bad one."""
    for name, v in values.items():
        alternatives = CONSTRAINTS[name]
        if any(_accepts(c, v) for c in alternatives):
            continue
        choices = next((c.choices for c in alternatives if isinstance(c, OneOf)), None)
        if choices is not None:
            raise TrainError(f"unknown {name} {v!r}; choose one of {', '.join(map(str, choices))}")
        raise TrainError(f"{name} must be {' or '.join(_describe(c) for c in alternatives)}, got {v!r}")


def _check_names(given: Mapping[str, Any]) -> None:
    unknown = set(given) - set(FIELDS)
    if unknown:
        raise TrainError(f"unknown training option(s) {sorted(unknown)}; see help(ntpgeom.train) for the options")


# ---------------------------------------------------------------------------------------------------- resolution
def explicit_values(config: TrainConfig | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values the user gave: overrides that are not None, and the fields of ``config`` off their default."""
    _check_names(overrides)
    given = {} if config is None else {k: getattr(config, k) for k, f in FIELDS.items()
                                       if getattr(config, k) != f.default}
    given.update({k: v for k, v in overrides.items() if v is not None})
    return given


def resolve(data: Any, given: Mapping[str, Any]) -> TrainConfig:
    """The full configuration for ``data`` (an NTPData): ``given`` > its preset > defaults, validated."""
    _check_names(given)
    validate({k: given[k] for k in ("model", "preset") if k in given})
    v = {k: f.default for k, f in FIELDS.items()}
    v.update(PRESETS.get(given.get("preset"), {}))
    v.update(given)
    validate(v)
    model = v["model"]
    if v["d"] is None:
        v["d"] = data.V if model == "ufm" else 128
    if v["layers"] is None:
        v["layers"] = {"ufm": 1, "transformer": 4, "lstm": 2, "mlp": 2, "linear": 1}[model]
    bs = v["batch_size"]
    if bs is not None and bs >= data.m:
        bs = None
    if v["optimizer"] in ("gd", "ngd") and bs is not None:
        raise TrainError(f"{v['optimizer']} is full-batch; use optimizer='sgd' (or adam/adamw) for mini-batches")
    if v["optimizer"] == "sgd" and "batch_size" not in given and data.m > 32:
        bs = 32  # SGD default: mini-batches of 32 contexts
    v["batch_size"] = None if bs is None else int(bs)
    if v["log_every"] is None:
        v["log_every"] = 1 if v["batch_size"] is None else max(1, data.m // v["batch_size"])
    if v["dtype"] == "auto":
        v["dtype"] = "float64" if model in ("ufm", "linear") and v["autocast"] == "none" else "float32"
    return _finish(v, data)


def reconcile(stored: Mapping[str, Any], given: Mapping[str, Any], data: Any, where: Any) -> TrainConfig:
    """The configuration of a run being resumed: the stored one, with only the :data:`RESUMABLE` fields changed.

    A given value of another field must equal the stored one (else :class:`TrainError`); fields missing from an older
    run's ``config.json`` take their defaults.
    """
    _check_names(given)
    v = {k: stored.get(k, f.default) for k, f in FIELDS.items()}
    for k, got in given.items():
        if k in RESUMABLE or k == "preset":
            continue
        if _plain(got) != _plain(v[k]):
            raise TrainError(f"cannot resume {where}: {k}={got!r} differs from the run's {v[k]!r}; "
                             "drop the option or start a new run")
    v.update({k: given[k] for k in RESUMABLE if k in given})
    validate(v)
    return _finish(v, data)


def _plain(x: Any) -> Any:
    return list(x) if isinstance(x, tuple) else x


def _finish(v: dict[str, Any], data: Any) -> TrainConfig:
    v["betas"] = tuple(float(b) for b in v["betas"])
    if not isinstance(v["snapshot_steps"], str):
        v["snapshot_steps"] = tuple(sorted({int(s) for s in v["snapshot_steps"]}))
    _check_relations(v)
    cfg = TrainConfig(**v)
    check_size(cfg, data)
    return replace(cfg, device=choose_device(cfg, data))


def _check_relations(v: Mapping[str, Any]) -> None:
    if v["sampler"] != "uniform" and v["batch_size"] is None:
        raise TrainError(f"sampler={v['sampler']!r} draws mini-batches; give batch_size (below the number of contexts)")
    if v["autocast"] != "none" and v["dtype"] != "float32":
        raise TrainError(f"autocast={v['autocast']!r} keeps float32 master weights; use dtype='float32' (or 'auto')")
    if v["bottleneck"] is not None and v["model"] in ("ufm", "linear"):
        raise TrainError(f"bottleneck is for the neural models, not {v['model']}; for the UFM set d below V directly")
    if (v["model"] == "linear") != (v["features"] is not None):
        raise TrainError("model='linear' trains a head on frozen features: give features=FILE (--features) with it, "
                         "and only with it")
    if v["model"] == "transformer":
        if v["d"] % v["heads"]:
            raise TrainError(f"d={v['d']} is not divisible by heads={v['heads']}; e.g. d=128 with 4 heads or d=132 with 6")
        if v["positional"] == "rope" and (v["d"] // v["heads"]) % 2:
            raise TrainError(f"rope needs an even head dimension, got d/heads = {v['d'] // v['heads']}")


# ------------------------------------------------------------------------------------------- size and device
def swiglu_hidden(d: int) -> int:
    """Default SwiGLU width: 8d/3 rounded up to a multiple of 8 (parameter count of a 4d GELU MLP)."""
    return int(8 * math.ceil(8 * d / 3 / 8))


def param_count(cfg: TrainConfig, data: Any) -> int:
    """Number of parameters of the model ``cfg`` builds for ``data``, by arithmetic (nothing allocated)."""
    V, m, d, n_layers = data.V, data.m, cfg.d, cfg.layers
    k = getattr(cfg, "bottleneck", None)
    out = (V * d if k is None else V * k + k * d) + (V if cfg.bias else 0)
    if cfg.model == "ufm":
        return out + d * m
    if cfg.model == "linear":
        return out
    nin, T = len(data.input_vocab), data.contexts.shape[1]
    embed = nin * d
    if cfg.model == "transformer":
        hidden = cfg.hidden or swiglu_hidden(d)
        block = 2 * d + 4 * d * d + 3 * d * hidden
        return out + embed + (T * d if cfg.positional == "learned" else 0) + n_layers * block + d
    if cfg.model == "lstm":
        return out + embed + n_layers * (8 * d * d + 8 * d) + (d if cfg.lstm_norm else 0)
    return out + embed + (T * d * d + d) + (n_layers - 1) * (d * d + d)


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_size(cfg: TrainConfig, data: Any) -> None:
    """Refuse, before allocating anything, a model whose training state cannot fit in this machine's memory.

    Estimate: 4 copies of the parameters (weights, gradients, two Adam moments) plus 3 copies of the logits of a
    batch (logits, softmax, gradient), at the run's dtype.
    """
    n = param_count(cfg, data)
    rows = -(-data.m // cfg.accumulate) if cfg.batch_size is None else cfg.batch_size
    width = 8 if cfg.dtype == "float64" else 4
    need = width * (4 * n + 3 * rows * data.V)
    have = _memory_bytes()
    if have is not None and need > MEMORY_FRACTION * have:
        raise TrainError(f"the model would have {n:.3g} parameters and need about {need / 2**30:.3g} GiB to train, "
                         f"more than this machine's {have / 2**30:.3g} GiB; choose a smaller d (or layers)")


def choose_device(cfg: TrainConfig, data: Any, cuda_available: Callable[[], bool] | None = None) -> str:
    """Resolve ``cfg.device``: "auto" → "cuda" when CUDA is available and ``param_count x m >= AUTO_CUDA_WORK``."""
    import torch

    available = cuda_available or torch.cuda.is_available
    dev = cfg.device
    if dev == "auto":
        dev = "cuda" if param_count(cfg, data) * data.m >= AUTO_CUDA_WORK and available() else "cpu"
    try:
        tdev = torch.device(dev)
    except (RuntimeError, TypeError) as exc:
        raise TrainError(f"unknown device {dev!r}; use auto, cpu or cuda") from exc
    if tdev.type == "cuda" and not available():
        raise TrainError(f"device {dev!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    if tdev.type not in ("cpu", "cuda"):
        raise TrainError(f"unsupported device {dev!r}; use auto, cpu or cuda")
    return str(tdev)
