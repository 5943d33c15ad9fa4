"""The CLI root: one `error:` line and exit 2 for every option-parsing error of every command, `--version`, built-in
dataset names wherever a dataset is taken, and strict JSON output."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

import ntpgeom as g
from ntpgeom.cli import app, main
from ntpgeom.cli._common import print_json


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_version(capsys):
    code, out, err = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"ntpgeom {g.__version__}" and err == ""


@pytest.mark.parametrize("argv,needle", [
    (["data", "build", "x.txt", "-T", "nan", "-o", "o.npz"], "--context-len"),
    (["data", "synth", "bogus", "-o", "o.npz"], "bogus"),
    (["data", "synth", "random", "--V", "1e12", "-o", "o.npz"], "--V"),
    (["train", "synthetic", "--model", "bogus", "-o", "run"], "model 'bogus'"),
    (["train", "synthetic", "-T", "2"], "No such option"),
    (["solve", "synthetic", "--method", "bogus"], "--method"),
    (["solve", "synthetic", "--tol", "abc"], "--tol"),
    (["data", "info"], "Missing argument"),
    (["nosuchcommand"], "No such command"),
])
def test_parse_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert list(tmp_path.iterdir()) == []


def test_errors_one_line_through_clirunner_too():
    res = CliRunner().invoke(app, ["data", "build", "x", "-T", "nan", "-o", "o.npz"])
    assert res.exit_code == 2 and res.output.startswith("error: ") and res.output.count("\n") == 1


@pytest.mark.parametrize("argv,needle", [
    (["data", "synth", "random", "--seed", "-1", "-o", "{d}/o.npz"], "--seed"),
    (["data", "synth", "random", "--seed", str(2**64), "-o", "{d}/o.npz"], "--seed"),
    (["data", "synth", "random", "--V", str(10**12), "-o", "{d}/o.npz"], "1e+12"),
    (["data", "synth", "one-hot", "--V", str(10**6), "--per-class", "1000", "-o", "{d}/o.npz"], "limit"),
    (["data", "synth", "k-subsets", "--V", "100000", "--k", "50", "-o", "{d}/o.npz"], "limit"),
    (["data", "build", "{d}/t.txt", "-T", str(2**63 - 1), "-o", "{d}/o.npz"], "too long"),
    (["data", "build", "{d}/t.txt", "-T", str(2**64), "-o", "{d}/o.npz"], "too long"),
    (["data", "info", "synthetic", "--top", "-1"], "--top"),
])
def test_sizes_and_seeds_refused_before_work(tmp_path, capsys, argv, needle):
    (tmp_path / "t.txt").write_text("the cat sat\n\nthe dog ran\n")
    code, _, err = run([a.format(d=tmp_path) for a in argv], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("name,m", [("synthetic", 16), ("stories", 413)])
def test_builtin_names_wherever_a_dataset_is_taken(capsys, name, m):
    code, out, _ = run(["data", "info", name, "--json"], capsys)
    assert code == 0 and json.loads(out)["m"] == m
    code, out, _ = run(["solve", name, "--json"], capsys)
    assert code == 0 and json.loads(out)["m"] == m


def test_a_file_shadows_a_builtin_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g.synthetic.one_hot(3).save(tmp_path / "stories")
    code, out, _ = run(["data", "info", "stories", "--json"], capsys)
    assert code == 0 and json.loads(out)["m"] == 3


def test_json_output_is_strict(capsys):
    print_json({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": float("nan")}})
    out = capsys.readouterr().out

    def refuse(tok):
        raise AssertionError(f"invalid JSON token {tok}")

    assert json.loads(out, parse_constant=refuse) == {"a": None, "b": [None, None, 1.5], "c": {"d": None}}


@pytest.mark.parametrize("argv", [["train"], ["reproduce"], ["report"], ["solve"], ["data", "build"], ["probe"]])
def test_help_shows_no_type_for_flags(argv, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = run([*argv, "--help"], capsys)
    assert code == 0 and "--help" in out
    assert "<bool>" not in out  # flags take no value
    assert "<int" in out or "<path>" in out or "<str>" in out  # options with values keep their type


def test_help_lists_every_command_without_importing_it():
    from ntpgeom.cli import build_app

    full = CliRunner().invoke(app, ["--help"], terminal_width=160)
    lazy = CliRunner().invoke(build_app(set()), ["--help"], terminal_width=160)
    assert full.exit_code == lazy.exit_code == 0 and lazy.output == full.output


HEAVY = ("matplotlib", "torch", "scipy.optimize", "transformers", "pandas")


@pytest.mark.parametrize("argv, loaded", [(["--help"], ()), (["data", "build", "--help"], ()),
                                          (["data", "info", "--help"], ()),
                                          (["solve", "--help"], ("torch",))])  # solve: the check does see imports
def test_the_command_line_imports_only_what_the_command_needs(argv, loaded):
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom ntpgeom.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Usage" in res.stdout, res.stderr
    assert (set(res.stderr.split()) >= set(loaded)) if loaded else res.stderr.split() == [], res.stderr
