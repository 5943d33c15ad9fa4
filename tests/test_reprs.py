"""Result objects print shapes and key numbers, never whole arrays (notebook ergonomics)."""

from __future__ import annotations

import numpy as np

import ntpgeom as g
from ntpgeom.reprs import short_repr, summarize


def test_summaries():
    assert summarize(np.zeros((30, 16))) == "<float64 30x16>"
    assert summarize(0.123456789) == "0.1235" and summarize([1, 2, 3, 4, 5]) == "<list of 5>"
    assert summarize("x" * 100).endswith("...") and len(summarize("x" * 100)) == 60


def test_result_reprs_are_short_and_name_the_shapes():
    data = g.corpora.synthetic()
    th = g.compute_theory(data)
    point = g.theory.path_point(data, 20.0)
    for obj in (th, th.svm, point, g.assess(data, th, W=th.W_mm, H=th.H_mm)):
        text = repr(obj)
        assert text.startswith(type(obj).__name__ + "(") and "array(" not in text, text[:200]
        assert len(text) < 1500, len(text)
    assert f"<float64 {data.V}x{data.m}>" in repr(th.svm) and short_repr(point) == repr(point)
