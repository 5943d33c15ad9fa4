"""The newcomer's first hour (issue 24): C1's note never reads "dir to L_mm nan", C4's note is never empty, statuses
display in one case, ``train --help`` shows the defaults, ``ntpgeom.train`` shows progress where someone watches."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import ntpgeom as g
from ntpgeom.cli import app
from ntpgeom.report.html import STATUS_CSS, status_label


@pytest.fixture(scope="module")
def assessed():
    data = g.corpora.synthetic()
    th = g.compute_theory(data, solve=False)  # L_mm not solved: the S̃ proxy only
    rng = np.random.default_rng(0)
    return g.assess(data, th, W=rng.standard_normal((data.V, 4)), H=rng.standard_normal((4, data.m)), n_perm=2,
                    face=None, finite_norm=False)


def test_c1_note_leaves_out_what_was_not_measured(assessed):
    note = assessed.verdict("C1").note
    assert "nan" not in note and "dir to S̃" in note and "L_mm not solved" in note, note


def test_c4_note_is_never_empty(assessed):
    v = assessed.verdict("C4")
    assert v.note and f"{v.value:.3g} ‖L_in‖" in v.note, v.note


def test_statuses_display_in_one_case():
    shown = [status_label(s) for s in ("pass", "FAIL", "inconclusive", "n/a")]
    assert shown == ["pass", "fail", "inconclusive", "n/a"] and all(s == s.lower() for s in shown)
    assert set(STATUS_CSS) >= {"pass", "FAIL"}  # the stored values (and the page's CSS classes) are unchanged


def test_train_help_shows_the_defaults():
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "220", "TERM": "dumb"}).output
    for flag, default in (("--steps", "1000"), ("--lr", "0.001"), ("--optimizer", "adamw"), ("--model", "ufm")):
        line = next(x for x in out.splitlines() if re.search(rf"{flag}\b", x))
        assert f"(default: {default})" in line, line
    assert "[default:" not in out and "(default: None)" not in out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream,shown", [(_Terminal, True), (io.StringIO, False)])
def test_train_shows_progress_on_a_terminal_by_default(tmp_path, monkeypatch, stream, shown):
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    g.train(g.corpora.synthetic(), model="ufm", steps=5, out=tmp_path / "r")
    assert ("5/5" in err.getvalue()) is shown, err.getvalue()[:300]
    err2 = stream()
    monkeypatch.setattr(sys, "stderr", err2)
    g.train(g.corpora.synthetic(), model="ufm", steps=5, out=tmp_path / "r2", verbose=False)
    assert err2.getvalue() == ""
