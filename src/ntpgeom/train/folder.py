"""The run folder on disk: ownership marker, single-writer lock, and the checkpoint (safe load).

- ``.ntpgeom-run``: written when ntpgeom creates a run folder; ``overwrite`` deletes only folders that carry it (never,
  say, a Hugging Face model folder that merely holds a ``config.json``).
- ``.ntpgeom-lock``: created exclusively (``O_EXCL``) by the process training into the folder, holding its pid and
  host; a second writer gets a clear error; a lock of this host whose pid is no longer alive (a killed run) is taken
  over (one from another host is never guessed stale).
- ``checkpoint.pt``: tensors and plain Python types only, read with ``torch.load(weights_only=True)`` so a crafted
  file cannot run code; anything unreadable or of the wrong shape is a :class:`TrainError`.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from pathlib import Path
from typing import Any, Iterator

from .. import _io
from ..errors import OutputError
from .run import LOSS_KEYS, TrainError

MARKER = ".ntpgeom-run"
LOCK = ".ntpgeom-lock"
CHECKPOINT = "checkpoint.pt"
_CHECKPOINT_KEYS = ("model", "optimizer", "rng", "step", "log", "wall_seconds")


# ------------------------------------------------------------------------------------------------ marker, prepare
def prepare_new(run_dir: Path, overwrite: bool) -> None:
    """Make ``run_dir`` an empty, marked run folder (replacing an ntpgeom run there only when ``overwrite``)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainError(f"{run_dir} exists and is not a folder; choose another output path")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise TrainError(f"{run_dir} already exists and is not empty; pass resume=True (--resume) to continue "
                             "it, overwrite=True (--overwrite) to replace it, or choose another folder")
        if not (run_dir / MARKER).is_file():
            raise TrainError(f"refusing to overwrite {run_dir}: it is not an ntpgeom run folder (no {MARKER} "
                             "marker); delete it yourself or choose another folder")
        with lock(run_dir):  # never delete a folder another process is training into
            pass
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        _io.write_text_atomic(run_dir / MARKER, "ntpgeom run folder\n")
    except (OSError, OutputError) as exc:
        raise TrainError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}; choose another path") from exc


# --------------------------------------------------------------------------------------------------------- lock
@contextlib.contextmanager
def lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's writer lock for the duration of the block (:func:`ntpgeom._io.folder_lock`)."""
    with _io.folder_lock(run_dir, LOCK, TrainError):
        yield


# --------------------------------------------------------------------------------------------------- checkpoint
def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write ``checkpoint.pt`` atomically (the previous one stays intact if this write fails)."""
    import torch

    with _io.atomic_path(run_dir / CHECKPOINT) as tmp:
        torch.save(state, tmp)


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """Read ``checkpoint.pt`` safely (``weights_only=True``, on the CPU) and check its structure."""
    import torch

    path = run_dir / CHECKPOINT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about foreign pickle protocols before refusing them
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged or hostile file
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"{path} is not a readable ntpgeom checkpoint ({reason}); start a new run "
                         "(--overwrite) instead of --resume") from exc
    problems = [] if isinstance(ck, dict) else ["not a dict"]
    if not problems:
        problems = [k for k in _CHECKPOINT_KEYS if k not in ck]
        if not problems and not (isinstance(ck["log"], dict) and all(k in ck["log"] for k in LOSS_KEYS)):
            problems = ["log"]
        if not problems and not (isinstance(ck["rng"], torch.Tensor) and ck["rng"].dtype == torch.uint8):
            problems = ["rng"]
        if not problems and not (isinstance(ck["step"], int) and ck["step"] >= 0):
            problems = ["step"]
    if problems:
        raise TrainError(f"{path} is not an ntpgeom checkpoint (bad or missing: {', '.join(problems)}); start a new "
                         "run (--overwrite) instead of --resume")
    return ck
