"""Short reprs for result objects: shapes and key numbers, never whole arrays (a notebook prints them often); and
their notebook display (``_repr_html_``): a small table of the same key numbers."""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any, Iterable, Sequence

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


#: a notebook table shows at most this many rows (the rest counted in its last row)
MAX_ROWS = 40


def cell(value: Any) -> str:
    """A table cell: numbers with 4 significant digits (NaN/None as '–'), short containers in full, others summarised."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, dict) and len(value) <= 4 and all(not isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k}: {cell(v)}" for k, v in value.items())
    return summarize(value)


def html_table(title: str, rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    """A small HTML table (escaped) with a bold caption: what ``_repr_html_`` returns."""
    rows = list(rows)
    extra = len(rows) - MAX_ROWS
    if extra > 0:
        rows = rows[:MAX_ROWS] + [(f"… {extra} more rows",)]
    head = "" if header is None else "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<{'th' if i == 0 and header is None else 'td'} style=\"text-align:left\">"
                                    f"{html.escape(cell(v) if not isinstance(v, str) else v)}"
                                    f"</{'th' if i == 0 and header is None else 'td'}>" for i, v in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><caption style=\"text-align:left\"><b>{html.escape(title)}</b></caption>{head}{body}</table>"


def summary_html(obj: Any) -> str:
    """``_repr_html_`` of an object with a ``summary()`` dict: its entries as a two-column table (a small nested dict
    flattened as ``key.sub``; a list of verdicts as claim: status; anything bigger summarised, never whole arrays)."""
    rows: list[tuple[str, Any]] = []
    for key, value in obj.summary().items():
        if key in ("format", "version", "versions", "top_contexts", "metrics", "summary_json"):
            continue
        if isinstance(value, dict) and 4 < len(value) <= 12 and all(not isinstance(v, (dict, list))
                                                                    for v in value.values()):
            rows += [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "claim" in v for v in value):
            rows += [(f"verdict {v['claim']}", str(v.get("status")).lower()) for v in value]  # as displayed
        else:
            rows.append((key, value))
    return html_table(type(obj).__name__, rows)


__all__ = ["short_repr", "summarize", "cell", "html_table", "summary_html"]
