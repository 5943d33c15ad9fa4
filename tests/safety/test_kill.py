"""kill -9 of `data build` and `solve` at random moments, then a rerun: the output is the previous file or a complete
new one (never partial), and the rerun succeeds and leaves no temporary behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom.errors import FormatError
from ntpgeom.theory import load_theory

SRC = str(Path(g.__file__).resolve().parents[1])


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ntpgeom", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_at(proc, delay):
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _temps(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


def _corpus(path, n_docs=3000, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(400)]
    docs = [" ".join(rng.choice(words, size=40)) for _ in range(n_docs)]
    path.write_text("\n\n".join(docs), encoding="utf-8")


@pytest.mark.parametrize("seed", [0, 1])
def test_kill_data_build_then_rerun(tmp_path, seed):
    text = tmp_path / "c.txt"
    _corpus(text, seed=seed)
    out = tmp_path / "d.npz"
    previous = g.corpora.synthetic().save(out).read_bytes()
    delay = float(np.random.default_rng(seed).uniform(0.3, 2.5))
    _kill_at(_cli("data", "build", text, "-T", "2", "-o", out), delay)
    if out.read_bytes() != previous:  # the kill came after the rename: the new file must be complete
        assert g.load(out).meta["source"] == str(text)
    rerun = _cli("data", "build", text, "-T", "2", "-o", out)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read().decode()
    assert g.load(out).hash == g.from_text(text, 2).hash
    assert _temps(tmp_path) == []


@pytest.mark.parametrize("seed", [0])
def test_kill_solve_then_rerun(tmp_path, seed):
    data = g.synthetic.random_supports(30, 300, (1, 6), seed=seed)
    dpath = data.save(tmp_path / "d.npz")
    out = tmp_path / "t.npz"
    out.write_bytes(b"previous")
    delay = float(np.random.default_rng(seed).uniform(0.3, 2.5))
    _kill_at(_cli("solve", dpath, "-o", out), delay)
    if out.read_bytes() != b"previous":
        assert load_theory(out, data).L_in.shape == (data.V, data.m)
    rerun = _cli("solve", dpath, "-o", out)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read().decode()
    assert load_theory(out, data).L_mm is not None
    assert _temps(tmp_path) == []
    with pytest.raises(FormatError):
        g.load(out)  # a theory file is not a dataset, and says so
