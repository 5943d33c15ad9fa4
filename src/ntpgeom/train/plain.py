"""Honest controls: plain full-batch gradient descent on the π-weighted soft-label cross-entropy (theory.md §§1-2, §8).

Three trainers, numpy float64, deterministic by seed, seconds on the built-in data:

- :func:`gd_ufm`: the factored UFM ``L = W H`` from small initialisation, **no ridge** — the model whose implicit bias
  the paper analyses (expected to approach ``L_in + R·L_mm``: a positive control of C1 / L_mm / C2);
- :func:`gd_free_logits`: the logits ``L`` themselves trained by GD. Their implicit bias is the Frobenius max-margin,
  whose F⊥ direction is S̃ (a negative control: it converges to the rival ``L_in + r·S̃``);
- :func:`relabel`: the data with the tokens of every context permuted at random (a negative control: the UFM trained
  on it learns another support pattern).

**Step size (documented schedule).** The gradient of ``CE`` in ``L`` is ``G = (softmax(L) − P) diag(π)``; its Hessian
is at most ``π_max / 2`` in every direction. Free logits use the constant step ``η = lr / π_max``. For ``L = W H`` the
map ``(δW, δH) → δW H + W δH`` has squared norm at most ``‖W‖₂² + ‖H‖₂²``, so the UFM uses
``η_t = lr / (π_max · max(1, ‖W_t‖₂² + ‖H_t‖₂²))`` (‖·‖₂ exactly every 50 steps, by a warm-started power
iteration in between). A scalar step size only reparametrises time along the gradient flow (for small enough steps),
so the schedule keeps the flow's implicit bias; it keeps GD stable while the norms grow and lets CE − ℋ fall like 1/t
in steps. The bound asks lr < 4 (η·λ_max < 2); the default 2 and the tests' 3 were stable on every instance tried.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..data import NTPData

__all__ = ["gd_ufm", "gd_free_logits", "relabel", "ce_gradient", "snapshot_schedule"]


def ce_gradient(L: np.ndarray, P: np.ndarray, pi: np.ndarray) -> tuple[float, np.ndarray]:
    """``(CE(L), ∂CE/∂L)`` of the π-weighted soft-label cross-entropy (theory.md §1). L, P: (V, m); pi: (m,)."""
    Z = L - L.max(axis=0, keepdims=True)
    E = np.exp(Z)
    s = E.sum(axis=0, keepdims=True)
    logp = Z - np.log(s)
    ce = float(-(pi * (P * logp).sum(axis=0)).sum())
    return ce, (E / s - P) * pi


def snapshot_schedule(steps: int, snapshot_steps: int | Sequence[int] = 8) -> list[int]:
    """Snapshot steps: an explicit list (each in 0..steps), or that many log-spaced steps from ``steps // 100`` (at
    least 1) to ``steps`` (fewer when they round to the same step)."""
    if isinstance(snapshot_steps, (int, np.integer)):
        if snapshot_steps < 1:
            raise ValueError(f"snapshot_steps must be >= 1, got {snapshot_steps}")
        grid = np.geomspace(max(1, steps // 100), steps, int(snapshot_steps)).round().astype(np.int64)
        return sorted({int(s) for s in grid} | {int(steps)})
    out = sorted({int(s) for s in snapshot_steps})
    if not out or out[0] < 0 or out[-1] > steps:
        raise ValueError(f"snapshot steps must lie in 0..{steps}, got {list(snapshot_steps)!r}")
    return out


def _check(steps: int, lr: float, init_scale: float) -> None:
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"lr must be positive and finite, got {lr!r}")
    if not (init_scale >= 0 and np.isfinite(init_scale)):
        raise ValueError(f"init_scale must be non-negative and finite, got {init_scale!r}")


def gd_ufm(data: NTPData, d: int | None = None, steps: int = 3000, lr: float = 2.0, init_scale: float = 1e-3,
           seed: int = 0, snapshot_steps: int | Sequence[int] = 8, threads: int = 1) -> list[dict[str, Any]]:
    """The factored UFM ``L = W H`` by plain full-batch GD, no ridge, from ``N(0, init_scale²)`` entries.

    Parameters
    ----------
    data : NTPData, shape (V, m)
    d : int, optional
        Embedding dimension (default V: the rank constraint is inactive, theory.md §2).
    steps, lr, init_scale, seed : see the module docstring for the step-size schedule.
    snapshot_steps : int or list of int
        How many log-spaced snapshots (ending at ``steps``), or the steps themselves.
    threads : int
        BLAS threads for the products (threadpoolctl; default 1).

    Returns
    -------
    list of ``{"step": int, "W": (V, d), "H": (d, m), "loss": CE}`` in step order.
    """
    _check(steps, lr, init_scale)
    V, m = data.V, data.m
    d = V if d is None else int(d)
    if d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    P, pi = data.P.toarray(), np.asarray(data.pi, dtype=np.float64)
    rng = np.random.default_rng(seed)
    W = init_scale * rng.standard_normal((V, d))
    H = init_scale * rng.standard_normal((d, m))
    want, out = set(snapshot_schedule(steps, snapshot_steps)), []
    scale = lr / float(pi.max())
    u, v = np.ones(d) / np.sqrt(d), np.ones(d) / np.sqrt(d)
    with threadpool_limits(limits=threads):
        for t in range(steps + 1):
            ce, G = ce_gradient(W @ H, P, pi)
            if t in want:
                out.append({"step": t, "W": W.copy(), "H": H.copy(), "loss": ce})
            if t == steps:
                break
            if t % 50 == 0:  # exact ‖·‖₂ now and then; warm-started power iteration in between
                sw, sh = np.linalg.norm(W, 2) ** 2, np.linalg.norm(H, 2) ** 2
            else:
                (u, sw), (v, sh) = _power(W.T @ W, u), _power(H @ H.T, v)
            eta = scale / max(1.0, sw + sh)
            W, H = W - eta * (G @ H.T), H - eta * (W.T @ G)
    return out


def _power(M: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Two power iterations on the PSD matrix M (d x d) from x: (new unit vector, Rayleigh quotient ≈ λ_max)."""
    for _ in range(2):
        y = M @ x
        n = float(np.linalg.norm(y))
        if n == 0:
            return x, 0.0
        x = y / n
    return x, float(x @ M @ x)


def gd_free_logits(data: NTPData, steps: int = 3000, lr: float = 2.0, init_scale: float = 1e-3, seed: int = 0,
                   snapshot_steps: int | Sequence[int] = 8) -> list[dict[str, Any]]:
    """The logits ``L`` (V x m) trained directly by GD with step ``lr / π_max`` (implicit bias: the Frobenius
    max-margin, i.e. S̃'s direction in F⊥). Returns ``[{"step": int, "L": (V, m), "loss": CE}, ...]`` in step order."""
    _check(steps, lr, init_scale)
    P, pi = data.P.toarray(), np.asarray(data.pi, dtype=np.float64)
    L = init_scale * np.random.default_rng(seed).standard_normal((data.V, data.m))
    want, out = set(snapshot_schedule(steps, snapshot_steps)), []
    eta = lr / float(pi.max())
    for t in range(steps + 1):
        ce, G = ce_gradient(L, P, pi)
        if t in want:
            out.append({"step": t, "L": L.copy(), "loss": ce})
        if t == steps:
            break
        L = L - eta * G
    return out


def relabel(data: NTPData, seed: int = 0) -> NTPData:
    """``data`` with the next tokens of every context permuted by an independent random permutation (same π, same
    support sizes and probabilities, a scrambled support pattern): the UFM trained on it is a negative control."""
    rng = np.random.default_rng(seed)
    C = sp.csc_array(data.counts).tocoo()
    perms = np.stack([rng.permutation(data.V) for _ in range(data.m)])  # (m, V)
    rows = perms[C.col, C.row]
    C2 = sp.csc_array((C.data, (rows, C.col)), shape=C.shape)
    meta = dict(data.meta)
    meta["relabelled"] = {"seed": int(seed), "of": data.hash}
    return NTPData(C2, data.vocab, data.contexts, data.input_vocab, meta, data.context_lengths)
