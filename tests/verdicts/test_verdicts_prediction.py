"""Verdicts against the finite-norm prediction and the optimal face (``ntpgeom.theory.finite_norm`` / ``face``,
developed in parallel: these tests skip until those modules are present)."""

from __future__ import annotations

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom.theory import factors


def test_path_points_pass_c1_c2_and_not_l_mm_at_large_lambda():
    """Along the exact regularisation path (V = 8, m = 20) each path point *is* the prediction of its own norm: C1
    and C2 sit on the prediction's side (μ > 0; one snapshot has no trend, so "inconclusive (one snapshot)", never
    FAIL), while the L_mm claim is inconclusive or FAIL at large λ (theory.md §8)."""
    pytest.importorskip("ntpgeom.theory.finite_norm")
    data = g.synthetic.random_supports(8, 20, (1, 3), probs="dirichlet", seed=1)
    th = g.compute_theory(data)
    lmax = g.lambda_max(data)
    lams = [0.3 * lmax, 0.05 * lmax, 0.01 * lmax]
    results = g.regularization_path(data, lams)
    for lam, r in zip(lams, results):
        W, H = factors(r.L)
        a = g.assess(data, th, W=W, H=H, face=None)
        assert "path point" in a.prediction_note, a.prediction_note
        for c in ("C1", "C2"):
            v = a.verdict(c)
            assert v.status == "inconclusive" and "one snapshot" in v.note and v.value > 0, (lam, v.note)
    W, H = factors(results[0].L)
    a = g.assess(data, th, W=W, H=H, face=None)
    assert a.status["L_mm"] in ("inconclusive", "FAIL"), a.verdict("L_mm").note


def test_five_cycle_s_tilde_is_optimal_even_when_the_solver_returns_another_point():
    """Without probing the face: S̃ has the optimal norm, so it is judged a point of the optimal set."""
    C = np.zeros((5, 5))
    for j in range(5):
        C[j, j] = C[(j + 1) % 5, j] = 1.0
    data = g.from_counts(C)
    th = g.compute_theory(data)
    a = g.assess(data, th, L=th.L_in + 100 * th.S_tilde, face=None)
    assert a.status["L_mm"] == "pass", a.verdict("L_mm").note
    assert a.row["sep_mm_tilde"] == 0.0 and a.dist_perp_mm < 1e-9
    if th.dist_mm_tilde > 1e-6:
        assert any("not unique" in n for n in a.notes)


def test_five_cycle_face_is_reported_and_s_tilde_is_not_rejected():
    """On the 5-cycle S̃ is optimal but the solver may return another optimal point: the face has a positive
    diameter, and L_in + c·S̃ is judged against the face (distance 0), not rejected as 'nearer S̃'."""
    pytest.importorskip("ntpgeom.theory.face")
    C = np.zeros((5, 5))
    for j in range(5):
        C[j, j] = C[(j + 1) % 5, j] = 1.0
    data = g.from_counts(C)
    th = g.compute_theory(data)
    a = g.assess(data, th, W=None, H=None, L=th.L_in + 100 * th.S_tilde)
    assert a.row["face_diameter"] > 0
    assert a.status["L_mm"] == "pass", a.verdict("L_mm").note
    assert "face" in a.verdict("L_mm").note
