"""ntpgeom.validate: every helper accepts its range and refuses the rest with a message naming the option."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntpgeom import validate as v
from ntpgeom.errors import NTPDataError, ValidationError


@given(st.integers(-2**70, 2**70))
def test_positive_int_and_seed_exact_ranges(x):
    if x >= 1:
        assert v.positive_int("--n", x) == x
    else:
        with pytest.raises(ValidationError, match="--n"):
            v.positive_int("--n", x)
    if 0 <= x <= 2**63 - 2:  # non-negative (numpy), and seed + 1 fits a signed 64-bit integer (torch)
        assert v.seed("--seed", x) == x
    else:
        with pytest.raises(ValidationError, match="--seed must be between 0 and"):
            v.seed("--seed", x)


@pytest.mark.parametrize("bad", [True, 1.0, "3", None, np.float64(2)])
def test_integers_refuse_non_integers(bad):
    with pytest.raises(ValidationError, match="must be an integer"):
        v.integer("k", bad)
    assert v.integer("k", np.int32(4), lo=0, hi=4) == 4


@pytest.mark.parametrize("bad,msg", [(math.nan, "finite"), (math.inf, "finite"), ("1", "real number"), (True, "real"),
                                     (0.0, "> 0"), (2.0, "<= 1")])
def test_real(bad, msg):
    with pytest.raises(ValidationError, match=msg):
        v.real("--lr", bad, lo=0, lo_open=True, hi=1)
    assert v.real("--lr", 1) == 1.0 and isinstance(v.real("--lr", np.float32(0.5)), float)


def test_choice_and_error_type():
    assert v.choice("--x", "a", ("a", "b")) == "a"
    with pytest.raises(NTPDataError, match="--x must be one of a, b; got 'c'"):
        v.choice("--x", "c", ("a", "b"), error=NTPDataError)


def test_input_file(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert v.input_file("text", f) == f
    with pytest.raises(ValidationError, match="not found"):
        v.input_file("text", tmp_path / "nope")
    with pytest.raises(ValidationError, match="is a folder"):
        v.input_file("text", tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValidationError, match="not a regular file"):
        v.input_file("text", tmp_path / "fifo")
    with pytest.raises(ValidationError, match="too long"):
        v.input_file("text", tmp_path / ("a" * 300))


def test_size_limit_names_the_number():
    v.size_limit("x", v.MAX_ENTRIES)
    with pytest.raises(ValidationError, match="2e\\+08 array entries"):
        v.size_limit("x", 2e8)


# ------------------------------------------------------------------------------- one seed range everywhere
@given(st.one_of(st.integers(-2**65, 2**65), st.integers(2**63 - 5, 2**63 + 5), st.integers(-3, 3)))
def test_one_seed_range_in_every_mechanism(x):
    """The helper, the declared constraint of every configuration, and ``reproduce --seeds`` agree on every integer."""
    from ntpgeom.cli.report import _parse_seeds
    from ntpgeom.data.engines.config import CONSTRAINTS as corpus  # noqa: F401 (no seed: nothing to agree on)
    from ntpgeom.errors import ProbeError, ReportError, ReproduceError, TrainError
    from ntpgeom.probe.config import CONSTRAINTS as probe
    from ntpgeom.report.config import CONSTRAINTS as report
    from ntpgeom.train.config import validate as train_validate

    ok = 0 <= x <= 2**63 - 2
    assert v.SEED.accepts(x) is ok
    checks = [(lambda: v.seed("--seed", x), ValidationError),
              (lambda: train_validate({"seed": x}), TrainError),
              (lambda: v.check_fields({"seed": x}, probe, error=ProbeError), ProbeError),
              (lambda: v.check_fields({"seed": x}, report, error=ReportError), ReportError),
              (lambda: _parse_seeds(f"0,{x}"), ReproduceError)]
    for check, error in checks:
        if ok:
            check()
        else:
            with pytest.raises(error, match="seed"):
                check()


def test_check_fields_names_the_field_or_its_flag():
    constraints = {"k": [v.Interval(True, 0, open_lo=True), None], "mode": [v.OneOf(("a", "b"))], "flag": [bool]}
    v.check_fields({"k": None, "mode": "a", "flag": False, "unconstrained": object()}, constraints)
    with pytest.raises(ValidationError, match=r"^--k must be a positive integer or None, got 0$"):
        v.check_fields({"k": 0}, constraints, names={"k": "--k"})
    with pytest.raises(NTPDataError, match=r"^mode must be one of a, b; got 'c'$"):
        v.check_fields({"mode": "c"}, constraints, error=NTPDataError)
    with pytest.raises(ValidationError, match="flag must be True or False, got 1"):
        v.check_fields({"flag": 1}, constraints)
    assert v.Interval(False, 0.0, 1.0, open_hi=True).accepts(0.0) and not v.Interval(False, 0.0, 1.0, open_hi=True).accepts(1.0)
    assert not v.Interval(True, 0).accepts(np.float64(1.0)) and v.Interval(True, 0).accepts(np.int64(1))
