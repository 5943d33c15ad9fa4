"""The run folder: the ownership marker guards --overwrite, the writer lock, the checkpoint's safe load."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys

import pytest
import torch

from ntpgeom.data import synthetic
from ntpgeom.train import TrainError, load_run, train
from ntpgeom.train.folder import CHECKPOINT, LOCK, MARKER, load_checkpoint, lock, prepare_new


@pytest.fixture(scope="module")
def small():
    return synthetic.random_supports(6, 20, (1, 3), seed=0)


def test_overwrite_deletes_only_marked_run_folders(tmp_path, small):
    hf = tmp_path / "hf-model"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (hf / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(TrainError, match="not an ntpgeom run folder"):
        train(small, steps=2, out=hf, overwrite=True)
    assert sorted(p.name for p in hf.iterdir()) == ["config.json", "model.safetensors"]  # untouched
    run = train(small, steps=2, out=tmp_path / "r")
    assert (run.path / MARKER).is_file() and not (run.path / LOCK).exists()  # lock released at the end
    (run.path / "mine.txt").write_text("x")
    assert train(small, steps=3, out=tmp_path / "r", overwrite=True).final_step == 3
    assert not (tmp_path / "r" / "mine.txt").exists()


def test_prepare_new_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(TrainError, match="not a folder"):
        prepare_new(tmp_path / "f", overwrite=True)


def test_lock_excludes_a_second_writer_and_takes_over_a_stale_one(tmp_path, small):
    run_dir = tmp_path / "r"
    train(small, steps=2, out=run_dir, checkpoint_every=1)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / LOCK).write_text(f"{holder.pid}\n")  # a live process holds the folder
        with pytest.raises(TrainError, match=f"in use by another ntpgeom process \\(pid {holder.pid} on "):
            train(steps=4, out=run_dir, resume=True)
        with pytest.raises(TrainError, match="in use"):
            train(small, steps=4, out=run_dir, overwrite=True)
        assert load_run(run_dir).final_step == 2  # nothing changed
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead now: its lock is stale and is taken over
    assert train(steps=4, out=run_dir, resume=True).final_step == 4
    assert not (run_dir / LOCK).exists()
    (run_dir / LOCK).write_text("1 some-other-host\n")  # another machine's lock is never guessed stale
    with pytest.raises(TrainError, match="on some-other-host"):
        train(steps=5, out=run_dir, resume=True)
    (run_dir / LOCK).unlink()
    with lock(run_dir):
        assert (run_dir / LOCK).read_text().split() == [str(os.getpid()), socket.gethostname()]
        with pytest.raises(TrainError, match="in use"):
            with lock(run_dir):
                pass


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))  # unpickling creates a file: code execution


def test_pickle_payload_checkpoint_is_refused_and_never_runs(tmp_path, small):
    run_dir = tmp_path / "r"
    train(small, steps=3, out=run_dir)
    evidence = tmp_path / "pwned"
    torch.save({"model": _Payload(str(evidence)), "step": 1}, run_dir / CHECKPOINT)
    with pytest.raises(TrainError, match="not a readable ntpgeom checkpoint"):
        train(steps=5, out=run_dir, resume=True)
    assert not evidence.exists()
    with open(run_dir / CHECKPOINT, "wb") as fh:  # a raw pickle stream, not a torch zip
        pickle.dump(_Payload(str(evidence)), fh)
    with pytest.raises(TrainError, match="not a readable ntpgeom checkpoint"):
        load_checkpoint(run_dir)
    assert not evidence.exists()


def test_garbage_truncated_and_wrong_checkpoints(tmp_path, small):
    run_dir = tmp_path / "r"
    train(small, steps=3, out=run_dir)
    good = (run_dir / CHECKPOINT).read_bytes()
    ck = load_checkpoint(run_dir)  # a genuine checkpoint loads with weights_only=True
    assert ck["step"] == 3 and ck["rng"].dtype == torch.uint8 and ck["rng"].device.type == "cpu"
    for bad in (b"", b"garbage" * 10, good[: len(good) // 2]):
        (run_dir / CHECKPOINT).write_bytes(bad)
        with pytest.raises(TrainError, match="not a readable ntpgeom checkpoint"):
            load_checkpoint(run_dir)
    for obj, what in (([1, 2], "not a dict"), ({**ck, "rng": [1]}, "rng"), ({"step": 1}, "model")):
        torch.save(obj, run_dir / CHECKPOINT)
        with pytest.raises(TrainError, match=f"not an ntpgeom checkpoint .*{what}"):
            load_checkpoint(run_dir)
