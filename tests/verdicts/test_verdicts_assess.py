"""ntpgeom.assess: bring-your-own arrays, the same verdicts as runs; untrained models and reparametrisations."""

from __future__ import annotations

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom.theory import factors


@pytest.fixture(scope="module")
def syn():
    data = g.corpora.synthetic()
    return data, g.compute_theory(data)


def test_assess_positive_and_distances(syn):
    data, th = syn
    W, H = factors(th.L_in + 100 * th.L_mm)
    a = g.assess(data, th, W=W, H=H, face=None)
    assert isinstance(a, g.Assessment)
    assert [v.claim for v in a.verdicts] == ["loss", "C1", "C2", "C3", "C4", "L_mm"]
    st = a.status  # one snapshot: the trajectory claims have no trend, so they cannot pass
    assert all(st[c] == "pass" for c in ("loss", "C3", "C4")), [v.note for v in a.verdicts]
    for c in ("C1", "C2", "L_mm"):
        v = a.verdict(c)
        assert st[c] == "inconclusive" and "one snapshot" in v.note, v.note
        assert v.interval is not None and v.interval[0] <= v.value + 1e-9 and v.value > 0.5
    for c in ("C1", "L_mm"):  # exactly at the prediction
        assert a.verdict(c).value == pytest.approx(1.0, abs=1e-9) and a.verdict(c).interval[0] > 0.99
    assert a.trajectory is not None and a.trajectory.claim("C1").steps == (1,)
    L = th.L_in + 100 * th.L_mm
    assert a.dist_mm == pytest.approx(np.linalg.norm(L / np.linalg.norm(L) - th.L_mm / np.linalg.norm(th.L_mm)), abs=1e-9)
    assert a.dist_perp_mm < 1e-9 and a.dist_perp_tilde == pytest.approx(th.dist_mm_tilde, rel=1e-6)
    assert np.isfinite(a.dist_pred) and np.isfinite(a.dist_tilde)


def test_untrained_network_cannot_pass_c2_c3(syn):
    """A model that already had its geometry at initialisation learnt nothing: C2 and C3 fail on the change."""
    data, th = syn
    W, H = factors(th.L_in + 100 * th.L_mm)
    a = g.assess(data, th, W=W, H=H, first=(W, H), face=None)
    st = a.status
    assert st["C3"] == "FAIL" and "not learnt" in a.verdict("C3").note
    assert st["C2"] == "inconclusive"  # C2 is judged over a trajectory: one snapshot never passes
    rng = np.random.default_rng(0)
    b = g.assess(data, th, W=W, H=H, face=None, first=(0.1 * rng.normal(size=W.shape), 0.1 * rng.normal(size=H.shape)))
    assert b.status["C2"] == "inconclusive" and b.status["C3"] == "pass"


def test_verdicts_invariant_to_reparametrisation(syn):
    data, th = syn
    rng = np.random.default_rng(1)
    W, H = factors(th.L_in + 20 * th.L_mm + rng.normal(size=(data.V, data.m)))
    d = W.shape[1]
    Q, _ = np.linalg.qr(rng.normal(size=(d + 1, d + 1)))
    W1 = np.hstack([W, np.ones((data.V, 1))]) @ Q
    H1 = Q.T @ np.vstack([H, 10 * rng.normal(size=(1, data.m))])
    a, b = g.assess(data, th, W=W, H=H, face=None), g.assess(data, th, W=W1, H=H1, face=None)
    for va, vb in zip(a.verdicts, b.verdicts):
        assert va.status == vb.status and va.value == pytest.approx(vb.value, rel=1e-7, abs=1e-10), va.claim


def test_logits_only_and_bad_input(syn):
    data, th = syn
    a = g.assess(data, th, L=th.L_in + 100 * th.L_mm, face=None)
    assert a.status["C2"] == "n/a" and a.status["C3"] == "n/a" and a.status["L_mm"] == "inconclusive"
    assert a.verdict("L_mm").value == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError):
        g.assess(data, th)
    with pytest.raises(ValueError):
        g.assess(data, th, L=np.zeros((data.V + 1, data.m)))


def test_bias_is_reported(syn):
    data, th = syn
    W, H = factors(th.L_in + 100 * th.L_mm)
    a = g.assess(data, th, W=W, H=H, b=np.arange(data.V, dtype=float), face=None)
    assert any("bias" in n for n in a.notes)


def _gd_instance():
    from ntpgeom.data.synthetic import random_supports

    data = random_supports(8, 20, (1, 4), seed=1)
    return data, g.compute_theory(data)


def test_assess_trajectory_audit_oracle():
    """The audit's setting (issue 19) through assess(snapshots=...): on a seeded random-support instance where S̃ is not
    L_mm, plain GD on the factored UFM passes C1 and L_mm, GD on free logits (implicit bias: S̃) FAILs both."""
    from ntpgeom.train.plain import gd_free_logits, gd_ufm

    data, th = _gd_instance()
    assert th.dist_mm_tilde > 0.01  # S̃ ≠ L_mm here
    ufm = g.assess(data, th, snapshots=gd_ufm(data, steps=5000, lr=3.0, seed=1, snapshot_steps=6), B=100, face=None)
    free = g.assess(data, th, snapshots=gd_free_logits(data, steps=5000, lr=3.0, seed=1, snapshot_steps=6), B=100,
                    face=None)
    assert ufm.status["C1"] == "pass" and ufm.status["L_mm"] == "pass", [v.note for v in ufm.verdicts]
    assert free.status["C1"] == "FAIL" and free.status["L_mm"] == "FAIL", [v.note for v in free.verdicts]
    assert free.status["C2"] == "n/a"  # logits only
    for c in ("C1", "L_mm"):
        lo, hi = ufm.verdict(c).interval
        assert 0 < lo <= ufm.verdict(c).value <= hi and ufm.trajectory.claim(c).trend.rho > 0
        assert free.verdict(c).interval[1] < 0
    assert len(ufm.trajectory.claim("C1").steps) == 6 and ufm.trajectory.claim("C1").B == 100


def test_assess_options_bundle_and_errors(syn):
    data, th = syn
    W, H = factors(th.L_in + 100 * th.L_mm)
    a = g.assess(data, th, W=W, H=H, options=g.verdicts.AssessOptions(face=None, B=20), alpha=0.1)
    assert a.trajectory.claim("C1").B == 20 and a.trajectory.claim("C1").alpha == 0.1
    with pytest.raises(TypeError, match="unexpected keyword"):
        g.assess(data, th, W=W, H=H, bogus=1)
    with pytest.raises(ValueError, match="not both"):
        g.assess(data, th, W=W, H=H, snapshots=[{"step": 1, "W": W, "H": H}])
