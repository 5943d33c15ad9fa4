"""`ntpgeom reproduce`: one experiment end to end (fast), the whole --quick budget and --text (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ntpgeom.cli import app
from ntpgeom.report.reproduce import ReproduceError, reproduce


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
    # experiment (a): the UFM trained to within 1e-3 of ℋ on V=10, m=95 random supports, where L_mm = S̃
    status = {v["claim"]: v["status"] for v in obj["verdicts"]}
    assert status == {"loss": "pass", "C1": "pass", "C2": "pass", "C3": "pass", "C4": "pass"}


def test_reproduce_rejects_bad_options(tmp_path):
    with pytest.raises(ReproduceError, match="unknown experiment"):
        reproduce(tmp_path / "x", experiments=["nope"])
    with pytest.raises(ReproduceError, match="no such file"):
        reproduce(tmp_path / "x", text=tmp_path / "missing.txt")
    res = CliRunner().invoke(app, ["reproduce", "-e", "nope", "--runs-dir", str(tmp_path)])
    assert res.exit_code != 0


@pytest.mark.slow
def test_reproduce_quick_end_to_end(tmp_path):
    lines = []
    res = reproduce(tmp_path / "q", quick=True, progress=lines.append)
    assert res.report_path.exists() and len(lines) > 30
    figs = res.report.figures
    assert len(figs) == 3 * 6 + 7 and all(p.exists() for p in figs)
    status = {(v.run, v.claim): v.status for v in res.verdicts}
    assert len(status) == 7 * 5 and "n/a" not in status.values()
    # what the paper supports and this budget reaches: every claim for the UFM runs and the synthetic transformer,
    # the loss gap and subspace collapse for every run
    for run in ("ufm-synthetic/ufm", "synthetic/ufm", "stories/ufm", "synthetic/transformer"):
        for claim in ("loss", "C1", "C2", "C3", "C4"):
            assert status[(run, claim)] == "pass", (run, claim)
    for (run, claim), st in status.items():
        if claim in ("loss", "C3"):
            assert st == "pass", (run, claim)
    assert res.seconds < 180


@pytest.mark.slow
def test_reproduce_text_corpus(tmp_path):
    words = ["the cat sat on the mat", "the dog sat on the rug", "a cat ran to the mat", "the dog ran to the mat"]
    text = "\n\n".join(" ".join(words[(i + j) % 4] for j in range(3)) for i in range(40))
    f = tmp_path / "corpus.txt"
    f.write_text(text, encoding="utf-8")
    res = reproduce(tmp_path / "t", quick=True, text=f, context_len=3, progress=lambda _m: None)
    assert res.report_path.exists()
    assert {v.run.split("/")[0] for v in res.verdicts} == {"text-corpus"}
