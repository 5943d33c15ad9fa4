"""Reparametrisations that leave the token-centred logits unchanged leave every metric unchanged (theory.md §8):
a row shared by all tokens added to W (with a coordinate added to H, or through W + 1aᵀ), W → WQ with H → QᵀH for an
orthogonal Q, and per-context shifts of the logit columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntpgeom as g
from ntpgeom.metrics import COLUMNS, snapshot_metrics, visible_H


@pytest.fixture(scope="module")
def setup():
    data = g.synthetic.random_supports(7, 24, (1, 3), n_supports=5, probs="dirichlet", seed=4)
    return data, g.compute_theory(data)


def _same(a: dict, b: dict, tol: float = 1e-7) -> None:
    for k in COLUMNS:
        x, y = a[k], b[k]
        if math.isnan(x) or math.isnan(y):
            assert math.isnan(x) and math.isnan(y), k
        else:
            assert y == pytest.approx(x, rel=tol, abs=tol), k


def _model(data, d, seed):
    rng = np.random.default_rng(seed)
    # a model in the regime: L_in + R·L_mm plus noise, factored through d dimensions
    return rng.normal(size=(data.V, d)), rng.normal(size=(d, data.m))


@settings(max_examples=12)
@given(seed=st.integers(0, 10_000), d=st.integers(3, 9), c=st.floats(-5, 5), shift=st.floats(-50, 50))
def test_shared_row_rotation_and_column_shifts_leave_metrics_unchanged(setup, seed, d, c, shift):
    data, th = setup
    W, H = _model(data, d, seed)
    base = snapshot_metrics({"W": W, "H": H}, th, data)
    rng = np.random.default_rng(seed + 1)
    # 1. a shared coordinate: W gains a column c·1 (the same entry for every token), H a coordinate row
    W1 = np.hstack([W, np.full((data.V, 1), c)])
    H1 = np.vstack([H, rng.normal(size=(1, data.m)) * 3])
    _same(base, snapshot_metrics({"W": W1, "H": H1}, th, data))
    # 2. the same vector added to every row of W (W + 1aᵀ): the logits shift per context
    _same(base, snapshot_metrics({"W": W + rng.normal(size=(1, d)), "H": H}, th, data))
    # 3. W → WQ, H → QᵀH
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    _same(base, snapshot_metrics({"W": W @ Q, "H": Q.T @ H}, th, data))
    # 4. per-context logit shifts
    L = W @ H + shift * rng.normal(size=(1, data.m))
    _same(base, snapshot_metrics({"W": W, "H": H, "L": L}, th, data))


def test_h_shift_along_w_null_space_is_invisible(setup):
    """The issue's case: sim_H moved 0.9999 → 0.743 when a shared row of W met a coordinate of H; now it stays."""
    data, th = setup
    L = th.L_in + 30 * th.L_mm
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    r = int((s > 1e-9 * s[0]).sum())
    W, H = U[:, :r] * np.sqrt(s[:r]), np.sqrt(s[:r])[:, None] * Vt[:r]
    base = snapshot_metrics({"W": W, "H": H}, th, data)
    W1 = np.hstack([W, np.ones((data.V, 1))])
    H1 = np.vstack([H, 40 * np.random.default_rng(0).normal(size=(1, data.m))])
    moved = snapshot_metrics({"W": W1, "H": H1}, th, data)
    assert moved["pearson_H_mm"] == pytest.approx(base["pearson_H_mm"], abs=1e-9)
    assert moved["collapse_H"] == pytest.approx(base["collapse_H"], abs=1e-9)


def test_visible_H_keeps_what_the_centred_logits_see():
    rng = np.random.default_rng(3)
    W, H = rng.normal(size=(6, 9)), rng.normal(size=(9, 11))  # d > V: H has a component no logit sees
    Hv = visible_H(W, H)
    Wc = W - W.mean(axis=0)
    assert Hv.shape[0] == np.linalg.matrix_rank(Wc) == 5
    # the centred logits are reproduced from the visible part: Ẇ H = U S (Vᵣᵀ H)
    U, s, Vt = np.linalg.svd(Wc, full_matrices=False)
    assert np.allclose(U[:, :5] * s[:5] @ Hv, Wc @ H, atol=1e-10)
    # and the Gram of the visible part is that of the projection of H onto the row space of Ẇ
    P = np.linalg.pinv(Wc) @ Wc
    assert np.allclose(Hv.T @ Hv, (P @ H).T @ (P @ H), atol=1e-10)
