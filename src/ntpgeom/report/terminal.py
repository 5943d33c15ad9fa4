"""The verdict table in the terminal (rich): the same rows, number formats and margins as the HTML page."""

from __future__ import annotations

import io
from typing import Any, Sequence

from ..verdicts.claims import CLAIMS
from .html import VerdictView, num, status_label

#: rich style per displayed status (the same statuses as the page's CSS classes, :data:`~ntpgeom.report.html.STATUS_CSS`).
STATUS_STYLE = {"pass": "bold green", "FAIL": "bold red", "inconclusive": "bold yellow", "n/a": "dim",
                "interrupted": "bold magenta"}


def rules_legend(views: Sequence[VerdictView]) -> str:
    """One line per claim shown in ``views`` (registry order): its title and how it is judged (:data:`CLAIMS`)."""
    shown = {v.claim for v in views}
    return "\n".join(f"{c.title}: {c.rule}" for c in CLAIMS.values() if c.title in shown)


def verdict_table(views: Sequence[VerdictView], title: str | None = "Verdicts", legend: bool = False) -> Any:
    """A :class:`rich.table.Table` of verdict rows (run, claim, value, threshold, margin, result; a trajectory's μ
    with its bootstrap interval ``μ [lo, hi]``); ``legend``: the claims' rules below it (:func:`rules_legend`)."""
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold", caption=rules_legend(views) if legend else None,
              caption_justify="left")
    t.add_column("run")
    t.add_column("claim")
    t.add_column("value", justify="right")
    t.add_column("threshold", justify="right")
    t.add_column("margin", justify="right")
    t.add_column("result")
    for v in views:
        margin = num(v.margin, signed=True)
        value = num(v.value) + (f" [{num(v.interval[0])}, {num(v.interval[1])}]" if v.interval else "")
        t.add_row(v.run, v.claim, value, f"{v.op} {num(v.threshold)}",
                  f"[red]{margin}[/red]" if v.margin is not None and v.margin < 0 else margin,
                  f"[{STATUS_STYLE.get(v.status, '')}]{v.label}[/]")
    return t


def verdict_table_text(views: Sequence[VerdictView], width: int = 120, legend: bool = False) -> str:
    """The table as plain text (no colour codes), e.g. for logs and tests."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(verdict_table(views, legend=legend))
    return buf.getvalue().rstrip()


def print_verdicts(views: Sequence[VerdictView], console: Any = None, legend: bool = False) -> None:
    """Print the table on ``console`` (default: a rich Console on stdout, coloured on a terminal); ``legend``: with
    the claims' rules."""
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: wide enough that rows do not wrap
            console = Console(width=140)
    console.print(verdict_table(views, legend=legend))


# ------------------------------------------------------------------ the end of a run: one summary line and a matrix
#: the claims of the run x claim matrix, in column order (:data:`~ntpgeom.verdicts.claims.CLAIMS` names)
MATRIX_CLAIMS = ("C1", "C2", "C3", "C4", "L_mm", "loss")
#: the word shown per status in the matrix (at most 4 characters); a missing verdict shows ``·``
MATRIX_WORD = {"pass": "pass", "fail": "fail", "inconclusive": "inc", "n/a": "n/a", "interrupted": "int"}
#: which status a cell shows when a run has several verdicts for one claim (the worst one)
_SEVERITY = ("fail", "interrupted", "inconclusive", "pass", "n/a")
_CELL = 6  # width of a claim column (4-character word + 2 spaces)


def _key(status: str) -> str:
    s = str(status).strip().lower()
    return s if s in MATRIX_WORD else "n/a"


def _claim_name(title: str) -> str | None:
    for c in CLAIMS.values():
        if title in (c.title, c.name):
            return c.name
    return None


def status_counts(views: Sequence[VerdictView]) -> dict[str, int]:
    """How many verdict rows have each status (keys: the stored statuses ``pass``, ``FAIL``, ``inconclusive``,
    ``n/a``, and ``interrupted``; printed through :func:`status_label`); the counts add up to ``len(views)``."""
    counts = {"pass": 0, "FAIL": 0, "inconclusive": 0, "n/a": 0, "interrupted": 0}
    names = {"fail": "FAIL"}
    for v in views:
        k = _key(v.status)
        counts[names.get(k, k)] += 1
    return counts


def claim_matrix(views: Sequence[VerdictView]) -> tuple[list[str], list[list[str]]]:
    """The runs (in the order they first appear) and, per run, one status key per claim of :data:`MATRIX_CLAIMS`
    (lower case; ``""`` when the run has no verdict on it; the worst status when it has several)."""
    runs: dict[str, dict[str, str]] = {}
    for v in views:
        cells = runs.setdefault(v.run, {})
        name = _claim_name(v.claim)
        if name in MATRIX_CLAIMS:
            k, old = _key(v.status), cells.get(name)
            cells[name] = k if old is None or _SEVERITY.index(k) < _SEVERITY.index(old) else old
    return list(runs), [[cells.get(c, "") for c in MATRIX_CLAIMS] for cells in runs.values()]


def summary_line(views: Sequence[VerdictView], controls_ok: bool | None = None,
                 honest: tuple[int, int] | None = None) -> str:
    """One line: the verdict counts, whether the exact-construction controls behaved (``controls_ok``; None: none
    ran) and the honest controls judged as expected (``(as expected, judged)``)."""
    c = status_counts(views)
    parts = [f"{c['pass']} pass, {c['FAIL']} {status_label('FAIL')}, {c['inconclusive']} inconclusive, {c['n/a']} n/a"
             + (f", {c['interrupted']} interrupted" if c["interrupted"] else "") + f" of {len(views)} verdicts"]
    if controls_ok is not None:
        parts.append("controls OK" if controls_ok else "controls NOT OK (see the controls table)")
    if honest is not None and honest[1]:
        parts.append(f"honest controls {honest[0]}/{honest[1]} as expected")
    return "summary: " + "; ".join(parts)


def matrix_text(views: Sequence[VerdictView], width: int = 80, markup: bool = False) -> str:
    """The run x claim matrix as text at most ``width`` columns wide (long run labels are shortened with ``…``);
    ``markup``: rich colour markup around each word (its rendered width is the same)."""
    from rich.markup import escape

    runs, cells = claim_matrix(views)
    if not runs:
        return ""
    room = max(width - _CELL * len(MATRIX_CLAIMS), 8)
    label_w = min(max(len("run"), *(len(r) for r in runs)), room)

    def label(r: str) -> str:
        return r if len(r) <= label_w else r[: label_w - 1] + "…"

    def cell(k: str) -> str:
        word = MATRIX_WORD.get(k, "·") if k else "·"
        pad = " " * (_CELL - len(word))
        style = STATUS_STYLE.get("FAIL" if k == "fail" else k, "") if markup and k else ""
        return pad + (f"[{style}]{word}[/]" if style else word)

    head = "run".ljust(label_w) + "".join(c.rjust(_CELL) for c in MATRIX_CLAIMS)
    rows = []
    for r, row in zip(runs, cells):
        shown = label(r)  # padded by its visible length (escaping adds backslashes that do not print)
        rows.append((escape(shown) if markup else shown) + " " * (label_w - len(shown)) + "".join(map(cell, row)))
    return "\n".join([head, *rows])


def print_summary(views: Sequence[VerdictView], console: Any = None, **summary: Any) -> None:
    """Print the run x claim matrix (coloured on a terminal; at most 80 columns wide) and the :func:`summary_line`
    (``summary``: its ``controls_ok`` and ``honest``)."""
    from rich.console import Console

    console = console or Console()
    text = matrix_text(views, markup=True)
    if text:
        console.print(text, highlight=False, soft_wrap=True)
    console.print(summary_line(views, **summary), highlight=False, soft_wrap=True, markup=False)
