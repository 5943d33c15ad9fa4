"""``model="linear"``: the frozen features file (validation, hash, copy in the run folder) and training on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.errors import TrainError
from ntpgeom.train import train
from ntpgeom.train.features import FEATURES_FILE, features_hash, load_features


@pytest.fixture
def data():
    return synthetic.random_supports(5, 8, (1, 2), seed=1)


def test_features_file_is_validated(tmp_path, data):
    good = np.random.default_rng(0).standard_normal((3, data.m))
    np.save(tmp_path / "h.npy", good)
    np.savez(tmp_path / "h.npz", H=good, other=good[:1])
    for p in (tmp_path / "h.npy", tmp_path / "h.npz", str(tmp_path / "h.npy")):
        np.testing.assert_array_equal(load_features(p, data.m), good)
    bad = {"wrong_m": good[:, :-1], "1d": good[0], "nan": np.where(np.eye(3, data.m) > 0, np.nan, good),
           "complex": good.astype(complex)}
    for name, a in bad.items():
        np.save(tmp_path / f"{name}.npy", a)
        with pytest.raises(TrainError, match="shape|NaN|real numbers"):
            load_features(tmp_path / f"{name}.npy", data.m)
    np.save(tmp_path / "obj.npy", np.array([[object()] * data.m], dtype=object), allow_pickle=True)
    with pytest.raises(TrainError, match="pickled"):
        load_features(tmp_path / "obj.npy", data.m)
    np.savez(tmp_path / "two.npz", a=good, b=good)
    with pytest.raises(TrainError, match="name it H"):
        load_features(tmp_path / "two.npz", data.m)
    with pytest.raises(TrainError, match="not found"):
        load_features(tmp_path / "missing.npy", data.m)


def test_linear_run_records_the_features(tmp_path, data):
    H = np.random.default_rng(1).standard_normal((4, data.m))
    np.save(tmp_path / "h.npy", H.astype(np.float32))
    run = train(data, model="linear", features=str(tmp_path / "h.npy"), optimizer="gd", lr=0.5, steps=5,
                out=tmp_path / "run")
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    H64 = H.astype(np.float32).astype(np.float64)
    assert cfg["features"] == features_hash(H64) and cfg["d"] == 4 and cfg["dtype"] == "float64"
    np.testing.assert_array_equal(np.load(tmp_path / "run" / FEATURES_FILE), H64)
    s = run.snapshot(5)
    np.testing.assert_array_equal(s.H, H64)  # frozen
    np.testing.assert_allclose(s.L, s.W @ H64, atol=1e-12)
    again = train(data, model="linear", features=H64, steps=8, out=tmp_path / "run", resume=True)
    assert again.final_step == 8
    with pytest.raises(TrainError, match="differs"):
        train(data, model="linear", features=H64 + 1, steps=9, out=tmp_path / "run", resume=True)


def test_linear_model_needs_features_and_only_it(tmp_path, data):
    H = np.ones((2, data.m))
    with pytest.raises(TrainError, match="features"):
        train(data, model="linear", steps=1, out=tmp_path / "a")
    with pytest.raises(TrainError, match="features"):
        train(data, model="ufm", features=H, steps=1, out=tmp_path / "b")
    with pytest.raises(TrainError, match="d=3 differs"):
        train(data, model="linear", features=H, d=3, steps=1, out=tmp_path / "c")
    with pytest.raises(TrainError, match="shape"):
        train(data, model="linear", features=H[:, 1:], steps=1, out=tmp_path / "d")
    assert not (tmp_path / "d").exists()  # refused before the folder is made
