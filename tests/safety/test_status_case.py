"""Statuses display in one case (issue 24, newcomer: "statuses mix case"): every status printed to a terminal or a
page goes through ``ntpgeom.verdicts.core.status_label`` ("fail"); the stored value stays "FAIL" (report.json,
summary.json, ``Verdict.status``), so saved files and code comparing statuses read as before."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

from rich.console import Console

from ntpgeom.report.html import verdict_view
from ntpgeom.report.terminal import matrix_text, print_summary, summary_line, verdict_table_text
from ntpgeom.verdicts.claims import CLAIMS
from ntpgeom.verdicts.controls import controls_table
from ntpgeom.verdicts.core import STATUSES, ControlVerdict, make, status_label
from ntpgeom.verdicts.honest import HonestControl, HonestControls, PowerRow, power_rows
from ntpgeom.verdicts.trajectory import TrajectoryJudgement


def _verdicts():
    return [make(c, s, 0.5, 0.35, "<=", "a note", title=CLAIMS[c].title, run=f"ds/run{i}")
            for c in ("C1", "C2", "C3", "C4") for i, s in enumerate(STATUSES)]


def _honest():
    judged = TrajectoryJudgement((SimpleNamespace(claim="C1", status="FAIL", note=""),
                                  SimpleNamespace(claim="L_mm", status="pass", note="")), False, "")
    return HonestControls("ds", (HonestControl("GD free logits", "C1", "FAIL", judged, 1.0),), False, 1.0, 10, 20, 0.05)


def _visible(html: str) -> str:
    """The text a reader sees: no <style>/<script>, no tags (a CSS class name is not shown)."""
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_label_is_lower_case_and_the_stored_value_is_not():
    assert [status_label(s) for s in STATUSES] == ["pass", "fail", "inconclusive", "n/a"]
    v = make("C1", "FAIL", 0.5, 0.35, "<=")
    assert v.status == "FAIL" and json.loads(json.dumps(v.as_dict()))["status"] == "FAIL"
    assert verdict_view(v).label == "fail" and verdict_view(v).status == "FAIL"


def test_no_terminal_output_shows_FAIL():
    views = [verdict_view(v) for v in _verdicts()]
    buf = io.StringIO()
    print_summary(views, Console(file=buf, width=200, color_system=None), controls_ok=True, honest=(1, 2))
    h = _honest()
    texts = {"table": verdict_table_text(views, legend=True), "matrix": matrix_text(views), "end": buf.getvalue(),
             "summary": summary_line(views), "honest": h.text(), "controls": controls_table([("ctl", _verdicts())]),
             "power": power_rows([PowerRow("C1", 2, 1, 2, 2)])[0].note}
    for name, text in texts.items():
        assert "FAIL" not in text, (name, text)
    assert " fail" in texts["summary"] and "fail" in texts["matrix"].split("\n")[2]
    c = h.as_dict()["controls"][0]
    assert c["expected"] == "FAIL" and c["status"]["C1"] == "FAIL"  # stored as before


def test_no_rendered_page_shows_FAIL(tmp_path):
    from ntpgeom.report.page import render_report
    from ntpgeom.report.provenance import collect
    from ntpgeom.report.result import ReportResult

    rows = [verdict_view(ControlVerdict(**vars(v), imitates="S̃", expected="FAIL")) for v in _verdicts()]
    blocks = [SimpleNamespace(title="Controls: ds", rows=rows),
              SimpleNamespace(title="Honest controls: ds", rows=rows[:4]),
              SimpleNamespace(title="Power of the verdicts", rows=[verdict_view(r) for r in power_rows(
                  [PowerRow("C1", 2, 1, 2, 2)])])]
    res = ReportResult(tmp_path / "index.html", tmp_path, [], collect(command="ntpgeom report x -o y"))
    html = render_report(res, extra_tables=blocks)
    assert "fail" in _visible(html) and "FAIL" not in _visible(html)
    assert 'class="FAIL"' in html  # the style hook is the stored value; only the shown word changes
