"""``ntpgeom train`` command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ntpgeom.cli import app
from ntpgeom.data import synthetic
from ntpgeom.train import load_run

runner = CliRunner()


def test_cli_train_json_and_resume(tmp_path):
    data = synthetic.random_supports(8, 30, (1, 4), seed=0)
    path = tmp_path / "d.npz"
    data.save(path)
    res = runner.invoke(app, ["train", str(path), "--model", "ufm", "--steps", "20", "--lr", "0.05", "-o",
                              str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["final_step"] == 20 and out["status"] == "done" and out["config"]["data_hash"] == data.hash
    res = runner.invoke(app, ["train", "-o", str(tmp_path / "run"), "--steps", "30", "--resume", "--json"])
    assert res.exit_code == 0, res.output
    assert load_run(tmp_path / "run").final_step == 30


def test_cli_train_summary_line_and_builtin(tmp_path):
    res = runner.invoke(app, ["train", "synthetic", "--model", "mlp", "--d", "8", "--steps", "5", "-o",
                              str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "done (max_steps): mlp d=8 step 5" in res.stdout


def test_cli_bad_config_exit_2(tmp_path):
    from ntpgeom.cli import main
    import pytest

    for args in (["train", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "r")],
                 ["train", "synthetic", "--d", "0", "-o", str(tmp_path / "r")],
                 ["train", "synthetic", "--lr", "-1", "-o", str(tmp_path / "r")]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
    assert not (tmp_path / "r").exists()
