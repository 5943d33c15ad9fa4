"""The probe's *fixed features* (``probe(..., fixed_features=True)``, ``--fixed-features``; issue 23 item 2):
the model's own LM head against the fixed-features NTP-SVM of its own last-layer hidden states.

With frozen context embeddings H (d x m', the LM head's input on the measured contexts) a linear head trained by GD
reaches the in-support log-odds where the features allow it and grows in the direction of
``W_mm = argmin ‖W‖_F`` s.t. margins >= 1 (Thrampoulidis, NeurIPS 2024; :func:`ntpgeom.theory.fixed_features`).
The probe's ``W`` (V x d) holds the model's unembedding rows of the *measured tokens* only (``data.meta["token_ids"]``
maps row z to the model's token id: the support tokens, then ``n_other`` tokens in no support), so W and W_mm are
compared on the data's vocabulary. :func:`fixed_features_block` reports (:mod:`ntpgeom.metrics.fixed_features_position`):

- ``dist_W``: direction distance of W to W_mm;
- ``dist_L``: π-weighted direction distance of the token-centred F⊥ part of ``W H`` to ``W_mm H`` (the bias, if the
  head has one, is left out: the theory's head has none);
- ``in_residual``: ``‖P_F(W H) − L_in‖_F / ‖L_in‖_F``, the in-support log-odds the model reaches;
- ``features_in_residual``, ``compatible``, ``separable``: whether these features can reach L_in and separate the
  supports at all; the solve's ``status``, ``gap``, ``norm``, ``lower_bound``, ``seconds``, and its limits.

The QP is solved with ``cfg.fixed_features_iter`` iterations and ``cfg.fixed_features_budget`` seconds at most; when it
stops first, ``status`` says so (``user_limit``) and ``certified`` is False: the distances are then to the best
feasible point found, not a certified W_mm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import NTPData
from ..metrics.fixed_features_position import fixed_features_rows
from ..theory import Theory, fixed_features
from .config import ProbeConfig


@dataclass(frozen=True)
class _HeadSnapshot:
    """The probed head as one snapshot (``SnapshotLike``): W (V x d), H (d x m'), L = W H (V x m')."""

    step: int
    W: np.ndarray
    H: np.ndarray
    L: np.ndarray
    b: np.ndarray | None = None
    has_bias: bool = False
    contexts: np.ndarray | None = None


def fixed_features_block(data: NTPData, W: np.ndarray, H: np.ndarray, *, max_iter: int = 20000,
                         time_limit: float | None = 60.0, device: str = "cpu", rival: np.ndarray | None = None,
                         has_bias: bool = False) -> dict[str, Any]:
    """The probe's fixed-features comparison (module docstring) as a JSON-ready dict.

    Parameters
    ----------
    data : NTPData, shape (V, m')
        The measured tokens and contexts (the probe's ``ProbeResult.data``).
    W : ndarray, shape (V, d)
        The model's unembedding rows of ``data``'s tokens.
    H : ndarray, shape (d, m')
        The LM head's input on ``data``'s contexts (the last layer).
    max_iter, time_limit : int, float or None
        The W_mm solve's iteration cap and time limit in seconds (:func:`ntpgeom.theory.fixed_features`).
    device : str
        Torch device of the solve (``"cpu"`` or ``"cuda..."``; float64).
    rival : ndarray, shape (V, m'), optional
        The unconstrained prediction of the logits (the probe theory's L_mm): adds ``dist_rival`` and ``mu`` (+1 at
        the fixed-features prediction, −1 at the rival).
    has_bias : bool
        Whether the model's head has a bias (recorded; ``W H`` is compared without it).

    Returns
    -------
    dict
        ``dist_W``, ``dist_L``, ``in_residual``, ``dist_rival``, ``mu``, ``features_in_residual``, ``compatible``,
        ``separable``, ``certified``, ``status``, ``gap``, ``norm``, ``norm_W``, ``lower_bound``, ``feature_rank``,
        ``seconds``, ``max_iter``, ``time_limit``, ``bias_left_out``.
    """
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    t0 = time.perf_counter()
    res = fixed_features(data, H, max_iter=int(max_iter), time_limit=time_limit, device=device)
    seconds = time.perf_counter() - t0
    row = fixed_features_rows(data, [_HeadSnapshot(0, W, H, W @ H)], res, rival=rival)[0]
    return {"dist_W": row.dist_W, "dist_L": row.dist_L, "in_residual": row.in_residual,
            "dist_rival": row.dist_rival, "mu": row.mu,
            "features_in_residual": res.in_residual, "compatible": res.compatible, "separable": res.separable,
            "certified": bool(res.status.solved), "status": res.status.value, "gap": res.gap,
            "norm": res.norm, "norm_W": float(np.linalg.norm(W)), "lower_bound": res.lower_bound,
            "feature_rank": res.feature_rank, "seconds": seconds, "max_iter": int(max_iter),
            "time_limit": time_limit, "bias_left_out": bool(has_bias)}


def probe_fixed_features(cfg: ProbeConfig, data: NTPData, W: np.ndarray, H: np.ndarray, theory: Theory,
                         b: np.ndarray | None) -> dict[str, Any] | None:
    """:func:`fixed_features_block` of a probe when ``cfg.fixed_features`` is set (else None), with the probe's
    solve limits and device (CUDA when the probe runs there, else the CPU) and its theory's L_mm as the rival.

    Parameters
    ----------
    cfg : ProbeConfig
        ``fixed_features``, ``fixed_features_iter``, ``fixed_features_budget``, ``device``.
    data : NTPData, shape (V, m')
        The measured tokens and contexts.
    W : ndarray, shape (V, d)
        The unembedding rows of ``data``'s tokens.
    H : ndarray, shape (d, m')
        The last layer's hidden states of ``data``'s contexts.
    theory : Theory
        The theory of ``data`` (its ``L_mm``, when solved, is the rival).
    b : ndarray, shape (V,), or None
        The head's bias (left out of ``W H``).

    Returns
    -------
    dict or None
    """
    if not cfg.fixed_features:
        return None
    device = cfg.device if str(cfg.device).startswith("cuda") else "cpu"
    return fixed_features_block(data, W, H, max_iter=cfg.fixed_features_iter, time_limit=cfg.fixed_features_budget,
                                device=device, rival=theory.L_mm, has_bias=b is not None)
