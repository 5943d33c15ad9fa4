"""ReportConfig: defaults (those of build_report before the dataclass), constraints, keywords = config, CLI options."""

from __future__ import annotations

import dataclasses

import pytest

from ntpgeom.errors import ReportError
from ntpgeom.report.config import CLI_FIELDS, FIELDS, ReportConfig, report_config


def test_defaults():
    c = ReportConfig()
    assert (c.title, c.intro, c.max_contexts, c.overwrite, c.dpi, c.svg, c.controls, c.seed) == \
        ("ntpgeom report", "", 2000, False, None, True, False, 0)
    assert c.labels is None and c.names is None and c.extra is None and c.command is None


@pytest.mark.parametrize("name, bad", [("dpi", 19), ("dpi", 601), ("dpi", 150.0), ("max_contexts", 0), ("svg", 1),
                                       ("seed", -1), ("title", None), ("command", 3)])
def test_constraints_reject(name, bad):
    with pytest.raises(ReportError, match=name):
        ReportConfig(**{name: bad})


def test_keywords_build_the_config():
    base = ReportConfig(title="t", dpi=40)
    assert report_config(None, {"title": "t", "dpi": 40}) == base
    assert report_config(base, {"svg": False}) == dataclasses.replace(base, svg=False)
    with pytest.raises(TypeError, match="dpis"):
        report_config(None, {"dpis": 3})


def test_cli_options():
    pytest.importorskip("typer")
    from ntpgeom.cli.report import _report_options

    opts = _report_options()
    assert set(opts) == set(CLI_FIELDS) <= set(FIELDS)
    assert opts["overwrite"].default.param_decls == ("--overwrite",)  # the shared flag
    assert opts["svg"].default.param_decls == ("--svg/--no-svg",)
