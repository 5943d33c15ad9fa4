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
