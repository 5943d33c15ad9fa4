"""The models: prefix-tree paths equal the dense ones; the parameter-count arithmetic equals the built models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ntpgeom.train.models import Transformer


@pytest.mark.parametrize("positional", ["none", "rope", "learned"])
def test_prefix_tree_equals_dense_causal_transformer(positional):
    rng = np.random.default_rng(0)
    # contexts sharing prefixes
    base = rng.integers(0, 6, size=(8, 4))
    other = np.concatenate([base[:, :2], rng.integers(0, 6, size=(8, 2))], axis=1)  # same 2-prefixes
    ctx = np.concatenate([base, other])
    ctx = np.unique(ctx, axis=0)
    torch.manual_seed(0)
    net = Transformer(torch.tensor(ctx), 6, 5, 16, layers=3, heads=2, positional=positional).double()
    if net.pos is not None:
        torch.nn.init.normal_(net.pos)
    assert net.tree.n_nodes < ctx.size  # sharing happened
    tree_H = net.features()
    dense_H = net.features(torch.arange(len(ctx)))
    np.testing.assert_allclose(tree_H.detach().numpy(), dense_H.detach().numpy(), rtol=1e-12, atol=1e-12)
    # gradients agree too
    g1 = torch.autograd.grad(tree_H.pow(2).sum(), list(net.parameters()), allow_unused=True)
    g2 = torch.autograd.grad(net.features(torch.arange(len(ctx))).pow(2).sum(), list(net.parameters()), allow_unused=True)
    for a, b in zip(g1, g2):
        if a is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm", [False, True])
def test_prefix_tree_lstm_equals_torch_lstm(norm):
    from ntpgeom.train.models import LSTM

    rng = np.random.default_rng(1)
    base = rng.integers(0, 5, size=(10, 4))
    ctx = np.unique(np.concatenate([base, np.concatenate([base[:, :3], rng.integers(0, 5, (10, 1))], 1)]), axis=0)
    torch.manual_seed(0)
    net = LSTM(torch.tensor(ctx), 5, 4, 6, layers=2, norm=norm).double()
    assert net.tree.n_nodes < ctx.size
    a = net.features()  # prefix tree, hand-written cell
    b = net.features(torch.arange(len(ctx)))  # torch.nn.LSTM over full sequences
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)
    g1 = torch.autograd.grad(a.sum(), list(net.parameters()), allow_unused=True)
    g2 = torch.autograd.grad(b.sum(), list(net.parameters()), allow_unused=True)
    for x, y in zip(g1, g2):
        if x is not None:
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-10, atol=1e-12)


def test_linear_head_forward_is_W_H():
    from ntpgeom.train.models import Linear

    torch.manual_seed(0)
    H = torch.randn(4, 7, dtype=torch.float64)
    net = Linear(H, V=5).to(torch.float64)
    Ht, Lt = net.logits()
    W = net.W.detach().numpy()
    np.testing.assert_allclose(Lt.detach().numpy().T, W @ H.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(Ht.numpy().T, H.numpy())
    idx = torch.tensor([2, 5])
    np.testing.assert_allclose(net.logits(idx)[1].detach().numpy().T, W @ H.numpy()[:, [2, 5]], atol=1e-12)
    assert [n for n, _ in net.named_parameters()] == ["out.weight"]  # H is frozen (a buffer, not checkpointed)
    assert "H" not in net.state_dict()
