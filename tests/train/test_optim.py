"""Schedules, normalised GD, sign descent and Muon against closed forms and numpy's SVD."""

from __future__ import annotations

import pytest
import torch

import numpy as np

from ntpgeom.train.optim import (NS5_BAND, NS5_FLOOR, Muon, NormalizedGD, SignDescent, lr_factor, make_optimizer,
                                 newton_schulz)


def test_schedules():
    assert lr_factor(0, "constant") == 1.0
    assert [lr_factor(s, "step", step_size=5000, gamma=0.4) for s in (0, 4999, 5000, 10000)] == pytest.approx(
        [1, 1, 0.4, 0.16])
    assert lr_factor(0, "cosine", horizon=100) == pytest.approx(1.0)
    assert lr_factor(50, "cosine", horizon=100) == pytest.approx(0.5)
    assert lr_factor(100, "cosine", horizon=100, min_lr_factor=0.1) == pytest.approx(0.1)
    assert lr_factor(0, "cosine", warmup=10, horizon=110) == pytest.approx(0.1)
    assert lr_factor(9, "constant", warmup=10) == pytest.approx(1.0)


def test_normalized_gd_step_is_the_global_unit_gradient_step():
    a = torch.tensor([3.0, 0.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[1.0]], dtype=torch.float64, requires_grad=True)
    opt = NormalizedGD([a, b], lr=0.5)
    (a.pow(2).sum() + 2 * b.sum()).backward()  # gradients (6, 0) and (2): global norm sqrt(40)
    opt.step()
    g = torch.tensor([6.0, 0.0, 2.0], dtype=torch.float64) / 40 ** 0.5
    torch.testing.assert_close(a.detach(), torch.tensor([3.0, 0.0], dtype=torch.float64) - 0.5 * g[:2])
    torch.testing.assert_close(b.detach(), torch.tensor([[1.0]], dtype=torch.float64) - 0.5 * g[2])
    z = torch.zeros(2, dtype=torch.float64, requires_grad=True)  # a zero gradient leaves the point in place
    opt0 = NormalizedGD([z], lr=1.0)
    z.sum().mul(0).backward()
    opt0.step()
    assert torch.equal(z.detach(), torch.zeros(2, dtype=torch.float64))


def test_normalized_gd_weight_decay_is_l2_before_normalising():
    p = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    opt = NormalizedGD([p], lr=0.1, weight_decay=1.0)
    p.sum().mul(0).backward()  # zero loss gradient: the step follows the decay term wd*p alone
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([1.0, 1.0], dtype=torch.float64) - 0.1 / 2 ** 0.5)


@pytest.mark.parametrize("name, cls", [("gd", torch.optim.SGD), ("sgd", torch.optim.SGD), ("ngd", NormalizedGD),
                                       ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                       ("sign", SignDescent), ("muon", Muon)])
def test_make_optimizer(name, cls):
    p = torch.zeros(1, requires_grad=True)
    opt = make_optimizer(name, [p], lr=0.1, weight_decay=0.01, momentum=0.0, betas=(0.8, 0.9), eps=1e-6)
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["weight_decay"] == 0.01
    if name.startswith("adam"):
        assert opt.param_groups[0]["betas"] == (0.8, 0.9)


def test_sign_descent_step_is_exactly_minus_lr_sign_of_the_gradient():
    g = torch.tensor([[0.3, -2.0, 0.0], [1e-12, -1e-12, 5.0]], dtype=torch.float64)
    p = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64, requires_grad=True)
    start = p.detach().clone()
    opt = SignDescent([p], lr=0.25)
    (p * g).sum().backward()  # gradient g
    opt.step()
    expected = start - 0.25 * torch.tensor([[1.0, -1.0, 0.0], [1.0, -1.0, 1.0]], dtype=torch.float64)
    assert torch.equal(p.detach(), expected)


def test_newton_schulz_singular_values_in_its_band():
    rng = np.random.default_rng(0)
    for shape in [(30, 16), (16, 30), (64, 64), (7, 3)]:
        U, _ = np.linalg.qr(rng.standard_normal((shape[0], shape[0])))
        Vt, _ = np.linalg.qr(rng.standard_normal((shape[1], shape[1])))
        k = min(shape)
        s = rng.uniform(0.05, 1.0, k)
        G = U[:, :k] @ np.diag(s) @ Vt[:k]
        assert (s / np.linalg.norm(s)).min() >= NS5_FLOOR  # the band's premise holds
        for dtype in (torch.float32, torch.float64):
            sv = np.linalg.svd(newton_schulz(torch.tensor(G, dtype=dtype)).double().numpy(), compute_uv=False)
            assert NS5_BAND[0] <= sv.min() and sv.max() <= NS5_BAND[1], (shape, dtype, sv.min(), sv.max())
            assert sv.max() - sv.min() > 0.05  # the quintic alone does not converge to 1 (the band is not vacuous)


def test_newton_schulz_polished_equals_u_vt_of_numpy_svd():
    rng = np.random.default_rng(1)
    G = rng.standard_normal((12, 5)) + 3 * np.eye(12, 5)  # well conditioned
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    X = newton_schulz(torch.tensor(G), polish=12).numpy()
    np.testing.assert_allclose(X, U @ Vt, atol=1e-10)
    X32 = newton_schulz(torch.tensor(G, dtype=torch.float32), polish=12).double().numpy()
    np.testing.assert_allclose(X32, U @ Vt, atol=1e-5)
    with pytest.raises(ValueError):
        newton_schulz(torch.zeros(3))


def test_muon_step_matrix_and_vector_parameters():
    rng = np.random.default_rng(2)
    g = rng.standard_normal((6, 4))
    W = torch.zeros(6, 4, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = Muon([W, b], lr=0.1)
    ((W * torch.tensor(g)).sum() + (b * torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)).sum()).backward()
    opt.step()
    expected = -0.1 * (6 / 4) ** 0.5 * newton_schulz(torch.tensor(g)).numpy()  # tall: scaled by sqrt(rows/cols)
    np.testing.assert_allclose(W.detach().numpy(), expected, rtol=1e-12, atol=1e-14)
    assert torch.equal(b.detach(), torch.tensor([-0.1, 0.1, 0.0], dtype=torch.float64))
    sv = np.linalg.svd(-W.detach().numpy() / 0.1 / 1.5 ** 0.5, compute_uv=False)
    assert NS5_BAND[0] <= sv.min() and sv.max() <= NS5_BAND[1]


def test_muon_nesterov_momentum_buffer():
    p = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    opt = Muon([p], lr=1.0, momentum=0.5)
    G = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    for _ in range(2):
        p.grad = G.clone()
        opt.step()
    # buffer after two steps: G + 0.5 G = 1.5 G; Nesterov direction G + 0.5 * 1.5 G = 1.75 G (same orthogonal factor)
    torch.testing.assert_close(opt.state[p]["momentum_buffer"], 1.5 * G)
