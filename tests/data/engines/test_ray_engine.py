"""The Ray engine gives bit-identical results to the local engine and to brute-force counting (1 node, and a local
2-node cluster). Slow: starting Ray takes ~10 s on a 2-core machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import from_text
from ntpgeom.data.engines import build_corpus

from .test_build import brute_counts, data_counts, ref_tokens, write_shards

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture(scope="module")
def ray_one_node():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": SRC}})
    yield
    ray.shutdown()


@settings(max_examples=3)
@given(docs=st.lists(st.lists(st.integers(0, 9), max_size=30), min_size=2, max_size=20),
       T1=st.sampled_from([2, 23]), top_k=st.sampled_from([None, 3]))
def test_ray_one_node_equals_local_and_brute_force(ray_one_node, tmp_path_factory, docs, T1, top_k):
    # T1 = 23: 96-bit keys; documents shorter than the context contribute nothing; top-K with ties
    if not brute_counts(docs, T1):
        docs = docs + [list(range(T1 + 2))]
    pattern = write_shards(tmp_path_factory.mktemp("r"), docs, 2)
    got = build_corpus(pattern, context_len=T1, ids_column="ids", engine="ray", partitions=3, top_k=top_k)
    local = build_corpus(pattern, context_len=T1, ids_column="ids", partitions=5, top_k=top_k)
    assert got.hash == local.hash == ref_tokens(docs, T1, top_k=top_k).hash
    assert (got.counts != local.counts).nnz == 0 and np.array_equal(got.contexts, local.contexts)
    if top_k is None:
        assert data_counts(got) == brute_counts(docs, T1)


def test_ray_word_tokenizer_jsonl_equals_from_text(ray_one_node, tmp_path):
    texts = ["the cat sat on the mat", "a dog sat", "the dog sat on the cat", "on", "the mat the cat the dog"]
    for i in range(2):
        (tmp_path / f"{i}.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in texts[i::2]))
    got = build_corpus(str(tmp_path / "*.jsonl"), context_len=1, tokenizer="word", engine="ray", partitions=2)
    assert got.hash == from_text("\n\n".join(texts[0::2] + texts[1::2]), 1, "word").hash


@pytest.mark.parametrize("filters", [{"min_count": 2, "max_support": 3, "top_k": 5}, {"max_vocab": 4, "rare": "map",
                                                                                      "min_support": 2}])
def test_ray_selection_runs_in_ray_tasks_and_equals_from_tokens(ray_one_node, tmp_path, monkeypatch, filters):
    import ntpgeom.data.engines.reduce as R

    def not_on_the_driver(*a, **k):
        raise AssertionError("the driver merged a partition: the selection must run in Ray tasks")

    monkeypatch.setattr(R, "merge_partition", not_on_the_driver)  # Ray workers import their own, unpatched copy
    rng = np.random.default_rng(4)
    docs = [rng.zipf(1.5, size=rng.integers(0, 80)).clip(max=40).tolist() for _ in range(150)]
    pattern = write_shards(tmp_path, docs, 3, row_group=30)
    got = build_corpus(pattern, context_len=2, ids_column="ids", engine="ray", partitions=6, **filters)
    assert got.hash == ref_tokens(docs, 2, **filters).hash


def test_ray_bpe_first_pass_equals_from_text(ray_one_node, tmp_path):
    texts = ["the cat sat on the mat", "a dog sat on a log", "the dog and the cat sat", "cats and dogs on mats"]
    for i in range(2):
        (tmp_path / f"{i}.txt").write_text("\n\n".join(texts[2 * i : 2 * i + 2]))
    got = build_corpus(str(tmp_path / "*.txt"), context_len=2, tokenizer="bpe:30", engine="ray", partitions=3)
    ref = from_text("\n\n".join(texts), 2, "bpe:30")
    assert got.hash == ref.hash and got.input_vocab == ref.input_vocab


def test_ray_two_node_cluster_equals_local(tmp_path):
    from ray.cluster_utils import Cluster

    ray.shutdown()  # the one-node instance of the module fixture, if it is still up
    rng = np.random.default_rng(11)
    docs = [rng.integers(0, 30, size=rng.integers(0, 60)).tolist() for _ in range(120)]
    pattern = write_shards(tmp_path, docs, 4, row_group=20)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, runtime_env={"env_vars": {"PYTHONPATH": SRC}}, log_to_driver=False)
        got = build_corpus(pattern, context_len=4, ids_column="ids", engine="ray", partitions=4, min_count=2)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert got.hash == ref_tokens(docs, 4, min_count=2).hash
