"""The Experiment records: every experiment has both budgets, a unique folder, a quick budget no longer than the
default one, and a measure exactly when it is not one of the paper's claims experiments; the RECIPES views agree."""

from __future__ import annotations

from ntpgeom.experiments import APPENDIX_RECIPES, EXPERIMENTS, RECIPES
from ntpgeom.experiments.experiment import BUDGETS
from ntpgeom.experiments.registry import APPENDIX, MAIN


def test_records_are_complete_and_consistent():
    assert MAIN == ("ufm-synthetic", "synthetic", "stories")
    assert APPENDIX == ("mlp", "optimizers", "autoregressive", "bottleneck", "fingerprint")
    folders = [e.folder for e in EXPERIMENTS.values()]
    assert len(set(folders)) == len(folders) and all(f.startswith("appendix/") for f in folders[3:])
    for name, e in EXPERIMENTS.items():
        assert e.name == name and set(e.runs) == set(BUDGETS) and e.title
        assert (e.measure is None) == (not e.appendix), name  # the paper's experiments are judged by the report
        default_steps = {s.name or s.model: s.kwargs["steps"] for s in e.runs["default"]}
        for s in e.runs["quick"]:
            assert s.kwargs["steps"] <= default_steps[s.name or s.model], (name, s)
        folders_of_runs = [s.name or s.model for s in e.runs["default"]]
        assert len(set(folders_of_runs)) == len(folders_of_runs), name


def test_recipe_views_are_the_records_runs():
    for b in BUDGETS:
        assert {n: RECIPES[b][n] for n in MAIN} == {n: list(EXPERIMENTS[n].runs[b]) for n in MAIN}
        assert APPENDIX_RECIPES[b] == {n: list(EXPERIMENTS[n].runs[b]) for n in APPENDIX}
    assert RECIPES["default"]["text"] == RECIPES["default"]["stories"]
