"""The objective: the π-weighted soft-label cross-entropy over the m distinct contexts, and the ridge.

    CE(L) = -Σ_j π_j Σ_{z∈S_j} P[z,j] log softmax(ℓ_j)_z        (theory.md §1, §2)

computed with a log-sum-exp per context and a gather of the nnz(P) support entries (O(nnz + V m) per step, never
O(n)); it equals the mean per-token cross-entropy over the n raw pairs. Plus an optional ridge
``(λ/2)(‖W‖² + ‖H‖²)`` (the UFM's λ, on the context features H for the neural models); the optimiser's weight decay
is separate (:mod:`ntpgeom.train.optim`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import NTPData


class _FullCE(torch.autograd.Function):
    """CE over all contexts with the closed-form gradient ``dCE/dLᵀ[j, z] = π_j softmax(ℓ_j)_z - π_j P[z, j]``
    (one fused backward instead of autograd through logsumexp and the gather)."""

    @staticmethod
    def forward(ctx, Lt, flat, cols, q, pi):  # type: ignore[override]
        lse = torch.logsumexp(Lt, dim=1)
        ce = -(q * (Lt.reshape(-1)[flat] - lse[cols])).sum()
        ctx.save_for_backward(Lt, lse, flat, q, pi)
        return ce

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        Lt, lse, flat, q, pi = ctx.saved_tensors
        grad = torch.exp(Lt - lse[:, None]).contiguous().mul_(pi[:, None])
        grad.view(-1).index_put_((flat,), -q, accumulate=True)  # each (j, z) once: subtracts π_j P[z, j]
        return grad.mul_(g), None, None, None, None


class SoftLabelCE:
    """The π-weighted soft-label cross-entropy of a dataset, for logits in row layout ``Lᵀ`` (contexts x tokens).

    Precomputes the support entries of P (CSC order: context-major) as flat indices into ``Lᵀ`` and their weights
    ``q = π_j P[z,j]`` (they sum to 1). ``ce(Lt)`` costs one log-sum-exp per context and one gather of nnz entries.
    """

    def __init__(self, data: NTPData, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> None:
        P = data.P
        V, m = data.shape if hasattr(data, "shape") else (data.V, data.m)
        k = np.diff(P.indptr)
        cols = np.repeat(np.arange(m), k)
        self.V, self.m = V, m
        self.cols = torch.as_tensor(cols, device=device)
        self.rows = torch.as_tensor(P.indices.astype(np.int64), device=device)
        self.flat = self.cols * V + self.rows
        self.q = torch.as_tensor(data.pi[cols] * P.data, dtype=dtype, device=device)
        self.k_cpu = torch.as_tensor(k)  # support sizes and offsets on the CPU: mini-batch indices without a sync
        self.indptr_cpu = torch.as_tensor(P.indptr[:-1].astype(np.int64))
        self.pi = torch.as_tensor(data.pi, dtype=dtype, device=device)
        self.entropy_bound = data.entropy_bound

    def batch_entries(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For contexts ``idx`` (b,): ``(local, e)`` on the device, the batch row and the support entry of each of
        their nnz entries (computed on the CPU: no device synchronisation)."""
        idx = idx.cpu()
        lens = self.k_cpu[idx]
        local = torch.repeat_interleave(torch.arange(len(idx)), lens)
        ends = torch.cumsum(lens, 0)
        e = torch.repeat_interleave(self.indptr_cpu[idx] - (ends - lens), lens) + torch.arange(int(ends[-1]))
        dev = self.q.device
        return local.to(dev, non_blocking=True), e.to(dev, non_blocking=True)

    def __call__(self, Lt: torch.Tensor, idx: torch.Tensor | None = None,
                 weights: torch.Tensor | None = None) -> torch.Tensor:
        """CE of logits ``Lt`` (m x V); or, when ``Lt`` (b x V) holds the contexts ``idx``, the estimate
        ``Σ_rows w_row π_j CE_j`` with ``w`` = ``weights`` (b,), or ``m/b`` for every row when ``weights`` is None
        (unbiased for uniform sampling without replacement; see :mod:`ntpgeom.train.sampling`)."""
        if idx is None:
            return _FullCE.apply(Lt, self.flat, self.cols, self.q.to(Lt.dtype), self.pi.to(Lt.dtype))
        lse = torch.logsumexp(Lt, dim=1)
        local, e = self.batch_entries(idx)
        logp = Lt[local, self.rows[e]] - lse[local]
        if weights is None:
            return -(self.m / len(idx)) * (self.q[e] * logp).sum()
        w = weights.to(device=Lt.device, dtype=self.q.dtype)
        return -(w[local] * self.q[e] * logp).sum()


    def per_context(self, Lt: torch.Tensor) -> torch.Tensor:
        """``CE_j = -Σ_z P[z,j] log softmax(ℓ_j)_z`` of every context, shape (m,), from logits ``Lt`` (m x V)."""
        with torch.no_grad():
            logp = Lt.reshape(-1)[self.flat] - torch.logsumexp(Lt, dim=1)[self.cols]
            out = torch.zeros(self.m, dtype=Lt.dtype, device=Lt.device)
            out.index_add_(0, self.cols, self.q.to(Lt.dtype) * logp)
            return -out / self.pi.to(Lt.dtype)


def soft_label_ce(L: torch.Tensor | np.ndarray, data: NTPData) -> float:
    """CE(L) for logits ``L`` in the paper's orientation (V x m), float64. Convenience wrapper of :class:`SoftLabelCE`."""
    Lt = torch.as_tensor(np.asarray(L, dtype=np.float64)).t().contiguous()
    return float(SoftLabelCE(data)(Lt))



def ridge_objective(ce: torch.Tensor, W: torch.Tensor, Ht: torch.Tensor, ridge: float,
                    h_scale: float | torch.Tensor = 1.0, w_scale: float = 1.0) -> torch.Tensor:
    """``ce + (λ/2)(c‖W‖² + s‖H‖²)`` (just ``ce`` when λ = 0); ``s = m/b`` (or per-row weights, shape (b,)) makes a
    mini-batch's H term unbiased; ``c = 1/k`` spreads the W term over k accumulated micro-batches."""
    if not ridge:
        return ce
    if isinstance(h_scale, torch.Tensor):
        h2 = (Ht.pow(2).sum(1) * h_scale.to(device=Ht.device, dtype=Ht.dtype)).sum()
    else:
        h2 = Ht.pow(2).sum()
        h2 = h2 if h_scale == 1.0 else h_scale * h2
    w2 = W.pow(2).sum()
    return ce + 0.5 * ridge * ((w2 if w_scale == 1.0 else w_scale * w2) + h2)
