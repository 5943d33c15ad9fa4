"""``ntpgeom train`` command line (cli/train.py): options generated from TrainConfig, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from ntpgeom.cli import app, main
from ntpgeom.cli.train import NOT_ON_CLI
from ntpgeom.data import synthetic
from ntpgeom.train import load_run
from ntpgeom.train.config import FIELDS

runner = CliRunner()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ntpgeom", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_options_are_the_config_fields():
    import typer.main

    cmd = typer.main.get_command(app).commands["train"]
    opts = {p.name for p in cmd.params} - {"data", "out", "resume", "overwrite", "as_json", "log"}
    assert opts == set(FIELDS) - set(NOT_ON_CLI)
    flags = {o for p in cmd.params for o in p.opts}
    assert {"--weight-decay", "--checkpoint-seconds", "--batch-size", "--bias", "--tree"} <= flags


def test_cli_train_json_and_resume(tmp_path):
    data = synthetic.random_supports(8, 30, (1, 4), seed=0)
    path = tmp_path / "d.npz"
    data.save(path)
    res = runner.invoke(app, ["train", str(path), "--model", "ufm", "--steps", "20", "--lr", "0.05", "-o",
                              str(tmp_path / "run"), "--json", "--checkpoint-every", "5", "--no-tree"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["final_step"] == 20 and out["status"] == "done" and out["config"]["data_hash"] == data.hash
    assert out["config"]["checkpoint_every"] == 5 and out["config"]["tree"] is False
    res = runner.invoke(app, ["train", "-o", str(tmp_path / "run"), "--steps", "30", "--resume", "--json"])
    assert res.exit_code == 0, res.output
    assert load_run(tmp_path / "run").final_step == 30


def test_cli_train_summary_line_and_builtin(tmp_path):
    res = runner.invoke(app, ["train", "synthetic", "--model", "mlp", "--d", "8", "--steps", "5", "-o",
                              str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "done (max_steps): mlp d=8 step 5" in res.stdout


@pytest.mark.parametrize("args, message", [
    (["{tmp}/missing.npz"], "not found"),
    (["synthetic", "--d", "0"], "d must be"),
    (["synthetic", "--lr", "-1"], "lr must be"),
    (["synthetic", "--lr", "nan"], "lr must be"),
    (["synthetic", "--model", "bogus"], "unknown model 'bogus'"),
    (["synthetic", "--d", "1000000000"], "parameters and need about"),
    (["synthetic", "--device", "bogus"], "device"),
])
def test_cli_bad_config_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["train", *[a.format(tmp=tmp_path) for a in args], "-o", str(tmp_path / "r")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_cli_refuses_foreign_folder_and_bad_checkpoint(tmp_path, capsys):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        main(["train", "synthetic", "--steps", "2", "-o", str(hf), "--overwrite"])
    assert exc.value.code == 2 and "not an ntpgeom run folder" in capsys.readouterr().err
    assert (hf / "config.json").exists()
    with pytest.raises(SystemExit):
        main(["train", "synthetic", "--steps", "2", "-o", str(tmp_path / "r"), "--json"])
    capsys.readouterr()
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(SystemExit) as exc:
        main(["train", "-o", str(tmp_path / "r"), "--resume", "--steps", "4"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and "checkpoint" in err


def test_ctrl_c_exits_130_and_marks_the_run_interrupted(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "ntpgeom", "train", "synthetic", "--model", "transformer", "--d",
                             "16", "--layers", "1", "--heads", "2", "--steps", "1000000", "--device", "cpu", "-o",
                             str(out), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "loss.json").exists() and time.monotonic() < deadline:  # written at the first checkpoint
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    run = load_run(out)
    k = run.final_step
    assert f"interrupted at step {k}; resume with: ntpgeom train -o {out} --resume" in " ".join(err.split())
    assert run.status == "interrupted" and 0 < k < 1000000 and run.steps[-1] == k
    res = _cli("train", "-o", str(out), "--resume", "--steps", str(k + 3), "--json")
    assert res.returncode == 0, res.stderr
    assert load_run(out).status == "done" and load_run(out).final_step == k + 3


def test_cli_autoregressive_data_reports_gap_by_length(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat\n\nthe dog sat on the log\n\na cat and a dog\n", encoding="utf-8")
    res = runner.invoke(app, ["data", "build", str(text), "--context-len", "1:3", "-o", str(tmp_path / "d.npz")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", str(tmp_path / "d.npz"), "-o", str(tmp_path / "r"), "--model", "lstm",
                              "--d", "8", "--steps", "3", "--device", "cpu", "--sampler", "group", "--batch-size",
                              "5", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert sorted(out["gap_by_length"]) == ["1", "2", "3"] and out["config"]["sampler"] == "group"
    assert all(g > 0 for g in out["gap_by_length"].values())  # CE_T >= ℋ_T for every length


def test_train_linear_head_on_a_features_file(tmp_path, capsys):
    import numpy as np

    from ntpgeom.data import synthetic
    from ntpgeom.train import load_run
    from ntpgeom.train.features import features_hash

    d = synthetic.random_supports(5, 8, (1, 2), seed=1)
    p = d.save(tmp_path / "d.npz")
    H = np.random.default_rng(0).standard_normal((6, d.m))
    np.save(tmp_path / "h.npy", H)
    res = CliRunner().invoke(app, ["train", str(p), "--model", "linear", "--features", str(tmp_path / "h.npy"),
                                   "--optimizer", "gd", "--lr", "1", "--steps", "20", "-o", str(tmp_path / "run"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["model"] == "linear" and rec["d"] == 6 and rec["config"]["features"] == features_hash(H)
    s = load_run(tmp_path / "run").snapshot(20)
    np.testing.assert_allclose(s.L, s.W @ H, atol=1e-12)
    np.save(tmp_path / "bad.npy", H[:, :-1])
    for feats in ("bad.npy", "missing.npy"):
        with pytest.raises(SystemExit) as e:
            main(["train", str(p), "--model", "linear", "--features", str(tmp_path / feats), "-o",
                  str(tmp_path / "run2")])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error:") and "features" in err[0], err
