"""train/tracking.py: train(log=...) and ``ntpgeom train --log``: TensorBoard event files with CE − ℋ at every logged
step (read back by TensorBoard's own reader), a clear error when the tracker is missing, trackio's calls."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
from typer.testing import CliRunner

from ntpgeom.cli import app
from ntpgeom.data import corpora
from ntpgeom.errors import TrainError
from ntpgeom.train import load_run, train
from ntpgeom.train import tracking


def _scalars(run_dir):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                             reason="tensorboard is not installed (the track extra)")
    acc = ea.EventAccumulator(str(run_dir / tracking.TB_DIR), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.slow  # importing tensorboard takes seconds on a cold start; .ci/run runs it with the track extra
def test_cli_train_log_tensorboard_writes_the_gap_at_every_logged_step(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the track extra)")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "synthetic", "--model", "ufm", "--steps", "50", "-o", str(out),
                                   "--log", "tensorboard", "--json", "--threads", "1"])
    assert res.exit_code == 0, res.output
    run = load_run(out)
    sc = _scalars(out)
    assert {"train/ce", "train/gap", "train/norm_L", "train/lr", "snapshot/nuclear_norm_L"} <= set(sc)
    steps = [s for s, _ in sc["train/gap"]]
    assert steps == [int(s) for s in run.loss["step"]]  # every logged step, once
    np.testing.assert_allclose([v for _, v in sc["train/gap"]], run.loss["gap"], rtol=1e-6)  # float32 in events
    H = corpora.synthetic().entropy_bound
    np.testing.assert_allclose([v for _, v in sc["train/ce"]], np.asarray(run.loss["gap"]) + H, rtol=1e-6)
    # per snapshot: ‖L‖_* of the snapshot's logits (sum of singular values, an independent numpy SVD)
    nuc = dict(sc["snapshot/nuclear_norm_L"])
    assert sorted(nuc) == sorted(run.steps)
    L = run.snapshot(run.steps[-1]).L
    assert nuc[run.steps[-1]] == pytest.approx(np.linalg.svd(L, compute_uv=False).sum(), rel=1e-6)


def test_no_tracker_writes_no_event_files(tmp_path):
    train(corpora.synthetic(), model="ufm", steps=3, out=tmp_path / "r", threads=1)
    assert not (tmp_path / "r" / tracking.TB_DIR).exists()


def test_unknown_or_missing_tracker_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(TrainError, match="log must be one of tensorboard, trackio"):
        train(corpora.synthetic(), steps=3, out=tmp_path / "a", log="wandb")
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TrainError, match=r"needs the tensorboard package.*ntpgeom\[track\]"):
        train(corpora.synthetic(), steps=3, out=tmp_path / "b", log="tensorboard")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_missing_tracker_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    res = CliRunner().invoke(app, ["train", "synthetic", "--steps", "3", "-o", str(tmp_path / "r"), "--log", "trackio"])
    assert res.exit_code == 2 and "needs the trackio package" in res.output


def test_trackio_receives_every_logged_step(tmp_path, monkeypatch):
    calls = []
    fake = types.SimpleNamespace(init=lambda **kw: calls.append(("init", kw)),
                                 log=lambda values, step: calls.append(("log", step, values)),
                                 finish=lambda: calls.append(("finish",)))
    monkeypatch.setitem(sys.modules, "trackio", fake)
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: object())
    run = train(corpora.synthetic(), model="ufm", steps=20, log_every=5, out=tmp_path / "r", threads=1, log="trackio")
    assert calls[0][0] == "init" and calls[0][1]["project"] == "ntpgeom" and calls[-1] == ("finish",)
    gaps = [(c[1], c[2]["train/gap"]) for c in calls if c[0] == "log" and "train/gap" in c[2]]
    assert [s for s, _ in gaps] == [int(s) for s in run.loss["step"]]  # logged steps and snapshot steps
    assert {0, 5, 10, 15, 20} <= {s for s, _ in gaps}
    np.testing.assert_allclose([g for _, g in gaps], run.loss["gap"])
    assert json.loads((tmp_path / "r" / "config.json").read_text())["status"] == "done"


@pytest.mark.slow  # importing trackio and starting its local store takes seconds
def test_cli_train_log_trackio_writes_the_local_store(tmp_path):
    """The real trackio (when installed), in a subprocess with its own TRACKIO_DIR: one row per logged step."""
    import os
    import sqlite3
    import subprocess

    pytest.importorskip("trackio", reason="trackio is not installed (pip install -e '.[trackio]')")
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "store"), "PYTHONPATH": os.pathsep.join(sys.path),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-m", "ntpgeom", "train", "synthetic", "--steps", "20", "--log-every", "5",
                          "-o", str(tmp_path / "r"), "--log", "trackio", "--json", "--threads", "1"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "done"  # trackio's messages went to stderr, not into the JSON
    run = load_run(tmp_path / "r")
    with sqlite3.connect(tmp_path / "store" / "ntpgeom.db") as db:
        rows = db.execute("SELECT step, metrics FROM metrics WHERE run_name = 'r' ORDER BY id").fetchall()
    gaps = {s: json.loads(m)["train/gap"] for s, m in rows if "train/gap" in json.loads(m)}
    assert sorted(gaps) == [int(s) for s in run.loss["step"]]
    np.testing.assert_allclose([gaps[s] for s in sorted(gaps)], run.loss["gap"], rtol=1e-12)


@pytest.mark.slow  # imports tensorboard
def test_resume_logs_each_snapshot_once(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the track extra)")
    data = corpora.synthetic()
    train(data, model="ufm", steps=20, out=tmp_path / "r", threads=1, log="tensorboard")
    run = train(steps=60, out=tmp_path / "r", resume=True, threads=1, log="tensorboard")
    nuc = [s for s, _ in _scalars(tmp_path / "r")["snapshot/nuclear_norm_L"]]
    assert sorted(nuc) == sorted(run.steps) and run.steps[-1] == 60
