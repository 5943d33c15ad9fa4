"""The end of ``reproduce`` in the terminal (issue 24): a run x claim matrix within 80 columns and a one-line
summary whose counts are the verdict rows'."""

from __future__ import annotations

import io
import itertools

from rich.console import Console
from rich.text import Text

from ntpgeom.report.html import VerdictView
from ntpgeom.report.terminal import MATRIX_CLAIMS, claim_matrix, matrix_text, print_summary, status_counts, summary_line
from ntpgeom.verdicts.claims import CLAIMS

#: the runs of ``reproduce --quick`` (experiments/registry.py)
QUICK_RUNS = ("ufm-synthetic/ufm", "synthetic/ufm", "synthetic/transformer", "synthetic/lstm", "stories/ufm")
STATUSES = ("pass", "FAIL", "inconclusive", "n/a")


def _view(run: str, claim: str, status: str) -> VerdictView:
    return VerdictView(run, CLAIMS[claim].title, "q", 0.1, "<=", 0.2, 0.1, status, status.lower(), "")


def _views(runs=QUICK_RUNS, claims=tuple(CLAIMS)) -> list[VerdictView]:
    cycle = itertools.cycle(STATUSES)
    return [_view(r, c, next(cycle)) for r in runs for c in claims]


def test_matrix_fits_80_columns_and_has_one_cell_per_run_and_claim():
    views = _views()
    for markup in (False, True):
        text = matrix_text(views, markup=markup)
        lines = text.splitlines()
        widths = [Text.from_markup(line).cell_len if markup else len(line) for line in lines]
        assert max(widths) <= 80 and len(lines) == 1 + len(QUICK_RUNS)
        assert lines[0].split() == ["run", *MATRIX_CLAIMS]
    runs, cells = claim_matrix(views)
    assert runs == list(QUICK_RUNS) and all(len(row) == len(MATRIX_CLAIMS) for row in cells)
    # the cell is the verdict's status: rebuild the expected grid independently from the views
    expect = {(v.run, c): v.status.lower() for v in views for c in CLAIMS if CLAIMS[c].title == v.claim}
    for r, row in zip(runs, cells):
        assert row == [expect[(r, c)] for c in MATRIX_CLAIMS]
    plain = matrix_text(views).splitlines()
    assert plain[1].split()[1:] == [{"inconclusive": "inc"}.get(k, k) for k in cells[0]]


def test_long_labels_are_shortened_and_missing_verdicts_shown():
    views = [_view("a-very-long-dataset-name-from-a-user-corpus/transformer-seed12345", "C1", "pass")]
    line = matrix_text(views).splitlines()[1]
    assert len(line) <= 80 and "…" in line and line.split()[-5:] == ["·"] * 5


def test_summary_counts_equal_the_verdict_rows():
    views = _views()
    counts = status_counts(views)
    assert sum(counts.values()) == len(views)
    assert counts == {s: sum(v.status == s for v in views) for s in counts}
    line = summary_line(views, controls_ok=True, honest=(10, 12))
    assert "\n" not in line and f"{counts['pass']} pass, {counts['FAIL']} fail" in line
    assert f"{counts['inconclusive']} inconclusive" in line and f"of {len(views)} verdicts" in line
    assert "controls OK" in line and "10/12" in line
    assert "NOT OK" in summary_line(views, controls_ok=False)


def test_print_summary_ends_with_the_summary_line():
    buf = io.StringIO()
    views = _views()
    print_summary(views, Console(file=buf, width=200, color_system=None), controls_ok=True)
    out = buf.getvalue().rstrip().splitlines()
    assert out[-1] == summary_line(views, controls_ok=True)
    assert all(len(line) <= 80 for line in out[:-1]) and out[0].startswith("run")


def test_reproduce_cli_ends_with_the_matrix_and_the_summary(capsys):
    """``ntpgeom reproduce`` (cli/report.py) prints the matrix and then the summary line last."""
    from types import SimpleNamespace

    from ntpgeom.cli import report as cli_report
    from ntpgeom.verdicts.honest import PowerRow

    views = _views()
    res = SimpleNamespace(report=SimpleNamespace(views=views, appendix=[]), controls=(), honest=(),
                          power=(PowerRow("C1", 3, 2, 6, 6),), report_path="r/index.html", seconds=12.0)
    cli_report._print_summary(res)
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-1] == summary_line(views, honest=(8, 9)) and "8/9 as expected" in out[-1]
    assert out[-1 - len(QUICK_RUNS) - 1].split() == ["run", *MATRIX_CLAIMS]
