"""The support pattern: reduction against brute-force grouping, S̃ against its definition, Prop. 3 against the full
SVD, SVT against the SVD prox, and one computation of the pattern per theory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntpgeom.theory.pattern as pattern_mod
from ntpgeom.data import corpora, synthetic
from ntpgeom.errors import SolverError
from ntpgeom.theory import (
    S_tilde,
    compute_theory,
    reduce_pattern,
    solve_ntp_svm,
    support_mask,
    support_pattern,
    tilde_certificate,
)
from ntpgeom.theory.pattern import singular_rank, svt


def _mask_with_repeats(seed, V=7, m=11, n_patterns=4):
    """A random 0/1 pattern whose columns repeat (few distinct supports) and so, often, do its rows."""
    rng = np.random.default_rng(seed)
    base = rng.random((V, n_patterns)) < 0.4
    base[rng.integers(V, size=n_patterns), np.arange(n_patterns)] = True
    return base[:, rng.integers(n_patterns, size=m)]


def _brute_groups(vectors):
    """Group ids by first occurrence and the first index of each group, by a dict of tuples."""
    seen: dict[tuple, int] = {}
    ids = [seen.setdefault(tuple(v), len(seen)) for v in vectors]
    first = [ids.index(g) for g in range(len(seen))]
    return np.array(ids), np.array(first)


def test_reduction_multiplicities():
    S = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 1]])
    red = reduce_pattern(S)
    assert red.shape == (3, 3)
    assert red.c.sum() == 4 and red.r.sum() == 4
    assert np.array_equal(red.expand(red.mask.astype(int)), S)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_reduction_matches_brute_force_grouping(seed):
    mask = _mask_with_repeats(seed)
    red = reduce_pattern(mask)
    col_ids, col_first = _brute_groups(mask.T)
    assert np.array_equal(red.col_group, col_ids)
    assert np.array_equal(red.c, np.bincount(col_ids))
    row_ids, row_first = _brute_groups(mask)
    assert np.array_equal(red.row_group, row_ids) and np.array_equal(red.r, np.bincount(row_ids))
    assert np.array_equal(red.mask, mask[np.ix_(row_first, col_first)])
    assert np.array_equal(red.expand(red.mask), mask)


def test_support_groups_use_the_reduction_grouping():
    d = synthetic.random_supports(9, 60, (1, 4), n_supports=12, seed=3)
    red = reduce_pattern(d)
    assert np.array_equal(d.support_groups, red.col_group)
    assert np.array_equal(d.token_groups, red.row_group)
    assert np.array_equal(d.support_groups, _brute_groups(d.S.toarray().T)[0])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_S_tilde_full_and_reduced(seed):
    mask = _mask_with_repeats(seed)
    V = mask.shape[0]
    St = (np.eye(V) - np.ones((V, V)) / V) @ mask.astype(float)  # the definition
    assert np.allclose(S_tilde(mask), St, atol=1e-14)
    pat = support_pattern(mask)
    red = pat.reduction
    assert np.array_equal(pat.S_tilde, S_tilde(mask))
    assert np.allclose(red.expand(red.S_tilde), St, atol=1e-14)
    s_full = np.linalg.svd(St, compute_uv=False)
    s_red = red.S_tilde_svd[1]
    assert np.allclose(s_red, s_full[: s_red.size], atol=1e-12) and np.allclose(s_full[s_red.size:], 0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_tilde_certificate_matches_the_full_svd(seed):
    mask = _mask_with_repeats(seed)
    U, s, Vt = np.linalg.svd(S_tilde(mask), full_matrices=False)
    r = int((s > 1e-10 * s[0]).sum())
    A = U[:, :r] @ Vt[:r]
    cert = tilde_certificate(mask)
    if mask.all():
        assert cert.holds and cert.worst == -np.inf and cert.worst_index == (-1, -1)
        return
    worst = A[~mask].max()
    assert cert.worst == pytest.approx(worst, abs=1e-9) and cert.holds == (worst < 0)
    assert not mask[cert.worst_index] and A[cert.worst_index] == pytest.approx(worst, abs=1e-9)
    assert np.allclose(support_pattern(mask).reduction.expand(support_pattern(mask).tilde.A), A, atol=1e-9)


def test_prop3_certificate_semantics():
    # all k-subsets: holds (and S̃ is optimal); stories: fails, and S̃ is then strictly suboptimal here
    assert tilde_certificate(synthetic.all_k_subsets(6, 2)).holds
    d = corpora.stories()
    cert = tilde_certificate(d)
    assert not cert.holds and cert.worst > 0
    v, j = cert.worst_index
    assert d.S.toarray()[v, j] == 0
    s = np.linalg.svd(S_tilde(d.S), compute_uv=False)
    res = solve_ntp_svm(d, tol=1e-6)
    assert res.nuclear_norm < s.sum() * (1 - 1e-4)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 7), st.integers(2, 7), st.floats(0.0, 3.0))
def test_svt_is_the_nuclear_norm_prox(seed, a, b, tau):
    Z = np.random.default_rng(seed).normal(size=(a, b))
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    X, D = svt(Z, tau)
    assert np.allclose(X, (U * np.maximum(s - tau, 0)) @ Vt, atol=1e-9)
    assert np.allclose(X + D, Z, atol=1e-12)
    assert np.linalg.norm(D, 2) <= tau + 1e-9


def test_singular_rank():
    assert singular_rank(np.array([3.0, 1.0, 1e-9])) == 2
    assert singular_rank(np.array([3.0, 1.0, 1e-9]), rtol=1e-12) == 3
    assert singular_rank(np.zeros(3)) == 0 and singular_rank(np.array([])) == 0


def test_bad_patterns_are_refused():
    for bad in (np.array([[1, 0], [0, 0]]), np.array([[2, 0], [0, 1]]), np.ones(3), np.ones((1, 3))):
        with pytest.raises(SolverError):
            support_mask(bad)


def test_one_pattern_computation_per_theory(monkeypatch):
    """compute_theory validates the mask once, groups once (columns, then rows) and takes one SVD of S̃."""
    calls = {"mask": 0, "groups": 0, "svd": 0}

    def counting(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(pattern_mod, "support_mask", counting("mask", pattern_mod.support_mask))
    monkeypatch.setattr(pattern_mod, "column_groups", counting("groups", pattern_mod.column_groups))
    real_svd = np.linalg.svd

    def svd(M, *a, **k):
        calls["svd"] += k.get("compute_uv", True) is not False
        return real_svd(M, *a, **k)

    monkeypatch.setattr(pattern_mod.np.linalg, "svd", svd)
    th = compute_theory(synthetic.all_k_subsets(6, 2))  # certificate holds: no ADMM, so every SVD is S̃'s or L_mm's
    assert th.status.value == "certified_by_prop3"
    assert calls["mask"] == 1 and calls["groups"] == 2
    assert calls["svd"] == 1 + 1  # S̃ once; L_mm once (its factors and Grams come from one reduced SVD)
