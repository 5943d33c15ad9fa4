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


def test_notebook_display_is_a_small_table(tmp_path):
    """_repr_html_ of NTPData, Theory, Run, ProbeResult and ReportResult: a small escaped table of key numbers."""
    from ntpgeom.probe import ProbeResult
    from ntpgeom.report.result import ReportResult
    from ntpgeom.reprs import summary_html

    data = g.corpora.synthetic()
    th = g.compute_theory(data)
    run = g.train(data, model="ufm", steps=3, lr=0.01, optimizer="adam", out=tmp_path / "r", verbose=False)
    for obj, must in ((data, f"<td style=\"text-align:left\">{data.V}</td>"), (th, "status"), (run, "final_step")):
        page = obj._repr_html_()
        assert page.startswith("<table>") and type(obj).__name__ in page and must in page, page[:300]
        assert "array(" not in page and len(page) < 20_000
    assert ProbeResult._repr_html_ is summary_html

    class Stub:
        def summary(self):
            return {"model": {"architecture": "<Llama>"}, "verdicts": [{"claim": "C1", "status": "FAIL"}],
                    "x": float("nan"), "big": list(range(100))}

    page = summary_html(Stub())
    assert "&lt;Llama&gt;" in page and "<Llama>" not in page  # escaped
    assert "verdict C1" in page and ">fail<" in page and ">–<" in page and "&lt;list of 100&gt;" in page
    empty = ReportResult(path=tmp_path / "index.html", out=tmp_path, datasets=[])
    assert "ReportResult" in empty._repr_html_() and "<th>claim</th>" in empty._repr_html_()


def test_dir_lists_public_names_only():
    names = dir(g)
    assert not {"Any", "annotations", "importlib", "_LAZY", "_metadata"} & set(names)
    assert set(g.__all__) <= set(names) and {"data", "theory", "train", "probe"} <= set(names)
    for name in names:
        getattr(g, name)  # every listed name resolves
