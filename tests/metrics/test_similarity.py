"""Known-answer tests for corr maps, sim (SSIM structure term), Pearson and the normalised distances."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.theory import ShapeError
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpgeom.metrics import (
    MetricsError,
    best_scale_residual,
    corr_from_gram,
    corr_map,
    direction_distance,
    gram_distance,
    pearson,
    sim_ssim,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def test_corr_map_matches_brute_force_and_zero_columns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 6))
    X[:, 2] = 0.0
    C = corr_map(X)
    for i in range(6):
        for j in range(6):
            if i == 2 or j == 2:
                assert C[i, j] == 0.0
            else:
                want = X[:, i] @ X[:, j] / np.sqrt((X[:, i] @ X[:, i]) * (X[:, j] @ X[:, j]))
                assert C[i, j] == pytest.approx(want, abs=1e-12)
    assert np.allclose(corr_from_gram(X.T @ X), C, atol=1e-12)


def test_corr_map_of_scaled_columns_is_invariant():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 5))
    assert np.allclose(corr_map(X * np.array([1, 2, 3, 0.5, 10.0])), corr_map(X))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 7), st.integers(2, 7)), elements=finite))
def test_identical_maps_give_exactly_one(A):
    assert sim_ssim(A, A) == 1.0
    if np.ptp(A) > 1e-100:  # constant inputs (or a variance that underflows to 0) make Pearson undefined (NaN)
        assert pearson(A, A) == 1.0


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (5, 5), elements=finite), arrays(np.float64, (5, 5), elements=finite))
def test_sim_is_bounded_and_pearson_matches_numpy(A, B):
    s = sim_ssim(A, B)
    assert -1.0 - 1e-9 <= s <= 1.0 + 1e-9
    if np.std(A) > 1e-6 and np.std(B) > 1e-6:
        assert pearson(A, B) == pytest.approx(np.corrcoef(A.ravel(), B.ravel())[0, 1], abs=1e-9)


def test_sim_closed_form_and_must_fail_cases():
    rng = np.random.default_rng(2)
    A = corr_map(rng.normal(size=(10, 30)))
    B = corr_map(rng.normal(size=(10, 30)))
    # oracle: population moments written out
    a, b = A.ravel(), B.ravel()
    cov = np.mean((a - a.mean()) * (b - b.mean()))
    want = (cov + 1e-5) / (a.std() * b.std() + 1e-5)
    assert sim_ssim(A, B) == pytest.approx(want, rel=1e-12)
    # two unrelated random corr maps agree poorly (the diagonal alone gives some agreement)
    assert sim_ssim(A, B) < 0.6 and pearson(A, B) < 0.6
    # anti-correlated maps
    v = a.var()
    assert sim_ssim(A, -A) == pytest.approx((-v + 1e-5) / (v + 1e-5), rel=1e-12)
    assert pearson(A, -A) == pytest.approx(-1.0, abs=1e-12)
    # affine change: Pearson stays 1
    assert pearson(A, 3 * A + 1) == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(pearson(np.ones((3, 3)), A[:3, :3]))
    with pytest.raises(MetricsError):
        sim_ssim(A, B[:5, :5])


def test_distances_known_values():
    rng = np.random.default_rng(3)
    G = rng.normal(size=(4, 4))
    G = G @ G.T
    assert gram_distance(G, 7.5 * G) == pytest.approx(0.0, abs=1e-12)
    assert gram_distance(G, -G) == pytest.approx(2.0, abs=1e-12)
    E1, E2 = np.diag([1.0, 0, 0]), np.diag([0, 1.0, 0])
    assert gram_distance(E1, E2) == pytest.approx(np.sqrt(2.0))
    L = rng.normal(size=(5, 7))
    assert direction_distance(L, 1e6 * L) == pytest.approx(0.0, abs=1e-12)
    assert direction_distance(L, rng.normal(size=(5, 7))) > 0.5
    assert np.isnan(direction_distance(L, np.zeros_like(L)))
    with pytest.raises(ShapeError):
        direction_distance(L, L[:, :3])


def test_best_scale_residual():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(6, 8))
    R, res = best_scale_residual(4.2 * Y, Y)
    assert R == pytest.approx(4.2) and res == pytest.approx(0.0, abs=1e-12)
    N = rng.normal(size=(6, 8))
    N -= (N * Y).sum() / (Y * Y).sum() * Y  # orthogonal to Y
    R, res = best_scale_residual(2 * Y + N, Y)
    assert R == pytest.approx(2.0)
    assert res == pytest.approx(np.linalg.norm(N) / np.linalg.norm(2 * Y + N))


def test_snapshot_metrics_ignore_per_context_logit_offsets():
    """Softmax is shift-invariant per context: adding c_j to a whole column of L changes no measurement."""
    import ntpgeom as g
    from ntpgeom.metrics import snapshot_metrics

    data = g.synthetic.random_supports(8, 30, (1, 3), n_supports=6, seed=2)
    th = g.compute_theory(data)
    L = th.L_in + 7.0 * th.L_mm
    shifted = L + np.random.default_rng(0).normal(size=(1, data.m)) * 50.0
    a, b = snapshot_metrics(L, th, data), snapshot_metrics(shifted, th, data)
    for key in ("gap", "slr_resid", "dir_mm", "dir_perp_mm", "softlabel_rel", "collapse_Lperp"):
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
    assert a["slr_resid"] < 1e-9  # L_in + R L_mm is exactly sparse plus low-rank


def test_pearson_survives_tiny_and_huge_scales():
    """Regression (found by hypothesis): variances of ~1e-174 multiplied to 0 and gave NaN."""
    A = np.array([[3.37155009e-87, 0.0], [0.0, 0.0]])
    assert pearson(A, A) == 1.0
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    ref = np.corrcoef(X.ravel(), Y.ravel())[0, 1]
    for scale in (1e-150, 1.0, 1e150):
        assert pearson(scale * X, Y / scale) == pytest.approx(ref, abs=1e-12)


def test_offdiag_excludes_the_shared_unit_diagonal():
    """Random Gaussian W scores ~0.8 with the diagonal (the issue's cause 2) and ~0 without it."""
    from ntpgeom.metrics import offdiag

    rng = np.random.default_rng(0)
    A = corr_map(rng.normal(size=(10, 200)).T)  # V = 10 random word embeddings of width 200
    B = corr_map(rng.normal(size=(10, 200)).T)
    assert sim_ssim(A, B) > 0.6  # the diagonal alone makes two unrelated maps look alike
    a, b = offdiag(A), offdiag(B)
    assert a.shape == (90,) and abs(pearson(a, b)) < 0.3 and abs(sim_ssim(a, b)) < 0.3
    want = np.array([A[i, j] for i in range(10) for j in range(10) if i != j])
    np.testing.assert_array_equal(a, want)


def test_similarity_null_is_the_relabelling_baseline():
    from ntpgeom.metrics import offdiag, similarity_null

    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 30))
    A = corr_map(X)
    mean, sd = similarity_null(A, A, n_perm=50, seed=0)
    assert pearson(offdiag(A), offdiag(A)) == 1.0
    assert abs(mean) < 0.1 and 0 < sd < 0.2  # relabelling items destroys the agreement of a map with itself
    # brute force of one relabelling, as the function draws it
    p = np.random.default_rng(0).permutation(30)
    m1, _ = similarity_null(A, A, n_perm=1, seed=0)
    assert m1 == pytest.approx(pearson(offdiag(A[np.ix_(p, p)]), offdiag(A)), abs=1e-12)
    with pytest.raises(MetricsError):
        similarity_null(A, A, kind="cosine")
