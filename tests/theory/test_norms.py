"""The one centring and the one nuclear norm of the package, against their definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ntpgeom.metrics.prediction import centred, nuclear_norm as metrics_nuclear_norm
from ntpgeom.theory import centre as theory_centre
from ntpgeom.theory.norms import centre, nuclear_norm

finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=finite),
       arrays(np.float64, st.integers(1, 6), elements=finite))
def test_centre_removes_per_context_shifts(L, shift):
    Lc = centre(L)
    assert np.abs(Lc.sum(axis=0)).max() <= 1e-9 * max(1.0, float(np.abs(L).max())) * L.shape[0]
    np.testing.assert_allclose(centre(Lc), Lc, atol=1e-9 * max(1.0, float(np.abs(L).max())))
    if shift.size == L.shape[1]:  # adding a constant per column changes nothing
        np.testing.assert_allclose(centre(L + shift), Lc, atol=1e-9 * (1.0 + float(np.abs(L).max() + np.abs(shift).max())))


def test_centre_dtype_and_the_other_layers_share_it():
    L32 = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert centre(L32).dtype == np.float64 and centre(L32, dtype=None).dtype == np.float32
    assert centred(L32).dtype == np.float32  # metrics keeps the snapshot's dtype
    assert theory_centre is centre
    np.testing.assert_array_equal(centre([[1, 2], [3, 6]]), [[-1.0, -2.0], [1.0, 2.0]])


def test_nuclear_norm_closed_forms():
    rng = np.random.default_rng(0)
    s = np.array([3.0, 1.5, 0.25])
    U, _ = np.linalg.qr(rng.normal(size=(5, 3)))
    V, _ = np.linalg.qr(rng.normal(size=(4, 3)))
    assert abs(nuclear_norm((U * s) @ V.T) - 4.75) <= 1e-12  # orthonormal U, V: the singular values are s
    assert nuclear_norm(np.zeros((3, 2))) == 0.0
    x, y = rng.normal(size=4), rng.normal(size=3)
    assert abs(nuclear_norm(np.outer(x, y)) - np.linalg.norm(x) * np.linalg.norm(y)) <= 1e-12  # rank one
    M = rng.normal(size=(4, 6))
    assert metrics_nuclear_norm(M) == nuclear_norm(M)
