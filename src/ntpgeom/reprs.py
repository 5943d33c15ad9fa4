"""Short reprs for result objects: shapes and key numbers, never whole arrays (a notebook prints them often)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def summarize(value: Any) -> str:
    """One short token for a field value: ``<float64 30x16>`` for arrays, counts for containers, 4 digits for floats."""
    if isinstance(value, np.ndarray) or hasattr(value, "toarray"):
        shape = "x".join(str(n) for n in getattr(value, "shape", ()))
        return f"<{getattr(value, 'dtype', '?')} {shape or 'scalar'}>"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, dict):
        return f"<dict of {len(value)}>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__ + "(…)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def short_repr(obj: Any) -> str:
    """``ClassName(field=summary, ...)`` of a dataclass instance (use as ``__repr__ = short_repr``)."""
    parts = [f"{f.name}={summarize(getattr(obj, f.name))}" for f in dataclasses.fields(obj) if f.repr]
    return f"{type(obj).__name__}({', '.join(parts)})"


__all__ = ["short_repr", "summarize"]
