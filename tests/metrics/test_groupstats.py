"""The chunked building blocks: singular values by every route, per-group sums and deviations, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ntpgeom.errors import MetricsError
from ntpgeom.metrics import groupstats
from ntpgeom.metrics.groupstats import (group_sq_deviation, group_sums, hidden_matrix, pair_ratio_mean,
                                        singular_values)


def _reference(X, centre):
    if centre == "columns":
        X = X - X.mean(axis=1, keepdims=True)
    elif centre == "tokens":
        X = X - X.mean(axis=0, keepdims=True)
    return np.linalg.svd(X, compute_uv=False)


@pytest.mark.parametrize("shape", [(6, 41), (41, 6)])
@pytest.mark.parametrize("centre", [None, "columns", "tokens"])
def test_singular_values_svd_and_gram_routes_agree(monkeypatch, shape, centre):
    rng = np.random.default_rng(sum(shape))
    X = rng.normal(size=shape) * rng.uniform(0.2, 3, size=(shape[0], 1)) + 2.0
    want = _reference(X, centre)
    np.testing.assert_allclose(singular_values(X, centre=centre), want, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 17)  # Gram of the smaller side, many chunks
    got = singular_values(X.astype(np.float32), centre=centre)
    # float32 input, and a Gram route that resolves singular values only to ~1e-8 σ_max (centring may leave a 0)
    np.testing.assert_allclose(got, _reference(X.astype(np.float32).astype(np.float64), centre), rtol=1e-9,
                               atol=1e-6 * want[0])
    with pytest.raises(MetricsError, match="centre"):
        singular_values(X, centre="rows")


def test_group_sums_and_deviation_by_hand(monkeypatch):
    X = np.array([[1.0, 3.0, 10.0, 0.0], [0.0, 2.0, -1.0, 4.0]])
    inv = np.array([0, 0, 1, 0])
    monkeypatch.setattr(groupstats, "CHUNK_ENTRIES", 3)  # one column per chunk
    sums = group_sums(X, inv, 2)
    np.testing.assert_array_equal(sums, [[4.0, 10.0], [6.0, -1.0]])
    means = sums / np.array([3.0, 1.0])
    # group 0: mean (4/3, 2); ‖·‖² deviations: (1/9 + 4) + (25/9 + 0) + (16/9 + 4)
    np.testing.assert_allclose(group_sq_deviation(X, inv, means), [42 / 9 + 8, 0.0], rtol=1e-14)


def test_pair_ratio_mean_coincident_means():
    means = np.array([[0.0, 0.0, 1.0]])
    assert pair_ratio_mean(means, np.array([1.0, 1.0, 1.0])) == np.inf
    assert np.isnan(pair_ratio_mean(means[:, :1], np.array([1.0])))


def test_hidden_matrix_checks_and_keeps_float32():
    H32 = np.ones((2, 3), dtype=np.float32)
    assert hidden_matrix(H32) is H32
    assert hidden_matrix(np.ones((2, 3), dtype=int)).dtype == np.float64
    assert hidden_matrix(sp.csr_array(np.eye(2))).shape == (2, 2)
    with pytest.raises(MetricsError, match="numeric"):
        hidden_matrix(np.array([["a", "b"]]))
    with pytest.raises(MetricsError, match="infinite"):
        hidden_matrix(np.array([[1.0, np.inf]]), "W")
