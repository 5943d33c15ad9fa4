"""Known-answer tests for the subspace-collapse index and NC1-NC4."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.metrics import MetricsError, collapse_baseline, collapse_index, neural_collapse


def _grouped(rng, d=6, sizes=(3, 4, 2, 5), noise=0.0):
    dirs = rng.normal(size=(d, len(sizes)))
    groups = np.repeat(np.arange(len(sizes)), sizes)
    X = dirs[:, groups] * rng.uniform(0.5, 3.0, size=len(groups))  # same direction, different norms
    X = X + noise * rng.normal(size=X.shape)
    return X, groups


def test_collapsed_groups_give_zero_and_baseline_is_large():
    rng = np.random.default_rng(0)
    X, g = _grouped(rng)
    assert collapse_index(X, g) == pytest.approx(0.0, abs=1e-12)
    mean, std = collapse_baseline(X, g, n_perm=30, seed=1)
    assert mean > 0.4 and std >= 0


def test_collapse_index_closed_form_two_groups():
    # group 0: e1 and e2 (spread), group 1: e3 twice (collapsed). unit vectors u: e1, e2, e3, e3
    X = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 2.0, 5.0]])
    g = np.array([0, 0, 1, 1])
    within = 2 * 0.5 / 4  # each of e1, e2 is sqrt(0.5) from their mean
    mu = np.array([0.25, 0.25, 0.5])
    U = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 1.0]])
    total = ((U - mu[:, None]) ** 2).sum() / 4
    assert collapse_index(X, g) == pytest.approx(within / total)


def test_unstructured_directions_sit_at_the_baseline():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 200))
    g = np.repeat(np.arange(20), 10)
    idx = collapse_index(X, g)
    assert idx == pytest.approx((200 - 20) / (200 - 1), abs=0.05)
    mean, _ = collapse_baseline(X, g)
    assert abs(idx - mean) < 0.05
    with pytest.raises(MetricsError):
        collapse_index(X, g[:10])


def test_collapse_index_is_invariant_to_scaling_and_relabelling():
    rng = np.random.default_rng(2)
    X, g = _grouped(rng, noise=0.3)
    a = collapse_index(X, g)
    assert 0 < a < 1
    assert collapse_index(X * 5.0, g) == pytest.approx(a)
    assert collapse_index(X, np.array([f"s{x}" for x in (g * 7 + 3)])) == pytest.approx(a)


def _etf(C: int, d: int) -> np.ndarray:
    """d x C simplex ETF (columns), d >= C."""
    M = np.eye(C) - np.ones((C, C)) / C
    M = np.vstack([M, np.zeros((d - C, C))])
    Q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(d, d)))
    return Q @ M


def test_perfect_neural_collapse_gives_zeros():
    C, d, per = 5, 7, 3
    M = 2.0 * _etf(C, d)
    labels = np.repeat(np.arange(C), per)
    H = M[:, labels] + 0.3 * M.mean(axis=1, keepdims=True)  # shared offset: removed by the global mean
    W = 0.7 * M.T + np.ones((C, 1)) @ np.random.default_rng(0).normal(size=(1, d))  # shared row: removed by centring
    nc = neural_collapse(H, W, labels)
    assert nc.nc1 == pytest.approx(0.0, abs=1e-12)
    assert nc.nc2_H == pytest.approx(0.0, abs=1e-7)
    assert nc.nc2_W == pytest.approx(0.0, abs=1e-7)
    assert nc.nc3 == pytest.approx(0.0, abs=1e-12)
    assert nc.nc4 == 0.0
    assert nc.equinorm_H == pytest.approx(0.0, abs=1e-12) and nc.n_classes == C


def test_neural_collapse_must_fail_cases_and_nc1_closed_form():
    rng = np.random.default_rng(3)
    C, d, per = 4, 6, 5
    labels = np.repeat(np.arange(C), per)
    H = rng.normal(size=(d, C * per))
    W = rng.normal(size=(C, d))
    nc = neural_collapse(H, W, labels)
    assert nc.nc1 > 0.5 and nc.nc2_H > 0.1 and nc.nc2_W > 0.1 and nc.nc3 > 0.1 and nc.nc4 > 0.2
    # NC1 in one dimension: classes at -1 and +1, within offsets ±δ: Σ_W = δ², Σ_B = 1, NC1 = δ² / C
    delta = 0.3
    H1 = np.array([[-1 - delta, -1 + delta, 1 - delta, 1 + delta]])
    nc = neural_collapse(H1, np.array([[-1.0], [1.0]]), np.array([0, 0, 1, 1]))
    assert nc.nc1 == pytest.approx(delta**2 / 2)
    assert nc.nc4 == 0.0
    with pytest.raises(MetricsError):
        neural_collapse(H1, np.array([[-1.0], [1.0]]), np.array([0, 0, 0, 0]))
