"""Training: UFM, transformer, LSTM and MLP models on NTP data, with geometry snapshots (theory.md §2, §6).

``train(data, config=None, **options) -> Run`` writes a run folder (format in :mod:`ntpgeom.train.run`);
``load_run(path) -> Run`` reads one back: ``run.loss``, ``run.steps``, ``run.snapshot(step)``, ``run.snapshots()``.

Modules: :mod:`.config` (``TrainConfig``, its constraints, resume reconciliation), :mod:`.objective` (the soft-label
cross-entropy and the ridge), :mod:`.optim` (optimisers, schedules), :mod:`.models`, :mod:`.loop` (the trainer),
:mod:`.folder` (marker, lock, checkpoint), :mod:`.run` (the run format). PyTorch loads on first use.
"""

import importlib
from typing import Any

from .._callable import make_module_callable
from .config import MODELS, OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig
from .run import FORMAT_VERSION, Run, Snapshot, TrainError, TrainInterrupted, load_run, log_spaced_steps

_LAZY = {
    "train": "loop", "SoftLabelCE": "objective", "soft_label_ce": "objective", "NormalizedGD": "optim",
    "lr_factor": "optim", "build_model": "models", "UFM": "models", "Transformer": "models", "LSTM": "models",
    "MLP": "models", "Linear": "models", "PrefixTree": "models", "load_features": "features", "estimate_seconds": "estimate",
    "gd_ufm": "plain", "gd_free_logits": "plain", "relabel": "plain",
}

__all__ = [
    "train", "load_run", "Run", "Snapshot", "TrainError", "TrainInterrupted", "TrainConfig", "SoftLabelCE",
    "soft_label_ce", "NormalizedGD", "lr_factor", "log_spaced_steps", "build_model", "UFM", "Transformer", "LSTM",
    "MLP", "Linear", "load_features", "PrefixTree", "estimate_seconds", "MODELS", "OPTIMIZERS", "SCHEDULES", "PRESETS", "FORMAT_VERSION",
    "gd_ufm", "gd_free_logits", "relabel",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


make_module_callable(__name__, "ntpgeom.train.loop:train")  # ntpgeom.train(data, ...) trains
