"""Closed-form, brute-force and invariance tests of the representation metrics (cdnv, rankme, α-ReQ, anisotropy,
spectra, ε-rank, layer_metrics)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from ntpgeom.metrics import groupstats
from ntpgeom.metrics.representation import (alpha_req, anisotropy, cdnv, eps_rank, layer_metrics, rankme,
                                            spectrum)
from ntpgeom.errors import MetricsError


# ------------------------------------------------------------------------------------------ brute-force oracles
def brute_cdnv(H, labels):
    """Explicit loops over groups and pairs, straight from the definition."""
    groups = {}
    for j, g in enumerate(labels):
        groups.setdefault(int(g), []).append(H[:, j])
    stats = []
    for cols in groups.values():
        if len(cols) < 2:
            continue
        mu = sum(cols) / len(cols)
        var = sum(float(np.dot(c - mu, c - mu)) for c in cols) / len(cols)
        stats.append((mu, var))
    if len(stats) < 2:
        return float("nan")
    vals = [(va + vb) / (2 * float(np.dot(ma - mb, ma - mb))) for (ma, va), (mb, vb) in itertools.combinations(stats, 2)]
    return sum(vals) / len(vals)


def brute_anisotropy(H):
    cols = [H[:, j] / np.linalg.norm(H[:, j]) for j in range(H.shape[1]) if np.linalg.norm(H[:, j]) > 0]
    vals = [float(a @ b) for i, a in enumerate(cols) for k, b in enumerate(cols) if i != k]
    return sum(vals) / len(vals)


def brute_rankme(H, eps=0.0):
    s = np.linalg.svd(H, compute_uv=False)
    p = s / s.sum() + eps
    return math.exp(-sum(pk * math.log(pk) for pk in p if pk > 0))  # 0 ln 0 = 0


def _grouped(rng, d=5, sizes=(3, 2, 4, 1, 5), noise=0.3):
    mu = rng.normal(size=(d, len(sizes))) * 2
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(labels)
    return mu[:, labels] + noise * rng.normal(size=(d, len(labels))), labels


# --------------------------------------------------------------------------------------------------- cdnv
def test_cdnv_collapsed_groups_is_zero():
    rng = np.random.default_rng(0)
    H, labels = _grouped(rng, noise=0.0)
    assert cdnv(H, labels) == pytest.approx(0.0, abs=1e-20)


def test_cdnv_hand_computed_two_groups():
    # group 0: (0,0), (2,0): mean (1,0), σ² = 1; group 1: (0,5), (0,7): mean (0,6), σ² = 1; ‖Δμ‖² = 37
    H = np.array([[0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 5.0, 7.0]])
    assert cdnv(H, np.array([0, 0, 1, 1])) == pytest.approx((1 + 1) / (2 * 37), rel=1e-14)


def test_cdnv_matches_brute_force_and_ignores_singletons():
    rng = np.random.default_rng(1)
    H, labels = _grouped(rng, sizes=(3, 1, 4, 2, 1, 6, 2))
    assert cdnv(H, labels) == pytest.approx(brute_cdnv(H, labels), rel=1e-10)
    assert cdnv(H.astype(np.float32), labels) == pytest.approx(brute_cdnv(H, labels), rel=1e-5)


def test_cdnv_many_groups_in_pair_blocks(monkeypatch):
    rng = np.random.default_rng(2)
    H, labels = _grouped(rng, d=4, sizes=tuple(rng.integers(1, 4, size=60)))
    want = brute_cdnv(H, labels)
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 37)  # force many column chunks and pair blocks
    assert cdnv(H, labels) == pytest.approx(want, rel=1e-10)


def test_cdnv_nan_with_fewer_than_two_eligible_groups():
    H = np.arange(12.0).reshape(3, 4)
    assert math.isnan(cdnv(H, np.array([0, 0, 1, 2])))
    assert math.isnan(cdnv(H, np.array([0, 1, 2, 3])))


def test_cdnv_rejects_bad_input():
    with pytest.raises(MetricsError, match="one id per column"):
        cdnv(np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(MetricsError, match="NaN or infinite"):
        cdnv(np.array([[np.nan, 1.0]]), np.array([0, 1]))
    with pytest.raises(MetricsError, match="2-D"):
        cdnv(np.ones(3), np.array([0, 1, 2]))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3))
def test_cdnv_rotation_translation_scale_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    H, labels = _grouped(rng)
    Q = ortho_group.rvs(H.shape[0], random_state=seed % (2**32))
    base = cdnv(H, labels)
    assert cdnv(Q @ H, labels) == pytest.approx(base, rel=1e-8)
    assert cdnv(scale * H + rng.normal(size=(H.shape[0], 1)), labels) == pytest.approx(base, rel=1e-8)
    assert cdnv(H, labels + 7) == pytest.approx(base, rel=1e-12)  # ids are names only


# ------------------------------------------------------------------------------------------------- rankme
@pytest.mark.parametrize("d,m,r", [(6, 6, 6), (8, 20, 3), (20, 5, 5)])
def test_rankme_of_orthonormal_columns_is_the_rank(d, m, r):
    rng = np.random.default_rng(d * m)
    U = np.linalg.qr(rng.normal(size=(d, r)))[0]
    V = np.linalg.qr(rng.normal(size=(m, r)))[0]
    H = 3.0 * U @ V.T  # r equal singular values
    # the ε term: p_k = 1/r + ε on r values and ε on the min(d, m) − r zeros
    assert rankme(H) == pytest.approx(r, rel=1e-5)
    assert rankme(H, eps=0.0) == pytest.approx(r, rel=1e-12)


def test_rankme_matches_brute_force_and_gram_route(monkeypatch):
    rng = np.random.default_rng(3)
    H = rng.normal(size=(7, 40)) * np.linspace(0.1, 3, 7)[:, None]
    want = brute_rankme(H)
    assert rankme(H) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 50)  # wide matrix: eigenvalues of H Hᵀ, chunked
    assert rankme(H) == pytest.approx(want, rel=1e-9)


def test_rankme_of_zero_matrix_is_nan():
    assert math.isnan(rankme(np.zeros((3, 4))))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3))
def test_rankme_rotation_and_scale_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(6, 9)) * rng.uniform(0.01, 2, size=(6, 1))
    Q = ortho_group.rvs(6, random_state=seed % (2**32))
    R = ortho_group.rvs(9, random_state=(seed + 1) % (2**32))
    base = rankme(H)
    assert rankme(Q @ H @ R) == pytest.approx(base, rel=1e-9)
    assert rankme(scale * H) == pytest.approx(base, rel=1e-9)


# ---------------------------------------------------------------------------------------------- alpha-ReQ
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_alpha_req_recovers_power_law(alpha):
    rng = np.random.default_rng(4)
    d, m, n = 30, 200, 25
    U = np.linalg.qr(rng.normal(size=(d, n)))[0]
    # right factor orthonormal and orthogonal to the ones vector, so the columns are already centred
    B = rng.normal(size=(m, n))
    B -= B.mean(axis=0)
    V = np.linalg.qr(B)[0]
    k = np.arange(1, n + 1)
    H = U @ np.diag(np.sqrt(m * k ** (-alpha))) @ V.T  # covariance eigenvalues exactly k^(−α)
    assert alpha_req(H) == pytest.approx(alpha, rel=1e-8)
    assert alpha_req(H, k_min=3, k_max=10) == pytest.approx(alpha, rel=1e-8)
    assert alpha_req(H + 5.0) == pytest.approx(alpha, rel=1e-6)  # a shared offset is centred away


def test_alpha_req_undefined_cases():
    assert math.isnan(alpha_req(np.ones((3, 1))))
    assert math.isnan(alpha_req(np.ones((3, 5))))  # no variance


# --------------------------------------------------------------------------------------------- anisotropy
def test_anisotropy_closed_forms():
    v = np.array([1.0, -2.0, 0.5])
    assert anisotropy(np.outer(v, [1.0, 2.0, 0.3, 7.0])) == pytest.approx(1.0, rel=1e-12)
    assert anisotropy(np.eye(4)) == pytest.approx(0.0, abs=1e-15)
    assert anisotropy(np.array([[1.0, -1.0]])) == pytest.approx(-1.0)
    # simplex: m unit vectors with pairwise cosine −1/(m−1)
    m = 5
    E = np.eye(m) - 1.0 / m
    assert anisotropy(E) == pytest.approx(-1.0 / (m - 1), rel=1e-12)


def test_anisotropy_matches_brute_force_and_skips_zero_columns(monkeypatch):
    rng = np.random.default_rng(5)
    H = rng.normal(size=(4, 30)) + 0.7
    H[:, [3, 17]] = 0.0
    want = brute_anisotropy(H)
    assert anisotropy(H) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 9)
    assert anisotropy(H) == pytest.approx(want, rel=1e-12)
    assert math.isnan(anisotropy(np.zeros((3, 4))))


# ------------------------------------------------------------------------------------- spectra and ε-rank
def test_spectrum_and_eps_rank_closed_form():
    rng = np.random.default_rng(6)
    s = np.array([10.0, 5.0, 1.0, 1e-4])
    U = np.linalg.qr(rng.normal(size=(6, 4)))[0]
    V = np.linalg.qr(rng.normal(size=(9, 4)))[0]
    M = U @ np.diag(s) @ V.T
    np.testing.assert_allclose(spectrum(M, 3), [1.0, 0.5, 0.1], rtol=1e-12)
    assert len(spectrum(M)) == 6
    assert eps_rank(M, 0.05) == 3
    assert eps_rank(M, 0.2) == 2
    assert eps_rank(M, 1e-6) == 4
    assert eps_rank(np.zeros((2, 2)), 0.1) == 0
    with pytest.raises(MetricsError):
        eps_rank(M, 0.0)


# ------------------------------------------------------------------------------------------ layer_metrics
def test_layer_metrics_equals_the_definitions():
    rng = np.random.default_rng(7)
    H, labels = _grouped(rng, d=6, sizes=(4, 3, 5, 2))
    W = rng.normal(size=(11, 6))
    out = layer_metrics(H, labels, W=W)
    assert out["cdnv"] == pytest.approx(brute_cdnv(H, labels), rel=1e-10)
    assert out["rankme"] == pytest.approx(brute_rankme(H), rel=1e-12)
    assert out["anisotropy"] == pytest.approx(brute_anisotropy(H), rel=1e-12)
    assert out["lm_head_rank"] == pytest.approx(brute_rankme(W), rel=1e-12)
    assert all(isinstance(v, float) for v in out.values())
    assert "lm_head_rank" not in layer_metrics(H, labels)
    with pytest.raises(MetricsError, match="V x d"):
        layer_metrics(H, labels, W=W.T)


def test_layer_metrics_next_token_keys():
    from ntpgeom.metrics.linguistic import cdnv_by_next_token, gnc2, ncc_agreement, unc3
    from ntpgeom.metrics.representation import LAYER_KEYS

    rng = np.random.default_rng(8)
    H, labels = _grouped(rng, d=6, sizes=(4, 3, 5, 2))
    V, m = 9, H.shape[1]
    P = rng.uniform(size=(V, m)) * (rng.uniform(size=(V, m)) < 0.4)
    P[0] += 1e-3  # every context has a next token
    P /= P.sum(axis=0)
    W = rng.normal(size=(V, 6))
    pi = rng.uniform(0.5, 1.5, size=m)
    out = layer_metrics(H, labels, W=W, P=P, weights=pi)
    assert set(out) == set(LAYER_KEYS)
    assert out["cdnv_next_token"] == cdnv_by_next_token(H, P, pi)
    assert out["gnc2_next_token"] == gnc2(H, P, pi, min_contexts=2)
    assert out["gnc2"] == gnc2(H, labels)
    assert out["unc3"] == unc3(H, W, P, pi)
    assert out["ncc_agreement"] == ncc_agreement(H, W, P, pi)
    with pytest.raises(MetricsError, match="P has"):
        layer_metrics(H, labels, W=W[:5], P=P)


def test_rankme_is_the_issues_definition_with_zero_singular_values():
    # exp(-Σ p ln p), p = σ / Σσ, on a rank-2 H (d = 4): the zero singular values contribute 0 (0 ln 0 = 0)
    H = np.zeros((4, 6))
    H[0, :3], H[1, 3:] = 3.0, 1.0  # σ = 3√3, √3, 0, 0
    p = np.array([3.0, 1.0]) / 4.0
    assert rankme(H) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)
