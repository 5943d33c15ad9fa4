"""Training runs (loop.py): convergence, run format, resume equivalence, determinism, interruption, faults, bad
configs, the API's signature and progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp

from ntpgeom.data import corpora, synthetic
from ntpgeom.errors import NTPDataError, NTPGeomError
from ntpgeom.train import Run, Snapshot, TrainError, TrainInterrupted, load_run, log_spaced_steps, train


def _ce_numpy(L, data):
    """Independent CE of logits L (V x m): -sum_j pi_j sum_z P[z,j] (L[z,j] - lse_j)."""
    P = data.P.toarray()
    return float(-(data.pi[None, :] * P * (L - logsumexp(L, axis=0, keepdims=True))).sum())


@pytest.fixture(scope="module")
def small():
    return synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0)


def test_ufm_reaches_entropy_bound(tmp_path, small):
    run = train(small, model="ufm", d=10, steps=3000, optimizer="adamw", lr=0.1, tol=1e-3, out=tmp_path / "r")
    assert run.config["stop_reason"] == "tol" and run.status == "done"
    assert run.loss["gap"][-1] < 1e-3
    snap = run.snapshot(run.steps[-1])
    assert snap.step == run.final_step
    # the logged CE is the CE of the snapshot's logits, and L = W H exactly (no bias)
    np.testing.assert_allclose(snap.L, snap.W @ snap.H, rtol=1e-12, atol=1e-12)
    assert _ce_numpy(snap.L, small) == pytest.approx(run.loss["ce"][-1], rel=1e-10)
    assert _ce_numpy(snap.L, small) - small.entropy_bound < 1e-3
    # norms grow as the loss approaches the bound
    assert run.loss["norm_L"][-1] > 5 * run.loss["norm_L"][0]


def test_ufm_ridge_minimiser_has_centred_W(tmp_path):
    # theory.md §2: every minimiser of CE(WH) + lam/2(|W|^2+|H|^2) has 1^T W = 0 and W^T W = H H^T
    data = synthetic.random_supports(6, 20, (1, 3), probs="dirichlet", seed=1)
    run = train(data, model="ufm", d=6, steps=4000, optimizer="adam", lr=0.02, ridge=1e-2, out=tmp_path / "r",
                schedule="cosine")
    s = run.snapshot(run.steps[-1])
    assert np.abs(s.W.sum(axis=0)).max() < 1e-3 * np.abs(s.W).max()
    np.testing.assert_allclose(s.W.T @ s.W, s.H @ s.H.T, atol=2e-3 * np.abs(s.W.T @ s.W).max())


def test_transformer_two_layers_reaches_bound_on_synthetic_corpus(tmp_path):
    data = corpora.synthetic()
    run = train(data, model="transformer", d=64, layers=2, steps=2000, optimizer="adam", lr=3e-3, tol=1e-2,
                out=tmp_path / "t")
    assert run.config["stop_reason"] == "tol"
    s = run.snapshot(run.steps[-1])
    assert _ce_numpy(s.L, data) - data.entropy_bound < 1e-2 + 1e-5
    assert s.W.shape == (30, 64) and s.H.shape == (64, 16) and s.L.shape == (30, 16)
    np.testing.assert_allclose(s.L, s.W @ s.H, rtol=1e-4, atol=1e-4)  # float32 training


@pytest.mark.parametrize("kind", ["lstm", "mlp", "transformer"])
def test_neural_models_write_consistent_snapshots(tmp_path, kind):
    data = corpora.synthetic()
    run = train(data, model=kind, d=16, layers=1, heads=2, steps=12, lr=1e-2, out=tmp_path / kind, bias=True)
    assert run.steps == [0, 1, 2, 5, 10, 12]
    for s in run.snapshots():
        assert s.has_bias and s.b.dtype == np.float64 and s.L.dtype == np.float64
        np.testing.assert_allclose(s.L, s.W @ s.H + s.b[:, None], rtol=1e-4, atol=1e-5)
    i = list(run.loss["step"]).index(12)
    assert _ce_numpy(run.snapshot(12).L, data) == pytest.approx(run.loss["ce"][i], rel=1e-5)


def test_run_folder_format(tmp_path, small):
    train(small, model="ufm", d=12, steps=60, lr=0.05, out=tmp_path / "r", seed=3)
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"config.json", "data.npz", "loss.json", "snapshots", "checkpoint.pt"} <= files
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    for key in ("format", "version", "model", "d", "seed", "device", "dtype", "threads", "versions", "data_hash",
                "entropy_bound", "V", "m", "bias", "status", "final_step", "lr", "optimizer", "schedule"):
        assert key in cfg
    assert cfg["format"] == "ntpgeom.run" and cfg["version"] == 1 and cfg["status"] == "done"
    assert cfg["data_hash"] == small.hash and cfg["final_step"] == 60 and cfg["V"] == 10 and cfg["m"] == 95
    assert cfg["entropy_bound"] == pytest.approx(small.entropy_bound)
    assert cfg["device"] == "cpu" and cfg["device_auto"]["work"] == cfg["n_params"] * 95 == (10 * 12 + 12 * 95) * 95
    again = load_run(tmp_path / "r")
    assert isinstance(again, Run) and again.data.hash == small.hash
    assert again.steps == log_spaced_steps(60) == [0, 1, 2, 5, 10, 20, 50, 60]
    assert list(again.loss["step"]) == list(range(61))  # logged every step
    assert np.allclose(again.loss["gap"], again.loss["ce"] - small.entropy_bound)
    snaps = list(again.snapshots())
    assert [s.step for s in snaps] == again.steps and isinstance(snaps[0], Snapshot)
    with pytest.raises(TrainError):
        again.snapshot(3)
    with np.load(tmp_path / "r" / "snapshots" / "step_00000060.npz") as z:
        assert set(z.files) == {"header", "W", "H", "L", "b"}  # the header carries step, has_bias and the hash
        assert z["W"].dtype == np.float64 and z["W"].shape == (10, 12) and z["H"].shape == (12, 95)
    # logged norms are the snapshot norms
    s = again.snapshot(60)
    assert again.loss["norm_W"][-1] == pytest.approx(np.linalg.norm(s.W))
    assert again.loss["norm_H"][-1] == pytest.approx(np.linalg.norm(s.H))
    assert again.loss["norm_L"][-1] == pytest.approx(np.linalg.norm(s.L))


def _same_runs(a: Run, b: Run) -> None:
    for k in a.loss:
        np.testing.assert_array_equal(a.loss[k], b.loss[k])
    assert a.steps == b.steps
    for s, t in zip(a.snapshots(), b.snapshots()):
        for f in ("W", "H", "L", "b"):
            np.testing.assert_array_equal(getattr(s, f), getattr(t, f))


@pytest.mark.parametrize("kw", [
    dict(model="ufm", d=10, optimizer="adamw", lr=0.05, weight_decay=1e-3, schedule="step", step_size=7, gamma=0.5),
    dict(model="ufm", d=10, optimizer="sgd", lr=0.5, batch_size=16, momentum=0.9, schedule="cosine", warmup=5,
         schedule_steps=40),
    dict(model="transformer", d=16, layers=2, heads=2, optimizer="adam", lr=1e-2, batch_size=40),
    dict(model="lstm", d=8, optimizer="ngd", lr=0.05),
])
def test_resume_is_bit_identical(tmp_path, small, kw):
    data = corpora.synthetic() if kw["model"] in ("transformer", "lstm") else small
    if kw["model"] in ("transformer", "lstm") and "batch_size" in kw:
        kw = {**kw, "batch_size": 5}
    whole = train(data, steps=40, out=tmp_path / "whole", **kw)
    train(data, steps=20, out=tmp_path / "part", **kw)
    part = train(steps=40, out=tmp_path / "part", resume=True)  # data and options from the run folder
    assert part.status == "done" and part.final_step == 40
    _same_runs(whole, part)


def test_seed_determinism(tmp_path, small):
    a = train(small, steps=30, lr=0.05, seed=7, out=tmp_path / "a")
    b = train(small, steps=30, lr=0.05, seed=7, out=tmp_path / "b")
    c = train(small, steps=30, lr=0.05, seed=8, out=tmp_path / "c")
    _same_runs(a, b)
    assert not np.array_equal(a.snapshot(30).W, c.snapshot(30).W)


class Boom(Exception):
    """A hard crash inside training (not Ctrl-C)."""


def _crash_at(at: int):
    """A progress callback that crashes the run when it reports step ``at``."""

    def crash(stage, step, total, numbers):
        if step == at:
            raise Boom

    return crash


def test_interrupted_run_is_loadable_and_resumable(tmp_path, small):
    with pytest.raises(Boom):
        train(small, steps=60, lr=0.05, checkpoint_every=10, out=tmp_path / "r", progress=_crash_at(33))
    run = load_run(tmp_path / "r")  # a hard crash: loadable, status still "running"
    assert run.status == "running" and 20 in run.steps and len(run.loss["step"]) >= 30
    resumed = train(out=tmp_path / "r", resume=True)
    whole = train(small, steps=60, lr=0.05, out=tmp_path / "w")
    _same_runs(whole, resumed)


def test_ctrl_c_stops_cleanly(tmp_path, small):
    def interrupt(stage, step, total, numbers):
        if step == 15:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainInterrupted, match=r"interrupted at step 1[56]; resume with: ntpgeom train -o .* --resume"):
        train(small, steps=500, lr=0.05, out=tmp_path / "r", progress=interrupt)
    run = load_run(tmp_path / "r")
    assert run.status == "interrupted" and run.config["stop_reason"] == "interrupted"
    assert run.final_step in (15, 16) and run.steps[-1] == run.final_step
    more = train(out=tmp_path / "r", resume=True, steps=40)
    assert more.status == "done" and more.final_step == 40


def test_paper_preset_and_override(tmp_path, small):
    run = train(small, steps=3, preset="paper", out=tmp_path / "p")
    c = run.config
    assert (c["optimizer"], c["lr"], c["weight_decay"], c["schedule"], c["step_size"], c["gamma"], c["batch_size"]) == (
        "adamw", 1e-4, 1e-6, "step", 5000, 0.4, None)
    assert run.loss["lr"][0] == pytest.approx(1e-4)
    run2 = train(small, steps=3, preset="paper", lr=1e-3, out=tmp_path / "q")
    assert run2.config["lr"] == 1e-3 and run2.config["weight_decay"] == 1e-6


@pytest.mark.parametrize("kw, match", [
    (dict(d=0), "d must be"),
    (dict(d=-3), "d must be"),
    (dict(model="cnn"), "unknown model"),
    (dict(lr=0.0), "lr must be"),
    (dict(lr=-1.0), "lr must be"),
    (dict(optimizer="lbfgs"), "unknown optimizer"),
    (dict(schedule="exp"), "unknown schedule"),
    (dict(steps=-1), "steps must be"),
    (dict(preset="gpt"), "unknown preset"),
    (dict(tol=0.0), "tol must be"),
    (dict(optimizer="gd", batch_size=10), "full-batch"),
    (dict(model="transformer", d=128, heads=6), "not divisible"),
    (dict(device="cuda:0" if not __import__("torch").cuda.is_available() else "bogus"), "device"),
    (dict(frobnicate=1), "unknown training option"),
])
def test_bad_configs_fail_before_any_work(tmp_path, small, kw, match):
    with pytest.raises(TrainError, match=match):
        train(small, out=tmp_path / "r", **kw)
    assert not (tmp_path / "r").exists()


def test_bad_data_and_folders(tmp_path, small):
    with pytest.raises(NTPDataError, match="not found"):
        train(tmp_path / "missing.npz", out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    with pytest.raises(TrainError, match="no checkpoint"):
        train(small, out=tmp_path / "r", resume=True)
    train(small, steps=2, out=tmp_path / "r")
    with pytest.raises(TrainError, match="already exists"):
        train(small, steps=2, out=tmp_path / "r")
    with pytest.raises(TrainError, match="differs"):
        train(small, steps=4, d=5, out=tmp_path / "r", resume=True)
    other = synthetic.random_supports(10, 95, (1, 5), seed=1)
    with pytest.raises(TrainError, match="trained on data"):
        train(other, steps=4, out=tmp_path / "r", resume=True)
    assert train(small, steps=3, out=tmp_path / "r", overwrite=True).final_step == 3
    with pytest.raises(NTPGeomError):
        load_run(tmp_path / "nowhere")


# --------------------------------------------------------------------------------- checkpoints, faults, kill -9
def _count_checkpoints(monkeypatch, fail_at=None):
    import errno

    from ntpgeom.train import loop

    calls = []
    real = loop.save_checkpoint

    def save(run_dir, state):
        calls.append(state["step"])
        if fail_at is not None and len(calls) == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "checkpoint.pt"))
        real(run_dir, state)

    monkeypatch.setattr(loop, "save_checkpoint", save)
    return calls


def test_checkpoint_cadence_by_steps_time_and_an_early_first_one(tmp_path, small, monkeypatch):
    calls = _count_checkpoints(monkeypatch)
    train(small, steps=25, lr=0.05, checkpoint_every=10, out=tmp_path / "a")
    assert calls == [0, 10, 20, 25]  # an early first checkpoint (before the first update), then every 10, the end
    calls.clear()
    train(small, steps=5, lr=0.05, checkpoint_seconds=1e-9, out=tmp_path / "b")
    assert calls == [0, 1, 2, 3, 4, 5]  # by time: every step here


def test_run_killed_before_the_first_step_checkpoint_resumes(tmp_path, small):
    with pytest.raises(Boom):
        train(small, steps=12, lr=0.05, out=tmp_path / "r", progress=_crash_at(3))  # default cadence: 1000 steps
    _same_runs(train(small, steps=12, lr=0.05, out=tmp_path / "w"), train(out=tmp_path / "r", resume=True))


def test_failed_checkpoint_write_marks_the_run_and_it_resumes(tmp_path, small, monkeypatch):
    _count_checkpoints(monkeypatch, fail_at=3)  # the write at step 20 fails (disk full)
    with pytest.raises(TrainError, match=r"checkpoint.pt \(No space left on device\); it can resume from step 10"):
        train(small, steps=40, lr=0.05, checkpoint_every=10, out=tmp_path / "r")
    run = load_run(tmp_path / "r")
    assert run.status == "failed" and run.config["stop_reason"] == "write_failed" and run.final_step == 10
    assert "No space left" in run.config["error"]
    monkeypatch.undo()
    resumed = train(out=tmp_path / "r", resume=True)
    assert resumed.status == "done"
    _same_runs(train(small, steps=40, lr=0.05, out=tmp_path / "w"), resumed)


def test_kill_9_then_resume_is_bit_identical(tmp_path, small):
    small.save(tmp_path / "d.npz")
    script = (
        "import os, signal, sys\n"
        "from ntpgeom.train import train\n"
        "def die(stage, step, total, numbers):\n"
        "    if step == 25:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"train({str(tmp_path / 'd.npz')!r}, steps=40, lr=0.05, batch_size=16, optimizer='sgd', checkpoint_every=7, "
        f"out={str(tmp_path / 'k')!r}, progress=die)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert load_run(tmp_path / "k").status == "running"  # killed: no chance to mark anything
    resumed = train(out=tmp_path / "k", resume=True)  # the dead process's lock is stale and taken over
    whole = train(small, steps=40, lr=0.05, batch_size=16, optimizer="sgd", out=tmp_path / "w")
    _same_runs(whole, resumed)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_resume_on_cuda_is_bit_identical(tmp_path, small):
    kw = dict(model="ufm", d=10, lr=0.05, device="cuda", optimizer="sgd", batch_size=16)
    whole = train(small, steps=40, out=tmp_path / "whole", **kw)
    train(small, steps=20, out=tmp_path / "part", **kw)
    part = train(steps=40, out=tmp_path / "part", resume=True)
    assert part.config["device"].startswith("cuda")
    _same_runs(whole, part)


# ------------------------------------------------------------------------------------- API: signature, progress
def test_signature_and_help_show_the_options_not_the_package():
    import inspect
    import pydoc

    import ntpgeom
    from ntpgeom.train.config import FIELDS

    params = inspect.signature(ntpgeom.train).parameters
    assert set(FIELDS) | {"data", "config", "out", "resume", "overwrite", "progress", "verbose", "log"} == set(params)
    assert params["lr"].default == 1e-3 and params["model"].default == "ufm"
    text = pydoc.render_doc(ntpgeom.train, renderer=pydoc.plaintext)
    assert len(text.splitlines()) < 200 and all(name in text for name in FIELDS)
    assert "class Transformer" not in text and "PrefixTree" not in text
    from ntpgeom.train import load_run as lr_  # still a package
    import ntpgeom.train.loop as loop_mod

    assert lr_ is load_run and ntpgeom.train.loop is loop_mod


def test_progress_protocol_and_verbose(tmp_path, small, capsys):
    seen = []
    train(small, steps=4, lr=0.05, out=tmp_path / "p", progress=lambda *a: seen.append(a))
    assert [s[:3] for s in seen] == [("train", k, 4) for k in range(5)]
    assert set(seen[-1][3]) == {"ce", "gap", "norm_L", "lr"}
    assert seen[-1][3]["gap"] == pytest.approx(seen[-1][3]["ce"] - small.entropy_bound)
    train(small, steps=3, lr=0.05, out=tmp_path / "v", verbose=True)
    err = capsys.readouterr().err
    assert "ufm: step 0/3" in err and "ufm: step 3/3" in err


def test_failed_snapshot_or_config_write_is_a_train_error(tmp_path, small, monkeypatch):
    import errno

    from ntpgeom.train import loop

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(loop, "write_snapshot", full_disk)
    with pytest.raises(TrainError, match=r"\(No space left on device\); no checkpoint was written"):
        train(small, steps=5, lr=0.05, out=tmp_path / "a")  # the step-0 snapshot precedes the first checkpoint
    assert load_run(tmp_path / "a").status == "failed"
    monkeypatch.undo()
    monkeypatch.setattr(loop, "write_config", full_disk)
    with pytest.raises(TrainError, match="cannot write to the run folder"):
        train(small, steps=5, lr=0.05, out=tmp_path / "b")
