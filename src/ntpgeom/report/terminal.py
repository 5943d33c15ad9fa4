"""The verdict table in the terminal (rich): the same rows, number formats and margins as the HTML page."""

from __future__ import annotations

import io
from typing import Any, Sequence

from ..verdicts.claims import CLAIMS
from .html import VerdictView, num

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
