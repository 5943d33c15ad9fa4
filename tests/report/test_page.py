"""The report page's views: seed groups and the summary over seeds."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ntpgeom.report.html import verdict_view
from ntpgeom.report.page import seed_group, seed_rows
from ntpgeom.verdicts.core import make


def test_seed_group_reads_reproduce_labels_only():
    assert seed_group("ufm-seed12") == "ufm" and seed_group("transformer-seed0") == "transformer"
    assert seed_group("ufm") is None and seed_group("ufm-2") is None


def _run(label: str, value: float, status: str, unfinished: str | None = None):
    v = verdict_view(make("C1", status, value, 0.35, "<=", title="C1 sparse", run=label), unfinished)
    return SimpleNamespace(label=label, views=[v])


def test_seed_rows_mean_spread_and_passes():
    ds = SimpleNamespace(runs=[_run("ufm-seed0", 0.2, "pass"), _run("ufm-seed1", 0.4, "FAIL"),
                               _run("ufm-seed2", 0.3, "pass", unfinished="run interrupted at step 5"),
                               _run("lstm", 0.1, "pass")])
    (row,) = seed_rows(ds)
    assert row.model == "ufm" and row.claim == "C1 sparse" and row.n == 3
    assert row.mean == pytest.approx(0.3) and row.sd == pytest.approx(0.1) and (row.lo, row.hi) == (0.2, 0.4)
    assert row.n_pass == 1 and row.n_judged == 2  # the interrupted seed is not judged
