"""data/engines/hub.py: Hugging Face dataset names read from the local cache (offline, never a download), ``--split``,
and saved dataset dictionaries; ``ntpgeom data build NAME --split S`` counts exactly what the same text counts."""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ntpgeom.cli import app
from ntpgeom.data import from_text, load
from ntpgeom.data.engines.hub import is_dataset_name, resolve_inputs
from ntpgeom.errors import NTPDataError

TRAIN = ["the cat sat on the mat", "the dog sat on the log", "the cat ran to the dog"]
TEST = ["a b a b a b"]


def test_what_reads_as_a_dataset_name(tmp_path):
    (tmp_path / "c.txt").write_text("x")
    assert is_dataset_name("someone/tiny") and is_dataset_name("tiny_shakespeare")
    assert not is_dataset_name(str(tmp_path / "c.txt"))      # an existing file
    assert not is_dataset_name("missing.txt")                # a missing file stays a missing file
    assert not is_dataset_name("shards/*.parquet") and not is_dataset_name("/abs/path") and not is_dataset_name("a/b/c")


def test_split_without_a_dataset_is_an_error(tmp_path):
    (tmp_path / "c.txt").write_text("x y\n")
    with pytest.raises(NTPDataError, match="--split 'train' applies to a Hugging Face dataset name"):
        resolve_inputs([tmp_path / "c.txt"], "train")


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """A datasets cache holding ``someone/tiny`` (splits train, test) in the Hub's cache layout, built offline."""
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install -e '.[hub]')")
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = tmp_path / "src"
    src.mkdir()
    for split, rows in (("train", TRAIN), ("test", TEST)):
        pq.write_table(pa.table({"text": rows}), src / f"{split}.parquet")
    cache = tmp_path / "cache"
    files = DataFilesDict.from_patterns({s: [str(src / f"{s}.parquet")] for s in ("train", "test")})
    Parquet(cache_dir=str(cache), dataset_name="someone___tiny", data_files=files, hash="0123abcd").download_and_prepare()
    # the Hub's layout: config "default", files named after the dataset
    [cfg] = glob.glob(str(cache / "someone___tiny" / "default-*"))
    shutil.move(cfg, cache / "someone___tiny" / "default")
    for f in glob.glob(str(cache / "someone___tiny" / "default" / "*" / "*" / "someone___tiny-*.arrow")):
        os.rename(f, f.replace("someone___tiny-", "tiny-"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    assert datasets.load_dataset("someone/tiny", split="test", cache_dir=str(cache)).num_rows == 1
    return cache


@pytest.mark.slow  # importing datasets takes seconds
def test_a_cached_dataset_name_resolves_to_its_split_files(hf_cache):
    files = resolve_inputs(["someone/tiny"], "train", cache_dir=hf_cache)
    assert [f.name for f in files] == ["tiny-train.arrow"] and all(f.is_file() for f in files)
    with pytest.raises(NTPDataError, match=r"splits \['test', 'train'\]; choose one with --split"):
        resolve_inputs(["someone/tiny"], None, cache_dir=hf_cache)
    with pytest.raises(NTPDataError, match="not in the local Hugging Face cache.*never downloads"):
        resolve_inputs(["someone/other"], "train", cache_dir=hf_cache)


@pytest.mark.slow  # importing datasets takes seconds
def test_cli_data_build_by_name_counts_the_split(hf_cache, tmp_path):
    out = tmp_path / "tiny.npz"
    res = CliRunner().invoke(app, ["data", "build", "someone/tiny", "--split", "train", "-T", "2", "-o", str(out),
                                   "--json"])
    assert res.exit_code == 0, res.output
    got = load(out)
    # independent oracle: the in-memory builder on the same documents (one per row)
    ref = from_text("\n\n".join(TRAIN) + "\n", 2, tokenizer="word")
    assert got.n == ref.n == sum(len(r.split()) - 2 for r in TRAIN)
    key = lambda d: sorted((tuple(d.input_vocab[i] for i in c), d.vocab[z], float(d.counts[z, j]))
                           for j, c in enumerate(d.contexts) for z in d.counts[:, [j]].nonzero()[0])
    assert key(got) == key(ref)
    res = CliRunner().invoke(app, ["data", "build", "someone/nothing", "--split", "train", "-T", "2",
                                   "-o", str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "never downloads" in res.output and not (tmp_path / "x.npz").exists()


@pytest.mark.slow  # importing datasets takes seconds
def test_split_of_a_saved_dataset_dict(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install -e '.[hub]')")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": TRAIN}),
                               "test": datasets.Dataset.from_dict({"text": TEST})})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert resolve_inputs([tmp_path / "dd"], "test") == [tmp_path / "dd" / "test"]
    with pytest.raises(NTPDataError, match=r"has no split 'dev'; its splits: \['test', 'train'\]"):
        resolve_inputs([tmp_path / "dd"], "dev")
    out = tmp_path / "t.npz"
    res = CliRunner().invoke(app, ["data", "build", str(tmp_path / "dd"), "--split", "test", "-T", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert load(out).n == len(TEST[0].split()) - 1
