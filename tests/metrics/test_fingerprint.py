"""The implicit-bias fingerprint on trajectories built to move towards one prediction."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.data import corpora
from ntpgeom.errors import ShapeError
from ntpgeom.metrics.fingerprint import UNDECIDED, bias_predictions, fingerprint
from ntpgeom.theory import S_tilde, direction_distance


@pytest.fixture(scope="module")
def setup():
    data = corpora.synthetic()
    return data, bias_predictions(data)


def towards(target: np.ndarray, steps=(1, 3, 10, 30, 100, 300, 1000), seed: int = 0) -> list:
    """L_t = N + t·Y / ‖Y‖: the direction tends to Y's, monotonically (N fixed Gaussian)."""
    N = np.random.default_rng(seed).standard_normal(target.shape)
    return [(t, N + t * target / np.linalg.norm(target)) for t in steps]


@pytest.mark.parametrize("name", ["nuclear", "spectral", "fro"])
def test_picks_the_prediction_it_moves_towards(setup, name):
    data, preds = setup
    fp = fingerprint(data, towards(preds[name]), preds, B=50)
    want = next(g for g, members in fp.groups.items() if name in members)
    assert fp.approaches == want
    top = fp.rows[0]
    assert top.prediction == want and top.approached and top.lo > 0 and top.rho == -1.0
    assert all(not r.approached and r.mu < 0 for r in fp.rows[1:])
    assert fp.distances[want][-1] < 0.05 and fp.distances[want][0] > fp.distances[want][-1]


def test_fro_and_max_merge_after_centring(setup):
    data, preds = setup
    fp = fingerprint(data, towards(preds["max"]), preds, B=20)
    assert fp.groups["fro=max"] == ("fro", "max")
    assert fp.approaches == "fro=max"
    # independent check: centred max-norm solution and S̃ point the same way
    Lmax = preds["max"] - preds["max"].mean(axis=0)
    assert direction_distance(Lmax, S_tilde(data)) < 1e-12


def test_static_trajectory_is_undecided(setup):
    data, preds = setup
    L = np.random.default_rng(3).standard_normal((data.V, data.m))
    fp = fingerprint(data, [(t, L) for t in (1, 10, 100, 1000)], preds, B=20)
    assert fp.approaches == UNDECIDED and not any(r.approached for r in fp.rows)


def test_bootstrap_is_seeded_and_reproducible(setup):
    data, preds = setup
    traj = towards(preds["nuclear"], steps=(1, 3, 10, 30), seed=1)
    a, b = fingerprint(data, traj, preds, B=30, seed=7), fingerprint(data, traj, preds, B=30, seed=7)
    c = fingerprint(data, traj, preds, B=30, seed=8)
    assert a.rows == b.rows
    assert [(r.lo, r.hi) for r in a.rows] != [(r.lo, r.hi) for r in c.rows]
    assert [r.mu for r in a.rows] == [r.mu for r in c.rows]  # the point estimate does not depend on the seed


def test_bad_input(setup):
    data, preds = setup
    with pytest.raises(ShapeError):
        fingerprint(data, [(1, np.zeros((data.V + 1, data.m)))], preds)
    with pytest.raises(ShapeError):
        fingerprint(data, [], preds)
    with pytest.raises(ShapeError):
        fingerprint(data, towards(preds["nuclear"]), {"nuclear": preds["nuclear"]})


def test_fixed_features_prediction_joins_the_candidates(setup):
    data, preds = setup
    H = np.random.default_rng(0).standard_normal((20, data.m))
    cands = bias_predictions(data, ("nuclear", "fro"), H=H)
    assert set(cands) == {"nuclear", "fro", "fixed"}
    L = cands["fixed"]
    mask = data.P.toarray() > 0
    # feasibility of W_mm H, checked directly: equal logits within each support, margin >= 1 against the rest
    for j in range(data.m):
        inn, out = L[mask[:, j], j], L[~mask[:, j], j]
        assert np.ptp(inn) < 1e-5 and (out.size == 0 or inn.min() - out.max() >= 1 - 1e-5)
    fp = fingerprint(data, towards(cands["fixed"], seed=2), cands, B=20)
    assert fp.approaches == "fixed"


@pytest.mark.parametrize("optimizer", ["sign", "muon"])
def test_a_training_run_with_the_new_optimisers(setup, optimizer, tmp_path):
    from ntpgeom.train import train

    from ntpgeom.metrics.fingerprint import run_trajectory

    data, preds = setup
    run = train(data, model="ufm", steps=40, optimizer=optimizer, lr=0.01, out=tmp_path / optimizer,
                snapshot_steps=[0, 10, 20, 40])
    traj = run_trajectory(run)
    assert [s for s, _ in traj] == [0, 10, 20, 40] and traj[-1][1].shape == (data.V, data.m)
    assert np.isfinite(run.loss["ce"]).all() and run.loss["ce"][-1] < run.loss["ce"][0]
    fp = fingerprint(data, traj, preds, B=10)
    assert fp.steps == (0, 10, 20, 40) and {r.prediction for r in fp.rows} == set(fp.distances)
