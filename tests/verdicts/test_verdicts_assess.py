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
    assert all(isinstance(v, g.Verdict) and v.status == "pass" for v in a.verdicts), [v.note for v in a.verdicts]
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
    assert st["C2"] == "FAIL" and "not learnt" in a.verdict("C2").note
    assert st["C3"] == "FAIL" and "not learnt" in a.verdict("C3").note
    rng = np.random.default_rng(0)
    b = g.assess(data, th, W=W, H=H, face=None, first=(0.1 * rng.normal(size=W.shape), 0.1 * rng.normal(size=H.shape)))
    assert b.status["C2"] == "pass" and b.status["C3"] == "pass"


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
    assert a.status["C2"] == "n/a" and a.status["C3"] == "n/a" and a.status["L_mm"] == "pass"
    with pytest.raises(ValueError):
        g.assess(data, th)
    with pytest.raises(ValueError):
        g.assess(data, th, L=np.zeros((data.V + 1, data.m)))


def test_bias_is_reported(syn):
    data, th = syn
    W, H = factors(th.L_in + 100 * th.L_mm)
    a = g.assess(data, th, W=W, H=H, b=np.arange(data.V, dtype=float), face=None)
    assert any("bias" in n for n in a.notes)
