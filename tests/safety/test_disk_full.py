"""A full disk in the middle of ``train`` (issue 24, low): one ``error:`` line, exit 2, and the run marked "failed"
in its config.json (was a traceback, and the status left "running"). Three ways a full disk shows: torch's zip writer
(RuntimeError wrapping the OSError), the one writer ``_io.atomic_path`` (OutputError), and no room left even for the
status update (config.json rewritten in place)."""

from __future__ import annotations

import errno
import json

import pytest
import torch

import ntpgeom as g
from ntpgeom import _io
from ntpgeom.cli import main
from ntpgeom.train import loop

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture()
def data_file(tmp_path):
    return str(g.corpora.synthetic().save(tmp_path / "d.npz"))


def _train(data_file, out, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", data_file, "-o", str(out), "--model", "ufm", "--steps", "40", "--checkpoint-every", "10"])
    lines = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
    err = [x for x in lines if x.startswith("error:")]
    assert e.value.code == 2 and len(err) == 1 and err[0] == lines[-1] and "Traceback" not in "".join(lines), lines
    assert err[0].startswith("error: training into") and "no space left on device" in err[0].lower(), err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["status"] == "failed" and cfg["stop_reason"] == "write_failed"
    return err[0], cfg


def test_torch_zip_writer_failing_on_a_full_disk(tmp_path, data_file, capsys, monkeypatch):
    real, calls = torch.save, []

    def full(obj, f, *a, **k):
        calls.append(1)
        if len(calls) < 2:
            return real(obj, f, *a, **k)
        try:  # what torch does on a full disk: its zip writer's RuntimeError, the OSError as its context
            raise ENOSPC
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    monkeypatch.setattr(torch, "save", full)
    err, cfg = _train(data_file, tmp_path / "run", capsys)
    assert "checkpoint.pt" in err and "resume from step" in err
    assert g.load_run(tmp_path / "run").status == "failed"


def test_one_writer_failing_on_a_full_disk(tmp_path, data_file, capsys, monkeypatch):
    real, calls = _io._fsync, []

    def full(path, directory=False):
        calls.append(path)
        if "snapshots" in str(path) and len([c for c in calls if "snapshots" in str(c)]) > 2:
            raise ENOSPC
        return real(path, directory)

    monkeypatch.setattr(_io, "_fsync", full)
    err, _ = _train(data_file, tmp_path / "run", capsys)
    assert "snapshots" in err


def test_no_room_for_the_status_update_either(tmp_path, data_file, capsys, monkeypatch):
    real = loop.write_config

    def full(run_dir, config):
        if config["status"] == "failed":
            raise ENOSPC
        return real(run_dir, config)

    def full_checkpoint(run_dir, state):
        raise ENOSPC

    monkeypatch.setattr(loop, "write_config", full)
    monkeypatch.setattr(loop, "save_checkpoint", full_checkpoint)
    _, cfg = _train(data_file, tmp_path / "run", capsys)
    assert "No space left" in cfg["error"]
