"""The scripts in examples/ run offline, as a user would run them (a subprocess each, with a time budget), and end
with their own checks passing ("ok")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = Path(__file__).resolve().parents[1] / "src"


def _run(name: str, budget_s: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, env=env,
                          timeout=budget_s)


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "01_theory_on_builtin_data.py", "02_train_and_measure.py", "03_report.py"]


@pytest.mark.parametrize("name", [
    "01_theory_on_builtin_data.py",
    "02_train_and_measure.py",
    pytest.param("03_report.py", marks=pytest.mark.slow),  # the same pipeline as tests/report's shared fixture
])
def test_example_runs(name):
    res = _run(name, budget_s=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.rstrip().endswith("ok"), res.stdout[-1000:]
