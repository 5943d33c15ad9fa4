"""Streaming engines (issue 13): exact counts against brute-force dictionary counting and ``from_tokens``; every
reader; crash-resume; bad shards (one clear error, exit 2, no output)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.cli import main
from ntpgeom.data import from_text, from_tokens
from ntpgeom.data.engines import build_corpus
from ntpgeom.errors import NTPDataError


def brute_counts(docs: list[list[int]], T1: int) -> Counter:
    """(context tuple, next) -> count, by a plain loop over windows inside each document."""
    c: Counter = Counter()
    for d in docs:
        for i in range(len(d) - T1):
            c[(tuple(d[i : i + T1]), d[i + T1])] += 1
    return c


def data_counts(data, index=None) -> Counter:
    """The same dictionary read back from an NTPData (token names are the ids as strings, or ``index[name]``)."""
    as_id = int if index is None else index.__getitem__
    C = data.counts.tocoo()
    out: Counter = Counter()
    for z, j, v in zip(C.row.tolist(), C.col.tolist(), C.data.tolist()):
        ctx = tuple(as_id(data.input_vocab[t]) for t in data.contexts[j])
        out[(ctx, as_id(data.vocab[z]))] += int(v)
    return out


def ref_tokens(docs: list[list[int]], T1, **filters):
    """``from_tokens`` on the ids renumbered by rank among those that occur, named by the ids: what the engines
    give for pre-tokenised input (the input vocabulary is the distinct ids that occur)."""
    seen = sorted({t for d in docs for t in d})
    rank = {t: r for r, t in enumerate(seen)}
    return from_tokens([[rank[t] for t in d] for d in docs], T1, vocab=[str(t) for t in seen], **filters)


def write_shards(path, docs, n_shards: int, row_group: int = 7) -> str:
    """Parquet shards with a list<int> column ``ids``, one row per document; returns a glob."""
    path.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(docs), n_shards + 1).astype(int)
    for s in range(n_shards):
        part = docs[bounds[s] : bounds[s + 1]]
        pq.write_table(pa.table({"ids": pa.array(part, type=pa.list_(pa.int64()))}), path / f"s{s:03d}.parquet",
                       row_group_size=row_group)
    return str(path / "*.parquet")


corpora = st.lists(st.lists(st.integers(0, 9), min_size=0, max_size=25), min_size=1, max_size=30)


@settings(max_examples=25)
@given(docs=corpora, T1=st.sampled_from([1, 2, 4, 23]), parts=st.integers(1, 5), n_shards=st.integers(1, 3),
       chunk=st.sampled_from([1, 16, 1 << 22]))
def test_local_engine_equals_brute_force_and_from_tokens(tmp_path_factory, docs, T1, parts, n_shards, chunk):
    # T1 = 23: 24 fields of 4 bits = 96-bit keys (packed into two words); short documents have no window;
    # chunk: tokens per counting chunk (1: one document per chunk; shards are counted chunk by chunk)
    pattern = write_shards(tmp_path_factory.mktemp("c"), docs, n_shards)
    brute = brute_counts(docs, T1)
    if not brute:
        with pytest.raises(NTPDataError, match="too long|empty"):
            build_corpus(pattern, context_len=T1, ids_column="ids", partitions=parts, chunk_tokens=chunk)
        return
    got = build_corpus(pattern, context_len=T1, ids_column="ids", partitions=parts, chunk_tokens=chunk)
    assert data_counts(got) == brute
    ref = ref_tokens(docs, T1)
    assert got.hash == ref.hash
    assert np.array_equal(got.contexts, ref.contexts) and (got.counts != ref.counts).nnz == 0
    assert got.vocab == ref.vocab and got.input_vocab == ref.input_vocab


@settings(max_examples=15)
@given(docs=st.lists(st.lists(st.sampled_from([0, 3, 2**33, 2**62, 2**63 - 2]), max_size=12), min_size=1, max_size=8),
       T1=st.sampled_from([1, 3]), top_k=st.sampled_from([None, 2]))
def test_huge_sparse_ids_equal_from_tokens_on_their_ranks(tmp_path_factory, docs, T1, top_k):
    # ids up to 2**63 - 2 (the largest allowed): wide keys (id rows), names are the ids, no per-id allocation
    brute = brute_counts(docs, T1)
    if not brute:
        return
    pattern = write_shards(tmp_path_factory.mktemp("h"), docs, 2)
    got = build_corpus(pattern, context_len=T1, ids_column="ids", partitions=3, top_k=top_k)
    assert got.hash == ref_tokens(docs, T1, top_k=top_k).hash
    if top_k is None:
        assert data_counts(got) == brute


def test_top_k_ties_break_toward_the_lexicographically_smaller_context(tmp_path):
    # (0, 7) occurs twice, every other context once: top-3 = (0, 7) and the two smallest of the tied rest
    docs = [[5, 1, 9], [0, 7, 2], [3, 3, 3], [0, 2, 8], [9, 9, 1], [0, 7, 1]]
    brute = brute_counts(docs, 2)
    n_j = Counter()
    for (ctx, _), v in brute.items():
        n_j[ctx] += v
    expect = sorted(sorted(n_j, key=lambda c: (-n_j[c], c))[:3])
    assert expect == [(0, 2), (0, 7), (3, 3)]
    for parts in (1, 2, 7):
        got = build_corpus(write_shards(tmp_path / f"p{parts}", docs, 3), context_len=2, ids_column="ids",
                           partitions=parts, top_k=3)
        assert sorted(tuple(int(got.input_vocab[t]) for t in c) for c in got.contexts) == expect
        assert got.hash == ref_tokens(docs, 2, top_k=3).hash


def test_top_k_pruning_while_merging_stays_exact(tmp_path, monkeypatch):
    # without slack, more than 4 K candidate rows trigger the running top-K pruning between partitions
    import ntpgeom.data.engines.reduce as B

    monkeypatch.setattr(B, "PRUNE_SLACK", 0)
    calls = []
    real = B.prune_top_k
    monkeypatch.setattr(B, "prune_top_k", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(5)
    docs = [rng.zipf(1.3, size=400).clip(max=3000).tolist() for _ in range(400)]
    pattern = write_shards(tmp_path, docs, 3, row_group=50)
    for k in (1, 50, 5000):
        got = build_corpus(pattern, context_len=2, ids_column="ids", partitions=16, top_k=k)
        assert got.hash == ref_tokens(docs, 2, top_k=k).hash
    assert calls  # the pruning path ran


@pytest.mark.parametrize("filters", [
    {"min_count": 2}, {"min_support": 2}, {"max_support": 1, "top_k": 4}, {"max_vocab": 3},
    {"max_vocab": 2, "rare": "map"}, {"max_vocab": 4, "min_count": 2, "top_k": 3},
])
def test_filters_after_the_merge_equal_from_tokens(tmp_path, filters):
    rng = np.random.default_rng(3)
    docs = [rng.zipf(1.6, size=rng.integers(1, 40)).clip(max=12).tolist() for _ in range(60)]
    got = build_corpus(write_shards(tmp_path, docs, 4), context_len=2, ids_column="ids", partitions=3, **filters)
    ref = ref_tokens(docs, 2, **filters)
    assert got.hash == ref.hash and got.meta["filters"] == ref.meta["filters"]


def _word_tokenizer(path, words):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return str(path), {w: i for i, w in enumerate(words)}


TEXTS = ["the cat sat on the mat", "a dog sat", "the dog sat on the cat", "on", "the mat the cat the dog"]


def test_text_readers_jsonl_parquet_arrow_and_text_agree(tmp_path):
    tok, index = _word_tokenizer(tmp_path / "tok.json", ["<unk>", "the", "cat", "sat", "on", "mat", "a", "dog"])
    docs = [[index[w] for w in t.split()] for t in TEXTS]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(TEXTS[:2])))
    pq.write_table(pa.table({"text": TEXTS[2:4]}), tmp_path / "b.parquet")
    hf = tmp_path / "hf"  # a Hugging Face dataset saved on disk: Arrow stream files + json metadata
    hf.mkdir()
    (hf / "dataset_info.json").write_text("{}")
    table = pa.table({"text": TEXTS[4:]})
    with pa.OSFile(str(hf / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    got = build_corpus([tmp_path / "a.jsonl", str(tmp_path / "*.parquet"), hf], context_len=1, tokenizer=tok)
    assert data_counts(got, index) == brute_counts(docs, 1)
    assert got.meta["n_shards"] == 3
    (tmp_path / "c.txt").write_text("\n\n".join(TEXTS))
    assert build_corpus(tmp_path / "c.txt", context_len=1, tokenizer=tok).hash == got.hash


@pytest.mark.parametrize("tokenizer", ["word", "char"])
def test_word_and_char_tokenizers_equal_from_text(tmp_path, tokenizer):
    # the corpus-wide vocabulary (first pass) gives the ids from_text gives: same arrays, same hash
    parts = ["The cat sat.\n\nA dog, a cat!", "the dog sat on the mat\n\nzebra", "Mat? cat. The END"]
    for i, p in enumerate(parts):
        (tmp_path / f"{i}.txt").write_text(p)
    got = build_corpus(str(tmp_path / "*.txt"), context_len=2, tokenizer=tokenizer, lowercase=True, top_k=6)
    ref = from_text("\n\n".join(parts), 2, tokenizer, lowercase=True, top_k=6)
    assert got.hash == ref.hash and got.input_vocab == ref.input_vocab


def test_the_only_id_column_of_parquet_without_text_is_read_as_pre_tokenised(tmp_path, capsys):
    docs = [[1, 2, 3, 4, 1, 2], [3, 4, 1], [2, 2, 2, 2]]
    pattern = write_shards(tmp_path / "in", docs, 2)
    got = build_corpus(pattern, context_len=2)  # no ids_column: the one list<int> column "ids" is used
    assert got.hash == ref_tokens(docs, 2).hash and got.meta["ids_column"] == "ids"
    two = tmp_path / "two.parquet"  # two id columns and no text: ambiguous, so the missing text column is the error
    pq.write_table(pa.table({"a": pa.array(docs), "b": pa.array(docs)}), two)
    with pytest.raises(NTPDataError, match="no column 'text'"):
        build_corpus(str(two), context_len=2, tokenizer="word")


def test_bpe_tokenizer_trained_in_a_first_pass_equals_from_text(tmp_path):
    parts = ["\ufeffthe cat sat on the mat. the cat ran", "a dog sat on a log\n\nthe dog and the cat", "cats and dogs"]
    for i, p in enumerate(parts):
        (tmp_path / f"{i}.txt").write_text(p)
    for T1, top_k in ((2, None), (3, 4)):
        got = build_corpus(str(tmp_path / "*.txt"), context_len=T1, tokenizer="bpe:40", top_k=top_k)
        ref = from_text("\n\n".join(parts), T1, "bpe:40", top_k=top_k)
        assert got.hash == ref.hash and got.input_vocab == ref.input_vocab
    with pytest.raises(NTPDataError, match="bpe:<vocab size>"):
        build_corpus(str(tmp_path / "*.txt"), context_len=2, tokenizer="bpe:x")


def test_crash_then_resume_does_not_recount_finished_shards(tmp_path):
    rng = np.random.default_rng(7)
    docs = [rng.integers(0, 20, size=rng.integers(0, 50)).tolist() for _ in range(90)]
    pattern = write_shards(tmp_path / "in", docs, 5, row_group=1000)
    work = tmp_path / "work"

    def crash_after_two(stage, done=None, total=None):
        if stage.startswith("counting") and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_corpus(pattern, context_len=3, ids_column="ids", work_dir=work, progress=crash_after_two)
    assert len(list((work / "shards").glob("0*"))) == 2  # two finished shards recorded, no half shard
    got = build_corpus(pattern, context_len=3, ids_column="ids", work_dir=work)
    assert got.meta["shards_resumed"] == 2 and got.meta["n_shards"] == 5
    assert got.hash == ref_tokens(docs, 3).hash
    assert not work.exists()  # intermediate files removed on success


def test_work_dir_of_another_job_is_refused(tmp_path):
    pattern = write_shards(tmp_path / "in", [[1, 2, 3, 4]] * 4, 2)
    work = tmp_path / "work"

    def crash(stage, done=None, total=None):
        if stage.startswith("counting"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_corpus(pattern, context_len=1, ids_column="ids", work_dir=work, progress=crash)
    with pytest.raises(NTPDataError, match="another job"):
        build_corpus(pattern, context_len=2, ids_column="ids", work_dir=work)
    with pytest.raises(NTPDataError, match="not an ntpgeom work folder"):  # never a folder holding other files
        build_corpus(pattern, context_len=1, ids_column="ids", work_dir=tmp_path / "in")
    assert len(list((tmp_path / "in").glob("*.parquet"))) == 2


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def _bad_corpus(tmp_path):
    pattern = write_shards(tmp_path / "in", [[1, 2, 3, 4, 5], [2, 3, 4]] * 5, 2)
    (tmp_path / "in" / "zz-corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    return pattern


def test_cli_corrupt_parquet_exit_2_no_output_and_skip_bad(tmp_path, capsys):
    pattern = _bad_corpus(tmp_path)
    out = tmp_path / "out.npz"
    code, _, err = _cli(["data", "build", pattern, "--ids-column", "ids", "-T", "2", "-o", str(out)], capsys)
    assert code == 2 and "zz-corrupt.parquet" in err and "error:" in err and not out.exists()
    code, _, err = _cli(["data", "build", pattern, "--ids-column", "ids", "-T", "2", "--skip-bad", "-o", str(out),
                         "--json"], capsys)
    assert code == 0 and "skipped" in err and "zz-corrupt.parquet" in err and out.exists()
    assert not (tmp_path / "out.npz.work").exists()


@pytest.mark.parametrize("case", ["missing-column", "not-a-list", "bad-json", "not-utf8"])
def test_bad_shards_give_one_clear_error(tmp_path, capsys, case):
    d = tmp_path / "in"
    d.mkdir()
    args = ["--ids-column", "ids"]
    if case == "missing-column":
        pq.write_table(pa.table({"tokens": [[1, 2, 3]]}), d / "a.parquet")
        expect = "no column 'ids'"
    elif case == "not-a-list":
        pq.write_table(pa.table({"ids": [1, 2, 3]}), d / "a.parquet")
        expect = "list<int>"
    elif case == "bad-json":
        (d / "a.jsonl").write_text('{"ids": [1, 2, 3]}\n{"ids": [1, 2\n')
        expect = "line 2 is not valid JSON"
    else:
        (d / "a.txt").write_bytes(b"caf\xe9 au lait")
        tok, _ = _word_tokenizer(tmp_path / "tok.json", ["<unk>", "au"])
        args = ["--tokenizer", tok]
        expect = "not valid UTF-8"
    out = tmp_path / "o.npz"
    code, _, err = _cli(["data", "build", str(d), *args, "-T", "1", "-o", str(out), "--engine", "local"], capsys)
    assert code == 2 and expect in err and not out.exists() and not (tmp_path / "o.npz.work").exists()


def test_ray_engine_missing_gives_a_clear_error(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("no ray")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(NTPDataError, match=r"ntpgeom\[scale\]"):
        build_corpus(write_shards(tmp_path, [[1, 2, 3]], 1), context_len=1, ids_column="ids", engine="ray")
