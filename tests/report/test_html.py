"""Number formats, verdict views (margins, interrupted runs, any verdict type), provenance and the terminal table."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntpgeom.report.html import margin_of, num, verdict_view
from ntpgeom.report.provenance import collect, command_line
from ntpgeom.report.terminal import verdict_table_text
from ntpgeom.verdicts.core import make


def test_num_uses_one_format():
    assert [num(x) for x in (0.14321, 4.02e-4, 12.5, 123456.0, 0, None, float("nan"))] == \
        ["0.143", "4.02e-04", "12.500", "1.23e+05", "0", "–", "–"]
    assert num(-0.0312, signed=True) == "−0.031" and num(0.2, signed=True) == "+0.200"


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_num_round_trips_to_three_significant_places(x):
    text = num(x).replace("−", "-")
    assert math.isclose(float(text), x, rel_tol=5e-3, abs_tol=5e-4)


def test_margin_sign_and_interrupted_rows():
    assert margin_of(0.2, "<=", 0.35) == pytest.approx(0.15) and margin_of(0.7, ">=", 0.8) == pytest.approx(-0.1)
    assert margin_of(float("nan"), "<=", 0.35) is None
    old = make("C1", "FAIL", 0.5, 0.35, "<=", title="C1 sparse", metric="resid", run="a/ufm")
    v = verdict_view(old)
    assert (v.status, v.css, v.op, v.claim, v.quantity) == ("FAIL", "FAIL", "≤", "C1 sparse", "resid")
    assert v.margin == pytest.approx(-0.15) == margin_of(0.5, "<=", 0.35)
    v = verdict_view(old, unfinished="run interrupted at step 12")
    assert v.status == "interrupted" and "not judged" in v.note and "step 12" in v.note
    new = make("C2", "inconclusive", 0.9, 0.8, ">=", "S̃ as near as L_mm", run="b")  # no title: the claim's key
    v = verdict_view(new)
    assert v.status == "inconclusive" and v.css == "inconclusive" and v.margin == pytest.approx(0.1) and v.claim == "C2"
    assert math.isnan(verdict_view(make("C3", "pass", float("nan"), 0.1, "<=")).margin)  # n/a: no margin


def test_terminal_table_shows_margins_and_statuses():
    rows = [verdict_view(make("C1", "pass", 0.2, 0.35, "<=", run="x/ufm")),
            verdict_view(make("C2", "FAIL", 0.7, 0.8, ">=", run="x/ufm"))]
    text = verdict_table_text(rows)
    assert "+0.150" in text and "−0.100" in text and "pass" in text and "fail" in text and "margin" in text
    assert "FAIL" not in text  # statuses display in one case (report.html.STATUS_LABEL); the stored value is "FAIL"


def test_provenance_fields():
    p = collect(seconds=125.0, seeds=[2, 0, 2], command="ntpgeom reproduce --quick")
    rows = dict(p.rows())
    assert rows["command"] == "ntpgeom reproduce --quick" and rows["seed(s)"] == "0, 2"
    assert rows["total wall time"] == "2 min 05 s" and "numpy" in rows["libraries"] and "cores" in rows["machine"]
    assert p.date.endswith("Z") and p.as_dict()["seeds"] == [0, 2]
    assert command_line(["/usr/bin/ntpgeom", "report", "a b", "-o", "x"]) == "ntpgeom report 'a b' -o x"
