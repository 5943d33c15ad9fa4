"""Predicted geometry against the closed forms of theory.md §5 (Props. 2, 3, 5 with the erratum; neural collapse),
the F / F⊥ split and L_in against their defining equations, and the Theory bundle round trip."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import corpora, synthetic
from ntpgeom.errors import NTPGeomError
from ntpgeom.theory import (
    L_in,
    S_tilde,
    compute_theory,
    cosine_matrix,
    cross_entropy_in,
    factors,
    grams,
    load_theory,
    proj_F,
    proj_perp,
    proxy_grams,
    solve_ntp_svm,
    tilde_certificate,
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


def test_prop3_certificate_semantics():
    # all k-subsets: holds (and S̃ is optimal); stories: fails, and S̃ is then strictly suboptimal here
    assert tilde_certificate(synthetic.all_k_subsets(6, 2)).holds
    d = corpora.stories()
    cert = tilde_certificate(d)
    assert not cert.holds and cert.worst > 0
    v, j = cert.worst_index
    assert d.S.toarray()[v, j] == 0
    St = S_tilde(d.S)
    U, s, Vt = np.linalg.svd(St, full_matrices=False)
    r = int((s > 1e-10 * s[0]).sum())
    A = U[:, :r] @ Vt[:r]
    assert A[v, j] == pytest.approx(cert.worst, abs=1e-10)
    res = solve_ntp_svm(d, tol=1e-6)
    assert res.nuclear_norm < s.sum() * (1 - 1e-4)


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


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_L_in_and_projections(seed):
    d = synthetic.random_supports(9, 14, (1, 5), probs="counts", seed=seed)
    P, S = d.P.toarray(), d.S.toarray() > 0
    Lin = L_in(d)
    # the log-ratio equations on every support, and Lin ∈ F
    for j in range(d.m):
        z = np.flatnonzero(S[:, j])
        diff_L = Lin[z][:, None, j] - Lin[z][None, :, j]
        diff_P = np.log(P[z, j])[:, None] - np.log(P[z, j])[None, :]
        assert np.allclose(diff_L, diff_P, atol=1e-10)
    assert np.allclose(proj_F(Lin, d), Lin)
    assert cross_entropy_in(Lin, d) == pytest.approx(d.entropy_bound, abs=1e-10)
    X = np.random.default_rng(seed).normal(size=(d.V, d.m))
    A, B = proj_F(X, d), proj_perp(X, d)
    assert np.allclose(A + B, X)
    assert abs(np.vdot(A, B)) <= 1e-9 * np.vdot(X, X)
    assert np.allclose(proj_F(A, d), A)


def test_compute_theory_roundtrip(tmp_path):
    d = corpora.stories()
    th = compute_theory(d)
    assert th.svm is not None and th.svm.converged and not th.certificate.holds
    assert th.L_mm.shape == (d.V, d.m) and np.allclose(th.W_mm @ th.H_mm, th.L_mm, atol=1e-8)
    assert th.dist_mm_tilde > 1e-3
    # contexts with identical supports get identical columns of L_mm (subspace collapse)
    g = d.support_groups
    j0, j1 = np.flatnonzero(g == g[np.bincount(g).argmax()])[:2]
    assert np.allclose(th.L_mm[:, j0], th.L_mm[:, j1])
    p = th.save(tmp_path / "th.npz")
    back = load_theory(p, data=d)
    assert back.data_hash == d.hash and np.array_equal(back.L_mm, th.L_mm) and np.array_equal(back.G_H, th.G_H)
    assert back.svm_summary["gap"] == th.svm.gap and back.certificate == th.certificate
    with pytest.raises(NTPGeomError):
        load_theory(p, data=synthetic.one_hot(3))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(NTPGeomError):
        load_theory(bad)


def test_compute_theory_certificate_shortcut_and_no_solve():
    d = synthetic.all_k_subsets(6, 3)
    th = compute_theory(d)
    assert th.certificate.holds and th.svm.method == "tilde" and np.allclose(th.L_mm, th.S_tilde)
    assert th.dist_mm_tilde == pytest.approx(0.0, abs=1e-12)
    th2 = compute_theory(d, solve=False)
    assert th2.svm is None and th2.L_mm is None and th2.G_W_proxy is not None
    with pytest.raises(NTPGeomError):
        compute_theory(d.S)
