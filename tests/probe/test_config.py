"""ProbeConfig: defaults, the summary's config block, declared constraints, keywords = config, generated options."""

from __future__ import annotations

import dataclasses

import pytest

from ntpgeom.errors import ProbeError
from ntpgeom.probe.config import CONSTRAINTS, FIELDS, ProbeConfig, check_options, probe_config

#: the ``config`` block of summary.json before the configuration dataclass (issue 20): keys in this order, these defaults
SUMMARY_CONFIG = {"text": "c.txt", "context_len": 3, "max_contexts": 2000, "min_count": 2, "n_other": 500,
                  "doc_sep": "blank", "normalize_whitespace": True, "batch_size": 64, "device": "cpu",
                  "dtype": "float32", "solve": "auto", "max_reduced": 40_000, "solve_budget": None,
                  "measure_contexts": None, "n_perm": 20, "seed": 0,
                  "layers": "last"}  # issue 22 appended the layers


def test_defaults_and_record_keep_the_summary_format():
    rec = ProbeConfig(context_len=3).record("c.txt")
    assert list(rec) == list(SUMMARY_CONFIG) and rec == SUMMARY_CONFIG
    assert set(CONSTRAINTS) == set(FIELDS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ProbeConfig(context_len=3).seed = 1  # type: ignore[misc]


@pytest.mark.parametrize("name, bad", [
    ("context_len", 0), ("context_len", 2.0), ("max_contexts", 0), ("min_count", -1), ("min_count", float("nan")),
    ("n_other", -1), ("batch_size", True), ("dtype", "float8"), ("solve", "yes"), ("solve_budget", 0.0),
    ("measure_contexts", 0), ("n_perm", 0), ("seed", -1), ("seed", 2**63 - 1), ("gguf_file", 3),
])
def test_constraints_reject(name, bad):
    with pytest.raises(ProbeError, match=name):
        ProbeConfig(**{"context_len": 2, name: bad})


def test_relation_and_flags_in_messages():
    with pytest.raises(ProbeError, match="solve_budget needs a solve"):
        ProbeConfig(context_len=2, solve=False, solve_budget=5.0)
    ProbeConfig(context_len=2, solve=True, solve_budget=5.0)
    with pytest.raises(ProbeError, match="^--n-perm must be a positive integer, got 0$"):
        check_options({"n_perm": 0}, {"n_perm": "--n-perm"})


def test_keywords_build_the_config():
    base = ProbeConfig(context_len=2, seed=7)
    assert probe_config(None, 2, {"seed": 7}) == base
    assert probe_config(base, None, {"n_perm": 3}) == dataclasses.replace(base, n_perm=3)
    assert probe_config(base, 4, {}).context_len == 4  # the positional context length wins over the config's
    with pytest.raises(TypeError, match="n_perms"):
        probe_config(None, 2, {"n_perms": 3})
    with pytest.raises(ProbeError, match="context length"):
        probe_config(None, None, {})


def test_cli_options_are_the_fields():
    typer = pytest.importorskip("typer")  # noqa: F841
    from ntpgeom.cli.probe import CUSTOM, _probe_options

    opts = _probe_options()
    assert set(opts) == set(FIELDS) - set(CUSTOM)
    assert opts["context_len"].default.param_decls == ("--context-len", "-T")
    assert opts["seed"].default.default is None  # not given: the field's default applies
