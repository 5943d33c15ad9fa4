"""TrainConfig: defaults, the constraints table, resolution (user > config > preset > default), resume
reconciliation, the size estimate and the device rule."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ntpgeom.data import corpora, synthetic
from ntpgeom.train import TrainConfig, TrainError
from ntpgeom.train.config import (
    AUTO_CUDA_WORK, CONSTRAINTS, FIELDS, PRESETS, RESUMABLE, check_size, choose_device, explicit_values, param_count,
    reconcile, resolve, validate,
)
from ntpgeom.train.models import build_model


@pytest.fixture(scope="module")
def small():
    return synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0)


def test_every_field_has_a_default_help_and_a_constraint():
    cfg = TrainConfig()  # constructible with no arguments: every field has its default
    assert set(CONSTRAINTS) == set(FIELDS)
    for name, f in FIELDS.items():
        assert f.metadata["help"].strip(), name
        validate({name: getattr(cfg, name)})  # every default satisfies its own constraint
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    assert RESUMABLE <= set(FIELDS)


@pytest.mark.parametrize("name, bad", [
    ("d", 0), ("d", 2.5), ("d", True), ("steps", -1), ("lr", 0.0), ("lr", float("nan")), ("lr", "1e-3"),
    ("gamma", 1.5), ("gamma", 0.0), ("weight_decay", -1e-9), ("betas", (0.9,)), ("betas", (0.9, 1.0)),
    ("seed", 1.0), ("seed", 2**64), ("threads", 0), ("snapshot_steps", "every"), ("snapshot_steps", [3, -1]),
    ("checkpoint_seconds", 0.0), ("checkpoint_every", 0), ("bias", 1), ("tol", float("inf")),
])
def test_constraints_reject(name, bad):
    with pytest.raises(TrainError, match=name):
        validate({name: bad})


@pytest.mark.parametrize("name, choices", [("model", "ufm"), ("optimizer", "adamw"), ("schedule", "cosine"),
                                           ("dtype", "float64"), ("positional", "rope"), ("init", "lecun")])
def test_choice_errors_list_the_choices(name, choices):
    with pytest.raises(TrainError, match=f"unknown {name} 'bogus'; choose one of .*{choices}"):
        validate({name: "bogus"})


def test_resolve_defaults_depend_on_the_data(small):
    c = resolve(small, {})
    assert (c.d, c.layers, c.dtype, c.log_every, c.batch_size, c.device) == (10, 1, "float64", 1, None, "cpu")
    t = resolve(corpora.synthetic(), {"model": "transformer", "device": "cpu"})
    assert (t.d, t.layers, t.dtype) == (128, 4, "float32")
    s = resolve(small, {"optimizer": "sgd"})  # SGD: mini-batches of 32, one log entry per epoch
    assert s.batch_size == 32 and s.log_every == 95 // 32
    assert resolve(small, {"batch_size": 500}).batch_size is None  # a batch of >= m contexts is the full batch
    with pytest.raises(TrainError, match="full-batch"):
        resolve(small, {"optimizer": "ngd", "batch_size": 10})


def test_precedence_user_over_config_over_preset_over_default(small):
    paper = resolve(small, {"preset": "paper"})
    assert (paper.lr, paper.weight_decay, paper.schedule) == (PRESETS["paper"]["lr"], 1e-6, "step")
    # a value given explicitly wins over the preset even when it equals the field default
    assert resolve(small, {"preset": "paper", "lr": 1e-3}).lr == 1e-3
    given = explicit_values(TrainConfig(preset="paper", steps=7, lr=0.5), {"lr": 0.25, "seed": None})
    assert given == {"preset": "paper", "steps": 7, "lr": 0.25}  # None = not given
    c = resolve(small, given)
    assert (c.steps, c.lr, c.weight_decay) == (7, 0.25, 1e-6)
    with pytest.raises(TrainError, match="unknown training option"):
        explicit_values(None, {"frobnicate": 1})


def test_reconcile_keeps_the_run_and_changes_only_resumable_fields(small):
    stored = resolve(small, {"lr": 0.05, "optimizer": "sgd", "batch_size": None}).to_json()
    del stored["checkpoint_seconds"]  # an older run folder without the field
    c = reconcile(stored, {"steps": 50, "lr": 0.05, "threads": 2}, small, "r")
    assert (c.steps, c.lr, c.threads, c.optimizer, c.checkpoint_seconds) == (
        50, 0.05, 2, "sgd", FIELDS["checkpoint_seconds"].default)
    assert c.batch_size == stored["batch_size"]  # the SGD default is not re-applied on resume
    with pytest.raises(TrainError, match="lr=0.1 differs"):
        reconcile(stored, {"lr": 0.1}, small, "r")
    assert reconcile(stored, {"betas": (0.9, 0.999)}, small, "r").betas == (0.9, 0.999)  # tuple vs JSON list


@pytest.mark.parametrize("kw", [
    dict(model="ufm", d=7, bias=True),
    dict(model="transformer", d=16, layers=2, heads=2, positional="learned"),
    dict(model="transformer", d=24, layers=1, heads=4, hidden=40, positional="rope"),
    dict(model="lstm", d=8, layers=3, lstm_norm=True),
    dict(model="mlp", d=12, layers=3, bias=True),
])
def test_param_count_equals_the_built_model(kw):
    data = corpora.synthetic()
    cfg = resolve(data, {**kw, "device": "cpu"})
    net = build_model(cfg, data)
    assert param_count(cfg, data) == sum(p.numel() for p in net.parameters())


def test_absurd_sizes_are_refused_with_the_number(small):
    with pytest.raises(TrainError, match=r"1\.0\de\+11 parameters .* GiB"):
        resolve(small, {"d": 10**9})
    check_size(resolve(small, {}), small)  # the default fits


def test_device_auto_rule_by_parameters_times_contexts(small):
    stories = corpora.stories()
    ufm_a = resolve(small, {"device": "cpu"})
    big = resolve(stories, {"model": "transformer", "device": "cpu"})
    assert param_count(ufm_a, small) * small.m < AUTO_CUDA_WORK <= param_count(big, stories) * stories.m
    auto = lambda c: dataclasses.replace(c, device="auto")  # noqa: E731
    assert choose_device(auto(ufm_a), small, cuda_available=lambda: True) == "cpu"  # launch-bound on a GPU
    assert choose_device(auto(big), stories, cuda_available=lambda: True) == "cuda"
    assert choose_device(auto(big), stories, cuda_available=lambda: False) == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(TrainError, match="CUDA is not available"):
            choose_device(dataclasses.replace(ufm_a, device="cuda"), small)
    with pytest.raises(TrainError, match="device"):
        choose_device(dataclasses.replace(ufm_a, device="bogus"), small)


def test_device_help_states_the_auto_threshold_the_code_uses():
    import dataclasses
    import re

    help_ = next(f.metadata["help"] for f in dataclasses.fields(TrainConfig) if f.name == "device")
    number = re.search(r">= ([0-9.e+]+)", help_).group(1)
    assert float(number) == AUTO_CUDA_WORK
