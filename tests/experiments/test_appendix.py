"""The appendix experiments of ``reproduce`` (experiments/appendix.py and one module per experiment: mlp.py,
optimizers.py, autoregressive.py, bottleneck.py): each experiment's measurement against an independent computation,
its figure files, and the report section.

Tiny runs (tens of steps) trained once per module; the measured numbers are checked against brute force (entropies
per length from the raw text, nuclear norms, pairwise Pearson) and against invariants that could fail (CE_T ≥ ℋ_T,
the excess over the path point ≥ −its certified gap, no rank-≤k point beats L_mm). The end-to-end ``reproduce``
run is marked slow.
"""

from __future__ import annotations

import json
import math
from html import escape
from collections import Counter, defaultdict

import numpy as np
import pytest

from ntpgeom.data import corpora
from ntpgeom.experiments import EXPERIMENTS
from ntpgeom.experiments import appendix as A
from ntpgeom.experiments.autoregressive import autoregressive_data, lm_text
from ntpgeom.experiments.mlp import between_group_pearson
from ntpgeom.experiments.optimizers import common_range_mean
from ntpgeom.experiments.jobs import RunSpec, plan_jobs, train_serial
from ntpgeom.report.style import output
from ntpgeom.errors import ReproduceError

TEST_DPI = 30
MAX_LEN = 3


def _ufm(name: str, steps: int, **kw):
    return RunSpec("ufm", {"optimizer": "adam", "lr": 0.05, "steps": steps, **kw}, name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny runs of every experiment: {experiment: (data, {folder: Run}, folder)}."""
    from ntpgeom.train import load_run

    out = tmp_path_factory.mktemp("appendix")
    syn = corpora.synthetic()
    plan = [
        ("appendix/mlp", corpora.stories(), [_ufm("ufm", 40), RunSpec("mlp", {"d": 32, "layers": 2, "steps": 40,
                                                                                "lr": 3e-3})]),
        ("appendix/optimizers", syn, [_ufm("gd", 60, optimizer="gd", lr=2.0, snapshot_steps=(0, 2, 10, 60)),
                                      _ufm("adam", 20, snapshot_steps=(0, 2, 10, 20))]),
        ("appendix/autoregressive", autoregressive_data(MAX_LEN),
         [RunSpec("transformer", {"d": 16, "layers": 1, "heads": 2, "steps": 20, "lr": 3e-3})]),
        ("appendix/bottleneck", syn, [_ufm("ufm-d2", 40, d=2), _ufm("ufm-d30", 40, d=30)]),
    ]
    jobs = plan_jobs(plan, [0], out)
    train_serial(jobs, 1, out, lambda _m: None)
    return {name.split("/")[1]: (data, {j.path.name: load_run(j.path) for j in jobs if j.experiment == name},
                                 out / name) for name, data, _ in plan}


@pytest.fixture(scope="module")
def theory_syn():
    from ntpgeom.theory import compute_theory

    return compute_theory(corpora.synthetic())


def test_split_experiments():
    assert A.split_experiments(None, False) == (None, [])
    assert A.split_experiments(None, True) == (None, list(A.NAMES))
    assert A.split_experiments(["stories", "mlp"], False) == (["stories"], ["mlp"])
    assert A.split_experiments(["appendix"], False) == ([], list(A.NAMES))
    assert A.split_experiments(["bottleneck", "optimizers"], False) == ([], ["optimizers", "bottleneck"])
    with pytest.raises(ReproduceError, match="mlp"):  # the message lists the appendix names among the choices
        A.split_experiments(["stories", "nope"], False, known=["stories"])


def _brute_entropy_by_length(text: str, lo: int, hi: int) -> dict[int, float]:
    """ℋ_T from the raw text: every (T+1)-character window inside a document, π normalised within the length."""
    docs = [d for d in text.split("\n\n") if d]
    out = {}
    for T in range(lo, hi + 1):
        nxt: dict[str, Counter] = defaultdict(Counter)
        for d in docs:
            for s in range(len(d) - T):
                nxt[d[s:s + T]][d[s + T]] += 1
        n = sum(sum(c.values()) for c in nxt.values())
        out[T] = sum(sum(c.values()) / n * -sum(k / sum(c.values()) * math.log(k / sum(c.values()))
                                                for k in c.values()) for c in nxt.values())
    return out


def test_autoregressive_table_matches_brute_force(trained):
    data, runs, folder = trained["autoregressive"]
    run = runs["transformer"]
    with output(TEST_DPI, True):
        res = EXPERIMENTS["autoregressive"].measure(data, runs, None, folder)
    brute = _brute_entropy_by_length(lm_text(corpora.synthetic()), 1, MAX_LEN)
    assert [r["T"] for r in res.table] == list(range(1, MAX_LEN + 1))
    for r in res.table:
        assert r["H_T"] == pytest.approx(brute[r["T"]], rel=1e-9, abs=1e-12)
        assert r["gap_T"] >= -1e-9  # CE_T >= ℋ_T for every logits
        assert r["gap_T"] == pytest.approx(r["gap_T_loop"], rel=1e-3, abs=1e-5)  # the training loop's own CE_T
        assert r["contexts"] == int((np.asarray(data.context_lengths) == r["T"]).sum())
    assert res.figure.is_file() and res.figure.with_suffix(".svg").is_file()
    assert res.numbers["steps"] == run.steps[-1]


def test_optimizer_rows_against_the_path(trained, theory_syn):
    data, runs, folder = trained["optimizers"]
    with output(TEST_DPI, False):
        res = EXPERIMENTS["optimizers"].measure(data, runs, theory_syn, folder)
    assert [t["optimizer"] for t in res.table] == ["gd", "adam"]
    for lab, rows in res.rows.items():
        steps = [s for s in runs[lab].steps if s >= 1]
        assert [r["step"] for r in rows] == steps
        for r in rows:
            L = runs[lab].snapshot(r["step"]).L
            B = np.linalg.norm(L - L.mean(axis=0), "nuc")  # independent: numpy's nuclear norm of the centred logits
            assert r["B"] == pytest.approx(B, rel=1e-9)
            assert r["path_norm"] == pytest.approx(r["B"], rel=1e-6)  # the path point sits on the sphere ‖L‖_* = B
            assert 0 <= r["dir_path"] <= 2 and 0 <= r["dir_mm"] <= 2
            assert r["excess"] >= -r["path_gap"] - 1e-12  # L̂_B minimises CE over the ball, up to its gap
    assert res.numbers["closest"] in ("gd", "adam")
    assert res.figure.is_file() and not res.figure.with_suffix(".svg").exists()


def test_common_range_mean_interpolates_in_log_B():
    series = {"a": [{"B": 1.0, "d": 1.0}, {"B": 100.0, "d": 0.0}], "b": [{"B": 10.0, "d": 2.0}, {"B": 1000.0, "d": 2.0}]}
    means, (lo, hi) = common_range_mean(series, "d")
    assert (lo, hi) == (10.0, 100.0)
    assert means["b"] == pytest.approx(2.0)
    assert means["a"] == pytest.approx(0.25)  # linear in log B from 0.5 to 0 over [10, 100]: mean 0.25


def test_bottleneck_widths_and_rank_constrained_bound(trained, theory_syn):
    from ntpgeom.theory import numerical_rank

    data, runs, folder = trained["bottleneck"]
    with output(TEST_DPI, True):
        res = EXPERIMENTS["bottleneck"].measure(data, runs, theory_syn, folder)
    assert [r["k"] for r in res.table] == sorted(int(r.config["d"]) for r in runs.values()) == [2, 30]
    r_mm = numerical_rank(theory_syn.L_mm)
    assert res.numbers["rank_mm"] == r_mm
    for r in res.table:
        if r["rank_k_found"]:
            assert r["rank_k_norm_ratio"] >= 1 - 1e-6  # L_mm is the unconstrained optimum
            assert r["rank_k_rank"] <= r["k"]
        if r["k"] >= r_mm:
            assert r["rank_k_norm_ratio"] == pytest.approx(1.0) and r["dir_rank_k"] == pytest.approx(r["dir_mm"])
    assert res.figure.is_file() and res.figure.with_suffix(".svg").is_file()


def _brute_between_pearson(C, R, g):
    a = [C[i][j] for i in range(len(g)) for j in range(i + 1, len(g)) if g[i] != g[j]]
    b = [R[i][j] for i in range(len(g)) for j in range(i + 1, len(g)) if g[i] != g[j]]
    return float(np.corrcoef(a, b)[0, 1])


def test_between_group_pearson_and_collapse(trained):
    rng = np.random.default_rng(0)
    g = rng.integers(0, 4, size=12)
    C, R = rng.normal(size=(12, 12)), rng.normal(size=(12, 12))
    assert between_group_pearson(C, R, g) == pytest.approx(_brute_between_pearson(C, R, g), rel=1e-12)
    data, runs, folder = trained["mlp"]
    from ntpgeom.theory import compute_theory

    th = compute_theory(data)
    with output(TEST_DPI, True):
        res = EXPERIMENTS["mlp"].measure(data, runs, th, folder)
    assert [t["run"] for t in res.table] == ["ufm", "mlp"]
    for lab, rows in res.rows.items():
        assert [r["step"] for r in rows] == runs[lab].steps
        assert all(r["coarse"] >= 0 and -1 <= r["fine"] <= 1 for r in rows)
    ufm_first = res.rows["ufm"][0]
    assert ufm_first["coarse"] == pytest.approx(1.0, abs=0.15)  # random init: no more collapsed than random groups
    assert res.figure.is_file()


def test_report_section_and_json(trained, theory_syn, tmp_path):
    from ntpgeom.report.build import build_report

    data, runs, folder = trained["bottleneck"]
    with output(TEST_DPI, True):
        res = EXPERIMENTS["bottleneck"].measure(data, runs, theory_syn, folder)
    rep = build_report([], tmp_path / "report", appendix=[res], dpi=TEST_DPI)
    html = rep.path.read_text(encoding="utf-8")
    assert "Appendix experiments" in html and escape(res.title) in html and 'id="appendix-bottleneck"' in html
    js = json.loads((rep.out / "report.json").read_text())
    (entry,) = js["appendix"]
    assert entry["name"] == "bottleneck" and (rep.out / entry["figure"]).is_file()
    assert (rep.out / entry["figure"]).with_suffix(".svg").is_file()
    assert [r["k"] for r in entry["table"]] == [2, 30]


def test_build_report_still_refuses_no_runs(tmp_path):
    from ntpgeom.report.build import ReportError, build_report

    with pytest.raises(ReportError, match="no runs"):
        build_report([], tmp_path / "r")


@pytest.mark.slow
def test_reproduce_quick_appendix_end_to_end(tmp_path):
    from ntpgeom.experiments.reproduce import reproduce

    res = reproduce(tmp_path / "r", quick=True, experiments=["appendix"], dpi=TEST_DPI, progress=lambda _m: None)
    assert [a.name for a in res.report.appendix] == list(A.NAMES)
    assert res.report.datasets == [] and res.verdicts == []
    for a in res.report.appendix:
        assert a.figure.is_file() and a.figure.with_suffix(".svg").is_file()
        assert (tmp_path / "r" / "appendix" / a.name / "measurements.json").is_file()
    widths = [r["k"] for r in res.report.appendix[3].table]
    assert widths == sorted(s.kwargs["d"] for s in A.APPENDIX_RECIPES["quick"]["bottleneck"])
    cfg = json.loads((tmp_path / "r" / "reproduce.json").read_text())
    assert cfg["status"] == "done" and set(cfg["appendix"]) == {f"appendix/{n}" for n in A.NAMES}
