"""Plain full-batch GD controls (ntpgeom.train.plain): gradient against finite differences, loss towards ℋ,
determinism by seed, the relabelled data's invariants, and the implicit bias of free logits (S̃'s direction)."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.data.synthetic import random_supports
from ntpgeom.theory import S_tilde, cross_entropy, direction_distance, proj_perp, support_mask
from ntpgeom.train.plain import ce_gradient, gd_free_logits, gd_ufm, relabel, snapshot_schedule


@pytest.fixture(scope="module")
def data():
    return random_supports(6, 12, (1, 3), probs="counts", seed=3)  # non-uniform π


def test_ce_gradient_matches_cross_entropy_and_finite_differences(data):
    rng = np.random.default_rng(0)
    L = rng.standard_normal((data.V, data.m))
    P, pi = data.P.toarray(), data.pi
    ce, G = ce_gradient(L, P, pi)
    assert ce == pytest.approx(cross_entropy(L, data), rel=1e-12)
    E = rng.standard_normal(L.shape)
    h = 1e-6
    fd = (ce_gradient(L + h * E, P, pi)[0] - ce_gradient(L - h * E, P, pi)[0]) / (2 * h)
    assert float((G * E).sum()) == pytest.approx(fd, rel=1e-6, abs=1e-10)


def test_gd_ufm_approaches_entropy_deterministically(data):
    a = gd_ufm(data, steps=3000, lr=3.0, seed=1, snapshot_steps=5)
    b = gd_ufm(data, steps=3000, lr=3.0, seed=1, snapshot_steps=5)
    c = gd_ufm(data, steps=3000, lr=3.0, seed=2, snapshot_steps=5)
    steps = [s["step"] for s in a]
    assert steps == sorted(steps) and steps[-1] == 3000 and len(steps) == 5
    assert all(np.array_equal(x["W"], y["W"]) and np.array_equal(x["H"], y["H"]) for x, y in zip(a, b))
    assert not np.array_equal(a[-1]["W"], c[-1]["W"])
    gaps = [cross_entropy(s["W"] @ s["H"], data) - data.entropy_bound for s in a]
    assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:]))  # the loss falls at every snapshot
    assert 0 < gaps[-1] < 2e-3
    assert a[-1]["W"].shape == (data.V, data.V) and a[-1]["H"].shape == (data.V, data.m)


def test_free_logits_converge_to_the_frobenius_margin_direction():
    data = random_supports(8, 20, (1, 4), seed=1)  # here ‖S̃‖_* > ‖L_mm‖_*: S̃ is not optimal
    snaps = gd_free_logits(data, steps=4000, lr=3.0, seed=0, snapshot_steps=[100, 4000])
    mask = support_mask(data.S)
    St = S_tilde(data.S)
    d = [direction_distance(proj_perp(s["L"] - s["L"].mean(axis=0), mask), St) for s in snaps]
    assert d[1] < d[0] and d[1] < 0.2  # the F⊥ part turns towards S̃ (logarithmically)
    assert snaps[-1]["loss"] - data.entropy_bound < 3e-4


def test_relabel_keeps_weights_and_support_sizes_but_scrambles_supports(data):
    r = relabel(data, seed=5)
    assert np.allclose(r.pi, data.pi)
    assert np.array_equal(r.support_sizes, data.support_sizes)
    # each column carries the same multiset of probabilities
    for j in range(data.m):
        assert np.allclose(np.sort(r.P[:, [j]].toarray().ravel()), np.sort(data.P[:, [j]].toarray().ravel()))
    assert not np.array_equal(support_mask(r.S), support_mask(data.S))
    assert np.array_equal(support_mask(relabel(data, seed=5).S), support_mask(r.S))  # same seed, same data


def test_bad_arguments_are_refused(data):
    with pytest.raises(ValueError, match="steps"):
        gd_ufm(data, steps=0)
    with pytest.raises(ValueError, match="lr"):
        gd_free_logits(data, lr=-1.0)
    with pytest.raises(ValueError, match="snapshot steps"):
        snapshot_schedule(10, [5, 11])
