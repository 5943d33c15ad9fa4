"""``ntpgeom solve`` and ``ntpgeom path``: JSON and text output, exit code 2 with one error line on bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from ntpgeom.cli import app
from ntpgeom.cli.theory import Method
from ntpgeom.data import synthetic
from ntpgeom.theory import METHODS, load_theory, solve_ntp_svm

runner = CliRunner()


def test_cli_solve_and_path(tmp_path):
    d = synthetic.random_supports(8, 25, (1, 3), seed=3)
    p = d.save(tmp_path / "d.npz")
    out = tmp_path / "th.npz"
    res = runner.invoke(app, ["solve", str(p), "--json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["converged"] and rec["gap"] <= 1e-6 and rec["max_violation"] <= 1e-9 and out.exists()
    assert rec["nuclear_norm"] == pytest.approx(solve_ntp_svm(d, tol=1e-9).nuclear_norm, rel=1e-5)
    res = runner.invoke(app, ["solve", str(p)])
    assert res.exit_code == 0 and "gap" in res.stdout
    res = runner.invoke(app, ["path", str(p), "--lams", "1e-2,1e-3", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["path"]
    assert len(rows) == 2 and rows[1]["ce_minus_H"] < rows[0]["ce_minus_H"]


def test_cli_bad_input(tmp_path):
    from ntpgeom.cli import main

    with pytest.raises(SystemExit) as e:
        main(["solve", str(tmp_path / "missing.npz")])
    assert e.value.code == 2
    d = synthetic.random_supports(5, 8, (1, 3), seed=2)
    p = d.save(tmp_path / "d.npz")
    with pytest.raises(SystemExit) as e:
        main(["path", str(p), "--lams", "x"])
    assert e.value.code == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SystemExit) as e:
            main(["path", str(p), "--lams", "-1"])
    assert e.value.code == 2


@pytest.mark.parametrize("cmd", ["solve", "path"])
@pytest.mark.parametrize("opt,val", [("--max-iter", "-5"), ("--max-iter", "0"), ("--threads", "0"), ("--tol", "-1")])
def test_cli_refuses_bad_solver_options(tmp_path, capsys, cmd, opt, val):
    from ntpgeom.cli import main

    p = synthetic.random_supports(5, 8, (1, 3), seed=2).save(tmp_path / "d.npz")
    lams = ["--lams", "1e-2"] if cmd == "path" else []
    with pytest.raises(SystemExit) as e:
        main([cmd, str(p), *lams, opt, val])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and opt in err[0] and val in err[0]


def test_cli_solve_reports_the_status(tmp_path):
    p = synthetic.all_k_subsets(5, 2).save(tmp_path / "d.npz")
    res = runner.invoke(app, ["solve", str(p), "--json", "-o", str(tmp_path / "th.npz")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "certified_by_prop3"
    assert load_theory(tmp_path / "th.npz").svm.method == "tilde"


def test_cli_methods_are_the_backend_table():
    assert [m.value for m in Method] == list(METHODS)


def test_solve_that_stops_above_tol_exits_1_unless_allowed(tmp_path):
    """A non-converged solve is not silently a success: exit 1 with an error line; --allow-inexact accepts it."""
    from typer.testing import CliRunner

    from ntpgeom.cli import app

    args = ["solve", "synthetic", "--tol", "1e-12", "--max-iter", "1", "--method", "fast"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and "user_limit" in res.output and "--allow-inexact" in res.output
    ok = CliRunner().invoke(app, [*args, "--allow-inexact", "--json"])
    assert ok.exit_code == 0 and '"status": "user_limit"' in ok.stdout


# ------------------------------------------------------------------ a solve the user can watch and stop (issue 21)
def test_solve_help_shows_the_cvx_extra():
    res = runner.invoke(app, ["solve", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "pip install 'ntpgeom[cvx]'" in res.stdout and "--time-limit" in res.stdout


def test_solve_time_limit(tmp_path):
    p = synthetic.random_supports(40, 120, (1, 6), seed=2).save(tmp_path / "d.npz")
    res = runner.invoke(app, ["solve", str(p), "--json", "--tol", "1e-14", "--method", "fast", "--time-limit",
                              "0.001", "--allow-inexact"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["status"] == "user_limit" and not rec["interrupted"] and rec["iterations"] < 20000
    for bad in ("0", "-1", "nan"):
        res = runner.invoke(app, ["solve", str(p), "--time-limit", bad])
        assert res.exit_code == 2 and "--time-limit" in res.output


def test_solve_ctrl_c_saves_the_best_certified_point(tmp_path, monkeypatch):
    import ntpgeom.cli.theory as cli_theory

    def interrupt_at_second_report(say, every=10.0):
        calls = []

        def show(stage, done=None, total=None, numbers=None):
            calls.append(numbers)
            if len(calls) == 2:
                raise KeyboardInterrupt

        return show

    monkeypatch.setattr(cli_theory, "_watch", interrupt_at_second_report)
    p = synthetic.random_supports(8, 25, (1, 3), seed=3).save(tmp_path / "d.npz")
    out = tmp_path / "th.npz"
    res = runner.invoke(app, ["solve", str(p), "--tol", "1e-12", "-o", str(out)])
    assert res.exit_code == 130, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1 and "status user_limit and saved to" in lines[0]
    assert "error:" not in res.stderr
    th = load_theory(out)
    assert th.status.value == "user_limit" and th.svm.info["status"] == "interrupted"
    assert f"{th.svm.gap:.2e}" in lines[0]


def test_solve_refuses_data_too_large_with_one_error_line(tmp_path, capsys, monkeypatch):
    import scipy.sparse as sp

    import ntpgeom.theory.dense_size as dense_size
    from ntpgeom.cli import main
    from ntpgeom.data import from_counts

    V, m = 3455, 43125  # the shape of the case / 10 each way; its dense theory needs ~14 GiB
    d = from_counts(sp.csc_array((np.ones(m), (np.arange(m) % V, np.arange(m))), shape=(V, m)))
    p = d.save(tmp_path / "big.npz")
    monkeypatch.setattr(dense_size, "machine_memory", lambda: 8 << 30)
    with pytest.raises(SystemExit) as e:
        main(["solve", str(p)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert "V = 3455 x m = 43125" in err[0] and "GiB" in err[0] and "--min-count" in err[0]


def test_solve_progress_lines_in_a_log(capsys, monkeypatch):
    import ntpgeom.cli.theory as cli_theory

    monkeypatch.setattr(cli_theory.err_console, "_force_terminal", False)
    said = []
    show = cli_theory._watch(said.append, every=0.0)
    show("NTP-SVM* (large)", 10, 100, {"iteration": 10, "gap": 1e-3, "tol": 1e-6, "elapsed": 2.0, "eta": 5.0})
    assert said == []
    assert capsys.readouterr().err == "NTP-SVM* (large) iteration 10, gap 1.0e-03 (tol 1e-06), 2 s, ~5 s left\n"
    monkeypatch.setattr(cli_theory.err_console, "_force_terminal", True)
    show("NTP-SVM* (large)", 20, 100, {"iteration": 20, "gap": 1e-4, "tol": 1e-6, "elapsed": 3.0, "eta": 1.0})
    assert said == ["NTP-SVM* (large) iteration 20, gap 1.0e-04 (tol 1e-06), 3 s, ~1 s left"]


def test_solve_norms_are_the_library_norms():
    from ntpgeom.theory.max_margin import NORMS

    assert tuple(n.value for n in __import__("ntpgeom.cli.theory", fromlist=["Norm"]).Norm) == NORMS


@pytest.mark.parametrize("norm", ["nuclear", "fro", "max", "spectral"])
def test_solve_norm_value_is_the_library_value(tmp_path, norm):
    from ntpgeom import _io
    from ntpgeom.cli.theory import MAX_MARGIN_FORMAT, MAX_MARGIN_VERSION
    from ntpgeom.theory import max_margin

    d = synthetic.random_supports(6, 12, (1, 3), seed=4)
    p = d.save(tmp_path / "d.npz")
    out = tmp_path / "mm.npz"
    res = runner.invoke(app, ["solve", str(p), "--norm", norm, "--json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    lib = max_margin(d, norm, tol=1e-6)
    assert rec["gap"] <= 1e-6
    if norm == "nuclear":  # today's behaviour: the theory file and its record
        assert rec["nuclear_norm"] == pytest.approx(lib.value, rel=1e-5) and load_theory(out).L_mm.shape == (6, 12)
        return
    assert rec["value"] == pytest.approx(lib.value, rel=1e-5) and rec["status"] == lib.status.value
    header, arrays = _io.load_npz(out, MAX_MARGIN_FORMAT, MAX_MARGIN_VERSION, "max-margin file", "rerun solve")
    assert header["norm"] == norm and header["data_hash"] == d.hash
    np.testing.assert_allclose(arrays["L"], lib.L, atol=1e-6 * max(1.0, np.abs(lib.L).max()))
    text = runner.invoke(app, ["solve", str(p), "--norm", norm])
    assert text.exit_code == 0 and f"{lib.value:.6g}"[:5] in text.stdout and "gap" in text.stdout


def test_solve_bogus_norm_is_one_error_line(tmp_path, capsys):
    from ntpgeom.cli import main

    p = synthetic.random_supports(5, 8, (1, 3), seed=2).save(tmp_path / "d.npz")
    for args in (["--norm", "bogus"], ["--norm", "max", "--method", "fast"]):
        with pytest.raises(SystemExit) as e:
            main(["solve", str(p), *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error:"), err
