"""The fingerprint experiment: a small in-process run, its table and figure."""

from __future__ import annotations

import pytest

from ntpgeom.data import corpora
from ntpgeom.experiments import fingerprint as F
from ntpgeom.experiments.registry import APPENDIX, EXPERIMENTS


def test_registered_as_appendix_experiment():
    assert "fingerprint" in APPENDIX and EXPERIMENTS["fingerprint"].recipe(True) == []


def test_small_run_structure_and_gd_free_logits_approach_frobenius():
    data = corpora.synthetic()
    fps = F.fingerprints(data, steps=150, B=10, recipe={("free", "gd"): 2.0, ("ufm", "sign"): 0.002})
    assert list(fps) == ["free gd", "free-raw gd", "ufm sign"]
    assert fps["free-raw gd"].approaches == "fro"  # raw logits: GD's updates are column-centred, S̃ not ±1/2
    fp = fps["free gd"]
    assert fp.approaches == "fro=max"  # GD on free logits: the Frobenius max-margin, S̃'s direction
    assert {r.prediction for r in fp.rows} == {"nuclear", "fro=max", "spectral"}
    assert fp.steps[0] == 0 and fp.steps[-1] == 150
    rows = F.table_rows(fps)
    assert [r["optimizer"] for r in rows] == ["gd", "gd", "sign"] and rows[0]["model"] == "free logits"
    assert all(set(r) >= {"approaches", "closest", "mu", "mu_interval", "d_nuclear", "d_fro=max", "d_spectral",
                          "d_fro", "d_max"} for r in rows)


def test_trajectory_is_seeded():
    data = corpora.synthetic()
    a = F.train_trajectory(data, "ufm", "muon", 0.01, 20, seed=3)
    b = F.train_trajectory(data, "ufm", "muon", 0.01, 20, seed=3)
    assert [s for s, _ in a] == [s for s, _ in b] and all((x == y).all() for (_, x), (_, y) in zip(a, b))


def test_quick_budget_travels_in_the_metadata():
    q, d = F.experiment_data(True), F.experiment_data(False)
    assert q.meta["fingerprint_budget"] == "quick" and d.meta["fingerprint_budget"] == "default"
    assert q.hash == d.hash == corpora.synthetic().hash
    assert F.BUDGET["quick"][0] < F.BUDGET["default"][0]


@pytest.mark.slow
def test_measure_quick(tmp_path):
    res = F.measure(F.experiment_data(True), {}, None, tmp_path)
    n_free = sum(mo == "free" for mo, _ in F.RECIPE)
    assert len(res.table) == len(F.RECIPE) + n_free and res.figure.exists() and res.figure.stat().st_size > 1000
    decisions = res.numbers["decisions"]
    assert decisions["free logits gd"] == "fro=max" and decisions["UFM gd"] in ("nuclear", "undecided")
