"""The entry of :func:`ntpgeom.train.train` before any training: the data argument, the run folder (new or resumed)
with the resolved configuration, and the documented signature (one keyword per TrainConfig field)."""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Any

from ..data import NTPData
from ..data import load as load_data
from .config import FIELDS, TrainConfig, reconcile, resolve
from .features import attach_features, save_run_features
from .folder import CHECKPOINT, prepare_new
from .run import TrainError, read_config


def load_data_arg(data: Any) -> NTPData:
    if data is None:
        raise TrainError("no training data given; pass an NTPData or a dataset file (.npz)")
    if isinstance(data, (str, Path)):
        data = load_data(data)
    if not isinstance(data, NTPData):
        raise TrainError(f"data must be an NTPData or a path to a dataset file, got {type(data).__name__}")
    return data


def open_run(data: Any, given: dict[str, Any], out: str | Path | None, resume: bool,
              overwrite: bool) -> tuple[NTPData, TrainConfig, Path]:
    """Validate everything and prepare the folder: ``(data, resolved config, run folder)``; nothing trained yet."""
    run_dir = Path(out) if out is not None else None
    if not resume:
        data = load_data_arg(data)
        given, H = attach_features(given, data.m)
        cfg = resolve(data, given)
        run_dir = run_dir or Path(tempfile.mkdtemp(prefix="ntpgeom-run-"))
        prepare_new(run_dir, overwrite)
        if H is not None:
            save_run_features(run_dir, H)
        return data, cfg, run_dir
    if run_dir is None or not (run_dir / CHECKPOINT).exists():
        raise TrainError(f"cannot resume: {run_dir} has no {CHECKPOINT}; start a new run without --resume")
    stored = read_config(run_dir)
    data = load_data_arg(run_dir / "data.npz" if data is None else data)
    if stored.get("data_hash") != data.hash:
        raise TrainError(f"cannot resume {run_dir}: it was trained on data {stored.get('data_hash')}, not {data.hash}")
    given, _ = attach_features(given, data.m)  # given features must be the run's (same hash)
    return data, reconcile(stored, given, data, run_dir), run_dir


def options_doc() -> str:
    lines = ["", "    Options (keyword; the fields of TrainConfig)", "    ---------------------------------------------"]
    for name, f in FIELDS.items():
        lines += [f"    {name} : default {f.default!r}", f"        {f.metadata['help']}"]
    return "\n".join(lines) + "\n"


def signature_with_options(train: Any) -> inspect.Signature:
    """The signature of ``train`` with one keyword parameter per TrainConfig field (for help() and IDEs)."""
    base = inspect.signature(train)
    kw = inspect.Parameter.KEYWORD_ONLY
    opts = [inspect.Parameter(name, kw, default=f.default, annotation=f.type) for name, f in FIELDS.items()]
    params = [p for p in base.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    return base.replace(parameters=params[:2] + opts + params[2:])
