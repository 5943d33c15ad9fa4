"""The rival-normalised position μ (ntpgeom.metrics.position): hand-computed values on a great circle, the exact
ends (±1), μ ∈ [−1, 1] (hypothesis), bootstrap determinism by seed, the trend's exact permutation p-values and the
rate fit against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpgeom.data.synthetic import random_supports
from ntpgeom.metrics.position import (RESOLUTION, bootstrap_weights, c1_distances, mm_distances, mu,
                                      position_interval, rate, trend)
from ntpgeom.theory import compute_theory, support_mask


@pytest.fixture(scope="module")
def inst():
    data = random_supports(8, 20, (1, 4), seed=1)  # uniform π; ‖S̃‖_* > ‖L_mm‖_*
    return data, compute_theory(data), support_mask(data.S)


def _unit(A):
    return A / np.linalg.norm(A)


@pytest.mark.parametrize("phi_frac", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_mu_on_the_great_circle_matches_the_chord_formula(inst, phi_frac):
    data, th, mask = inst
    a = _unit(th.L_mm - th.L_mm.mean(axis=0))
    b = _unit(th.S_tilde)
    theta = math.acos(float((a * b).sum()))
    e2 = _unit(b - (a * b).sum() * a)
    phi = phi_frac * theta
    X = math.cos(phi) * a + math.sin(phi) * e2  # in F⊥ and centred: P_⊥X = X
    d_p, d_r, delta = mm_distances(X, mask, th.L_mm, th.S_tilde)(data.pi)
    assert d_p == pytest.approx(2 * math.sin(phi / 2), abs=1e-9)
    assert delta == pytest.approx(2 * math.sin(theta / 2), abs=1e-9)
    expected = (math.sin((theta - phi) / 2) - math.sin(phi / 2)) / math.sin(theta / 2)
    assert mu(d_p, d_r, delta) == pytest.approx(expected, abs=1e-8)


def test_c1_ends_are_plus_and_minus_one(inst):
    data, th, _ = inst
    at_pred = c1_distances(th.L_in + 7.0 * th.L_mm, th.L_in, th.L_mm, th.S_tilde)(data.pi)
    at_rival = c1_distances(th.L_in + 7.0 * th.S_tilde, th.L_in, th.L_mm, th.S_tilde)(data.pi)
    assert at_pred[0] == pytest.approx(0.0, abs=1e-8) and mu(*at_pred) == pytest.approx(1.0, abs=1e-8)
    assert at_rival[1] == pytest.approx(0.0, abs=1e-8) and mu(*at_rival) == pytest.approx(-1.0, abs=1e-8)
    # a constant added to each column (softmax's invariance) changes nothing
    shifted = c1_distances(th.L_in + 7.0 * th.L_mm + np.arange(data.m), th.L_in, th.L_mm, th.S_tilde)(data.pi)
    assert np.allclose(shifted, at_pred, atol=1e-8)


def test_unresolved_rival_gives_nan_and_not_resolved(inst):
    data, th, mask = inst
    assert math.isnan(mu(0.1, 0.1, RESOLUTION / 2))
    pos = position_interval(mm_distances(th.S_tilde, mask, th.S_tilde, th.S_tilde), data.pi, B=10)
    assert not pos.resolved and math.isnan(pos.mu) and pos.delta == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (8, 20), elements=st.floats(-50, 50)), st.integers(0, 2**31 - 1))
def test_mu_lies_in_minus_one_one(L, seed):
    data = random_supports(8, 20, (1, 4), seed=1)
    th = _theory(data)
    w = bootstrap_weights(data.pi, 1, seed)[0]
    mask = support_mask(data.S)
    for dist in (c1_distances(L, th.L_in, th.L_mm, th.S_tilde), mm_distances(L, mask, th.L_mm, th.S_tilde)):
        d_p, d_r, delta = dist(w)
        m = mu(d_p, d_r, delta)
        assert math.isnan(m) or -1.0 <= m <= 1.0
        if math.isfinite(m):  # the triangle inequality, not the clip, bounds it
            assert abs(d_r - d_p) <= delta + 1e-9


_TH: dict = {}


def _theory(data):
    if data.hash not in _TH:
        _TH[data.hash] = compute_theory(data)
    return _TH[data.hash]


def test_bootstrap_is_deterministic_by_seed_and_resamples_by_pi():
    data = random_supports(8, 20, (1, 4), probs="counts", seed=1)  # non-uniform π, S̃ ≠ L_mm
    w = bootstrap_weights(data.pi, 4000, seed=7)
    assert np.array_equal(w, bootstrap_weights(data.pi, 4000, seed=7))
    assert not np.array_equal(w, bootstrap_weights(data.pi, 4000, seed=8))
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.abs(w.mean(axis=0) - data.pi).max() < 5 * np.sqrt(data.pi.max() / (4000 * data.m))
    th = _theory(data)
    L = th.L_in + 3 * th.L_mm + 0.5 * th.S_tilde
    dist = c1_distances(L, th.L_in, th.L_mm, th.S_tilde)
    p1 = position_interval(dist, data.pi, B=50, seed=3)
    p2 = position_interval(dist, data.pi, B=50, seed=3)
    p3 = position_interval(dist, data.pi, B=50, seed=4)
    assert (p1.mu, p1.lo, p1.hi) == (p2.mu, p2.lo, p2.hi)
    assert p1.mu == p3.mu and (p1.lo, p1.hi) != (p3.lo, p3.hi)
    assert p1.lo <= p1.hi and p1.resolved and (p1.B, p1.alpha) == (50, 0.05)


def test_trend_exact_permutation_p_values():
    up = trend([0.1, 0.2, 0.3, 0.5], [10, 100, 1000, 10000])
    assert up.rho == pytest.approx(1.0) and up.p_up == pytest.approx(1 / 24) and up.p_down == pytest.approx(1.0)
    down = trend([3.0, 2.0, 1.0], [1, 2, 3])
    assert down.rho == pytest.approx(-1.0) and down.p_down == pytest.approx(1 / 6)
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    v = rng.standard_normal(7)
    t = trend(v, np.arange(1, 8) ** 3)
    assert t.rho == pytest.approx(spearmanr(v, np.arange(7)).statistic)
    assert trend([1.0], [5]).n == 1 and math.isnan(trend([1.0, 2.0], [1, 2]).rho)
    mc = trend(np.arange(12.0), np.arange(1, 13), seed=1)
    assert mc.rho == pytest.approx(1.0) and mc.p_up < 1e-3 and mc.method.startswith("Monte Carlo")


def test_rate_recovers_the_intercept_of_a_one_over_log_law():
    t = np.array([10, 30, 100, 300, 1000, 3000, 10000])
    exact = rate(0.2 + 1.5 / np.log(t), t)
    assert exact.intercept == pytest.approx(0.2, abs=1e-10) and exact.slope == pytest.approx(1.5, abs=1e-9)
    noisy = rate(0.2 + 1.5 / np.log(t) + np.random.default_rng(0).normal(0, 0.01, t.size), t, alpha=0.01)
    assert noisy.lo < 0.2 < noisy.hi and noisy.hi - noisy.lo < 0.3
    assert math.isnan(rate([0.3, 0.2], [10, 100]).intercept)
