"""Theory.restrict (ntpgeom.theory.restriction): the theory of the whole data seen on some contexts, against columns
sliced by hand from the whole theory, Grams from a dense SVD of the whole matrices, and the algebra of restriction
(restricting to every context changes nothing; restricting twice is restricting once with the composed index)."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import synthetic
from ntpgeom.errors import ValidationError
from ntpgeom.theory import L_in, S_tilde, Theory, compute_theory, grams, load_theory, support_pattern
from ntpgeom.theory.restriction import TILDE_OPTIMAL_RTOL, tilde_is_optimal

_COLUMNWISE = ("L_in", "S_tilde", "L_mm", "H_mm")
_KEPT = ("W_mm", "G_W", "G_W_proxy", "svm", "certificate", "dist_mm_tilde", "tilde_optimal")


@pytest.fixture(scope="module")
def whole():
    data = synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0)
    return data, compute_theory(data)


@pytest.fixture(scope="module")
def not_tilde():
    """A dataset whose S̃ is not optimal (‖S̃‖_* exceeds ‖L_mm‖_* by ~0.8 %)."""
    data = synthetic.random_supports(8, 30, (1, 4), n_supports=5, probs="dirichlet", seed=0)
    return data, compute_theory(data)


def _same(a: Theory, b: Theory, exact: bool = True) -> None:
    """Every field of two theories equal (arrays bit for bit, or to rounding when ``exact`` is False)."""
    for f in fields(Theory):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None, f.name
            if exact:
                assert x.shape == y.shape and np.array_equal(x, y), f.name
            else:
                np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12, err_msg=f.name)
        elif f.name == "meta":
            assert dict(x) == dict(y)
        else:
            assert x == y, f.name


def test_restriction_is_the_hand_sliced_columns(whole):
    data, th = whole
    K = np.sort(np.random.default_rng(1).choice(data.m, 30, replace=False))
    sub = data.select_contexts(K)
    tk = th.restrict(K, sub.hash)
    for name in _COLUMNWISE:
        assert np.array_equal(getattr(tk, name), getattr(th, name)[:, K]), name
    for name in _KEPT:
        assert getattr(tk, name) is getattr(th, name), name
    assert np.array_equal(tk.G_H, th.G_H[np.ix_(K, K)]) and np.array_equal(tk.G_H_proxy, th.G_H_proxy[np.ix_(K, K)])
    assert tk.data_hash == sub.hash and np.array_equal(tk.contexts, K) and tk.restricted and not th.restricted
    assert tk.meta["restricted_from"] == data.hash and tk.meta["n_contexts_full"] == data.m
    # independent oracles: L_in and S̃ are column-wise, so they are those of the data of the contexts K
    np.testing.assert_allclose(tk.L_in, L_in(sub), atol=1e-12)
    np.testing.assert_allclose(tk.S_tilde, S_tilde(sub), atol=1e-12)


@pytest.mark.parametrize("how", ["S_tilde", "pattern"])
def test_grams_the_whole_theory_does_not_hold_come_from_the_whole_factors(whole, how):
    """Without the m x m Grams, the restricted Grams are those of the whole L_mm and S̃ on K (dense SVD oracle), not
    the Grams of a factor of the restricted columns."""
    data, th = whole
    bare = replace(th, G_H=None, G_H_proxy=None)
    K = np.array([60, 3, 17, 94, 41, 8])
    tk = bare.restrict(K, "sub", pattern=support_pattern(data) if how == "pattern" else None)
    np.testing.assert_allclose(tk.G_H, grams(th.L_mm)[1][np.ix_(K, K)], atol=1e-9)
    np.testing.assert_allclose(tk.G_H_proxy, grams(th.S_tilde)[1][np.ix_(K, K)], atol=1e-9)
    np.testing.assert_allclose(tk.H_proxy.T @ tk.H_proxy, tk.G_H_proxy, atol=1e-12)
    assert not np.allclose(tk.G_H, grams(th.L_mm[:, K])[1], atol=1e-3)  # the factor of the columns is another matrix
    assert th.restrict(K, "sub").H_proxy is None  # the whole proxy Gram held: no factor needed
    assert bare.restrict(K, "sub", gram_max=5).G_H is None  # k x k Grams only up to gram_max contexts


def test_restricting_to_every_context_changes_nothing(whole):
    data, th = whole
    _same(th.restrict(np.arange(data.m)), th)
    bare = replace(th, G_H=None, G_H_proxy=None)
    _same(bare.restrict(np.arange(data.m)), bare)
    K = np.array([5, 1, 70, 33])
    tk = bare.restrict(K, "sub")
    _same(tk.restrict(np.arange(4)), tk)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_restricting_twice_is_restricting_once_with_the_composed_index(whole, draw):
    data, th = whole
    gramless = draw.draw(st.booleans(), label="no whole Grams")
    base = replace(th, G_H=None, G_H_proxy=None) if gramless else th
    a = np.array(draw.draw(st.lists(st.integers(0, data.m - 1), min_size=1, max_size=data.m, unique=True)))
    b = np.array(draw.draw(st.lists(st.integers(0, len(a) - 1), min_size=1, max_size=len(a), unique=True)))
    twice = base.restrict(a, "h_a").restrict(b, "h_ab")
    once = base.restrict(a[b], "h_ab")
    assert np.array_equal(twice.contexts, a[b])
    _same(twice, once, exact=not gramless)  # from the factors, a Gram is formed once per restriction: rounding


def test_the_whole_problems_answer_on_s_tilde_is_kept(not_tilde):
    """One column of S̃ is never longer than L_mm's, so the columns alone would say "S̃ is optimal"; the restriction
    keeps the whole problem's answer (no), as decided by the rule on the whole arrays."""
    data, th = not_tilde
    nuc = lambda A: np.linalg.svd(A - A.mean(axis=0), compute_uv=False).sum()  # noqa: E731
    assert th.tilde_optimal is False and not nuc(th.S_tilde) <= nuc(th.L_mm) * (1 + TILDE_OPTIMAL_RTOL)
    j = np.array([7])
    assert nuc(th.S_tilde[:, j]) <= nuc(th.L_mm[:, j])
    assert th.restrict(j, "one").tilde_optimal is False


@pytest.mark.parametrize("seed", range(5))
def test_compute_theory_decides_tilde_optimal_by_the_rule_on_the_dense_arrays(seed):
    data = synthetic.random_supports(8, 30, (1, 4), n_supports=5, probs="dirichlet", seed=seed)
    th = compute_theory(data)
    nuc = lambda A: np.linalg.svd(A - A.mean(axis=0), compute_uv=False).sum()  # noqa: E731
    ratio = nuc(th.S_tilde) / nuc(th.L_mm)
    assert th.tilde_optimal == (th.certificate.holds or ratio <= 1 + TILDE_OPTIMAL_RTOL)
    hand = replace(th, tilde_optimal=None)  # built by hand without the answer: decided from the arrays alike
    assert hand.tilde_optimal == th.tilde_optimal
    assert compute_theory(data, solve=False).tilde_optimal is None


def test_tilde_rule():
    assert tilde_is_optimal(1.0, 1.0) and tilde_is_optimal(1.0 + 0.5e-6, 1.0)
    assert not tilde_is_optimal(1.0 + 2e-6, 1.0) and tilde_is_optimal(2.0, 1.0, certificate_holds=True)


def test_bad_contexts_are_refused(whole):
    data, th = whole
    for bad, what in (([1, 1], "repeat"), ([0, data.m], "outside"), ([], "non-empty"), ([[0, 1]], "1-D")):
        with pytest.raises(ValidationError, match=what):
            th.restrict(np.array(bad, dtype=np.int64), "h")
    with pytest.raises(ValidationError, match="data_hash"):
        th.restrict([0, 1])


def test_a_restricted_theory_saves_and_loads(whole, tmp_path):
    data, th = whole
    K = np.array([4, 90, 2])
    tk = replace(th, G_H_proxy=None).restrict(K, data.select_contexts(K).hash)
    back = load_theory(tk.save(tmp_path / "tk.npz"), data=data.select_contexts(K))
    _same(replace(back, svm=tk.svm), tk)  # the solve record is rebuilt around the restricted L_mm
    assert back.status == tk.status and back.svm.stats == tk.svm.stats
