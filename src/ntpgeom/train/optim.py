"""Optimisers and learning-rate schedules: the normalised steepest descents (normalised GD, sign descent, Muon),
the optimiser factory, :func:`lr_factor`.

Each steepest descent moves along the unit-norm direction of steepest decrease in its own norm, whose implicit bias
is the max-margin solution of that norm (Fan, Schmidt & Thrampoulidis 2025; ``ntpgeom.theory.max_margin``):

========== ================= ==================================================================================
optimiser  norm              update of one parameter (g its gradient, plus ``weight_decay · θ``: L2)
========== ================= ==================================================================================
ngd        Frobenius (ℓ2)    ``−lr · g / ‖g‖`` (global ℓ2 norm over all parameters)
sign       max (ℓ∞)          ``−lr · sign(g)``
muon       spectral          ``−lr · √max(1, rows/cols) · NS5(g)`` for 2-D parameters (:class:`Muon`)
========== ================= ==================================================================================
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch


class NormalizedGD(torch.optim.Optimizer):
    """Normalised gradient descent: ``θ ← θ - lr · g / ‖g‖`` with the global norm over all parameters.

    ``weight_decay`` adds ``wd · θ`` to the gradient before normalising (L2).
    """

    def __init__(self, params: Any, lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        grads = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                    grads.append((p, g, group["lr"]))
        if not grads:
            return
        norm = torch.sqrt(sum((g * g).sum() for _, g, _ in grads))
        scale = 1.0 / torch.clamp(norm, min=torch.finfo(norm.dtype).tiny)
        for p, g, lr in grads:
            p.add_(g * scale, alpha=-lr)


class SignDescent(torch.optim.Optimizer):
    """Sign descent, normalised steepest descent in ℓ∞: ``θ ← θ − lr · sign(g)`` (``sign(0) = 0``), elementwise.

    ``weight_decay`` adds ``wd · θ`` to the gradient before taking the sign (L2). No momentum: it is the plain
    steepest descent whose implicit bias is the max-norm margin (Adam without momentum and ε is the same update).
    """

    def __init__(self, params: Any, lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                    p.add_(torch.sign(g), alpha=-group["lr"])


#: Coefficients (a, b, c) of the quintic Newton–Schulz iteration ``X ← aX + b(XXᵀ)X + c(XXᵀ)²X`` of Muon (Jordan et
#: al. 2024): chosen to push small singular values up fast, at the price of not converging to exactly 1.
NS5_COEFFS = (3.4445, -4.7750, 2.0315)
#: Where the singular values of :func:`newton_schulz` (5 quintic steps, no polish) land when those of
#: ``G / ‖G‖_F`` lie in [:data:`NS5_FLOOR`, 1]: the iteration acts on each singular value by the scalar quintic, whose
#: 5-fold image of [3e-3, 1] is [0.682, 1.203] (computed on a grid of 2·10⁵ points); smaller ones come out smaller.
NS5_BAND = (0.68, 1.21)
NS5_FLOOR = 3e-3


def newton_schulz(G: torch.Tensor, steps: int = 5, polish: int = 0, eps: float = 1e-7) -> torch.Tensor:
    """Approximate orthogonalisation ``U Vᵀ`` of a 2-D ``G = U S Vᵀ`` (Jordan et al. 2024, Muon).

    ``G / (‖G‖_F + eps)`` (singular values in [0, 1]) goes through ``steps`` quintic iterations with
    :data:`NS5_COEFFS` (singular values then within :data:`NS5_BAND` of 1 unless tiny), then ``polish`` classical
    cubic iterations ``X ← 1.5X − 0.5(XXᵀ)X``, which converge to exactly ``U Vᵀ`` for singular values in (0, √3)
    (used by the tests; Muon uses ``polish=0``). Works on the wide orientation (``XXᵀ`` the smaller Gram matrix) in
    G's own dtype (float32 or float64; Jordan et al. use bfloat16 on GPU).
    """
    if G.ndim != 2:
        raise ValueError(f"newton_schulz needs a 2-D tensor, got shape {tuple(G.shape)}")
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (torch.linalg.matrix_norm(X) + eps)
    a, b, c = NS5_COEFFS
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    for _ in range(polish):
        X = 1.5 * X - 0.5 * (X @ X.T) @ X
    return X.T if tall else X


class Muon(torch.optim.Optimizer):
    """Muon (Jordan et al. 2024): momentum, then the Newton–Schulz orthogonalised update on matrix parameters.

    For a 2-D parameter of shape (rows, cols): ``buf ← μ·buf + g``; ``u = g + μ·buf`` (Nesterov) when μ > 0, else
    ``u = g``; ``θ ← θ − lr · √max(1, rows/cols) · newton_schulz(u)`` (5 quintic steps, no polish). With μ = 0 this
    is (approximate) normalised steepest descent in the spectral norm, whose implicit bias is the spectral-norm margin.
    Choices here: momentum μ is the config's ``momentum`` (default 0; Muon's usual is 0.95); parameters that are not
    2-D (biases) take a sign-descent step ``−lr · sign(u)`` instead of Muon's AdamW; ``weight_decay`` adds
    ``wd · θ`` to g (L2); the iteration runs in the parameter's dtype.
    """

    def __init__(self, params: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 ns_steps: int = 5) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "ns_steps": ns_steps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            mu, lr = group["momentum"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                if mu > 0:
                    buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                    buf.mul_(mu).add_(g)
                    g = g.add(buf, alpha=mu)
                if p.ndim == 2:
                    scale = math.sqrt(max(1.0, p.shape[0] / p.shape[1]))
                    p.add_(newton_schulz(g, group["ns_steps"]), alpha=-lr * scale)
                else:
                    p.add_(torch.sign(g), alpha=-lr)


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float, momentum: float,
                   betas: Sequence[float], eps: float, fused: bool = False) -> torch.optim.Optimizer:
    """gd / sgd: torch SGD (L2 weight decay, optional momentum); ngd: :class:`NormalizedGD`; sign:
    :class:`SignDescent`; muon: :class:`Muon` (``momentum``); adam: Adam (L2); adamw: AdamW (decoupled weight
    decay). ``fused`` (CUDA): Adam/AdamW update every parameter in one kernel."""
    kind = {"fused": True} if fused else {"foreach": True}
    if name in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "ngd":
        return NormalizedGD(params, lr=lr, weight_decay=weight_decay)
    if name == "sign":
        return SignDescent(params, lr=lr, weight_decay=weight_decay)
    if name == "muon":
        return Muon(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, **kind)
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, **kind)


# ------------------------------------------------------------------------------------------------------ schedules
def lr_factor(step: int, schedule: str, *, step_size: int = 5000, gamma: float = 0.4, warmup: int = 0,
              min_lr_factor: float = 0.0, horizon: int = 1) -> float:
    """Learning-rate multiplier of the update taken at ``step`` (0-based), a pure function of the step.

    constant: 1; step: ``gamma ** (step // step_size)``; cosine: from 1 down to ``min_lr_factor`` over ``horizon``
    steps (after the warm-up). Every schedule is multiplied by a linear warm-up ``(step+1)/warmup`` during the first
    ``warmup`` steps.
    """
    if schedule == "constant":
        f = 1.0
    elif schedule == "step":
        f = gamma ** (step // step_size)
    else:
        span = max(1, horizon - warmup)
        t = min(1.0, max(0, step - warmup) / span)
        f = min_lr_factor + (1.0 - min_lr_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
    if step < warmup:
        f *= (step + 1) / warmup
    return f
