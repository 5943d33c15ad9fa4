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
    if 0 <= x <= 2**63 - 1:
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
