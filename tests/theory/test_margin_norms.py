"""The max-margin norms and the dual repair, against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.theory import S_tilde, reduce_pattern
from ntpgeom.theory.margin_norms import norm_value, reduced_dual_norm, repair_dual


def test_norm_values():
    L = np.array([[3.0, 0.0], [0.0, -4.0]])
    assert norm_value(L, "fro") == 5.0 and norm_value(L, "max") == 4.0
    assert norm_value(L, "nuclear") == pytest.approx(7.0) and norm_value(L, "spectral") == pytest.approx(4.0)


@pytest.mark.parametrize("norm,dual", [("fro", "fro"), ("nuclear", "spectral"), ("spectral", "nuclear"), ("max", "l1")])
def test_repair_on_a_reduced_pattern_matches_the_full_one(norm, dual):
    M = np.array([[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 0], [0, 0, 1, 1]], dtype=bool)  # repeated rows and columns
    red = reduce_pattern(M)
    A0 = np.random.default_rng(0).standard_normal(red.shape)
    A, val = repair_dual(A0, red, norm)
    F = red.expand(A)  # the full certificate
    assert np.abs(F.sum(axis=0)).max() <= 1e-12 and F[~M].max() <= 0
    full = np.abs(F).sum() if dual == "l1" else norm_value(F, dual)
    assert full == pytest.approx(1.0) and reduced_dual_norm(A, red, norm) == pytest.approx(1.0)
    assert val == pytest.approx(float((F * S_tilde(M)).sum()))
