"""judge_trajectory with the audit's setting as the oracle (issue 19): on seeded random-support instances where S̃ is
not optimal, the plain-GD UFM passes C1 and L_mm, GD on free logits (implicit bias: S̃) FAILs both, the UFM trained on
token-relabelled data passes none; on the 5-cycle (S̃ optimal) models are judged against the optimal face; the rule's
branches on constructed trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntpgeom.data import corpora
from ntpgeom.data.synthetic import random_supports
from ntpgeom.theory import compute_theory
from ntpgeom.train.plain import gd_free_logits, gd_ufm, relabel
from ntpgeom.verdicts import Verdict
from ntpgeom.verdicts.trajectory import FAMILY, judge_trajectory, tilde_optimal

STEPS, LR, B, N_SNAP = 5000, 3.0, 100, 6


def _nuc(A) -> float:
    return float(np.linalg.svd(A, compute_uv=False).sum())


def _main(j) -> dict[str, str]:
    """The statuses of C1 and L_mm (C2 is judged only for factored models, and not against a face)."""
    return {k: v for k, v in j.status.items() if not k.startswith("C2")}


def _controls(data, th, seed):
    ufm = judge_trajectory(data, th, gd_ufm(data, steps=STEPS, lr=LR, seed=seed, snapshot_steps=N_SNAP), B=B, seed=0)
    free = judge_trajectory(data, th, gd_free_logits(data, steps=STEPS, lr=LR, seed=seed, snapshot_steps=N_SNAP), B=B, seed=0)
    rel = judge_trajectory(data, th, gd_ufm(relabel(data, seed), steps=STEPS, lr=LR, seed=seed, snapshot_steps=N_SNAP), B=B, seed=0)
    return ufm, free, rel


@pytest.mark.parametrize("seed", [1, 22, 27])  # seed 2 also passes, with a lower bound of +0.003
def test_audit_oracle_on_random_supports(seed):
    data = random_supports(8, 20, (1, 4), seed=seed)
    th = compute_theory(data)
    assert not th.certificate.holds and _nuc(th.S_tilde) > 1.0005 * _nuc(th.L_mm - th.L_mm.mean(axis=0))
    assert not tilde_optimal(th)[0]
    ufm, free, rel = _controls(data, th, seed)
    assert ufm.status == {"C1": "pass", "L_mm": "pass", "C2:W": "pass", "C2:H": "pass"}, [c.note for c in ufm.claims]
    assert free.status == {"C1": "FAIL", "L_mm": "FAIL", "C2:W": "n/a", "C2:H": "n/a"}, [c.note for c in free.claims]
    assert "pass" not in rel.status.values(), [c.note for c in rel.claims]
    for c in ufm.claims[:2]:  # the measured quantities behind the verdict
        assert c.against == "rival" and c.positions[-1].lo > 0 and c.trend.rho > 0
        assert c.d_pred[-1] < c.d_pred[0] and c.rate.n == len(c.steps)
        v = c.verdict("ufm")
        assert isinstance(v, Verdict) and v.status == "pass" and v.margin == c.positions[-1].lo
    for c in free.claims[:2]:
        assert c.positions[-1].hi < 0 and c.trend.rho < 0
    for c in rel.claims[:2]:
        assert min(c.positions[-1].d_pred, c.positions[-1].d_rival) > FAMILY


def test_builtin_synthetic_corpus_controls():
    """On the built-in "synthetic" corpus (16 contexts) the UFM moves towards L_mm at every snapshot but its interval
    still straddles 0 after 5000 steps: not a FAIL; free logits FAIL, relabelled data passes nothing."""
    data = corpora.synthetic()
    th = compute_theory(data)
    ufm, free, rel = _controls(data, th, 0)
    for c in ufm.claims[:2]:
        assert c.status in ("pass", "inconclusive") and c.mu[-1] > 0 and c.trend.rho > 0.9
    assert _main(free) == {"C1": "FAIL", "L_mm": "FAIL"}
    assert "pass" not in rel.status.values()



def test_five_cycle_is_judged_against_the_face(five_cycle):
    pytest.importorskip("cvxpy")
    data = five_cycle
    th = compute_theory(data)
    opt, why = tilde_optimal(th)
    assert opt and "optimal face" in why  # ‖S̃‖_* = 2√5 = the optimum, though Prop. 3 sits on its boundary
    assert _nuc(th.S_tilde) == pytest.approx(2 * math.sqrt(5), rel=1e-9)
    from ntpgeom.theory import optimal_face

    face = optimal_face(data, th.L_mm)
    tilde = [{"step": t, "L": th.L_in + t * th.S_tilde} for t in (1, 3, 10, 30, 100)]
    jt = judge_trajectory(data, th, tilde, B=B, face=face)
    assert jt.tilde_optimal and jt.status == {"C1": "pass", "L_mm": "pass", "C2:W": "n/a", "C2:H": "n/a"}
    assert jt.claim("L_mm").d_face[-1] == pytest.approx(0.0, abs=1e-6)  # S̃'s F⊥ part is on the face
    ufm = judge_trajectory(data, th, gd_ufm(data, steps=STEPS, lr=LR, seed=0, snapshot_steps=N_SNAP), B=B, face=face)
    for c in ufm.claims[:2]:
        assert c.against == "face" and c.positions == () and c.status == "pass" and "μ n/a" in c.note
        assert c.d_face[-1] < c.d_face[0] and math.isnan(c.verdict().threshold)
    for k in (1, 3):  # relabelled data: its distance to the face may shrink, but it stays far from it (> FAMILY)
        rel = judge_trajectory(data, th, gd_ufm(relabel(data, k), steps=STEPS, lr=LR, seed=0, snapshot_steps=N_SNAP),
                               B=B, face=face)
        assert "pass" not in rel.status.values(), (k, rel.status)


def test_rule_branches_on_constructed_trajectories():
    data = random_supports(8, 20, (1, 4), seed=1)
    th = compute_theory(data)
    Lm = th.L_mm - th.L_mm.mean(axis=0)
    ts = (2, 5, 20, 50, 200)
    to_pred = [{"step": t, "L": th.L_in + t * Lm + (10 / t) * th.S_tilde} for t in ts]
    away = [{"step": t, "L": th.L_in + t * th.S_tilde + (10 / t) * Lm} for t in ts]
    assert judge_trajectory(data, th, to_pred, B=50).status == {"C1": "pass", "L_mm": "pass", "C2:W": "n/a", "C2:H": "n/a"}
    assert _main(judge_trajectory(data, th, away, B=50)) == {"C1": "FAIL", "L_mm": "FAIL"}
    one = judge_trajectory(data, th, to_pred[-1:], B=50)
    assert _main(one) == {"C1": "inconclusive", "L_mm": "inconclusive"} and "one snapshot" in one.claims[0].note
    # the same judgement from factors W, H (L = W H)
    U, s, Vt = np.linalg.svd(to_pred[-1]["L"])
    k = len(s)
    fac = [{"step": 200, "W": U[:, :k] * np.sqrt(s), "H": np.sqrt(s)[:, None] * Vt[:k]}]
    jf = judge_trajectory(data, th, fac, B=50)
    assert jf.claims[0].positions[-1].mu == pytest.approx(one.claims[0].mu[-1])
    assert jf.status["C2:W"] == "inconclusive" and "one snapshot" in jf.claim("C2:H").note  # measured from W, H
    far = [{"step": t, "L": np.random.default_rng(t).standard_normal((data.V, data.m))} for t in ts]
    assert set(_main(judge_trajectory(data, th, far, B=20)).values()) == {"FAIL"}
    with pytest.raises(ValueError, match="increasing step"):
        judge_trajectory(data, th, to_pred[::-1])
    with pytest.raises(ValueError, match="'L' or both"):
        judge_trajectory(data, th, [{"step": 1, "W": np.ones((8, 2))}])


def test_unresolved_prediction_and_rival_are_inconclusive():
    data = random_supports(8, 20, (1, 4), seed=1)
    th = compute_theory(data)
    ts = (2, 5, 20)
    snaps = [{"step": t, "L": th.L_in + t * th.L_mm} for t in ts]
    jt = judge_trajectory(data, th, snaps, B=20, resolution=1.0)  # a resolution above d(L_mm, S̃): cannot tell
    assert set(_main(jt).values()) == {"inconclusive"} and "cannot be told apart" in jt.claims[0].note


@pytest.mark.slow
def test_builtin_stories_corpus_controls():
    """The built-in "stories" corpus (V = 102, m = 413; S̃ at direction 0.115 from L_mm): 3000 plain-GD steps of the
    UFM pass C1 and L_mm (μ about +0.05, interval above 0), free logits FAIL both (μ about −0.65)."""
    data = corpora.stories()
    th = compute_theory(data)

    def logits(snaps):  # C1 / L_mm only: C2's factor maps cost an SVD of V x m per bootstrap replicate
        return [{"step": s["step"], "L": s["L"] if "L" in s else s["W"] @ s["H"]} for s in snaps]

    kw = dict(steps=3000, lr=LR, seed=1, snapshot_steps=N_SNAP)
    ufm = judge_trajectory(data, th, logits(gd_ufm(data, **kw)), B=50)
    free = judge_trajectory(data, th, logits(gd_free_logits(data, **kw)), B=50)
    rel = judge_trajectory(data, th, logits(gd_ufm(relabel(data, 1), **kw)), B=50)
    assert _main(ufm) == {"C1": "pass", "L_mm": "pass"}, [c.note for c in ufm.claims]
    assert _main(free) == {"C1": "FAIL", "L_mm": "FAIL"}
    assert "pass" not in rel.status.values()
