"""ε-rank and spectrum of logit matrices (token-centred) next to rank(L_mm) and rank(S̃)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntpgeom.errors import MetricsError
from ntpgeom.metrics import groupstats
from ntpgeom.metrics.logit_rank import logit_rank_summary, logit_singular_values


def _low_rank_logits(rng, V, m, r):
    A = rng.normal(size=(V, r))
    A -= A.mean(axis=0)  # token-centred factor, so the centred L keeps rank r
    return A @ rng.normal(size=(r, m))


@pytest.mark.parametrize("V,m", [(7, 40), (40, 7)])
def test_singular_values_of_centred_logits_all_routes(monkeypatch, V, m):
    rng = np.random.default_rng(V)
    L = rng.normal(size=(V, m)) + 3.0
    want = np.linalg.svd(L - L.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(logit_singular_values(L), want, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 23)  # Gram of the smaller side, chunked
    # the Gram route resolves singular values only down to ~1e-8 σ_max (the centred L has a zero one)
    np.testing.assert_allclose(logit_singular_values(L), want, rtol=1e-9, atol=1e-6)


def test_summary_ranks_and_offsets():
    rng = np.random.default_rng(1)
    V, m = 12, 30
    L = _low_rank_logits(rng, V, m, 3) + rng.normal(size=(1, m)) * 10  # per-context offsets are not geometry
    L_mm = _low_rank_logits(rng, V, m, 5)
    S_t = _low_rank_logits(rng, V, m, 2)
    out = logit_rank_summary(L, L_mm=L_mm, S_tilde=S_t, eps=1e-6, k=4)
    assert (out["eps_rank_L"], out["eps_rank_L_mm"], out["eps_rank_S_tilde"]) == (3, 5, 2)
    assert out["max_rank"] == 11 and out["eps"] == 1e-6
    assert out["spectrum_L"].shape == (4,) and out["spectrum_L"][0] == 1.0 and out["spectrum_L"][3] < 1e-10
    assert 1.0 < out["rankme_L"] <= 3.0 + 1e-4
    assert math.isnan(logit_rank_summary(L)["eps_rank_L_mm"])


def test_summary_rankme_of_equal_singular_values():
    # L = Q (orthonormal, token-centred columns) has r equal singular values: rankme_L = r, every ε-rank = r
    rng = np.random.default_rng(2)
    B = rng.normal(size=(10, 4))
    B -= B.mean(axis=0)
    Q = np.linalg.qr(B)[0]
    out = logit_rank_summary(Q, eps=0.5)
    assert out["eps_rank_L"] == 4
    assert out["rankme_L"] == pytest.approx(4.0, rel=1e-5)


def test_summary_rejects_bad_input():
    L = np.ones((3, 4))
    with pytest.raises(MetricsError, match="eps"):
        logit_rank_summary(L, eps=0.0)
    with pytest.raises(MetricsError, match="same contexts"):
        logit_rank_summary(L, L_mm=np.ones((3, 5)))
    assert logit_rank_summary(L)["eps_rank_L"] == 0  # constant columns centre to 0
