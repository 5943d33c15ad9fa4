"""experiments/track.py: ``reproduce(..., log=...)`` adds each run's trajectory judgement (μ, the distances to the
prediction and the rival, the verdicts) to the run's TensorBoard events, beside its training curves."""

from __future__ import annotations

import pytest

from ntpgeom.data import corpora
from ntpgeom.experiments.track import STATUS_VALUE, log_judgements
from ntpgeom.report import build_report
from ntpgeom.theory import compute_theory
from ntpgeom.train import train


@pytest.mark.slow
def test_judgements_land_beside_the_training_curves(tmp_path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                             reason="tensorboard is not installed (the track extra)")
    data = corpora.synthetic()
    run = train(data, model="ufm", steps=300, optimizer="adam", lr=0.05, seed=0, out=tmp_path / "ufm", threads=1,
                log="tensorboard")
    rep = build_report([run], tmp_path / "report", theories={data.hash: compute_theory(data)}, svg=False)
    log_judgements(rep, "tensorboard")
    acc = ea.EventAccumulator(str(tmp_path / "ufm" / "tensorboard"), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/gap", "judge/C1/mu", "judge/C1/d_pred", "judge/C1/d_rival", "verdict/C1"} <= tags
    rr = rep.datasets[0].runs[0]
    [c1] = [c for c in rr.trajectory.judgement.claims if c.claim == "C1"]
    mu = {e.step: e.value for e in acc.Scalars("judge/C1/mu")}
    assert sorted(mu) == list(c1.steps)
    for p, step in zip(c1.positions, c1.steps):  # μ = (d_rival − d_pred) / d(pred, rival), read back
        assert mu[step] == pytest.approx((p.d_rival - p.d_pred) / p.delta, abs=1e-5)
    [v] = [v for v in rr.verdicts if v.claim == "C1"]
    assert [e.value for e in acc.Scalars("verdict/C1")] == [STATUS_VALUE[v.status]]


def test_nothing_is_logged_without_a_tracker(tmp_path):
    log_judgements(None, None)  # no report is even looked at
    assert not list(tmp_path.iterdir())

