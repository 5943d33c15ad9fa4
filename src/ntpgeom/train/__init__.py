"""Training: UFM, transformer, LSTM and MLP models on NTP data, with geometry snapshots (theory.md §2, §6).

``train(data, model="ufm", ...) -> Run`` writes a run folder (format in :mod:`ntpgeom.train.run`);
``load_run(path) -> Run`` reads one back: ``run.loss``, ``run.steps``, ``run.snapshot(step)``, ``run.snapshots()``.
"""

from .._callable import make_module_callable
from .loop import OPTIMIZERS, PRESETS, SCHEDULES, NormalizedGD, SoftLabelCE, TrainConfig, lr_factor, soft_label_ce, train
from .models import MODELS, LSTM, MLP, UFM, PrefixTree, Transformer, build_model
from .run import FORMAT_VERSION, Run, Snapshot, TrainError, load_run, log_spaced_steps

__all__ = [
    "train", "load_run", "Run", "Snapshot", "TrainError", "TrainConfig", "SoftLabelCE", "soft_label_ce",
    "NormalizedGD", "lr_factor", "log_spaced_steps", "build_model", "UFM", "Transformer", "LSTM", "MLP", "PrefixTree",
    "MODELS", "OPTIMIZERS", "SCHEDULES", "PRESETS", "FORMAT_VERSION",
]


make_module_callable(__name__, train)  # ntpgeom.train(data, ...) trains; the subpackage stays importable
