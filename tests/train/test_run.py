"""The run format (run.py): snapshot steps, the interruption message, reading damaged runs."""

from __future__ import annotations

import pytest

from ntpgeom.errors import FormatError
from ntpgeom.train import TrainInterrupted, load_run, log_spaced_steps


def test_log_spaced_steps():
    assert log_spaced_steps(0) == [0]
    assert log_spaced_steps(7) == [0, 1, 2, 5, 7]
    assert log_spaced_steps(1000) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert log_spaced_steps(1234)[-2:] == [1000, 1234]


def test_train_interrupted_message_names_the_step_and_the_resume_command(tmp_path):
    exc = TrainInterrupted(tmp_path / "r", 42)
    assert isinstance(exc, KeyboardInterrupt) and exc.step == 42 and exc.path == tmp_path / "r"
    assert str(exc).startswith(f"interrupted at step 42; resume with: ntpgeom train -o {tmp_path / 'r'} --resume")


def test_damaged_config_is_a_format_error(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{not json")
    with pytest.raises(FormatError, match="corrupt"):
        load_run(tmp_path / "r")
    (tmp_path / "r" / "config.json").write_text('{"format": "other"}')
    with pytest.raises(FormatError, match="not an ntpgeom run"):
        load_run(tmp_path / "r")


def test_snapshot_files_are_hashed_and_validated(tmp_path):
    """A snapshot with a flipped byte, inconsistent shapes or non-finite values is refused with FormatError."""
    import numpy as np
    import pytest

    from ntpgeom._io import load_npz, save_npz
    from ntpgeom.errors import FormatError
    from ntpgeom.train.run import SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Run, write_snapshot

    run = Run.__new__(Run)  # only its folder is needed to read snapshots
    run.path = tmp_path
    W, H = np.ones((4, 2)), np.ones((2, 3))
    path = write_snapshot(tmp_path, 5, W, H, W @ H, None)
    snap = run.snapshot(5)
    assert snap.step == 5 and snap.L.shape == (4, 3) and not snap.has_bias
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError):
        run.snapshot(5)
    header = {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "step": 5, "has_bias": False}
    for arrays in ({"W": W, "H": H, "L": np.ones((3, 3)), "b": np.zeros(4)},          # L of the wrong shape
                   {"W": W, "H": H, "L": np.full((4, 3), np.nan), "b": np.zeros(4)}):  # non-finite
        save_npz(path, header, arrays, compress=False)
        assert load_npz(path, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, "snapshot", "")[0]["step"] == 5  # hash is valid
        with pytest.raises(FormatError, match="not a valid snapshot"):
            run.snapshot(5)
