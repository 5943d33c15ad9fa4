"""Training: UFM, transformer, LSTM and MLP models on NTP data, with geometry snapshots (theory.md §2, §6).

``train(data, model="ufm", ...) -> Run`` writes a run folder (format in :mod:`ntpgeom.train.run`);
``load_run(path) -> Run`` reads one back: ``run.loss``, ``run.steps``, ``run.snapshot(step)``, ``run.snapshots()``.
"""

import sys as _sys
import types as _types

from .loop import OPTIMIZERS, PRESETS, SCHEDULES, NormalizedGD, SoftLabelCE, TrainConfig, lr_factor, soft_label_ce, train
from .models import MODELS, LSTM, MLP, UFM, PrefixTree, Transformer, build_model
from .run import FORMAT_VERSION, Run, Snapshot, TrainError, load_run, log_spaced_steps

__all__ = [
    "train", "load_run", "Run", "Snapshot", "TrainError", "TrainConfig", "SoftLabelCE", "soft_label_ce",
    "NormalizedGD", "lr_factor", "log_spaced_steps", "build_model", "UFM", "Transformer", "LSTM", "MLP", "PrefixTree",
    "MODELS", "OPTIMIZERS", "SCHEDULES", "PRESETS", "FORMAT_VERSION",
]


class _CallableModule(_types.ModuleType):
    """``ntpgeom.train`` is the training subpackage and, when called, :func:`~ntpgeom.train.loop.train`.

    So both ``ntpgeom.train(data, model="ufm", ...)`` and ``from ntpgeom.train import load_run`` work.
    """

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
