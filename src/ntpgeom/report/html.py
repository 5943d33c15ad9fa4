"""Self-contained HTML from Jinja2 templates (``report/templates/``, autoescaped): the view objects the templates read,
the number formats, and :func:`render_page`.

Figures are embedded as base64 PNG (the page opens offline); each links its SVG twin by a relative path.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..verdicts.claims import column_labels
from ..verdicts.core import STATUS_LABEL, ControlVerdict, Verdict, status_label  # noqa: F401 (STATUS_LABEL re-exported)

TEMPLATES = Path(__file__).with_name("templates")

#: Readable names and definitions of the metrics-table columns (the page shows the label and a legend). The columns a
#: claim is judged on take their label and definition from the claim registry (:data:`ntpgeom.verdicts.CLAIMS`).
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "step": ("step", "training step of the snapshot"),
    "norm_W": ("‖W‖", "Frobenius norm of the word embeddings W"),
    "norm_H": ("‖H‖", "Frobenius norm of the context embeddings H"),
    "norm_L": ("‖L‖", "Frobenius norm of the logits L = WH"),
    "slr_resid": ("SLR residual", "‖L − L_in − R·L_mm‖ / ‖L − L_in‖ for the best scale R (sparse + low rank; "
                                  "descriptive, C1 is judged on its distance to L̂_B)"),
    "dir_pred_rival": ("dir to L_in + r·S̃", "direction distance of L to C1's rival L_in + r·S̃"),
    "offp_H": ("C2: Pearson H", "off-diagonal Pearson of corr(Ḣ) with the map of L̂_B's H factor"),
    "dir_perp_mm": ("dir(P⊥L, L_mm)", "‖P_⊥(L)/‖·‖ − L_mm/‖·‖‖: direction distance of the F⊥ part to L_mm"),
    "dir_perp_tilde": ("dir(P⊥L, S̃)", "‖P_⊥(L)/‖·‖ − S̃/‖·‖‖: the same against the S̃ proxy"),
    "gram_W_mm": ("Gram W vs L_mm", "normalised distance of WWᵀ to UΣUᵀ of L_mm"),
    "gram_H_mm": ("Gram H vs L_mm", "normalised distance of HᵀH to VΣVᵀ of L_mm"),
    "gram_W_proxy": ("Gram W vs S̃", "normalised distance of WWᵀ to (S̃S̃ᵀ)^½"),
    "gram_H_proxy": ("Gram H vs S̃", "normalised distance of HᵀH to (S̃ᵀS̃)^½"),
    "sim_W_mm": ("sim W (L_mm)", "SSIM structure term of corr(Wᵀ) vs the L_mm prediction"),
    "sim_H_mm": ("sim H (L_mm)", "SSIM structure term of corr(H) vs the L_mm prediction"),
    "pearson_W_mm": ("Pearson W (L_mm)", "Pearson correlation of corr(Wᵀ) with the L_mm prediction"),
    "pearson_H_mm": ("Pearson H (L_mm)", "Pearson correlation of corr(H) with the L_mm prediction"),
    "sim_W_proxy": ("sim W (S̃)", "SSIM structure term of corr(Wᵀ) vs the S̃ proxy"),
    "sim_H_proxy": ("sim H (S̃)", "SSIM structure term of corr(H) vs the S̃ proxy"),
    "collapse_H_base": ("collapse H, random", "the same index for random groupings of the same sizes"),
    "nc1": ("NC1", "within-class variability (one-hot data)"),
    "nc2_W": ("NC2 W", "distance of W to a simplex ETF (one-hot data)"),
    "nc3": ("NC3", "self-duality of W and the class means (one-hot data)"),
    "nc4": ("NC4", "nearest-class-mean agreement (one-hot data)"),
    **column_labels(),
}

#: CSS class per verdict status.
STATUS_CSS = {"pass": "pass", "FAIL": "FAIL", "inconclusive": "inconclusive", "n/a": "na", "interrupted": "interrupted"}
# STATUS_LABEL / status_label (how a status reads: "fail", stored "FAIL") live in verdicts/core.py, the one place
# every layer that prints a status takes them from; imported here for the page and the terminal.


def fmt(x: Any, digits: int = 4) -> str:
    """A cell of a key-value table: None/NaN as '–', floats with ``digits`` significant digits."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{digits}g}" if math.isfinite(float(x)) else "–"
    return str(x)


def num(x: Any, signed: bool = False) -> str:
    """A measured number, one format everywhere: 3 decimals in [0.01, 1000), else 2-digit scientific; '–' if missing.

    >>> num(0.14321), num(4.02e-4), num(-0.0312, signed=True), num(None)
    ('0.143', '4.02e-04', '−0.031', '–')
    """
    if x is None or isinstance(x, str):
        return "–" if x is None else x
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)) and not signed:
        return str(int(x))
    v = float(x)
    if not math.isfinite(v):
        return "–"
    a = abs(v)
    text = "0" if v == 0 else (f"{a:.3f}" if 0.01 <= a < 1000 else f"{a:.2e}")
    sign = "−" if v < 0 else ("+" if signed and v > 0 else "")
    return sign + text


@dataclass(frozen=True)
class VerdictView:
    """One row of a verdict table, as the template macro reads it."""

    run: str
    claim: str
    quantity: str
    value: float
    op: str
    threshold: float
    margin: float | None
    status: str
    css: str
    note: str
    imitates: str = ""  # controls only (ControlVerdict): what the control imitates
    expected: str = ""  # controls only: the expected outcome
    interval: tuple[float, float] | None = None  # the bootstrap interval of a trajectory's μ

    @property
    def label(self) -> str:
        """The status as displayed (:func:`status_label`)."""
        return status_label(self.status)

    @property
    def expected_label(self) -> str:
        """The expected outcome of a control as displayed."""
        return status_label(self.expected)


def margin_of(value: float, op: str, threshold: float) -> float | None:
    """Distance to the threshold on the passing side (positive: passes; negative: fails by that much)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(threshold) - float(value) if op in ("<=", "≤") else float(value) - float(threshold)


def verdict_view(v: Verdict, unfinished: str | None = None) -> VerdictView:
    """The view of a :class:`~ntpgeom.verdicts.Verdict` (its title as the claim, its metric as the quantity).
    ``unfinished``: the run did not finish; the row is marked 'interrupted' and not judged."""
    status, note = v.status, v.note
    if unfinished:
        status, note = "interrupted", f"{unfinished}; not judged" + (f" ({note})" if note else "")
    return VerdictView(run=v.run, claim=v.title or v.claim, quantity=v.metric, value=float(v.value),
                       op={"<=": "≤", ">=": "≥"}.get(v.op, v.op), threshold=float(v.threshold),
                       margin=float(v.margin), status=status, css=STATUS_CSS.get(status, "na"), note=note,
                       interval=v.interval,
                       **({"imitates": v.imitates, "expected": v.expected} if isinstance(v, ControlVerdict) else {}))


@dataclass(frozen=True)
class FigureView:
    """An embedded figure: base64 PNG, caption, and the SVG's path relative to the page (or None)."""

    png_b64: str
    caption: str
    svg: str | None


def figure_view(png: str | Path, caption: str, page_dir: str | Path | None = None) -> FigureView:
    png = Path(png)
    svg = png.with_suffix(".svg")
    rel = None
    if page_dir is not None and svg.exists():
        rel = svg.resolve().relative_to(Path(page_dir).resolve()).as_posix()
    return FigureView(base64.b64encode(png.read_bytes()).decode("ascii"), caption, rel)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    definition: str


@dataclass(frozen=True)
class MetricsView:
    columns: list[Column]
    rows: list[list[float]]


def metrics_view(table: Mapping[str, np.ndarray], columns: Sequence[str], max_rows: int = 14) -> MetricsView:
    """Selected columns of a metrics table with readable labels; at most ``max_rows`` rows (log-spaced, first and
    last kept); columns with no finite value are dropped."""
    n = len(table["step"])
    if n <= max_rows:
        idx = list(range(n))
    else:
        pos = np.sort(np.round(np.geomspace(1, n, max_rows)).astype(np.int64) - 1)
        idx = sorted(set(pos.tolist()) | {0, n - 1})
    keys = [c for c in columns if c in table and (c == "step" or np.any(np.isfinite(np.asarray(table[c], dtype=float))))]
    cols = [Column(k, *COLUMN_LABELS.get(k, (k, ""))) for k in keys]
    rows = [[table[k][i].item() if hasattr(table[k][i], "item") else table[k][i] for k in keys] for i in idx]
    return MetricsView(cols, rows)


def to_json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str, ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment: templates from ``report/templates``, autoescaping on, undefined names are errors."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["num"] = num
    return env


def render_page(template: str, **context: Any) -> str:
    """Render one of the page templates (``report.html.j2``, ``probe.html.j2``) with ``context``."""
    return environment().get_template(template).render(**context)
