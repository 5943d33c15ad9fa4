"""SolveMonitor: the estimate of the time left (closed form under linear convergence), the throttled tick, the line;
and through it, NTP-SVM* a user can watch and stop (issue 21 item 6): progress from every iterative backend,
``time_limit`` for ``fast``, Ctrl-C returning the best certified point (checked here from scratch: feasibility, dual
feasibility and the gap recomputed with numpy: the primal constraints read off L, ``‖A‖_2``, ``1ᵀA`` and the signs of
A, ``tr(AᵀS̃)`` with S̃ = M - mean(M), the nuclear norm from numpy's SVD)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ntpgeom.theory.solve_monitor as sm
from ntpgeom.data import synthetic
from ntpgeom.status import Status
from ntpgeom.theory import SolverError, solve_ntp_svm
from ntpgeom.theory.svm_large import solve_ntp_svm_large
from ntpgeom.theory.solve_monitor import TICK_SECONDS, SolveMonitor, progress_line


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(sm.time, "perf_counter", c)
    return c


def test_eta_is_the_linear_convergence_closed_form(clock):
    calls = []
    mon = SolveMonitor("fast", 1e-6, 10_000, progress=lambda *a: calls.append(a), t0=clock.t)
    clock.t += 1.0
    mon.check(10, 1e-1)
    assert math.isnan(calls[-1][3]["eta"])  # one point: no rate yet
    clock.t += 2.0
    mon.check(20, 1e-3)
    # log gap falls by ln(100) in 2 s; ln(1e-3 / 1e-6) more takes 2 * ln(1e3) / ln(1e2) = 3 s
    stage, done, total, n = calls[-1]
    assert (stage, done, total) == ("NTP-SVM* (fast)", 20, 10_000)
    assert n["eta"] == pytest.approx(3.0, rel=1e-12)
    assert n["gap"] == 1e-3 and n["elapsed"] == pytest.approx(3.0) and n["tol"] == 1e-6
    mon.check(30, 5e-7)
    assert calls[-1][3]["eta"] == 0.0


def test_eta_is_capped_by_the_time_limit(clock):
    calls = []
    mon = SolveMonitor("large", 1e-9, 10_000, time_limit=5.0, progress=lambda *a: calls.append(a), t0=clock.t)
    clock.t += 1.0
    mon.check(10, 1e-1)
    assert calls[-1][3]["eta"] == pytest.approx(4.0)  # no rate yet, but the limit bounds it
    clock.t += 10.0
    assert mon.past_deadline()
    mon.check(20, 1e-2)
    assert calls[-1][3]["eta"] == 0.0


def test_tick_reports_only_after_a_quiet_interval_and_after_a_gap(clock):
    calls = []
    mon = SolveMonitor("large", 1e-6, 100, progress=lambda *a: calls.append(a), t0=clock.t)
    clock.t += 10.0
    mon.tick(1)
    assert calls == []  # no certified gap yet
    mon.check(2, 0.5)
    mon.tick(3)
    assert len(calls) == 1
    clock.t += TICK_SECONDS
    mon.tick(4)
    assert len(calls) == 2 and calls[-1][1] == 4 and calls[-1][3]["gap"] == 0.5
    mon.keep("best")
    assert mon.best == "best" and mon.iteration == 4


def test_progress_line():
    line = progress_line({"iteration": 120, "gap": 3.1e-4, "tol": 1e-6, "elapsed": 12.2, "eta": 40.4},
                         "NTP-SVM* (large)")
    assert line == "NTP-SVM* (large) iteration 120, gap 3.1e-04 (tol 1e-06), 12 s, ~40 s left"
    assert "left" not in progress_line({"iteration": 1, "gap": 0.5, "tol": 1e-6, "elapsed": 1, "eta": math.nan})
    assert progress_line(None, "stage") == "stage"


DATA = synthetic.random_supports(8, 25, (1, 3), seed=3)  # Prop. 3 fails: the solvers iterate


def _certificate_holds(res, mask):
    """The returned point and dual certify ``res.gap`` (module docstring); returns the recomputed gap."""
    L, A = np.asarray(res.L), np.asarray(res.dual)
    a = np.where(mask, L, -np.inf).max(axis=0)
    assert np.abs(np.where(mask, L - a, 0.0)).max() <= 1e-9  # equal logits on each support
    assert np.where(mask, -np.inf, L - a + 1.0).max() <= 1e-9  # margin >= 1 outside it
    assert np.linalg.norm(A, 2) <= 1 + 1e-9 and np.abs(A.sum(axis=0)).max() <= 1e-9
    assert A[~mask].max(initial=-np.inf) <= 1e-9
    M = mask.astype(np.float64)
    dual = float((A * (M - M.mean(axis=0))).sum())
    primal = float(np.linalg.svd(L, compute_uv=False).sum())
    assert dual == pytest.approx(res.dual_value, rel=1e-9, abs=1e-9)
    assert primal <= res.nuclear_norm * (1 + 1e-9)  # the reported norm is the value or an upper bound on it
    return (res.nuclear_norm - dual) / res.nuclear_norm


@pytest.mark.parametrize("method", ["fast", "large"])
def test_progress_reports_iteration_certified_gap_elapsed_and_estimate(method):
    calls = []
    res = solve_ntp_svm(DATA, tol=1e-7, method=method, progress=lambda *a: calls.append(a))
    assert res.converged and calls
    stages = {c[0] for c in calls}
    assert stages == {f"NTP-SVM* ({method})"}
    its = [c[1] for c in calls]
    assert its == sorted(its) and all(c[2] == 20000 for c in calls)
    n = calls[-1][3]
    assert set(n) == {"iteration", "gap", "tol", "elapsed", "eta"}
    assert n["gap"] == pytest.approx(res.gap, rel=1e-9, abs=1e-15) and n["eta"] == 0.0
    assert [c[3]["elapsed"] for c in calls] == sorted(c[3]["elapsed"] for c in calls)


@pytest.mark.parametrize("method", ["fast", "large"])
@pytest.mark.parametrize("stop_at", [1, 3])
def test_ctrl_c_returns_the_best_certified_point(method, stop_at):
    seen = []

    def interrupt(stage, done=None, total=None, numbers=None):
        seen.append(numbers["gap"])
        if len(seen) == stop_at:
            raise KeyboardInterrupt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = solve_ntp_svm(DATA, tol=1e-12, method=method, progress=interrupt)
    assert res.info["status"] == "interrupted" and res.status is Status.USER_LIMIT
    assert any("interrupted" in str(w.message) for w in caught)
    assert res.gap == pytest.approx(seen[-1], rel=1e-9)  # the best point at the moment of the Ctrl-C
    assert _certificate_holds(res, DATA.S.toarray() > 0) == pytest.approx(res.gap, rel=1e-6, abs=1e-12)


def test_fast_obeys_the_time_limit():
    d = synthetic.random_supports(40, 120, (1, 6), seed=2)
    with pytest.warns(match="time_limit"):
        res = solve_ntp_svm(d, tol=1e-14, method="fast", time_limit=1e-3, use_certificate=False)
    assert res.status is Status.USER_LIMIT and res.info["status"] == "time_limit"
    assert res.iterations < 20000
    _certificate_holds(res, d.S.toarray() > 0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "10", True])
def test_bad_time_limit(bad):
    with pytest.raises(SolverError, match="time_limit"):
        solve_ntp_svm(DATA, time_limit=bad)


def test_large_solver_defaults_to_one_thread():
    res = solve_ntp_svm_large(DATA, tol=1e-4, use_certificate=False)
    assert res.threads == 1
