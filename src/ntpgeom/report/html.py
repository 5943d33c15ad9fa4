"""Self-contained HTML rendering: inline CSS, figures embedded as base64 PNG, no external resources."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .verdicts import Verdict

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1280px;padding:1.2em 2em;
color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{background:#e3f6e5;color:#0b5d1e;font-weight:600}.FAIL{background:#fde4e1;color:#8a1c0b;font-weight:600}
.na{background:#f1f1f1;color:#666}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.note{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
details{margin:.5em 0}summary{cursor:pointer;color:#0550ae}
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def fmt(x: Any, digits: int = 4) -> str:
    """A number for a table cell: NaN/None as '–', floats with ``digits`` significant digits."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            return "–"
        return f"{float(x):.{digits}g}"
    return str(x)


def img_tag(path: str | Path, alt: str) -> str:
    """An <img> with the PNG embedded as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def figure(path: str | Path, caption: str) -> str:
    return f"<figure>{img_tag(path, caption)}<figcaption>{esc(caption)}</figcaption></figure>"


def kv_table(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v))}</td></tr>" for k, v in items)
    return f"<table>{rows}</table>"


def verdict_table(verdicts: Sequence[Verdict]) -> str:
    head = "<tr><th>run</th><th>claim</th><th>measured quantity</th><th>value</th><th>threshold</th><th>result</th><th>note</th></tr>"
    rows = []
    for v in verdicts:
        cls = {"pass": "pass", "FAIL": "FAIL", "n/a": "na"}.get(v.status, "na")
        rows.append(
            f"<tr><td>{esc(v.run)}</td><td>{esc(v.title)}</td><td>{esc(v.metric)}</td><td class='num'>{fmt(v.value)}</td>"
            f"<td class='num'>{esc(v.op)} {fmt(v.threshold)}</td><td class='{cls}'>{esc(v.status)}</td>"
            f"<td class='note'>{esc(v.note)}</td></tr>"
        )
    return f"<table class='verdicts'>{head}{''.join(rows)}</table>"


def metrics_table(table: Mapping[str, np.ndarray], columns: Sequence[str], max_rows: int = 14) -> str:
    """An HTML table of selected columns; at most ``max_rows`` rows (log-spaced selection, last row always kept)."""
    n = len(table["step"])
    if n <= max_rows:
        rows = list(range(n))
    else:
        rows = sorted(set(np.unique(np.round(np.geomspace(1, n, max_rows)).astype(int) - 1).tolist()) | {0, n - 1})
    cols = [c for c in columns if c in table and (c == "step" or np.any(np.isfinite(np.asarray(table[c], dtype=float))))]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td class='num'>{fmt(table[c][i])}</td>" for c in cols) + "</tr>" for i in rows)
    return f"<table class='metrics'><tr>{head}</tr>{body}</table>"


def details(summary: str, obj: Any) -> str:
    text = json.dumps(obj, indent=2, default=str, ensure_ascii=False)
    return f"<details><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details>"


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
