"""ntpgeom.jsonable: the one conversion to strict JSON (property test: any nesting of numbers, arrays, NaN/inf)."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntpgeom.jsonable import dumps, to_jsonable

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=5))
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4), st.tuples(kids, kids),
                                                      st.dictionaries(st.text(max_size=4), kids, max_size=4)), max_leaves=20)


def _expected(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_expected(x) for x in v]
    if isinstance(v, dict):
        return {k: _expected(x) for k, x in v.items()}
    return v


@given(values)
def test_round_trip_is_strict_json(v):
    text = dumps(v)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == _expected(v)


class Color(enum.Enum):
    red = "r"


@dataclass(frozen=True)
class Point:
    x: float
    tag: Color


def test_numpy_paths_enums_dataclasses_sets():
    obj = {"a": np.float32(np.nan), "b": np.arange(3), "c": np.array([1.5, np.inf]), "d": np.int64(7), "e": np.bool_(True),
           "f": Path("/x/y"), "g": Point(np.float64(-np.inf), Color.red), "h": {3, 1, 2}, 5: "int key"}
    assert to_jsonable(obj) == {"a": None, "b": [0, 1, 2], "c": [1.5, None], "d": 7, "e": True, "f": "/x/y",
                                "g": {"x": None, "tag": "r"}, "h": [1, 2, 3], "5": "int key"}


def test_unknown_types_are_a_bug_not_silently_stringified():
    with pytest.raises(TypeError, match="object"):
        to_jsonable({"x": object()})
