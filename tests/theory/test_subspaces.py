"""The F / F⊥ split and L_in against their defining equations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import synthetic
from ntpgeom.theory import L_in, cross_entropy_in, proj_F, proj_perp


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_L_in_and_projections(seed):
    d = synthetic.random_supports(9, 14, (1, 5), probs="counts", seed=seed)
    P, S = d.P.toarray(), d.S.toarray() > 0
    Lin = L_in(d)
    # the log-ratio equations on every support, and Lin ∈ F
    for j in range(d.m):
        z = np.flatnonzero(S[:, j])
        diff_L = Lin[z][:, None, j] - Lin[z][None, :, j]
        diff_P = np.log(P[z, j])[:, None] - np.log(P[z, j])[None, :]
        assert np.allclose(diff_L, diff_P, atol=1e-10)
    assert np.allclose(proj_F(Lin, d), Lin)
    assert cross_entropy_in(Lin, d) == pytest.approx(d.entropy_bound, abs=1e-10)
    X = np.random.default_rng(seed).normal(size=(d.V, d.m))
    A, B = proj_F(X, d), proj_perp(X, d)
    assert np.allclose(A + B, X)
    assert abs(np.vdot(A, B)) <= 1e-9 * np.vdot(X, X)
    assert np.allclose(proj_F(A, d), A)
