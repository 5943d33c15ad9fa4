"""Optimisers and learning-rate schedules: normalised GD, the optimiser factory, :func:`lr_factor`."""

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


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float, momentum: float,
                   betas: Sequence[float], eps: float, fused: bool = False) -> torch.optim.Optimizer:
    """gd / sgd: torch SGD (L2 weight decay, optional momentum); ngd: :class:`NormalizedGD`; adam: Adam (L2);
    adamw: AdamW (decoupled weight decay). ``fused`` (CUDA): Adam/AdamW update every parameter in one kernel."""
    kind = {"fused": True} if fused else {"foreach": True}
    if name in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "ngd":
        return NormalizedGD(params, lr=lr, weight_decay=weight_decay)
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
