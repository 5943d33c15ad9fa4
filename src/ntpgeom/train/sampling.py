"""Mini-batches of contexts: which contexts a step sees, and the weights that keep its loss unbiased.

A step's loss is the π-weighted cross-entropy ``CE = Σ_j π_j CE_j`` estimated from ``b`` drawn contexts as
``Σ_{slots} w_slot π_j CE_j`` with ``w = 1 / (b p_j)`` (``p_j`` = the probability that one slot draws context j), so
``E[estimate] = CE`` for every sampler (the same weights make the ridge's H term unbiased):

- ``uniform``: b distinct contexts uniformly without replacement (``w = m/b``; the historical sampler, unchanged);
- ``pi``: b contexts drawn with replacement with probability π_j (``w = 1/(b π_j)``: each slot weighs the same);
- ``group``: each slot draws a support group uniformly, then a context of that group uniformly
  (``w = G |g_j| / b``): rare supports are seen as often as frequent ones.

The draws use the run's CPU generator (the same stream on every device); indices stay on the CPU so that the loss's
gather indices are built without a device synchronisation, then move to the device once.
"""

from __future__ import annotations

import numpy as np
import torch

SAMPLERS = ("uniform", "pi", "group")


class BatchSampler:
    """Draws ``(idx, weights)`` for one micro-batch: ``idx`` (b,) sorted context ids on the CPU, ``weights`` (b,)
    float64 on the CPU (``None`` for the uniform sampler, whose weight m/b is a scalar)."""

    def __init__(self, kind: str, batch_size: int, pi: np.ndarray, groups: np.ndarray | None = None) -> None:
        self.kind, self.b, self.m = kind, int(batch_size), len(pi)
        self.pi = torch.as_tensor(pi, dtype=torch.float64)
        if kind == "group":
            groups = np.asarray(groups, dtype=np.int64)
            order = np.argsort(groups, kind="stable")
            sizes = np.bincount(groups)
            self.order = torch.as_tensor(order)
            self.sizes = torch.as_tensor(sizes)
            self.starts = torch.as_tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
            self.G = len(sizes)
            self.size_of = torch.as_tensor(sizes[groups], dtype=torch.float64)  # |g_j| of every context

    def draw(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        b = self.b
        if self.kind == "uniform":
            return torch.randperm(self.m, generator=gen)[:b].sort().values, None
        if self.kind == "pi":
            idx = torch.multinomial(self.pi, b, replacement=True, generator=gen).sort().values
            return idx, 1.0 / (b * self.pi[idx])
        g = torch.randint(self.G, (b,), generator=gen)
        off = (torch.rand(b, generator=gen, dtype=torch.float64) * self.sizes[g]).long().clamp_max(self.sizes[g] - 1)
        idx = self.order[self.starts[g] + off].sort().values
        return idx, self.G * self.size_of[idx] / b


def full_chunks(m: int, k: int) -> list[torch.Tensor]:
    """The contexts 0..m-1 split into ``k`` contiguous chunks (exact gradient accumulation over the full batch)."""
    return [torch.as_tensor(c) for c in np.array_split(np.arange(m), k) if len(c)]
