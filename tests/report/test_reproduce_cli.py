"""`ntpgeom reproduce`: one experiment end to end and the recipes (fast), the whole --quick budget and --text
(slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ntpgeom.cli import app
from ntpgeom.report.reproduce import DATASETS, QUICK_HELP, RECIPES, ReproduceError, reproduce


def test_reproduce_one_experiment_via_cli(tmp_path):
    res = CliRunner().invoke(app, ["reproduce", "--quick", "-e", "ufm-synthetic", "--runs-dir", str(tmp_path),
                                   "--name", "r", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.output[res.output.index("{"):])
    assert Path(obj["report"]).exists()
    out = tmp_path / "r"
    assert (out / "ufm-synthetic" / "theory.npz").exists()
    assert (out / "ufm-synthetic" / "ufm" / "config.json").exists()
    assert (out / "reproduce.json").exists()
    # experiment (a): the UFM trained to within 1e-3 of ℋ on V=10, m=95 random supports, where L_mm = S̃; the paper's
    # tolerance (1e-4) is not reached by the quick recipe, and the controls run beside the verdicts
    status = {v["claim"]: v["status"] for v in obj["verdicts"]}
    assert set(status) == {"loss", "C1", "C2", "C3", "C4", "L_mm"} and status["C3"] == "pass"
    controls = json.loads((out / "report" / "report.json").read_text())["extra"]["controls"]
    assert [c["title"] for c in controls] == ["Controls: ufm-synthetic"]
    assert controls[0]["violations"] == [] and len(controls[0]["rows"]) == 7 * 6


def test_reproduce_rejects_bad_options(tmp_path):
    with pytest.raises(ReproduceError, match="unknown experiment"):
        reproduce(tmp_path / "x", experiments=["nope"])
    with pytest.raises(ReproduceError, match="no such file"):
        reproduce(tmp_path / "x", text=tmp_path / "missing.txt")
    res = CliRunner().invoke(app, ["reproduce", "-e", "nope", "--runs-dir", str(tmp_path)])
    assert res.exit_code != 0


def test_quick_recipes_hold_only_runs_that_pass_in_seconds():
    # quick keeps every experiment (so every comparison figure is drawn) but only the fast-converging runs: the
    # stories transformer and LSTM need minutes to satisfy C1 and belong to the default budget only
    quick, default = RECIPES["quick"], RECIPES["default"]
    assert set(quick) == set(default) == set(DATASETS) | {"text"}
    assert [s.model for s in quick["stories"]] == ["ufm"]
    assert [s.model for s in default["stories"]] == ["ufm", "transformer", "lstm"]
    assert [s.model for s in quick["synthetic"]] == ["ufm", "transformer", "lstm"]
    assert [s.model for s in quick["text"]] == ["ufm", "transformer", "lstm"]  # --text --quick: all three, briefly
    for exp, specs in quick.items():
        full = {s.model: s for s in default[exp]}
        for s in specs:
            assert s.kwargs["steps"] <= full[s.model].kwargs["steps"], (exp, s.model)
            if s.model != "ufm":
                assert s.kwargs["steps"] <= 200, (exp, s.model)
    # the LSTM's tanh-bounded features are RMS-normalised in every recipe (without it C2 fails on stories)
    assert all(s.kwargs.get("lstm_norm") is True for b in RECIPES.values() for v in b.values() for s in v
               if s.model == "lstm")
    assert "stories" in QUICK_HELP and "transformer" in QUICK_HELP


@pytest.mark.slow
def test_reproduce_quick_end_to_end(tmp_path):
    lines = []
    res = reproduce(tmp_path / "q", quick=True, progress=lines.append)
    assert res.report_path.exists() and len(lines) > 20
    runs = [f"{e}/{s.model}" for e, specs in RECIPES["quick"].items() if e in DATASETS for s in specs]
    assert runs == ["ufm-synthetic/ufm", "synthetic/ufm", "synthetic/transformer", "synthetic/lstm", "stories/ufm"]
    figs = res.report.figures
    assert len(figs) == 3 * 6 + len(runs) and all(p.exists() for p in figs)
    status = {(v.run, v.claim): v.status for v in res.verdicts}
    assert {r for r, _ in status} == set(runs) and len(status) == len(runs) * 5
    # the issue: in --quick, the claims the paper supports pass -- here every claim of every run included
    failed = {k: st for k, st in status.items() if st != "pass"}
    assert not failed, failed


@pytest.mark.slow
def test_reproduce_text_corpus(tmp_path):
    words = ["the cat sat on the mat", "the dog sat on the rug", "a cat ran to the mat", "the dog ran to the mat"]
    text = "\n\n".join(" ".join(words[(i + j) % 4] for j in range(3)) for i in range(40))
    f = tmp_path / "corpus.txt"
    f.write_text(text, encoding="utf-8")
    res = reproduce(tmp_path / "t", quick=True, text=f, context_len=3, progress=lambda _m: None)
    assert res.report_path.exists()
    assert {v.run.split("/")[0] for v in res.verdicts} == {"text-corpus"}
