"""The status vocabulary: statuses from gaps, stats records, and the shared option checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntpgeom.errors import SolverError
from ntpgeom.status import SolverStats, Status, check_solver_options


@given(st.floats(0, 1, allow_nan=False), st.floats(1e-12, 1), st.booleans())
def test_status_from_gap(gap, tol, prop3):
    s = Status.from_gap(gap, tol, certified_by_prop3=prop3)
    assert s.solved == (gap <= tol)
    assert s is (Status.USER_LIMIT if gap > tol else Status.CERTIFIED_BY_PROP3 if prop3 else Status.OPTIMAL)


def test_status_is_a_json_string_and_nan_gap_is_not_solved():
    assert json.dumps({"s": Status.OPTIMAL}) == '{"s": "optimal"}' and Status("user_limit") is Status.USER_LIMIT
    assert Status.from_gap(float("nan"), 1e-6) is Status.USER_LIMIT
    assert not Status.SKIPPED.solved


def test_stats_are_frozen_and_round_trip_through_json():
    s = SolverStats(Status.OPTIMAL, "fista", 40, 0.25, 1e-9, 1e-7, 1e-8, 1)
    assert s.converged and SolverStats.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(AttributeError):
        s.gap = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [{"tol": 0}, {"tol": -1.0}, {"tol": float("inf")}, {"tol": True}, {"tol": "1e-6"},
                                 {"max_iter": 0}, {"max_iter": -5}, {"max_iter": 2.0}, {"max_iter": True},
                                 {"threads": 0}, {"check_every": -1}])
def test_check_solver_options_refuses(bad):
    name = next(iter(bad))
    with pytest.raises(SolverError, match=f"--{name.replace('_', '-')} must be"):
        check_solver_options(**bad, names={name: f"--{name.replace('_', '-')}"})


def test_check_solver_options_accepts_numpy_scalars():
    check_solver_options(np.float32(1e-3), np.int64(5), np.int32(2), np.uint8(1))
