"""Wu & Papyan's linguistic-collapse measures against per-occurrence brute force and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from ntpgeom.errors import MetricsError
from ntpgeom.metrics import groupstats
from ntpgeom.metrics.linguistic import cdnv_by_next_token, gnc2, ncc_agreement, token_classes, unc3
from ntpgeom.metrics.representation import cdnv


def _corpus(rng, d=5, m=12, V=6):
    """Hidden states of m distinct contexts and integer next-token counts C (V x m), every token after >= 2 contexts."""
    H = rng.normal(size=(d, m))
    C = np.zeros((V, m), dtype=int)
    for v in range(V):
        C[v, rng.choice(m, size=rng.integers(2, 5), replace=False)] = rng.integers(1, 4)
    for j in np.flatnonzero(C.sum(axis=0) == 0):
        C[rng.integers(V), j] = 1
    return H, C


def _occurrences(H, C):
    """Every (hidden state, next token) pair of the corpus, one per occurrence."""
    samples = [(H[:, j], v) for v in range(C.shape[0]) for j in range(C.shape[1]) for _ in range(C[v, j])]
    return [s for s, _ in samples], [v for _, v in samples]


def brute_occurrence_stats(H, C):
    """Class means/variances over occurrences, straight from Wu & Papyan's per-sample definition."""
    xs, ys = _occurrences(H, C)
    stats = {}
    for v in sorted(set(ys)):
        pts = [x for x, y in zip(xs, ys) if y == v]
        mu = sum(pts) / len(pts)
        stats[v] = (mu, sum(float((p - mu) @ (p - mu)) for p in pts) / len(pts))
    return stats


def test_cdnv_by_next_token_equals_per_occurrence_cdnv():
    rng = np.random.default_rng(0)
    H, C = _corpus(rng)
    n = C.sum(axis=0)
    P = sp.csc_array(C / n)
    stats = brute_occurrence_stats(H, C)
    vals = [(va + vb) / (2 * float((ma - mb) @ (ma - mb)))
            for (ma, va), (mb, vb) in itertools.combinations(stats.values(), 2)]
    assert cdnv_by_next_token(H, P, weights=n) == pytest.approx(np.mean(vals), rel=1e-10)
    assert cdnv_by_next_token(H, P.toarray(), weights=n / n.sum()) == pytest.approx(np.mean(vals), rel=1e-10)


def test_cdnv_by_next_token_one_hot_is_cdnv_and_min_contexts():
    rng = np.random.default_rng(1)
    H = rng.normal(size=(4, 20))
    labels = rng.integers(0, 6, size=20)
    labels[:2] = 9  # a class with two contexts
    labels[2] = 11  # a singleton class: no variance, left out
    assert cdnv_by_next_token(H, labels) == pytest.approx(cdnv(H, labels), rel=1e-12)
    onehot = np.zeros((12, 20))
    onehot[labels, np.arange(20)] = 1.0
    assert cdnv_by_next_token(H, onehot) == pytest.approx(cdnv(H, labels), rel=1e-12)
    assert math.isnan(cdnv_by_next_token(H, onehot, min_contexts=100))


def test_token_classes_chunks_and_validation(monkeypatch):
    rng = np.random.default_rng(2)
    H, C = _corpus(rng, m=30)
    want = cdnv_by_next_token(H, C / C.sum(axis=0))
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 11)
    assert cdnv_by_next_token(H, C / C.sum(axis=0)) == pytest.approx(want, rel=1e-10)
    with pytest.raises(MetricsError, match="V x m"):
        token_classes(H, C[:, :5])
    with pytest.raises(MetricsError, match="non-negative"):
        token_classes(H, -C)
    with pytest.raises(MetricsError, match="weights"):
        token_classes(H, C, weights=np.ones(3))


def brute_gnc2(H, labels):
    groups = sorted(set(labels.tolist()))
    means = [H[:, labels == g].mean(axis=1) for g in groups]
    centre = sum(means) / len(means)
    units = [(mu - centre) / np.linalg.norm(mu - centre) for mu in means]
    vals = [math.log(1.0 / np.linalg.norm(a - b)) for a, b in itertools.combinations(units, 2)]
    return sum(vals) / len(vals)


def test_gnc2_simplex_closed_form_and_brute_force():
    C = 5
    E = np.eye(C) - 1.0 / C  # simplex ETF: unit centred means have pairwise cosine −1/(C−1)
    labels = np.repeat(np.arange(C), 3)
    H = 4.0 * E[:, labels] + 1.0
    assert gnc2(H, labels) == pytest.approx(-0.5 * math.log(2 * C / (C - 1)), rel=1e-12)
    rng = np.random.default_rng(3)
    H = rng.normal(size=(6, 40))
    labels = rng.integers(0, 9, size=40)
    assert gnc2(H, labels) == pytest.approx(brute_gnc2(H, labels), rel=1e-10)
    assert math.isnan(gnc2(H, np.zeros(40, dtype=int)))
    # min_contexts: classes seen after fewer contexts are left out; two classes after one same context tie (+inf)
    labels2 = np.concatenate([labels, [20, 21]])
    H2 = np.hstack([H, H[:, :1], H[:, :1]])
    assert gnc2(H2, labels2) == math.inf
    big = np.flatnonzero(np.bincount(labels) >= 5)
    sel = np.isin(labels, big)
    assert gnc2(H2, labels2, min_contexts=5) == pytest.approx(brute_gnc2(H[:, sel], labels[sel]), rel=1e-10)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-2, 1e2))
def test_gnc2_rotation_scale_translation_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(5, 30))
    labels = rng.integers(0, 7, size=30)
    Q = ortho_group.rvs(5, random_state=seed % (2**32))
    base = gnc2(H, labels)
    assert gnc2(scale * Q @ H + rng.normal(size=(5, 1)), labels) == pytest.approx(base, rel=1e-8, abs=1e-10)


def brute_unc3(H, W, labels):
    classes = sorted(set(labels.tolist()))
    means = {c: H[:, labels == c].mean(axis=1) for c in classes}
    centre = sum(means.values()) / len(means)
    cos = [float(W[c] @ (means[c] - centre)) / (np.linalg.norm(W[c]) * np.linalg.norm(means[c] - centre))
           for c in classes]
    return float(np.std(cos) / np.mean(cos))


def test_unc3_self_dual_is_zero_and_matches_brute_force():
    rng = np.random.default_rng(4)
    H = rng.normal(size=(6, 30))
    labels = rng.integers(0, 5, size=30)
    means = np.stack([H[:, labels == c].mean(axis=1) for c in range(5)])
    W = (means - means.mean(axis=0)) * rng.uniform(0.5, 3, size=(5, 1))  # every row aligned with its centred mean
    assert unc3(H, W, labels) == pytest.approx(0.0, abs=1e-12)
    W = rng.normal(size=(8, 6)) + 0.5 * np.vstack([means - means.mean(axis=0), np.zeros((3, 6))])
    assert unc3(H, W, labels) == pytest.approx(brute_unc3(H, W, labels), rel=1e-10)
    with pytest.raises(MetricsError, match="rows of W"):
        unc3(H, W[:3], labels)
    with pytest.raises(MetricsError, match="V x d"):
        unc3(H, W.T, labels)


def brute_ncc(H, W, labels, weights, b):
    classes = sorted(set(labels.tolist()))
    means = {c: (H[:, labels == c] * weights[labels == c]).sum(axis=1) / weights[labels == c].sum() for c in classes}
    agree = 0.0
    for j in range(H.shape[1]):
        lin = max(classes, key=lambda c: float(W[c] @ H[:, j]) + b[c])
        ncc = min(classes, key=lambda c: float(np.sum((H[:, j] - means[c]) ** 2)))
        agree += weights[j] * (lin == ncc)
    return agree / weights.sum()


def test_ncc_agreement_closed_form_and_brute_force(monkeypatch):
    rng = np.random.default_rng(5)
    H = rng.normal(size=(4, 50))
    labels = rng.integers(0, 6, size=50)
    means = np.stack([H[:, labels == c].mean(axis=1) for c in range(6)])
    b = -0.5 * (means ** 2).sum(axis=1)  # w_c = μ_c, b_c = −‖μ_c‖²/2: the linear rule *is* the NCC rule
    assert ncc_agreement(H, means, labels, b=b) == 1.0
    W = rng.normal(size=(6, 4))
    w = rng.uniform(0.1, 2, size=50)
    onehot = np.zeros((6, 50))
    onehot[labels, np.arange(50)] = 1.0
    want = brute_ncc(H, W, labels, w, np.zeros(6))
    assert ncc_agreement(H, W, onehot, weights=w) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 13)
    assert ncc_agreement(H, W, onehot, weights=w) == pytest.approx(want, rel=1e-12)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1))
def test_ncc_agreement_and_unc3_joint_rotation_invariance(seed):
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(5, 40))
    labels = rng.integers(0, 6, size=40)
    W = rng.normal(size=(6, 5))
    Q = ortho_group.rvs(5, random_state=seed % (2**32))
    assert ncc_agreement(Q @ H, W @ Q.T, labels) == ncc_agreement(H, W, labels)
    assert unc3(Q @ H, W @ Q.T, labels) == pytest.approx(unc3(H, W, labels), rel=1e-8, abs=1e-12)
