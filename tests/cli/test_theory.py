"""``ntpgeom solve`` and ``ntpgeom path``: JSON and text output, exit code 2 with one error line on bad input."""

from __future__ import annotations

import json
import warnings

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
