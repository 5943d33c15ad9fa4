"""Ctrl-C while the ``ntpgeom`` command starts (issue 24, low): one line and exit code 130, never a
``KeyboardInterrupt`` traceback. The console script's module (src/_ntpgeom_start.py) is outside the package, so the
interrupt can land in ``import ntpgeom`` itself and is still caught."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")

#: the console script as pip writes it, with a real SIGINT sent the moment ``ntpgeom`` starts to import
_SCRIPT = """
import builtins, os, signal, sys
real = builtins.__import__
def importing(name, *a, **k):
    if name == "ntpgeom.cli" and "ntpgeom" not in sys.modules:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: lands while the package imports
    return real(name, *a, **k)
builtins.__import__ = importing
from _ntpgeom_start import main
assert "ntpgeom" not in sys.modules  # the entry module does not import the package
sys.exit(main(["--version"]))
"""


def test_the_console_script_is_the_launcher_outside_the_package():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["ntpgeom"] == "_ntpgeom_start:main"


def test_real_sigint_during_import_ntpgeom_is_one_line_exit_130():
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 130, p.stderr
    assert p.stderr == "error: interrupted while starting; nothing was done\n" and "Traceback" not in p.stderr


def test_without_ctrl_c_the_launcher_runs_the_command(capsys):
    from _ntpgeom_start import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code in (0, None) and capsys.readouterr().out.strip()


def test_monkeypatched_interrupt_in_the_import(capsys, monkeypatch):
    import builtins

    from _ntpgeom_start import main

    real = builtins.__import__

    def interrupted(name, *a, **k):
        if name == "ntpgeom.cli":
            raise KeyboardInterrupt
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as exc:
        main(["data", "build", "x"])
    assert exc.value.code == 130 and capsys.readouterr().err.count("\n") == 1
