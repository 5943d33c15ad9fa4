"""The objective: soft-label CE against brute-force per-token CE, its gradient, the mini-batch estimate, the ridge."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from ntpgeom.data import from_pairs, synthetic
from ntpgeom.train import SoftLabelCE, soft_label_ce


def _raw_pairs(data):
    """Expand integer counts into the n raw (context j, next token z) pairs."""
    C = data.counts.tocoo()
    js, zs = [], []
    for z, j, c in zip(C.row, C.col, C.data):
        assert float(c).is_integer()
        js += [int(j)] * int(c)
        zs += [int(z)] * int(c)
    return js, zs


def _per_token_ce(L, js, zs):
    """Brute force: mean over raw pairs of -log softmax(L[:, j])[z], one pair at a time."""
    tot = 0.0
    for j, z in zip(js, zs):
        col = L[:, j]
        tot += logsumexp(col) - col[z]
    return tot / len(js)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.1, 1.0, 10.0, 1e3]))
def test_soft_label_equals_per_token_loss(seed, scale):
    data = synthetic.random_supports(7, 12, (1, 4), probs="counts", max_repeat=5, seed=seed)
    js, zs = _raw_pairs(data)
    assert len(js) == data.n
    L = np.random.default_rng(seed).normal(size=(data.V, data.m)) * scale
    assert soft_label_ce(L, data) == pytest.approx(_per_token_ce(L, js, zs), rel=1e-11, abs=1e-11)


def test_soft_label_equals_per_token_on_text_pairs():
    recs = [("a b", "x", 3), ("a b", "y", 1), ("b a", "x", 2), ("c c", "z", 5), ("c c", "y", 1), ("a c", "z", 1)]
    data = from_pairs(recs)
    js, zs = _raw_pairs(data)
    L = np.random.default_rng(0).normal(size=(data.V, data.m)) * 3
    assert soft_label_ce(L, data) == pytest.approx(_per_token_ce(L, js, zs), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_ce_exceeds_entropy_bound(seed):
    data = synthetic.random_supports(9, 15, (1, 5), probs="dirichlet", seed=seed)
    L = np.random.default_rng(seed).normal(size=(data.V, data.m)) * 5
    assert soft_label_ce(L, data) > data.entropy_bound


def test_ce_finite_and_near_bound_at_huge_norm():
    # logits log P on the support and -1e12 off it: CE -> H, no overflow
    data = synthetic.random_supports(8, 20, (1, 4), probs="dirichlet", seed=3)
    P = data.P.toarray()
    L = np.where(P > 0, np.log(np.where(P > 0, P, 1.0)), -1e12) + 1e9
    ce = soft_label_ce(L, data)
    assert math.isfinite(ce)
    assert ce == pytest.approx(data.entropy_bound, abs=1e-5)
    Lt = torch.tensor(L.T.copy(), requires_grad=True)
    SoftLabelCE(data)(Lt).backward()
    assert torch.isfinite(Lt.grad).all() and Lt.grad.abs().max() < 1e-4  # at the optimum direction: ~zero gradient


def test_gradient_matches_dense_autograd_and_closed_form():
    data = synthetic.random_supports(11, 30, (1, 6), probs="counts", seed=5)
    L0 = torch.tensor(np.random.default_rng(1).normal(size=(data.V, data.m)) * 2)
    # ours, in row layout
    Lt = L0.t().clone().requires_grad_(True)
    SoftLabelCE(data)(Lt).backward()
    # dense reference: -(pi * P * log_softmax(L over tokens)).sum()
    L = L0.clone().requires_grad_(True)
    Q = torch.tensor(data.P.toarray() * data.pi[None, :])
    (-(Q * torch.log_softmax(L, dim=0)).sum()).backward()
    np.testing.assert_allclose(Lt.grad.t().numpy(), L.grad.numpy(), rtol=1e-10, atol=1e-14)
    # closed form: pi_j (softmax(l_j) - p_j)
    G = data.pi[None, :] * (torch.softmax(L0, dim=0).numpy() - data.P.toarray())
    np.testing.assert_allclose(L.grad.numpy(), G, rtol=1e-10, atol=1e-14)


def test_minibatch_estimate_is_unbiased_and_exact_per_context():
    data = synthetic.random_supports(6, 10, (1, 3), probs="counts", seed=2)
    L = np.random.default_rng(4).normal(size=(data.V, data.m))
    loss = SoftLabelCE(data)
    Lt = torch.tensor(L.T.copy())
    full = float(loss(Lt))
    # every context alone: (m) * pi_j * CE_j, whose average over j is the full loss
    per = []
    for j in range(data.m):
        idx = torch.tensor([j])
        v = float(loss(Lt[idx], idx))
        col = L[:, j]
        Pj = data.P.toarray()[:, j]
        ce_j = -(Pj * (col - logsumexp(col))).sum()
        assert v == pytest.approx(data.m * data.pi[j] * ce_j, rel=1e-12)
        per.append(v)
    assert np.mean(per) == pytest.approx(full, rel=1e-12)
    idx = torch.tensor([1, 4, 7])
    assert float(loss(Lt[idx], idx)) == pytest.approx(np.mean([per[1], per[4], per[7]]), rel=1e-12)


def test_ridge_objective_closed_form():
    from ntpgeom.train.objective import ridge_objective

    W = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    Ht = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    ce = torch.tensor(0.5, dtype=torch.float64)
    assert float(ridge_objective(ce, W, Ht, 0.0)) == 0.5  # no ridge: the CE itself
    assert float(ridge_objective(ce, W, Ht, 0.2)) == pytest.approx(0.5 + 0.1 * (5 + 10))
    assert float(ridge_objective(ce, W, Ht, 0.2, h_scale=4.0)) == pytest.approx(0.5 + 0.1 * (5 + 40))
