"""`reproduce --text FILE --paper-scale`: the CPU path at a tiny size (estimate printed and recorded, the reduced
budget is what ran, the verdicts measured on the snapshot subset), the budgets, the estimate's arithmetic, and the CLI
refusing --paper-scale without --text."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from ntpgeom.experiments.jobs import RunSpec
from ntpgeom.train import load_run

PS = importlib.import_module("ntpgeom.experiments.paper_scale")
R = importlib.import_module("ntpgeom.experiments.reproduce")


def test_cli_refuses_paper_scale_without_text(capsys, tmp_path, error_line):
    line = error_line(["reproduce", "--paper-scale", "-o", str(tmp_path / "o")])
    assert "--paper-scale" in line and "--text" in line
    assert not (tmp_path / "o").exists()


def test_cli_refuses_paper_scale_with_quick_and_unknown_budget(capsys, tmp_path, error_line):
    f = tmp_path / "c.txt"
    f.write_text("one two three four five six seven\n", encoding="utf-8")
    assert "--quick" in error_line(["reproduce", "--text", str(f), "--paper-scale", "--quick",
                                             "-o", str(tmp_path / "o")])
    assert "paper budget" in error_line(["reproduce", "--text", str(f), "--paper-scale",
                                                  "--paper-budget", "huge", "-o", str(tmp_path / "o")])


def test_recipes_follow_the_device():
    full, specs = PS.recipes("auto", cuda=True)
    assert full == "full" and specs[1].kwargs["autocast"] == "bf16" and specs[1].kwargs["preset"] == "paper-tinystories"
    assert all(s.kwargs["snapshot_contexts"] == PS.SNAPSHOT_CONTEXTS for s in specs)
    red, specs = PS.recipes("auto", cuda=False)
    assert red == "reduced" and all("autocast" not in s.kwargs for s in specs)
    assert PS.recipes("full", cuda=False)[0] == "full"  # forced: the full budget on a CPU, without bf16
    assert "autocast" not in PS.recipes("full", cuda=False)[1][1].kwargs
    # a corpus with fewer contexts than a batch trains full batch (no sampler without mini-batches)
    small = PS.recipes("full", cuda=True, m=1000)[1][1].kwargs
    assert "batch_size" not in small and "sampler" not in small
    assert PS.recipes("full", cuda=True, m=10 ** 5)[1][1].kwargs["batch_size"] == 4096


def test_estimate_extrapolates_batch_and_counts_evaluations(monkeypatch):
    """A fake probe that costs 0.01 s per step at any batch: the estimate is 0.01 x (batch / probe batch) per step,
    and each full-data evaluation costs m / batch steps / 3 (forward only)."""
    import ntpgeom.train as T
    from ntpgeom.data import synthetic

    seen = []

    def fake(data, steps, config=None, *, probe_steps=3, **kw):
        seen.append((data.m, kw.get("batch_size"), kw["device"]))
        return {"seconds_per_step": 0.01, "steps": steps, "seconds": 0.01 * steps, "device": "cpu"}

    monkeypatch.setattr(T, "estimate_seconds", fake)
    data = synthetic.random_supports(10, 95, (1, 3), seed=0)  # m = 95
    specs = [RunSpec("ufm", {"steps": 100}),
             RunSpec("transformer", {"steps": 1000, "batch_size": 64, "log_every": 500, "snapshot_steps": [0, 10]})]
    monkeypatch.setattr(PS, "PROBE_BATCH", 16)
    est = PS.estimate(data, specs)
    assert seen == [(95, None, "cpu"), (33, 16, "cpu")]
    assert est["runs"]["ufm"]["seconds"] == pytest.approx(0.01 * 100)
    per = 0.01 * 64 / 16
    evals = len({0, 500, 1000, 10}) * (95 / 64) * per / 3
    assert est["runs"]["transformer"]["seconds"] == pytest.approx(per * 1000 + evals)
    assert est["seconds"] == pytest.approx(1.0 + per * 1000 + evals)


def test_duration_words():
    assert [PS.duration(s) for s in (59, 600, 3 * 3600, 3 * 86400)] == ["59 s", "10 min", "3.0 h", "3.0 days"]


@pytest.fixture()
def tiny_budgets(monkeypatch):
    """Tiny stand-ins for the budgets: no CUDA; a 1-layer d=16 transformer as the "full" one (for the estimate) and
    a UFM plus a 1-layer transformer as the reduced one, snapshots on 40 contexts."""
    k = 40
    full = [RunSpec("transformer", {"snapshot_contexts": k, "d": 16, "layers": 1, "heads": 2, "batch_size": 32,
                                    "sampler": "pi", "steps": 50})]
    reduced = [RunSpec("ufm", {"snapshot_contexts": k, "optimizer": "adam", "lr": 0.05, "batch_size": 64,
                               "sampler": "pi", "steps": 30, "log_every": 30, "snapshot_steps": [0, 30]}),
               RunSpec("transformer", {"snapshot_contexts": k, "d": 16, "layers": 1, "heads": 2, "batch_size": 32,
                                       "sampler": "group", "steps": 12, "log_every": 12, "snapshot_steps": [0, 12]})]
    monkeypatch.setattr(PS, "cuda_available", lambda: False)
    monkeypatch.setattr(PS, "FULL", full)
    monkeypatch.setattr(PS, "REDUCED", reduced)
    monkeypatch.setattr(PS, "SNAPSHOT_CONTEXTS", k)
    monkeypatch.setattr(PS, "PROBE_BATCH", 8)
    return k


def _corpus(path):
    rng = np.random.default_rng(0)
    words = "the cat dog sat ran on to a mat rug big small red sun saw".split()
    stories = [" ".join(rng.choice(words, size=40)) + "." for _ in range(12)]
    path.write_text("\n\n".join(stories), encoding="utf-8")
    return path


@pytest.mark.slow
def test_paper_scale_cpu_runs_the_reduced_budget(tmp_path, tiny_budgets):
    lines = []
    f = _corpus(tmp_path / "stories.txt")
    res = R.reproduce(tmp_path / "ps", text=f, paper_scale=True, progress=lines.append, dpi=40, svg=False)
    said = "\n".join(lines)
    assert "the paper-scale budget would take ~" in said and "running a smaller budget" in said
    rec = json.loads((tmp_path / "ps" / "reproduce.json").read_text())
    paper = rec["paper_scale"]
    assert rec["status"] == "done" and rec["budget"] == "paper-scale-reduced" and paper["budget"] == "reduced"
    assert paper["full_estimate"]["seconds"] > 0 and paper["message"].startswith("the paper-scale budget would take")
    assert "theory" in paper and paper["m"] > tiny_budgets
    # the reduced budget is what ran: its models and steps, snapshots on the fixed subset of k contexts
    runs = res.runs[f"text-{f.stem}"]
    assert [load_run(p).config["model"] for p in runs] == ["ufm", "transformer"]
    assert [load_run(p).config["final_step"] for p in runs] == [30, 12]
    for p in runs:
        snap = load_run(p).snapshot(load_run(p).steps[-1])
        assert snap.H.shape[1] == tiny_budgets and snap.contexts is not None and len(snap.contexts) == tiny_budgets
    # the report: subset-measured verdicts, the note saying so, the estimate in the provenance
    rep = json.loads((res.out / "report" / "report.json").read_text())
    assert any("subset" in n and f"{tiny_budgets} of the {paper['m']}" in n for n in rep["datasets"][0]["notes"])
    assert "paper-scale estimate" in rep["provenance"]["extra"] or any(
        "paper-scale estimate" in str(r) for r in rep["provenance"].values())
    assert {v.run.split("/")[1] for v in res.verdicts} == {"ufm", "transformer"}
    assert all(np.isfinite(v.value) or v.status == "n/a" for v in res.verdicts)
    # the controls were built on the same subset: the positive one passes every claim
    assert res.controls and {v.status for v in res.controls[0].rows if v.run.endswith("/positive")} <= {"pass", "n/a"}
