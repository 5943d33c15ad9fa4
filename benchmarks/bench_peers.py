"""Counting against what a user would otherwise pick: DuckDB and Polars against ``from_tokens``, the streaming engine
and the command ``ntpgeom data build``, on the same token ids, outputs checked equal (m, n and ℋ in every run).

Streams: the KJV bible tokenised with the word tokenizer (Debian ``bible-kjv``, one document per line, repeated to
the size asked; skipped when ``bible`` is missing) and a Zipf(1.1) stream over 50 000 ids in documents of 1000
tokens (``benchmarks/bench_data.py``'s generators). Each run is its own child process, so CPU seconds (user +
system, every thread and worker process of the run), wall seconds and peak RSS are the run's alone:

* ``from_tokens``: ``ntpgeom.from_tokens(ids, T-1, doc_ids)`` on arrays in memory, then m, n, ℋ;
* ``engine``: ``build_corpus`` streaming (``in_memory=False``) over Parquet shards (one row per document, list<int64>
  column ``ids``), 2 worker processes;
* ``command``: ``ntpgeom data build SHARDS --ids-column ids -T L -o OUT --json`` on the same shards (timed whole:
  interpreter start, imports, Parquet reading, counting, saving the file and the printed summary);
* ``duckdb``: windows by ``lead(id, k) OVER (ORDER BY pos)`` on the in-memory table (pos, doc, id) (zero-copy Arrow),
  ``GROUP BY`` of the pairs, then per-context sums for m, n and ℋ; ``SET threads`` to ``--threads``;
* ``polars``: the same with ``shift(-k)``, ``filter``, ``group_by().len()``; ``POLARS_MAX_THREADS`` = ``--threads``;
* ``startup``: ``ntpgeom data build --help``, the command's fixed cost (interpreter start and imports), for reference.

For the in-process runs the timed part starts after the arrays are loaded and the library imported. numpy and BLAS
run one thread (OMP_NUM_THREADS=1); ntpgeom's counting is single-threaded, its engine uses 2 processes.

Run: ``python benchmarks/bench_peers.py [--tokens 1e7] [--context-len 3 5] [--streams kjv zipf] [--repeats 1]
[--threads 2] [--markdown]``; ``--kernel``: only the counting kernel (``count_packed``) against ``np.sort`` of the
same windows' packed keys (the issue's bound: within 10x, end to end), medians of 3, CPU seconds. ``pip install 'ntpgeom[bench]'`` for DuckDB and Polars.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUNNERS = ("from_tokens", "engine", "command", "duckdb", "polars", "startup")
KERNEL = "kernel"  # --kernel: count_packed against np.sort of the packed keys, in one child


# ----------------------------------------------------------------------------- streams
def make_stream(name: str, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    sys.path.insert(0, str(HERE))
    from bench_data import bible_stream, zipf_stream  # benchmarks/, beside this script

    if name == "kjv":
        return bible_stream(n)
    return zipf_stream(n, 50_000, seed=0, doc_len=1000)


def write_inputs(folder: Path, ids: np.ndarray, doc_ids: np.ndarray) -> tuple[Path, Path]:
    """The stream as arrays (.npz) and as Parquet shards (one row per document, ~2M tokens per file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = folder / "stream.npz"
    np.savez(arrays, ids=ids, doc_ids=doc_ids)
    shards = folder / "shards"
    shards.mkdir()
    starts = np.flatnonzero(np.r_[True, doc_ids[1:] != doc_ids[:-1]])
    offsets = np.append(starts, len(ids))
    per_file = 2_000_000
    cuts = np.searchsorted(offsets, np.arange(0, len(ids), per_file))
    cuts = np.unique(np.append(cuts, len(offsets) - 1))
    for f, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        off = offsets[a : b + 1]
        col = pa.LargeListArray.from_arrays(pa.array(off - off[0], pa.int64()), pa.array(ids[off[0] : off[-1]]))
        pq.write_table(pa.table({"ids": col}), shards / f"part-{f:04d}.parquet")
    return arrays, shards


# ----------------------------------------------------------------------------- one run (child process)
def entropy(nj: np.ndarray, clogc: np.ndarray) -> float:
    n = nj.sum()
    return float((nj * np.log(nj)).sum() - clogc.sum()) / float(n)


def run_from_tokens(ids, doc_ids, L, shards, threads):
    import ntpgeom as g

    t = _clock()
    data = g.from_tokens(ids, L, doc_ids)
    out = {"m": data.m, "n": int(data.n), "H": data.entropy_bound}
    return out, t


def run_engine(ids, doc_ids, L, shards, threads):
    from ntpgeom.data.engines import build_corpus

    t = _clock()
    data = build_corpus(str(shards / "*.parquet"), context_len=L, ids_column="ids", in_memory=False, workers=threads)
    return {"m": data.m, "n": int(data.n), "H": data.entropy_bound}, t


def run_duckdb(ids, doc_ids, L, shards, threads):
    import duckdb
    import pyarrow as pa

    t = _clock()
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    tbl = pa.table({"pos": np.arange(len(ids)), "doc": doc_ids, "id": ids})  # noqa: F841 (read by the query)
    ctx = ", ".join(f"c{k}" for k in range(L))
    lead = ", ".join(f"lead(id, {k}) OVER w AS c{k}" for k in range(1, L + 1))
    q = f"""
    WITH win AS (SELECT id AS c0, {lead}, lead(doc, {L}) OVER w AS dl, doc FROM tbl WINDOW w AS (ORDER BY pos)),
    pairs AS (SELECT {ctx}, c{L} AS nx, count(*) AS c FROM win WHERE dl = doc GROUP BY ALL),
    per AS (SELECT {ctx}, sum(c) AS nj, sum(c * ln(c)) AS s FROM pairs GROUP BY ALL)
    SELECT count(*), sum(nj), sum(nj * ln(nj) - s) FROM per"""
    m, n, hn = con.execute(q).fetchone()
    return {"m": int(m), "n": int(n), "H": float(hn) / float(n)}, t


def run_polars(ids, doc_ids, L, shards, threads):
    import polars as pl

    t = _clock()
    df = pl.DataFrame({"doc": doc_ids, "c0": ids})
    df = df.with_columns([pl.col("c0").shift(-k).alias(f"c{k}") for k in range(1, L + 1)]
                         + [pl.col("doc").shift(-L).alias("dl")])
    ctx = [f"c{k}" for k in range(L)]
    pairs = df.filter(pl.col("dl") == pl.col("doc")).group_by(ctx + [f"c{L}"]).len("c")
    per = pairs.group_by(ctx).agg(pl.col("c").sum().alias("nj"),
                                  (pl.col("c") * pl.col("c").log()).sum().alias("s"))
    nj, s = per["nj"].to_numpy().astype(np.float64), per["s"].to_numpy()
    return {"m": len(per), "n": int(nj.sum()), "H": entropy(nj, s)}, t


def kernel_vs_sort(ids, doc_ids, L, repeats: int = 3) -> dict:
    """The counting kernel (``count_packed``) against ``np.sort`` of the same windows' packed keys (the low 64 bits
    of the window key when it is wider): CPU seconds, medians of ``repeats``."""
    from ntpgeom.data.windows import count_packed, doc_starts

    starts = doc_starts(doc_ids)
    tb = max(1, (len(np.unique(ids, return_counts=True)[0]) - 1).bit_length())
    n = len(ids) - L
    keys = np.zeros(n, np.uint64)
    for t in range(L + 1):
        keys <<= np.uint64(tb)
        keys |= ids[t : t + n].astype(np.uint64)
    out = {}
    for name, fn in (("kernel", lambda: count_packed(ids, L, starts)), ("np.sort", lambda: np.sort(keys))):
        times = []
        for _ in range(repeats):
            c0 = time.process_time()
            fn()
            times.append(time.process_time() - c0)
        out[name] = statistics.median(times)
    return out


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def child(args) -> None:
    """One timed run; prints {m, n, H, cpu, wall} as JSON (cpu: this process's threads and its finished children)."""
    z = np.load(args.data)
    ids, doc_ids = z["ids"], z["doc_ids"]
    if args.child == "kernel":
        print(json.dumps(kernel_vs_sort(ids, doc_ids, args.L)))
        return
    fn = {"from_tokens": run_from_tokens, "engine": run_engine, "duckdb": run_duckdb, "polars": run_polars}[args.child]
    import resource

    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, (c0, w0) = fn(ids, doc_ids, args.L, Path(args.shards), args.threads)
    wall = time.perf_counter() - w0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    print(json.dumps({**out, "cpu": time.process_time() - c0 + kids, "wall": wall}))


# ----------------------------------------------------------------------------- driver
def _spawn(cmd: list[str], env: dict) -> tuple[str, float, float, float]:
    """Run ``cmd``; returns (stdout, CPU seconds of the whole process tree, wall seconds, peak RSS GiB)."""
    w0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - w0
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed (rc {p.returncode}):\n{err[-3000:]}")
    return out, ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss / 2**20


def one(runner: str, arrays: Path, shards: Path, L: int, threads: int, work: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "POLARS_MAX_THREADS": str(threads), "PYTHONPATH": str(HERE.parent / "src")}
    if runner == KERNEL:
        text, _, _, _ = _spawn([sys.executable, __file__, "--child", KERNEL, "--data", str(arrays), "--shards",
                                str(shards), "-L", str(L)], env)
        k = json.loads(text.strip().splitlines()[-1])
        print(f"# kernel {k['kernel']:.2f} CPU-s, np.sort of the packed keys {k['np.sort']:.2f}: "
              f"{k['kernel'] / k['np.sort']:.1f}x", flush=True)
        return {"m": None, "n": None, "H": None, "cpu": k["kernel"], "wall": k["np.sort"], "rss": 0.0}
    if runner == "startup":  # the command's fixed cost: interpreter start and imports (``--help``), for reference
        _, cpu, wall, rss = _spawn([sys.executable, "-m", "ntpgeom", "data", "build", "--help"], env)
        return {"m": None, "n": None, "H": None, "cpu": cpu, "wall": wall, "rss": rss}
    if runner == "command":
        out_file = work / f"out-{L}.npz"
        out_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "ntpgeom", "data", "build", str(shards / "*.parquet"), "--ids-column", "ids",
               "-T", str(L), "-o", str(out_file), "--json"]
        text, cpu, wall, rss = _spawn(cmd, env)
        s = json.loads(text)
        return {"m": s["m"], "n": int(s["n"]), "H": s["entropy_bound"], "cpu": cpu, "wall": wall, "rss": rss}
    cmd = [sys.executable, __file__, "--child", runner, "--data", str(arrays), "--shards", str(shards), "-L", str(L),
           "--threads", str(threads)]
    text, _, _, rss = _spawn(cmd, env)
    return {**json.loads(text.strip().splitlines()[-1]), "rss": rss}


def make(args) -> None:
    """Child process: write the stream's arrays and shards into ``args.data`` (a folder); prints "ok" or "missing"."""
    made = make_stream(args.make, int(args.tokens))
    if made is None:
        print("missing")
        return
    write_inputs(Path(args.data), *made)
    print("ok")


def bench(args) -> list[dict]:
    """Every runner on every stream and context length. The streams are made in a child process, so that this
    driver stays small: a child's peak RSS (``ru_maxrss``) starts from its parent's at the fork."""
    rows = []
    for stream in args.streams:
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
            made = subprocess.run([sys.executable, __file__, "--make", stream, "--tokens", str(args.tokens), "--data",
                                   tmp], capture_output=True, text=True, check=True).stdout.split()
            if made[-1] != "ok":
                print(f"skipping {stream}: `bible` (Debian bible-kjv) is not installed", file=sys.stderr)
                continue
            arrays, shards = Path(tmp) / "stream.npz", Path(tmp) / "shards"
            for L in args.context_len:
                res = {r: [one(r, arrays, shards, L, args.threads, Path(tmp)) for _ in range(args.repeats)]
                       for r in args.runners}
                ref = res[args.runners[0]][0]
                for r, runs in res.items():
                    for x in runs if r not in ("startup", KERNEL) else ():  # the same output in every run
                        assert (x["m"], x["n"]) == (ref["m"], ref["n"]), (stream, L, r, x, ref)
                        assert abs(x["H"] - ref["H"]) <= 1e-9 * max(1.0, abs(ref["H"])), (stream, L, r, x, ref)
                row = {"stream": stream, "tokens": int(args.tokens), "L": L, "m": ref["m"], "n": ref["n"], "H": ref["H"]}
                for r, runs in res.items():
                    row[r] = {k: statistics.median(x[k] for x in runs) for k in ("cpu", "wall", "rss")}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict], runners: tuple[str, ...]) -> str:
    head = "| stream, T-1 (m) | " + " | ".join(runners) + " |"
    lines = [head, "|" + "---|" * (len(runners) + 1)]
    for row in rows:
        cells = [f"{row[r]['cpu']:.2f} CPU-s, {row[r]['wall']:.2f} s, {row[r]['rss']:.2f} GiB" for r in runners]
        name = {"kjv": "KJV words", "zipf": "Zipf(1.1), 50k ids"}[row["stream"]]
        lines.append(f"| {name}, {row['tokens']:.0e} tokens, T-1 = {row['L']} (m = {row['m']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=float, default=1e7)
    ap.add_argument("--context-len", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--streams", nargs="+", default=["kjv", "zipf"], choices=["kjv", "zipf"])
    ap.add_argument("--runners", nargs="+", default=list(RUNNERS), choices=RUNNERS)  # the first is the reference
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--kernel", action="store_true", help="only the kernel against np.sort of the packed keys")
    ap.add_argument("--child", choices=(*RUNNERS, KERNEL), help=argparse.SUPPRESS)
    ap.add_argument("--make", choices=["kjv", "zipf"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--shards", help=argparse.SUPPRESS)
    ap.add_argument("-L", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.make:
        return make(args)
    print(f"# load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, threads {args.threads}", flush=True)
    if args.kernel:
        args.runners = [KERNEL]
    rows = bench(args)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    if args.markdown and not args.kernel:
        print(markdown(rows, tuple(args.runners)))


if __name__ == "__main__":
    main()
