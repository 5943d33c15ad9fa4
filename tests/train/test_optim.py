"""Schedules and normalised GD against closed forms."""

from __future__ import annotations

import pytest
import torch

from ntpgeom.train.optim import NormalizedGD, lr_factor, make_optimizer


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
                                       ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_make_optimizer(name, cls):
    p = torch.zeros(1, requires_grad=True)
    opt = make_optimizer(name, [p], lr=0.1, weight_decay=0.01, momentum=0.0, betas=(0.8, 0.9), eps=1e-6)
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["weight_decay"] == 0.01
    if name.startswith("adam"):
        assert opt.param_groups[0]["betas"] == (0.8, 0.9)
