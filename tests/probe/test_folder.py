"""The probe's -o folder: staged and published whole; an existing folder needs --overwrite and must be a previous
probe; an input is never replaced; a failure leaves the old folder as it was."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

from typer.testing import CliRunner  # noqa: E402

from _probe_helpers import class_corpus  # noqa: E402
from ntpgeom.errors import OutputError  # noqa: E402
from ntpgeom.probe import load_probe, probe  # noqa: E402
from ntpgeom.probe.folder import check_out_dir, is_probe, staged  # noqa: E402


@pytest.fixture(scope="module")
def res(tiny_models):
    return probe(tiny_models["llama"], class_corpus(), 2, min_count=20, n_other=2, max_contexts=20)


def _tree(folder):
    return sorted((p.relative_to(folder).as_posix(), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def test_user_folder_is_never_written(tmp_path, res):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    (user / "summary.json").write_text(json.dumps({"format": "something else"}))
    before = _tree(user)
    with pytest.raises(OutputError, match="--overwrite"):
        res.save(user)
    with pytest.raises(OutputError, match="not one"):
        res.save(user, overwrite=True)
    assert _tree(user) == before
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no staging folder left


def test_previous_probe_is_replaced_only_with_overwrite(tmp_path, res):
    out = tmp_path / "p"
    res.save(out)
    assert is_probe(out) and load_probe(out).data.hash == res.data.hash
    (out / "stale.txt").write_text("from an older probe")
    with pytest.raises(OutputError, match="--overwrite"):
        res.save(out)
    paths = res.save(out, overwrite=True)
    assert not (out / "stale.txt").exists() and paths["summary"] == out.absolute() / "summary.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_failure_leaves_the_old_folder(tmp_path, res, monkeypatch):
    out = tmp_path / "p"
    res.save(out)
    before = _tree(out)

    def boom(self, folder):
        (folder / "probe.npz").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(res), "write", boom)
    with pytest.raises(OSError):
        res.save(out, overwrite=True)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_inputs_are_refused(tmp_path):
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    text = tmp_path / "t.txt"
    text.write_text("x")
    for out in (model, tmp_path / "models", tmp_path):
        with pytest.raises(OutputError, match="input"):
            check_out_dir(out, [model, text], overwrite=True)
    with pytest.raises(OutputError, match="input"):
        with staged(tmp_path, [text], overwrite=True):
            pass
    assert text.read_text() == "x"


def test_cli_overwrite_and_inputs(tmp_path, tiny_models, corpus_file):
    from ntpgeom.cli import app

    base = ["probe", "--model", str(tiny_models["llama"]), "--text", str(corpus_file), "-T", "2", "-c", "20",
            "--n-other", "2", "-K", "20", "--no-report", "--solve", "no"]
    runner = CliRunner()
    out = tmp_path / "p"
    assert runner.invoke(app, [*base, "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, [*base, "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert runner.invoke(app, [*base, "-o", str(out), "--overwrite"]).exit_code == 0
    into_model = runner.invoke(app, [*base, "-o", str(tiny_models["llama"]), "--overwrite"])
    assert into_model.exit_code == 2 and "input" in into_model.output
    assert (tiny_models["llama"] / "config.json").is_file()
    into_from = runner.invoke(app, ["probe", "--from", str(out), "-o", str(out), "--overwrite", "--no-report"])
    assert into_from.exit_code == 2 and "input" in into_from.output
    assert load_probe(out).data.m == 20
