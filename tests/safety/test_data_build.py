"""Hostile input to `ntpgeom data build` (issue 24, data layer): huge, negative, non-integer and coerced token ids,
outputs that are inputs, stray files in dataset folders, symlink loops, flipped bits in a resumable work folder,
Ctrl-C, concurrent builds. Each case: one `error:` line (exit 2) or a correct result, no input replaced."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ntpgeom as g
sys.path.insert(0, str(Path(__file__).parent))
from _safety_cli import one_error, run  # noqa: E402
from ntpgeom.data import from_tokens
from ntpgeom.data.engines import build_corpus
from ntpgeom.errors import NTPDataError

SRC = str(Path(g.__file__).resolve().parents[1])



def ids_parquet(path, docs, type_=pa.int64()):
    pq.write_table(pa.table({"ids": pa.array(docs, type=pa.list_(type_))}), path)
    return path


# ------------------------------------------------------------------------------------------------------ token ids
def _limited(limit_bytes):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return set_limit


_HUGE = """
import json, sys
from ntpgeom.data.engines import build_corpus
d = build_corpus(sys.argv[1], context_len=1)
C = d.counts.tocoo()
print(json.dumps([d.input_vocab, sorted([d.input_vocab[d.contexts[j][0]], d.vocab[z]] for z, j in zip(C.row, C.col))]))
"""


def test_one_huge_id_costs_one_name_not_one_per_possible_id(tmp_path):
    # was: `[str(i) for i in range(2**62 + 1)]` in engines/build.py _select: OOM-killed (here: MemoryError, 2 GiB)
    src = ids_parquet(tmp_path / "big.parquet", [[2**62, 1, 2, 3]])
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _HUGE, str(src)], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=_limited(2 << 30))
    assert proc.returncode == 0, proc.stderr[-2000:]
    names, pairs = json.loads(proc.stdout)
    assert names == ["1", "2", "3", str(2**62)]  # the ids that occur, sorted, named by the ids
    assert pairs == [["1", "2"], ["2", "3"], [str(2**62), "1"]]


def test_sparse_ids_equal_from_tokens_on_their_ranks(tmp_path):
    docs = [[7, 1000, 7, 7], [1000, 5, 7]]
    got = build_corpus(str(ids_parquet(tmp_path / "a.parquet", docs)), context_len=1)
    ref = from_tokens([[1, 2, 1, 1], [2, 0, 1]], 1, vocab=["5", "7", "1000"])
    assert got.hash == ref.hash and list(got.input_vocab) == ["5", "7", "1000"] and got.vocab == ref.vocab


@pytest.mark.parametrize("case,docs,type_,needle", [
    ("negative", [[1, 2, 3], [4, -1, 2]], pa.int64(), "row 1 (from 0)"),
    ("uint64 above 2^63", [[1, 2], [3], [2**63 + 5, 1]], pa.uint64(), "row 2 (from 0) of column 'ids' holds the token id "
                                                                       "9223372036854775813"),
    ("null id", [[1, 2], [3, None]], pa.int64(), "row 1 (from 0)"),
    ("float ids", [[1.0, 2.5]], pa.float64(), "list<int>"),
])
def test_bad_parquet_ids_one_error_naming_file_and_row(tmp_path, capsys, case, docs, type_, needle):
    src = ids_parquet(tmp_path / "bad.parquet", docs, type_)
    code, _, err = run(["data", "build", src, "--ids-column", "ids", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    one_error(code, err, "bad.parquet", needle)
    assert "-9223372036854775" not in err  # never a wrapped negative
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "o.npz.work").exists()


@pytest.mark.parametrize("record,needle", [
    ('{"ids": [1, 1.5, 3]}', "1.5"), ('{"ids": [true, 2, 3]}', "true"), ('{"ids": [1, "3", 4]}', '"3"'),
    ('{"ids": 7}', "7"), ('{"ids": [1, -2]}', "token id -2"), ('{"ids": [1, 18446744073709551616]}', "outside"),
])
def test_jsonl_ids_are_never_coerced(tmp_path, capsys, record, needle):
    src = tmp_path / "c.jsonl"
    src.write_text('{"ids": [1, 2, 3]}\n' + record + "\n")
    code, _, err = run(["data", "build", src, "--ids-column", "ids", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    one_error(code, err, "c.jsonl: line 2", needle)


# ----------------------------------------------------------------------------------------------- output = input
def _tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["<unk>", "a", "b", "c"])}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return path


def _inputs(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"ids": [1, 2, 3, 1]}\n')
    ids_parquet(tmp_path / "s.parquet", [[1, 2, 3, 1]])
    table = pa.table({"ids": pa.array([[1, 2, 3, 1]], type=pa.list_(pa.int64()))})
    with pa.OSFile(str(tmp_path / "s.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (tmp_path / "t.txt").write_text("a b c a b\n\nc a b")
    _tokenizer(tmp_path / "tok.json")


@pytest.mark.parametrize("argv,victim", [
    (["s.jsonl", "--ids-column", "ids"], "s.jsonl"),
    (["s.parquet"], "s.parquet"),
    (["s.arrow", "--ids-column", "ids"], "s.arrow"),
    (["s.jsonl", "s.parquet", "--ids-column", "ids"], "s.parquet"),  # the second input
    (["t.txt", "--engine", "local", "--tokenizer", "tok.json"], "t.txt"),
    (["t.txt", "--engine", "local", "--tokenizer", "tok.json"], "tok.json"),
    (["t.txt", "--tokenizer", "tok.json"], "tok.json"),  # the in-memory path reads the tokenizer too
    (["t.txt", "--engine", "local", "--tokenizer", "tok.json"], "link-to-t.txt"),  # through a symlink
    (["s.jsonl", "--ids-column", "ids"], "hard-link-to-s.jsonl"),  # a hard link: the same file
])
def test_output_that_is_an_input_is_refused_before_any_work(tmp_path, capsys, monkeypatch, argv, victim):
    _inputs(tmp_path)
    (tmp_path / "link-to-t.txt").symlink_to(tmp_path / "t.txt")
    os.link(tmp_path / "s.jsonl", tmp_path / "hard-link-to-s.jsonl")
    monkeypatch.chdir(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = run(["data", "build", *argv, "-T", "1", "-o", victim], capsys)
    one_error(code, err, victim, "also an input")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing replaced, no work folder


# ------------------------------------------------------------------------------------------- the work folder
def _crash_after(n):
    def progress(stage, done=None, total=None):
        if stage.startswith("counting") and done == n:
            raise KeyboardInterrupt
    return progress


def _flip(path, at=None):
    raw = bytearray(path.read_bytes())
    k = len(raw) // 2 if at is None else at
    raw[k] ^= 0x04
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("victim", ["ck", "nxt", "cnt", "bounds", "next.npz", "record.json"])
def test_a_flipped_bit_in_a_finished_shard_is_detected_and_the_shard_recounted(tmp_path, victim):
    rng = np.random.default_rng(2)
    docs = [rng.integers(0, 30, size=40).tolist() for _ in range(30)]
    src = tmp_path / "in"
    src.mkdir()
    for s in range(3):
        ids_parquet(src / f"s{s}.parquet", docs[10 * s : 10 * s + 10])
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        build_corpus(str(src), context_len=2, work_dir=work, progress=_crash_after(2))
    shard = sorted((work / "shards").glob("0*"))[0]
    files = [p for p in shard.iterdir() if p.name == victim or p.name.endswith(f"-{victim}.bin")]
    if victim == "record.json":  # a digit of the token count: still valid JSON, silently different numbers
        text = files[0].read_text()
        at = text.index('"tokens": ') + len('"tokens": ')
        _flip(files[0], at)
    else:
        _flip(files[0])
    got = build_corpus(str(src), context_len=2, work_dir=work)
    assert got.meta["shards_resumed"] == 1 and got.meta["shards_redone"] == 1
    assert got.hash == build_corpus(str(src), context_len=2).hash
    assert not work.exists()


def test_a_damaged_vocabulary_pass_is_redone(tmp_path):
    for s, text in enumerate(["the cat sat on the mat", "a dog sat on a log", "the end"]):
        (tmp_path / f"{s}.txt").write_text(text)
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        build_corpus(str(tmp_path / "*.txt"), context_len=1, tokenizer="word", work_dir=work,
                     progress=_crash_after(1))
    vocab = work / "vocab.json"
    vocab.write_text(vocab.read_text().replace('"cat": 1', '"cat": 9'))  # cat would become the top word
    got = build_corpus(str(tmp_path / "*.txt"), context_len=1, tokenizer="word", work_dir=work)
    assert got.hash == build_corpus(str(tmp_path / "*.txt"), context_len=1, tokenizer="word").hash


# ------------------------------------------------------------------------------------------ what a build reads
def test_a_directory_symlink_loop_does_not_hang_a_recursive_glob(tmp_path, monkeypatch):
    deep = tmp_path / "tree" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "x.jsonl").write_text('{"ids": [1, 2, 3]}\n')
    for k in range(6):  # six loops: glob.glob would walk 6^depth paths until ELOOP (minutes); safe_glob: none
        (deep / f"loop{k}").symlink_to(tmp_path / "tree")
    monkeypatch.chdir(tmp_path)
    got = build_corpus("tree/**/*.jsonl", context_len=1, ids_column="ids")
    assert got.meta["n_shards"] == 1 and got.n == 2


def test_stray_text_files_in_a_dataset_folder_are_not_training_text(tmp_path, capsys):
    folder = tmp_path / "ds"
    folder.mkdir()
    ids_parquet(folder / "train-0.parquet", [[1, 2, 3, 1, 2]])
    ids_parquet(folder / "train-1.parquet", [[3, 2, 1]])
    (folder / "README.txt").write_text("this dataset is about cats")
    (folder / "LICENSE.txt").write_text("MIT")
    got = build_corpus(str(folder), context_len=1)
    assert got.hash == build_corpus(str(folder / "*.parquet"), context_len=1).hash
    assert [s for s in got.meta["skipped"] if "README.txt" in s] and [s for s in got.meta["skipped"] if "LICENSE" in s]
    out = tmp_path / "o.npz"
    code, _, err = run(["data", "build", folder, "-T", "1", "-o", out], capsys)
    assert code == 0 and "README.txt" in err and "not a shard" in err
    # a folder of text files alone is read as text
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("a b a b")
    assert build_corpus(str(tmp_path / "txt"), context_len=1, tokenizer="word").meta["n_shards"] == 1


# ------------------------------------------------------------------------------------------------------------ Ray
class _FakeRay:
    """Stands in for ``ray`` (not a test dependency): records ``init`` calls, never connects."""

    def __init__(self, fail=None):
        self.calls, self.fail = [], fail

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.calls.append(kwargs)
        if self.fail:
            raise self.fail


def _dead_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


def test_a_dead_ray_address_is_one_error_line_at_once(tmp_path, capsys, monkeypatch):
    # was: ray.init retried for 13.7 min, printing 61 lines of warnings
    import time

    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    src = ids_parquet(tmp_path / "a.parquet", [[1, 2, 3]])
    t0 = time.perf_counter()
    code, _, err = run(["data", "build", src, "-T", "1", "--engine", "ray", "--ray-address",
                        f"127.0.0.1:{_dead_port()}", "-o", tmp_path / "o.npz"], capsys)
    one_error(code, err, "cannot reach the Ray cluster at 127.0.0.1:", "ray start --head")
    assert time.perf_counter() - t0 < 10 and not fake.calls  # Ray was never asked to connect
    assert not (tmp_path / "o.npz.work").exists()


def test_a_ray_address_that_is_not_host_port_and_a_failing_init_are_one_error(tmp_path, capsys, monkeypatch):
    from ntpgeom.data.engines.ray_engine import check_reachable, start_ray

    with pytest.raises(NTPDataError, match="host:port"):
        check_reachable("not-an-address")
    with pytest.raises(NTPDataError, match="cannot start Ray: no space"):
        start_ray(_FakeRay(fail=RuntimeError("no space\nleft on device")), None)


# ---------------------------------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("after", [0, 1])
def test_ctrl_c_of_data_build_says_what_was_kept(tmp_path, capsys, monkeypatch, after):
    import ntpgeom.data.engines.local as L

    for s in range(3):
        ids_parquet(tmp_path / f"s{s}.parquet", [[1, 2, 3, s]])
    real, calls = L.map_task, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) > after:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(L, "map_task", interrupted)
    out = tmp_path / "o.npz"
    code, _, err = run(["data", "build", str(tmp_path / "*.parquet"), "-T", "1", "--engine", "local", "-o", out], capsys)
    assert code == 130 and err.count("\n") == 1 and "Traceback" not in err, err
    if after:
        assert "o.npz.work is kept: rerun the same command to resume" in err and (tmp_path / "o.npz.work").is_dir()
    else:
        assert "interrupted; nothing was written" in err and not (tmp_path / "o.npz.work").exists()
    assert not out.exists()


def test_ctrl_c_while_the_command_line_starts_is_one_line(capsys, monkeypatch):
    import builtins

    from ntpgeom.__main__ import main as entry

    real = builtins.__import__

    def slow_start(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "cli" and level == 1:
            raise KeyboardInterrupt  # Ctrl-C while the CLI's libraries are imported
        return real(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", slow_start)
    with pytest.raises(SystemExit) as exc:
        entry(["--version"])
    err = capsys.readouterr().err
    assert exc.value.code == 130 and err == "error: interrupted while starting; nothing was done\n"


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "too-short"])
def test_empty_shards_leave_no_work_folder(tmp_path, capsys, kind):
    if kind == "parquet":
        ids_parquet(tmp_path / "e.parquet", [])
        src = tmp_path / "e.parquet"
    elif kind == "jsonl":
        src = tmp_path / "e.jsonl"
        src.write_text("\n\n")
    else:  # documents shorter than the context: every shard counted, nothing to keep
        src = ids_parquet(tmp_path / "e.parquet", [[1], [2]])
    code, _, err = run(["data", "build", src, "--ids-column", "ids", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    one_error(code, err, "empty" if kind != "too-short" else "too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_a_second_build_into_the_same_work_folder_is_refused_while_the_first_runs(tmp_path, capsys, monkeypatch):
    import socket

    import ntpgeom.data.engines.local as L

    for s in range(2):
        ids_parquet(tmp_path / f"a{s}.parquet", [[1, 2, 3, s]])
    src = tmp_path / "a*.parquet"
    work = tmp_path / "o.npz.work"
    real = L.map_task
    monkeypatch.setattr(L, "map_task", lambda i, *a: real(i, *a) if i == 0 else (_ for _ in ()).throw(KeyboardInterrupt))
    assert run(["data", "build", src, "-T", "1", "--engine", "local", "-o", tmp_path / "o.npz"], capsys)[0] == 130  # work folder kept
    monkeypatch.setattr(L, "map_task", real)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (work / ".ntpgeom-lock").write_text(f"{holder.pid} {socket.gethostname()}\n")  # ... and it runs again
        code, _, err = run(["data", "build", src, "-T", "1", "--engine", "local", "-o", tmp_path / "o.npz"], capsys)
        one_error(code, err, "o.npz.work is in use by another ntpgeom process", f"pid {holder.pid}")
        assert not (tmp_path / "o.npz").exists() and (work / "shards").is_dir()
    finally:
        holder.kill()
        holder.wait()
    code, _, err = run(["data", "build", src, "-T", "1", "--engine", "local", "-o", tmp_path / "o.npz"], capsys)  # its owner is gone
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0.parquet", "a1.parquet", "o.npz"]


# ------------------------------------------------------------------------------------- quiet losses, said aloud
def test_a_flipped_bit_in_a_parquet_data_page_is_refused(tmp_path, capsys):
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"ids": pa.array([[123456789, 5, 6, 123456789]], type=pa.list_(pa.int64()))}), src,
                   compression="none", write_page_checksum=True, use_dictionary=False)
    raw = bytearray(src.read_bytes())
    at = raw.index((123456789).to_bytes(8, "little") + (5).to_bytes(8, "little"))  # the values, not the statistics
    raw[at] ^= 0x01  # 123456789 -> 123456788: a different, valid id, unless the page checksum is checked
    src.write_bytes(bytes(raw))
    code, _, err = run(["data", "build", src, "--ids-column", "ids", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    one_error(code, err, "p.parquet", "checksum")


def test_null_texts_are_counted_and_reported(tmp_path, capsys):
    pq.write_table(pa.table({"text": ["a b a", None, "b a b", None]}), tmp_path / "t.parquet")
    got = build_corpus(str(tmp_path / "t.parquet"), context_len=1, tokenizer="word")
    assert got.meta["null_documents"] == 2
    code, _, err = run(["data", "build", tmp_path / "t.parquet", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    assert code == 0 and "note: 2 row(s) held a null text" in err


def test_workers_are_capped_at_the_cores_and_the_work_and_say_so(tmp_path, capsys):
    from ntpgeom.data.engines.build import cpu_cores, worker_count

    assert worker_count(10**6, 10**12, 10**6, 10**6) == cpu_cores()  # never a fork bomb
    assert worker_count(64, 1, 1, 1) == 1 and worker_count(None, 1, 50, 16) == 1
    src = ids_parquet(tmp_path / "a.parquet", [[1, 2, 3, 1]])
    code, _, err = run(["data", "build", src, "-T", "1", "--engine", "local", "--workers", "100000", "-o", tmp_path / "o.npz"], capsys)
    assert code == 0 and "note: --workers 100000 capped at" in err


# --------------------------------------------------------------------------------------- the newcomer's first hour
@pytest.mark.parametrize("sharded", [False, True])
def test_an_unfiltered_corpus_of_singleton_contexts_gets_a_note(tmp_path, capsys, sharded):
    rng = np.random.default_rng(0)
    text = " ".join(f"w{i}" for i in rng.integers(0, 40, size=300))  # 1600 possible contexts, 298 windows
    src = tmp_path / "c.txt"
    src.write_text(text)
    extra = ["--engine", "local"] if sharded else []
    code, _, err = run(["data", "build", src, "-T", "2", *extra, "-o", tmp_path / "o.npz"], capsys)
    data = g.load(tmp_path / "o.npz")
    once = int((np.asarray(data.counts.sum(axis=0)).ravel() == 1).sum())
    assert code == 0 and once > 0.25 * data.m
    assert f"note: {once} of the {data.m} contexts" in err and "--min-count 2" in err and "--top-k" in err
    code, _, err = run(["data", "build", src, "-T", "2", *extra, "--min-count", "2", "-o", tmp_path / "o.npz"], capsys)
    assert code == 0 and "seen once" not in err  # filtered: no note


def test_rays_own_notices_stay_off_stderr(capsys):
    import logging

    from ntpgeom.data.engines.ray_engine import start_ray

    class Noisy(_FakeRay):
        def init(self, **kwargs):
            logging.getLogger("ray._private.authentication").warning("Token authentication is disabled for this Ray "
                                                                     "cluster. Anyone with network access ...")
            super().init(**kwargs)

    seen = []
    handler = logging.Handler()
    handler.emit = seen.append  # what would reach stderr through any handler
    logging.getLogger("ray._private.authentication").addHandler(handler)
    try:
        fake = Noisy()
        start_ray(fake, None)
    finally:
        logging.getLogger("ray._private.authentication").removeHandler(handler)
    assert fake.calls and not seen and "Token authentication" not in capsys.readouterr().err
    assert logging.getLogger("ray").level == logging.NOTSET  # restored afterwards


def test_a_deeply_nested_jsonl_record_is_one_error(tmp_path, capsys):
    src = tmp_path / "deep.jsonl"
    src.write_text('{"ids": [1, 2, 3]}\n{"ids": ' + "[" * 100000 + "]" * 100000 + "}\n")
    code, _, err = run(["data", "build", src, "--ids-column", "ids", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    one_error(code, err, "deep.jsonl: line 2 is nested too deeply")


def test_ctrl_c_of_an_in_memory_build_is_one_line(tmp_path, capsys, monkeypatch):
    import ntpgeom.data as D

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(D, "from_text", interrupted)
    (tmp_path / "c.txt").write_text("a b c a b c")
    code, _, err = run(["data", "build", tmp_path / "c.txt", "-T", "1", "-o", tmp_path / "o.npz"], capsys)
    assert code == 130 and err == f"interrupted; nothing was written to {tmp_path / 'o.npz'}\n"
