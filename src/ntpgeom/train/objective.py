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
        self.k = torch.as_tensor(k, device=device)
        self.indptr = torch.as_tensor(P.indptr[:-1].astype(np.int64), device=device)
        self.pi = torch.as_tensor(data.pi, dtype=dtype, device=device)
        self.entropy_bound = data.entropy_bound

    def __call__(self, Lt: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """CE of logits ``Lt`` (m x V), or the unbiased mini-batch estimate ``(m/b) Σ_{j∈idx} π_j CE_j`` when ``Lt``
        (b x V) holds the contexts ``idx``."""
        if idx is None:
            return _FullCE.apply(Lt, self.flat, self.cols, self.q.to(Lt.dtype), self.pi.to(Lt.dtype))
        lse = torch.logsumexp(Lt, dim=1)
        lens = self.k[idx]
        local = torch.repeat_interleave(torch.arange(len(idx), device=Lt.device), lens)
        ends = torch.cumsum(lens, 0)
        e = torch.repeat_interleave(self.indptr[idx] - (ends - lens), lens) + torch.arange(int(ends[-1]), device=Lt.device)
        logp = Lt[local, self.rows[e]] - lse[local]
        return -(self.m / len(idx)) * (self.q[e] * logp).sum()


def soft_label_ce(L: torch.Tensor | np.ndarray, data: NTPData) -> float:
    """CE(L) for logits ``L`` in the paper's orientation (V x m), float64. Convenience wrapper of :class:`SoftLabelCE`."""
    Lt = torch.as_tensor(np.asarray(L, dtype=np.float64)).t().contiguous()
    return float(SoftLabelCE(data)(Lt))



def ridge_objective(ce: torch.Tensor, W: torch.Tensor, Ht: torch.Tensor, ridge: float,
                    h_scale: float = 1.0) -> torch.Tensor:
    """``ce + (λ/2)(‖W‖² + s‖H‖²)`` (just ``ce`` when λ = 0); ``s = m/b`` makes a mini-batch's H term unbiased."""
    if not ridge:
        return ce
    h2 = Ht.pow(2).sum()
    return ce + 0.5 * ridge * (W.pow(2).sum() + (h2 if h_scale == 1.0 else h_scale * h2))
