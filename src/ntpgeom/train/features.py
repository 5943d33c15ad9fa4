"""Frozen context features for ``model="linear"`` (a head W on fixed H; Thrampoulidis, NeurIPS 2024).

The features ``H`` (d x m, one column per context of the data) come as an array or a ``.npy``/``.npz`` file (read with
``allow_pickle=False``; an ``.npz`` holds one array, or names it ``H``). They are checked once (real numbers, finite,
shape (d, m) with m the data's contexts), converted to float64 and identified by :func:`features_hash` (sha256 of
dtype, shape and bytes). A run keeps a copy as ``features.npy`` and records the hash in its config (``features``),
so a run folder is self-contained and a resume checks that it continues on the same features.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import _io
from ..errors import TrainError

#: the copy of the features in a run folder
FEATURES_FILE = "features.npy"


def features_hash(H: np.ndarray) -> str:
    """``sha256:<hex>`` of the float64 features (dtype, shape, bytes)."""
    h = hashlib.sha256()
    _io.sha256_update_array(h, np.ascontiguousarray(H, dtype=np.float64))
    return "sha256:" + h.hexdigest()


def _read(path: Path) -> np.ndarray:
    if not path.is_file():
        raise TrainError(f"features file not found: {path}; give a .npy or .npz file holding H (d x m)")
    try:
        with open(path, "rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                return np.asarray(z)
            with z:
                names = list(z.files)
                if "H" not in names and len(names) != 1:
                    raise TrainError(f"{path} holds arrays {names}; give one array, or name it H")
                return np.asarray(z["H" if "H" in names else names[0]])
    except TrainError:
        raise
    except (OSError, ValueError, EOFError, KeyError) as exc:
        why = "it holds pickled objects, which ntpgeom never loads" if "pickle" in str(exc) else str(exc)
        raise TrainError(f"cannot read the features {path}: {why}") from None


def load_features(source: Any, m: int) -> np.ndarray:
    """The features ``H`` (d, m) as float64, from an array or a ``.npy``/``.npz`` path; :class:`TrainError` when the
    file is unreadable or holds objects, the array is not 2-D with ``m`` columns, or holds NaN/inf."""
    H = _read(Path(source)) if isinstance(source, (str, Path)) else np.asarray(source)
    if H.dtype.hasobject or not (np.issubdtype(H.dtype, np.integer) or np.issubdtype(H.dtype, np.floating)):
        raise TrainError(f"features must be real numbers, got dtype {H.dtype}")
    if H.ndim != 2 or H.shape[1] != m or H.shape[0] < 1:
        raise TrainError(f"features must have shape (d, m) with m = {m} contexts of the data, got {H.shape}")
    H = np.ascontiguousarray(H, dtype=np.float64)
    if not np.all(np.isfinite(H)):
        raise TrainError("features contain NaN or infinite entries")
    return H


def attach_features(given: Mapping[str, Any], m: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """``given`` with ``features`` replaced by its hash and ``d`` set from H (a given ``d`` must agree); and H."""
    out = dict(given)
    if out.get("features") is None:
        return out, None
    H = load_features(out["features"], m)
    if out.get("d") is not None and out["d"] != H.shape[0]:
        raise TrainError(f"d={out['d']} differs from the features' d = {H.shape[0]}; drop d (it is taken from H)")
    out["features"], out["d"] = features_hash(H), int(H.shape[0])
    return out, H


def save_run_features(run_dir: Path, H: np.ndarray) -> None:
    """Keep the features in the run folder (atomically)."""
    with _io.atomic_path(run_dir / FEATURES_FILE) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, H, allow_pickle=False)


def load_run_features(run_dir: Path, expected_hash: str, m: int) -> np.ndarray:
    """The run's own features, checked against the hash its config records."""
    H = load_features(Path(run_dir) / FEATURES_FILE, m)
    if features_hash(H) != expected_hash:
        raise TrainError(f"{Path(run_dir) / FEATURES_FILE} does not match the features the run recorded "
                         f"({expected_hash}); the run folder was altered")
    return H


__all__ = ["FEATURES_FILE", "attach_features", "features_hash", "load_features", "load_run_features",
           "save_run_features"]
