"""Saving and loading metrics tables (parquet with a JSON twin), see :mod:`ntpgeom.metrics.tables`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._json import loads_json
from .._io import atomic_path, versions, write_json_atomic
from .similarity import MetricsError

TABLE_FORMAT = "ntpgeom.metrics"
TABLE_VERSION = 2
NAN = float("nan")


# ------------------------------------------------------------------------------------------------ I/O
def save_table(table: Mapping[str, Any], path: str | Path, meta: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write a table as ``<path>.parquet`` and ``<path>.json`` (atomically); returns both paths.

    ``meta`` (e.g. the data hash, run config) is stored in the parquet schema metadata and the JSON header, with the
    library versions. NaN becomes null in JSON.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".parquet", ".json") else path
    cols = {k: np.asarray(v) for k, v in table.items()}
    lens = {len(v) for v in cols.values()}
    if len(lens) > 1:
        raise MetricsError(f"table columns have different lengths {sorted(lens)}")
    header = {"format": TABLE_FORMAT, "version": TABLE_VERSION, "versions": versions(), "meta": dict(meta or {})}
    tbl = pa.table(cols).replace_schema_metadata({"ntpgeom": json.dumps(header, default=str)})
    pq_path, js_path = stem.with_name(stem.name + ".parquet"), stem.with_name(stem.name + ".json")
    with atomic_path(pq_path) as tmp:
        pq.write_table(tbl, tmp)
    js = {**header, "columns": {k: v.tolist() for k, v in cols.items()}}  # NaN -> null in write_json_atomic
    write_json_atomic(js_path, js)
    return pq_path, js_path


def load_table(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a table written by :func:`save_table` (``.parquet`` or ``.json``); returns ``(table, header)``."""
    path = Path(path)
    if not path.exists():
        raise MetricsError(f"metrics table not found: {path}")
    if path.suffix == ".json":
        try:
            obj = loads_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: bad or too deeply nested JSON
            raise MetricsError(f"cannot read {path} as a metrics table: {exc}") from None
        if not isinstance(obj, dict) or obj.get("format") != TABLE_FORMAT:
            raise MetricsError(f"{path} is not an ntpgeom metrics table")
        cols = {k: np.array([NAN if x is None else x for x in v]) for k, v in obj["columns"].items()}
        if "step" in cols:
            cols["step"] = cols["step"].astype(np.int64)
        return cols, {k: v for k, v in obj.items() if k != "columns"}
    import pyarrow.parquet as pq

    tbl = pq.read_table(path)
    md = tbl.schema.metadata or {}
    try:
        header = loads_json(md.get(b"ntpgeom", b"{}"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MetricsError(f"{path}: the metrics table's header is corrupt ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != TABLE_FORMAT:
        raise MetricsError(f"{path} is not an ntpgeom metrics table")
    return {k: tbl.column(k).to_numpy() for k in tbl.column_names}, header
