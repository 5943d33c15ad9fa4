"""The issue's control table on the built-in data: the positive control passes every claim, every impostor fails (or
is inconclusive for) each claim it impersonates, and the thresholds follow from the controls by the stated rule."""

from __future__ import annotations

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom.theory import direction_distance
from ntpgeom.verdicts import THRESHOLDS, assess_controls, build_controls, choose_thresholds, controls_table, violations
from ntpgeom.verdicts.controls import IMPERSONATES, feasible_collapsed

DATASETS = {
    "stories": g.corpora.stories,
    "synthetic": g.corpora.synthetic,
    "ufm-synthetic": lambda: g.synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0),
}


class _Lazy(dict):
    """name -> (data, theory, assessed controls), computed on first use."""

    def __missing__(self, name):
        data = DATASETS[name]()
        th = g.compute_theory(data)
        self[name] = (data, th, assess_controls(data, th, seed=0))
        return self[name]

    def values(self):
        return [self[n] for n in DATASETS]


@pytest.fixture(scope="module")
def controls():
    return _Lazy()


# "stories" (V = 102, m = 413) takes ~25 s with the finite-norm prediction: slow suite; the fast suite covers the
# other two built-in sets
ALL = [pytest.param("stories", marks=pytest.mark.slow), "synthetic", "ufm-synthetic"]


@pytest.mark.parametrize("name", ALL)
def test_positive_passes_and_impostors_are_rejected(controls, name):
    data, th, res = controls[name]
    by = {n: {v.claim: v for v in a.verdicts} for n, a in res}
    # a control is one snapshot: C1, C2 and L_mm are judged over a trajectory and cannot pass without a trend
    # (issue 19); the positive is then "inconclusive (one snapshot)", never FAIL, and on its prediction's side
    one = lambda v: v.status == "inconclusive" and "one snapshot" in v.note and v.value > 0  # noqa: E731
    assert all(v.status in ("pass", "n/a") or one(v) for v in by["positive"].values()), controls_table(
        [(n, a.verdicts) for n, a in res])
    for control, claims in IMPERSONATES.items():
        if control not in by:
            continue
        for claim in claims:
            assert by[control][claim].status in ("FAIL", "inconclusive", "n/a"), (control, claim, by[control][claim].note)
    assert violations([(n, a.verdicts) for n, a in res]) == []  # one-snapshot "inconclusive" is a positive's best


@pytest.mark.parametrize("name", [pytest.param("stories", marks=pytest.mark.slow), "synthetic"])
def test_issue_table_cases(controls, name):
    """The rows of issue 9's table that used to pass: S̃ is rejected as 'converges to L_mm', permuted means fail C2,
    the supports-only impostor fails the loss at the paper's tolerance, random init fails C3."""
    _, th, res = controls[name]
    by = {n: {v.claim: v for v in a.verdicts} for n, a in res}
    assert by["S̃ direction"]["L_mm"].status == "FAIL" and "nearer the rival" in by["S̃ direction"]["L_mm"].note
    assert by["S̃ direction"]["C1"].status == "FAIL"
    assert by["perturbed L_mm"]["L_mm"].status == "inconclusive"
    assert by["permuted means"]["C2"].status in ("FAIL", "inconclusive")
    assert by["supports only"]["loss"].status == "FAIL" and by["supports only"]["loss"].value > 1e-2
    assert by["random init"]["C3"].status == "FAIL"
    a = dict(res)["S̃ direction"]
    assert a.dist_perp_tilde < 1e-9 and a.dist_perp_mm == pytest.approx(th.dist_mm_tilde, rel=1e-6)


def test_when_S_tilde_is_optimal_its_control_is_a_second_positive(controls):
    data, th, res = controls["ufm-synthetic"]
    assert th.dist_mm_tilde < 1e-6
    names = [n for n, _ in res]
    assert "S̃ direction (= L_mm here)" in names and "S̃ direction" not in names
    # (C2 is not judged against a non-unique face: n/a)
    assert all(v.status in ("pass", "n/a") for v in dict(res)["S̃ direction (= L_mm here)"].verdicts)
    assert dict(res)["S̃ direction (= L_mm here)"].status["C1"] == "pass"


@pytest.mark.slow
def test_thresholds_follow_the_stated_rule(controls):
    """THRESHOLDS are choose_thresholds() on the built-in controls, rounded to two digits (C2 in 1 − r)."""
    got = choose_thresholds([res for _, _, res in controls.values()])
    for k, v in got.items():
        have = getattr(THRESHOLDS, k)
        if k.startswith("C2"):
            assert 1 - have == pytest.approx(1 - v, rel=0.15), k
        else:
            assert have == pytest.approx(v, rel=0.05), k


def test_perturbed_control_is_feasible_collapsed_and_at_distance():
    data = g.corpora.synthetic()
    th = g.compute_theory(data)
    N = feasible_collapsed(data, np.random.default_rng(0))
    S = data.S.toarray() > 0
    for j in range(data.m):
        sup, off = N[S[:, j], j], N[~S[:, j], j]
        assert np.ptp(sup) < 1e-12 and off.max() <= sup[0] - 1 + 1e-12  # feasible for NTP-SVM*
    groups = np.asarray(data.support_groups)
    for gid in np.unique(groups):
        cols = N[:, groups == gid]
        assert np.allclose(cols, cols[:, :1])  # collapse-preserving
    c = {x.name: x for x in build_controls(data, th)}
    P = c["perturbed L_mm"].L - th.L_in
    assert direction_distance(P, th.L_mm) == pytest.approx(0.3, abs=1e-6)


def test_five_cycle_tilde_is_not_an_impostor():
    """On the 5-cycle S̃ is optimal (a non-unique face contains it): the exact-construction table must not call it an
    impostor, and no violation is listed (C2 is n/a there: V = 5 is too small for the permutation test)."""
    pytest.importorskip("cvxpy")
    from ntpgeom.data.builders import from_counts
    from ntpgeom.theory import compute_theory
    from ntpgeom.verdicts.controls import build_controls, expected, run_controls, violations

    C = np.zeros((5, 5))
    for j in range(5):
        C[j, j], C[(j + 1) % 5, j] = 1 + j % 3, 2
    data = from_counts(C)
    th = compute_theory(data)
    names = {c.name: c for c in build_controls(data, th)}
    assert "S̃ direction" not in names and names["S̃ direction (optimal here)"].impersonates == ()
    res = run_controls(data, th)
    assert violations(res) == []
    assert {v.status for n, vs in res if n == "positive" for v in vs if v.claim == "C2"} == {"n/a"}
    assert expected("S̃ direction (optimal here)", "C1") == "pass or one-snapshot inconclusive"
    assert expected("S̃ direction (optimal here)", "C4") == "pass" and expected("random init", "C1") == "not pass"
    assert expected("permuted means", "C1") == "—"
