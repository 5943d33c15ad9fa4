"""Predicted geometry against the closed forms of theory.md §5 (Props. 2 and 5 with the erratum; neural collapse),
and the direction distance against its definition."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import ShapeError
from ntpgeom.theory import (
    S_tilde,
    cosine_matrix,
    direction_distance,
    factors,
    grams,
    proxy_grams,
    solve_ntp_svm,
)


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("V,k", [(5, 1), (5, 2), (6, 2), (6, 3), (7, 3), (8, 2)])
def test_prop5_k_subsets_closed_forms(V, k):
    d = synthetic.all_k_subsets(V, k)
    res = solve_ntp_svm(d, tol=1e-10, use_certificate=False)  # solve, do not shortcut through S̃
    W, H = factors(res.L)
    S = d.S.toarray() > 0
    N = comb(V - 2, k - 1)
    # words: simplex ETF
    Cw = cosine_matrix(W, axis=0)
    off = ~np.eye(V, dtype=bool)
    assert np.allclose(Cw[off], -1 / (V - 1), atol=1e-6)
    wn = np.linalg.norm(W, axis=1)
    assert np.ptp(wn) <= 1e-6 * wn.max()
    # contexts: cosine set by the overlap, equal norms
    Ch = cosine_matrix(H, axis=1)
    inter = S.T.astype(float) @ S.astype(float)
    assert np.allclose(Ch, (inter - k * k / V) / (k - k * k / V), atol=1e-6)
    hn = np.linalg.norm(H, axis=0)
    assert np.ptp(hn) <= 1e-6 * hn.max()
    # erratum: cos(w_v, h_j)
    Cwh = (W / wn[:, None]) @ (H / hn)
    assert np.allclose(Cwh[S], np.sqrt((V - k) / (k * (V - 1))), atol=1e-6)
    if k < V:
        assert np.allclose(Cwh[~S], -np.sqrt(k / ((V - k) * (V - 1))), atol=1e-6)
    # norm ratio
    assert wn[0] ** 2 / hn[0] ** 2 == pytest.approx((V - 1) * N / (k * (V - k)), rel=1e-6)
    # h_j parallel to the sum of its support's words
    for j in range(0, H.shape[1], max(1, H.shape[1] // 5)):
        assert _cos(H[:, j], W[S[:, j]].sum(axis=0)) == pytest.approx(1.0, abs=1e-6)


def test_balanced_one_hot_is_self_dual_simplex_etf():
    V = 5
    d = synthetic.one_hot(V, per_class=3)
    res = solve_ntp_svm(d, tol=1e-10, use_certificate=False)
    W, H = factors(res.L)
    Cw = cosine_matrix(W)
    assert np.allclose(Cw[~np.eye(V, dtype=bool)], -1 / (V - 1), atol=1e-6)
    wn, hn = np.linalg.norm(W, axis=1), np.linalg.norm(H, axis=0)
    assert np.ptp(wn) <= 1e-6 and np.ptp(hn) <= 1e-6 and wn[0] == pytest.approx(hn[0] * np.sqrt(3), rel=1e-6)
    cls = d.S.toarray().argmax(axis=0)
    for j in range(d.m):
        assert _cos(W[cls[j]], H[:, j]) == pytest.approx(1.0, abs=1e-6)


def test_grams_and_proxy_grams():
    d = synthetic.random_supports(12, 40, (1, 4), n_supports=15, seed=4)
    St = S_tilde(d.S)
    GW, GH = proxy_grams(d)
    # oracle: matrix square roots by eigendecomposition of the dense Grams
    def sqrtm(M):
        w, Q = np.linalg.eigh(M)
        return (Q * np.sqrt(np.maximum(w, 0))) @ Q.T
    assert np.allclose(GW, sqrtm(St @ St.T), atol=1e-6)
    assert np.allclose(GH, sqrtm(St.T @ St), atol=1e-6)
    L = np.random.default_rng(0).normal(size=(7, 9))
    W, H = factors(L)
    G1, G2 = grams(L)
    assert np.allclose(W @ H, L) and np.allclose(G1, W @ W.T) and np.allclose(G2, H.T @ H)


def test_direction_distance():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    assert direction_distance(A, B) == pytest.approx(np.linalg.norm(A / np.linalg.norm(A) - B / np.linalg.norm(B)))
    assert direction_distance(A, 3.0 * A) == pytest.approx(0.0, abs=1e-15)
    assert direction_distance(A, -A) == pytest.approx(2.0)
    assert np.isnan(direction_distance(A, np.zeros_like(A)))
    with pytest.raises(ShapeError):
        direction_distance(A, B.T)
    with pytest.raises(ShapeError):
        direction_distance(A, np.full_like(A, np.nan))
