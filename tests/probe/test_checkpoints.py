"""--model as several folders, a glob or a Hugging Face cache name: step order, weight hashes, duplicates measured
once, the series judged as a trajectory, and the local cache read without any download."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

from _probe_helpers import class_corpus, make_model, make_tokenizer  # noqa: E402
from ntpgeom.errors import ProbeError  # noqa: E402
from ntpgeom.probe import load_model  # noqa: E402
from ntpgeom.probe.checkpoints import expand_models, resolve_model, step_of, weights_hash  # noqa: E402


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """checkpoint-9 and checkpoint-10 hold the same weights; checkpoint-100 others (seed 5)."""
    root = tmp_path_factory.mktemp("ckpts")
    tok = make_tokenizer()
    for name, seed in (("checkpoint-10", 1), ("checkpoint-9", 1), ("checkpoint-100", 5)):
        make_model("llama", len(tok), seed=seed).save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return root


def test_glob_sorted_by_step(ckpts):
    got = expand_models([str(ckpts / "checkpoint-*")])
    assert [p.name for p in got] == ["checkpoint-9", "checkpoint-10", "checkpoint-100"]
    assert [step_of(p) for p in got] == [9, 10, 100]
    with pytest.raises(ProbeError, match="matches no"):
        expand_models([str(ckpts / "nothing-*")])


def test_weights_hash_identifies_weights_not_names(ckpts, tmp_path):
    h = {n: weights_hash(load_model(ckpts / n)) for n in ("checkpoint-9", "checkpoint-10", "checkpoint-100")}
    assert h["checkpoint-9"] == h["checkpoint-10"] != h["checkpoint-100"]
    copy = tmp_path / "renamed"
    shutil.copytree(ckpts / "checkpoint-100", copy)
    assert weights_hash(load_model(copy)) == h["checkpoint-100"]


def test_series_measures_duplicates_once_and_judges(ckpts):
    from ntpgeom.probe.series import probe_series

    models = expand_models([str(ckpts / "checkpoint-*")])
    s = probe_series(models, class_corpus(), 2, min_count=20, n_other=2, max_contexts=20, layers="all", solve=True)
    assert s.duplicates == {"checkpoint-10": "checkpoint-9"}
    assert list(s.probes) == ["checkpoint-9", "checkpoint-100"]
    assert s.trajectory.get("steps") == [9, 100] and "error" not in s.trajectory
    assert {v["claim"] for v in s.verdicts} == {"C1", "C2", "L_mm"}
    index, Y = s.curves("rankme")
    assert index == [0, 1, 2] and Y.shape == (2, 3)
    assert Y[1, 2] == s.probes["checkpoint-100"].layers[-1].metrics["rankme"]
    summary = s.summary()
    assert summary["kind"] == "series" and len(summary["checkpoints"]) == 3


def _fake_cache(root, folder, repo="org/tiny", commit="a" * 40):
    """huggingface_hub's cache layout: models--org--tiny/{refs/main, snapshots/<commit>/...}."""
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    shutil.copytree(folder, base / "snapshots" / commit)
    return base / "snapshots" / commit


def test_hub_cache_name(tmp_path, tiny_models, monkeypatch):
    from huggingface_hub import constants

    snap = _fake_cache(tmp_path / "hub", tiny_models["llama"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_model("org/tiny") == snap
    assert resolve_model("org/tiny", revision="a" * 40) == snap
    with pytest.raises(ProbeError, match="never downloads"):
        resolve_model("org/absent")
    with pytest.raises(ProbeError, match="never downloads"):
        resolve_model("org/tiny", revision="b" * 40)
    with pytest.raises(ProbeError, match="--revision"):
        resolve_model(tiny_models["llama"], revision="main")
    from ntpgeom.probe import probe

    r = probe("org/tiny", class_corpus(), 2, min_count=20, n_other=2, max_contexts=10, solve=False)
    assert r.info["model"]["path"] == str(snap) and np.isfinite(r.metrics["gap_full"])


def test_cli_series_glob(tmp_path, ckpts, corpus_file):
    import json

    from typer.testing import CliRunner

    from ntpgeom.cli import app

    out = tmp_path / "s"
    res = CliRunner().invoke(app, ["probe", "--model", str(ckpts / "checkpoint-*"), "--text", str(corpus_file),
                                   "-T", "2", "-c", "20", "-K", "20", "--n-other", "2", "--layers", "all",
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "checkpoint-10 (step 10)" in res.output and "= checkpoint-9 (same weights" in res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["duplicates"] == {"checkpoint-10": "checkpoint-9"} and len(s["curves"]["rankme"]) == 2
    assert (out / "figures" / "series_layers.png").is_file()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["000-checkpoint-9", "001-checkpoint-100",
                                                                   "figures"]


def test_training_run_folder_is_pointed_to_report(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".ntpgeom-run").write_text("ntpgeom run folder\n")
    (run / "config.json").write_text("{}")
    with pytest.raises(ProbeError, match="ntpgeom report"):
        resolve_model(run)


def test_run_marker_is_the_trainers():
    from ntpgeom.probe.checkpoints import MARKER
    from ntpgeom.train.folder import MARKER as TRAIN_MARKER

    assert MARKER == TRAIN_MARKER


def test_inside_a_run_and_in_a_series_is_refused_before_loading(tmp_path, corpus_file):
    from typer.testing import CliRunner

    from ntpgeom.cli import app
    from ntpgeom.probe.checkpoints import expand_models

    run = tmp_path / "checkpoint-7"
    run.mkdir()
    (run / ".ntpgeom-run").write_text("ntpgeom run folder\n")
    (run / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(ProbeError, match=re.escape(f"ntpgeom report {run}")):
        resolve_model(run / "checkpoint.pt")
    other = tmp_path / "checkpoint-3"
    other.mkdir()  # not a model either: the run must be refused first, before anything is loaded
    with pytest.raises(ProbeError, match="ntpgeom report"):
        expand_models([str(tmp_path / "checkpoint-*")])
    res = CliRunner().invoke(app, ["probe", "--model", str(run), "--text", str(corpus_file), "-T", "2",
                                   "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "ntpgeom report" in res.output and not (tmp_path / "out").exists()
