"""Test-suite settings and shared fixtures.

Hypothesis runs derandomised by default, so the suite (and CI) is reproducible: the same examples every run. Set
HYPOTHESIS_PROFILE=explore for fresh random examples (and more of them) when hunting for bugs.

``shared``: one reproduce output for the report and experiments tests (session-scoped, figures at low resolution).
The fixture is itself a test of interruption and resume: experiment (a) is interrupted by a real SIGINT during
training (``reproduce`` raises ``ReproduceInterrupted`` and keeps the run), ``ntpgeom report`` is run on the
half-trained run, and ``ntpgeom reproduce --resume`` (the CLI) continues it to the end and writes the shared report.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("default", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: PNG resolution of every figure drawn by the report tests (the default is 150 dpi).
TEST_DPI = 30


@dataclass(frozen=True)
class Shared:
    out: Path                 # the reproduce output folder (finished after --resume)
    cli: dict[str, Any]       # the JSON printed by `ntpgeom reproduce --resume --json`
    stopped: dict[str, Any]   # config.json of the run when it was interrupted
    interrupted_report: Path  # `ntpgeom report` of the interrupted run (folder)
    interrupted_json: dict[str, Any]  # what `ntpgeom report --json` printed for it
    error: Exception          # what reproduce raised on Ctrl-C


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Shared:
    from typer.testing import CliRunner

    from ntpgeom.cli import app
    from ntpgeom.experiments.reproduce import ReproduceInterrupted, reproduce

    root = tmp_path_factory.mktemp("reproduce")
    out = root / "r"
    sent = []

    def ctrl_c_at_first_step_line(line: str) -> None:
        if ": step " in line and not sent:
            sent.append(line)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: training stops cleanly at its next step

    with pytest.raises(ReproduceInterrupted) as exc:
        reproduce(out, quick=True, experiments=["ufm-synthetic"], progress=ctrl_c_at_first_step_line, dpi=TEST_DPI)
    run_dir = out / "ufm-synthetic" / "ufm"
    stopped = json.loads((run_dir / "config.json").read_text())
    rep = CliRunner().invoke(app, ["report", str(run_dir), "-o", str(root / "interrupted-report"), "--json",
                                   "--dpi", str(TEST_DPI), "--no-svg"])
    assert rep.exit_code == 0, rep.output
    res = CliRunner().invoke(app, ["reproduce", "--quick", "-e", "ufm-synthetic", "-o", str(out), "--resume",
                                   "--json", "--dpi", str(TEST_DPI)])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout[res.stdout.index("{"):])
    return Shared(out, cli, stopped, root / "interrupted-report", json.loads(rep.stdout), exc.value)


@pytest.fixture
def error_line(capsys):
    """Run the real entry point on ``argv``; assert exit code 2 and exactly one ``error:`` line; return that line."""
    from ntpgeom.cli import main

    def run(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
        return err[0]

    return run
