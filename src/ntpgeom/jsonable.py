"""The one conversion of ntpgeom values to strict JSON (a base module: imports nothing from ntpgeom).

JSON has no NaN or infinity; Python's ``json`` writes them as the invalid tokens ``NaN``/``Infinity``. Every JSON
output of ntpgeom (``--json``, summary and table files) goes through :func:`to_jsonable`, which maps non-finite
floats to ``null``, numpy scalars and arrays to Python numbers and lists, paths to strings, enums to their values,
dataclasses to dicts, sets and tuples to lists; :func:`dumps` then writes with ``allow_nan=False``, so an invalid
document can never be produced.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["to_jsonable", "dumps"]


def to_jsonable(obj: Any) -> Any:
    """A strict-JSON-ready copy of ``obj``: NaN/±inf → None, numpy → Python, Path → str, Enum → value,
    dataclass → dict, tuple/set/list → list, mapping → dict with string keys.

    Raises ``TypeError`` for any other type (a bug: the caller passed something that has no JSON meaning).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {_key(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return _numpy(obj)


def _numpy(obj: Any) -> Any:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None:
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return to_jsonable(float(obj))
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    v = to_jsonable(k)
    return v if isinstance(v, str) else json.dumps(v)


def dumps(obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``obj`` as a strict JSON document (never NaN/Infinity tokens)."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False, ensure_ascii=False)
