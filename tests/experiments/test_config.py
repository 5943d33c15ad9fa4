"""ReproduceConfig: defaults, constraints declared once (bad values are one error naming the option, before anything
is written), keyword arguments and a config giving the same configuration, and the CLI options generated from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import ntpgeom
from ntpgeom.errors import ReproduceError
from ntpgeom.experiments import ReproduceConfig
from ntpgeom.experiments.config import FIELDS, from_options


def test_keywords_and_config_build_the_same_configuration(tmp_path):
    by_kw = from_options(tmp_path / "o", {"quick": True, "seeds": [2, 1, 2], "experiments": ["synthetic"]})
    direct = ReproduceConfig(out=tmp_path / "o", quick=True, seeds=(2, 1, 2), experiments=("synthetic",))
    assert by_kw == direct and by_kw.seeds == (2, 1, 2) and by_kw.seed_list == [2, 1] and by_kw.budget == "quick"
    assert from_options(direct, {"threads": 3}) == dataclasses.replace(direct, threads=3)
    assert ReproduceConfig(out="x").out == Path("x") and ReproduceConfig(seed=7).seed_list == [7]
    assert ntpgeom.ReproduceConfig is ReproduceConfig


@pytest.mark.parametrize("field, value, words", [
    ("threads", 0, "--threads"), ("dpi", 5, "--dpi"), ("seed", -1, "--seed"), ("context_len", 0, "--context-len"),
    ("max_contexts", 2.5, "--max-contexts"), ("quick", "yes", "--quick"), ("seeds", (0, -3), "--seeds"),
    ("paper_budget", "huge", "paper budget"), ("experiments", ("a", 3), "--experiments"),
])
def test_each_constraint_names_its_option(field, value, words):
    with pytest.raises(ReproduceError, match=words.replace("-", r"\-")):
        ReproduceConfig(**{field: value})


def test_unknown_option_is_refused_before_any_work(tmp_path):
    with pytest.raises(ReproduceError, match="unknown reproduce option.*'nope'"):
        ntpgeom.reproduce(tmp_path / "o", nope=1)
    with pytest.raises(ReproduceError, match="--threads"):
        ntpgeom.reproduce(tmp_path / "o", threads=0)
    assert not (tmp_path / "o").exists()


def test_cli_options_are_generated_from_the_fields(tmp_path, monkeypatch, error_line):
    from ntpgeom.cli.report import reproduce_options

    generated = {p.name for p in reproduce_options()}
    assert generated == {n for n, f in FIELDS.items() if f.metadata["cli"]}
    assert generated >= {"quick", "text", "threads", "max_contexts", "paper_budget"}
    seen = []

    def capture(config):
        seen.append(config)
        raise ReproduceError("captured")

    monkeypatch.setattr("ntpgeom.experiments.reproduce", capture)
    text = tmp_path / "c.txt"
    text.write_text("a b c", encoding="utf-8")
    error_line(["reproduce", "--text", str(text), "--max-contexts", "7", "--seeds", "3,4", "-e", "stories",
                "--threads", "2", "--paper-budget", "reduced"])
    cfg = seen[0]
    assert cfg == ReproduceConfig(out=Path("runs") / "text-c", text=text, max_contexts=7, seeds=(3, 4),
                                  experiments=("stories",), threads=2, paper_budget="reduced")
    line = error_line(["reproduce", "--quick", "--threads", "0", "-o", str(tmp_path / "q")])
    assert "--threads" in line and len(seen) == 1 and not (tmp_path / "q").exists()
