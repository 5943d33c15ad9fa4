"""Streaming corpus engines (issue 13): throughput and peak memory of ``build_corpus`` (local and Ray) on generated
Parquet shards, against ``from_tokens`` on the part that fits in memory, and the counting kernel against the
memory-bandwidth bound; a paper estimate of a 10^11-token run.

Corpus: a Zipf-Markov token stream (a random walk on Z_V with Zipf steps that restarts at a Zipf-distributed token
with probability 0.3: a Markov chain with heavy-tailed transitions and unigrams) cut into documents of geometric
length (mean 400), one Parquet row (list<int32> column ``ids``) per document, one row group per shard.

Each engine runs in a child process; peak memory is the largest summed RSS of that process tree (Ray's raylet and
workers, the local engine's worker processes included), sampled every 0.1 s. Engines run ``--engine-repeats`` times
(median seconds; peak: the largest); kernel times are medians of ``--repeats``. Threads: ``--threads`` (numpy/BLAS
pools, OMP_NUM_THREADS) for every child; ``--workers`` processes for the local engine; ``--ray-cpus`` for ``ray``.
``--baseline-src DIR`` also runs the local engine of another source tree (e.g. ``git archive <commit> src``) on the
same corpus, for a ratio against an earlier version in the same run.

Run: ``python benchmarks/bench_scale.py [--tokens 2e7] [--engines local,ray] [--context-len 3]``;
large sizes: ``--tokens 1e8`` and ``--tokens 1e9 --engines local --fit-tokens 5e7`` (quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def clipped_zipf(a: float, top: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of min(Zipf(a), top) by inverting its CDF (the same law as ``np.minimum(rng.zipf(a, n), top)``, a
    different random stream; ~5x faster than numpy's rejection sampler)."""
    from scipy.special import zeta

    k = np.arange(1, top, dtype=np.float64)
    cdf = np.cumsum(k**-a) / zeta(a)
    return np.searchsorted(cdf, rng.random(n), side="right") + 1  # values > top - 1 land on top


def zipf_markov(n: int, vocab: int, rng: np.random.Generator, sampler: str = "numpy") -> np.ndarray:
    """n tokens of the Zipf-Markov chain described in the module docstring (vectorised). ``sampler="table"``:
    the same chain with :func:`clipped_zipf` draws (used for the 10^9-token corpus)."""
    restart = rng.random(n) < 0.3
    restart[0] = True
    if sampler == "table":
        start_val = clipped_zipf(1.2, vocab, n, rng) - 1
        steps = np.where(restart, 0, clipped_zipf(1.5, vocab, n, rng))
    else:
        start_val = np.minimum(rng.zipf(1.2, n) - 1, vocab - 1)
        steps = np.where(restart, 0, np.minimum(rng.zipf(1.5, n), vocab))
    c = np.cumsum(steps)
    start = np.maximum.accumulate(np.where(restart, np.arange(n), 0))
    return ((start_val[start] + c - c[start]) % vocab).astype(np.int32)


def write_corpus(root: Path, tokens: int, shard_tokens: int, vocab: int, seed: int, workers: int = 1,
                 sampler: str = "numpy") -> list[Path]:
    """Parquet shards (cached: reused when the same parameters were written before). Each shard has its own seed
    ``[seed, s]``, so the corpus does not depend on ``workers`` (processes writing shards in parallel)."""
    tag = {"tokens": tokens, "shard_tokens": shard_tokens, "vocab": vocab, "seed": seed,
           **({"sampler": sampler} if sampler != "numpy" else {})}
    done = root / "corpus.json"
    n_shards = -(-tokens // shard_tokens)
    files = [root / f"shard-{s:05d}.parquet" for s in range(n_shards)]
    if done.is_file() and json.loads(done.read_text()) == tag:
        return files
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(f, min(shard_tokens, tokens - s * shard_tokens), vocab, [seed, s], sampler) for s, f in enumerate(files)]
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.starmap(write_shard, jobs)
    else:
        for job in jobs:
            write_shard(*job)
    done.write_text(json.dumps(tag))
    return files


def write_shard(f: Path, n: int, vocab: int, seed: list, sampler: str = "numpy") -> None:
    """One shard: ``n`` tokens of the Zipf-Markov chain cut into documents, one row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ids = zipf_markov(n, vocab, rng, sampler)
    cuts = np.flatnonzero(rng.random(n) < 1 / 400)
    offsets = np.concatenate([[0], cuts[cuts > 0], [n]]).astype(np.int32)
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids))
    pq.write_table(pa.table({"ids": arr}), f, row_group_size=len(offsets))


# ----------------------------------------------------------------------------- child processes
def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    from threadpoolctl import threadpool_limits

    import ntpgeom as g
    from ntpgeom.data.engines import build_corpus

    files = sorted(Path(args.dir).glob("shard-*.parquet"))[: args.first_shards or None]
    kw = {"workers": args.workers} if args.child == "local" else {}
    out: dict = {}
    with threadpool_limits(args.threads):
        t0 = time.perf_counter()
        if args.child == "from_tokens":
            import pyarrow.parquet as pq

            cols = [pq.read_table(f).column("ids").combine_chunks() for f in files]
            docs = [np.asarray(c.values) for c in cols]
            lens = [np.diff(np.asarray(c.offsets)) for c in cols]
            ids = np.concatenate(docs).astype(np.int64)
            doc_ids = np.repeat(np.arange(sum(len(x) for x in lens)), np.concatenate(lens))
            t0 = time.perf_counter()  # count only: reading is not part of the kernel
            data = g.from_tokens(ids, args.context_len, doc_ids, top_k=args.top_k or None)
        else:
            work = Path(args.dir) / f"work-{args.child}"
            shuffle = {}

            def say(stage, done=None, total=None):
                if stage.startswith(("merging", "reducing")) and not shuffle:
                    shuffle["bytes"] = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())

            t_ray = time.perf_counter()
            cluster = start_ray(args.child, args.ray_cpus)
            if args.child.startswith("ray"):
                out["ray_start_seconds"] = time.perf_counter() - t_ray
                t0 = time.perf_counter()  # Ray's start-up is reported apart (ray_start_seconds), not in the rate
            try:
                data = build_corpus([str(f) for f in files], context_len=args.context_len, ids_column="ids",
                                    engine="local" if args.child in ("local", "local-old") else "ray", work_dir=work,
                                    progress=say, partitions=args.partitions or None, top_k=args.top_k or None, **kw)
            finally:
                if args.child.startswith("ray"):
                    import ray

                    ray.shutdown()
                if cluster is not None:
                    cluster.shutdown()
            out["shuffle_bytes"] = shuffle.get("bytes", 0)
        out.update(seconds=time.perf_counter() - t0, tokens=int(data.meta["n_tokens"]), m=data.m, hash=data.hash)
    print(json.dumps(out))


def start_ray(engine: str, cpus: int):
    """``ray``: one node of ``cpus`` CPUs; ``ray-2node``: a local 2-node cluster of 1 CPU each (ray.cluster_utils)."""
    if not engine.startswith("ray"):
        return None
    import ray

    env = {"env_vars": {"PYTHONPATH": str(HERE.parents[1] / "src")}}
    if engine == "ray":
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, runtime_env=env)
        return None
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, runtime_env=env)
    return cluster


def run_child(args: argparse.Namespace, what: str, first_shards: int = 0) -> dict:
    """Run a measurement ``--engine-repeats`` times in child processes: median seconds, largest peak RSS."""
    runs = [_run_child_once(args, what, first_shards) for _ in range(max(1, args.engine_repeats))]
    out = dict(runs[0])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["peak_rss"] = max(r["peak_rss"] for r in runs)
    out["runs"] = [round(r["seconds"], 2) for r in runs]
    return out


def _run_child_once(args: argparse.Namespace, what: str, first_shards: int = 0) -> dict:
    """Run one measurement in a child process; adds the peak RSS of its process tree (bytes)."""
    import psutil

    src = args.baseline_src if what == "local-old" else str(HERE.parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(src)}
    cmd = [sys.executable, str(HERE), "--child", what, "--dir", str(args.dir), "--context-len", str(args.context_len),
           "--threads", str(args.threads), "--partitions", str(args.partitions), "--first-shards", str(first_shards),
           "--top-k", str(args.top_k), "--workers", str(args.workers), "--ray-cpus", str(args.ray_cpus)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    peak = [0]

    def sample():
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = sum(q.memory_info().rss for q in [p, *p.children(recursive=True)])
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_rss": peak[0]}


# ----------------------------------------------------------------------------- kernel
def kernel_bench(n: int, vocab: int, T1: int, repeats: int) -> dict:
    """n tokens in one document: np.copy of the packed uint64 window keys (the memory-bandwidth bound), one sort of
    them, partition-then-sort, the in-memory kernel (``count_windows``, as ``from_tokens``) and the streaming
    engines' map kernel (``window_table``: packed contexts, one SIMD sort). Medians of ``repeats``."""
    from ntpgeom.data import count_windows
    from count_kernels import count_keys_partitioned, count_keys_sort  # benchmarks/, beside this script
    from ntpgeom.data.engines.packed import bits_for, window_table

    ids = zipf_markov(n, vocab, np.random.default_rng(0)).astype(np.int64)
    bits = bits_for(int(ids.max()))
    if bits * (T1 + 1) > 64:
        raise SystemExit("kernel benchmark: choose vocab/context so that a window fits 64 bits")
    key = np.zeros(n - T1, dtype=np.uint64)
    for t in range(T1 + 1):
        key <<= np.uint64(bits)
        key |= ids[t : n - T1 + t].astype(np.uint64)
    kb = bits * (T1 + 1)

    def med(fn):
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts), r

    t_copy, _ = med(lambda: np.copy(key))
    t_sort, (u1, c1) = med(lambda: count_keys_sort(key))
    t_part, (u2, c2) = med(lambda: count_keys_partitioned(key, kb))
    assert np.array_equal(u1, u2) and np.array_equal(c1, c2)
    t_full, (_, _, _, cnt_a) = med(lambda: count_windows(ids, T1))
    doc = np.zeros(n, dtype=np.int64)
    t_tab, (_, _, cnt_b) = med(lambda: window_table(ids, doc, T1, bits))
    assert np.array_equal(cnt_a, cnt_b) and np.array_equal(cnt_b, c1)
    return {"n": n, "key_bits": kb, "copy": t_copy, "sort": t_sort, "partitioned": t_part, "count_windows": t_full,
            "window_table": t_tab}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=2e7)
    ap.add_argument("--shard-tokens", type=float, default=2e6)
    ap.add_argument("--fit-tokens", type=float, default=2e7, help="from_tokens baseline on this many tokens")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--context-len", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=0, help="0: automatic (one per 8 MiB of input)")
    ap.add_argument("--engines", default="local,ray",
                    help="local, ray (1 node x --ray-cpus), ray-2node (2 x 1 CPU), local-old (needs --baseline-src)")
    ap.add_argument("--top-k", type=int, default=100_000, help="keep the K most frequent contexts (0: all)")
    ap.add_argument("--kernel-tokens", type=float, default=1e7, help="0: skip the kernel benchmark")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engine-repeats", type=int, default=1, help="runs per engine and size (median)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes of the local engine")
    ap.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the one-node Ray instance")
    ap.add_argument("--baseline-src", default=None, help="src/ of an earlier version: adds local-old runs")
    ap.add_argument("--generate-only", action="store_true", help="write the corpus (with --gen-workers) and stop")
    ap.add_argument("--gen-workers", type=int, default=1, help="processes writing the corpus")
    ap.add_argument("--sampler", default="numpy", choices=["numpy", "table"],
                    help="Zipf draws: numpy's rejection sampler, or the same law by CDF inversion (faster)")
    ap.add_argument("--skip-fit", action="store_true", help="skip from_tokens and the engines on the part that fits")
    ap.add_argument("--dir", type=Path, default=None, help="corpus folder (default: a temporary one, kept for reuse)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--first-shards", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    args.dir = args.dir or Path(tempfile.gettempdir()) / "ntpgeom-bench-scale"
    tokens, shard = int(args.tokens), int(args.shard_tokens)
    t0 = time.perf_counter()
    files = write_corpus(args.dir, tokens, shard, args.vocab, seed=0, workers=args.gen_workers, sampler=args.sampler)
    if args.generate_only:
        print(f"corpus: {len(files)} shards in {args.dir} ({time.perf_counter() - t0:.1f} s)")
        return
    print(f"corpus: {tokens:.3g} tokens, {len(files)} Parquet shards of {shard:.3g}, V={args.vocab}, "
          f"T-1={args.context_len}, top-k={args.top_k or 'all'} ({time.perf_counter() - t0:.1f} s to generate or reuse); "
          f"threads={args.threads}, local workers={args.workers}, ray cpus={args.ray_cpus}; "
          f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine)")
    engines = args.engines.split(",") + (["local-old"] if args.baseline_src and "local-old" not in args.engines else [])
    rows = []
    fit_shards = max(1, min(len(files), int(args.fit_tokens) // shard))
    base = part = None
    if not args.skip_fit:
        base = run_child(args, "from_tokens", fit_shards)
        rows.append(("from_tokens (in memory)", fit_shards, base))
        part = run_child(args, "local", fit_shards)
        assert part["hash"] == base["hash"], "local engine and from_tokens differ"
        rows.append(("local engine, same part", fit_shards, part))
    for eng in engines:
        if args.skip_fit or fit_shards < len(files) or eng != "local":
            r = run_child(args, eng, 0)
            rows.append((f"{eng} engine, whole corpus", len(files), r))
            extra = f", Ray start-up {r['ray_start_seconds']:.1f} s not included" if "ray_start_seconds" in r else ""
            print(f"  {eng}: {r['seconds']:.1f} s (runs {r['runs']}{extra}), load average {os.getloadavg()[0]:.1f}",
                  flush=True)
    hashes = {r["hash"] for label, n, r in rows if n == len(files)}
    assert len(hashes) <= 1, "engines differ on the whole corpus"
    print(f"\n{'run':28s} {'shards':>6s} {'tokens':>10s} {'seconds':>8s} {'Mtok/s':>7s} {'peak GiB':>9s} {'shuffle MB':>10s}")
    for label, n, r in rows:
        print(f"{label:28s} {n:6d} {r['tokens']:10.3g} {r['seconds']:8.2f} {r['tokens'] / r['seconds'] / 1e6:7.2f} "
              f"{r['peak_rss'] / 2**30:9.2f} {r.get('shuffle_bytes', 0) / 1e6:10.1f}")
    if base is not None:
        print(f"local engine / from_tokens time ratio on {base['tokens']:.3g} tokens: "
              f"{part['seconds'] / base['seconds']:.2f}x (medians of {args.engine_repeats})")
    new = next((r for label, n, r in rows if label.startswith("local engine, whole")), part)
    old = next((r for label, n, r in rows if label.startswith("local-old")), None)
    if old is not None and new is not None:
        print(f"local engine speed-up over --baseline-src on the whole corpus: {old['seconds'] / new['seconds']:.2f}x "
              f"(medians of {args.engine_repeats})")
    if args.kernel_tokens:
        k = kernel_bench(int(args.kernel_tokens), args.vocab, args.context_len, args.repeats)
        names = ("copy", "sort", "partitioned", "count_windows", "window_table")
        print(f"\nkernel on {k['n']:.3g} packed {k['key_bits']}-bit keys (medians of {args.repeats}): "
              + ", ".join(f"{name} {k[name]:.3f} s = {k['n'] / k[name] / 1e6:.0f}M keys/s" for name in names))
        print(", ".join(f"{name} / copy = {k[name] / k['copy']:.1f}x" for name in names[1:]))
    estimate(rows, args.workers)


def estimate(rows: list, workers: int) -> None:
    """Paper estimate of 10^11 tokens from the measured per-core rate and shuffle bytes per token."""
    local = next((r for label, n, r in rows if label.startswith("local engine, whole")),
                 next((r for label, n, r in rows if label.startswith("local engine")), None))
    if local is None:
        return
    rate = local["tokens"] / local["seconds"] / max(1, workers)
    per_tok = local.get("shuffle_bytes", 0) / local["tokens"]
    N = 1e11
    print(f"\npaper estimate, 10^11 tokens: at the measured {rate / 1e6:.2f}M tokens/s per core (pre-tokenised), "
          f"{N / rate / 3600:.0f} core-hours; on 16 nodes x 64 cores ~{N / rate / 1024 / 60:.0f} min if the map side "
          f"scales linearly. Shuffle volume at {per_tok:.1f} bytes/token (partial counts after per-shard "
          f"pre-aggregation; falls as shards grow and repeats merge): {N * per_tok / 1e12:.1f} TB, "
          f"~{N * per_tok / 1e9 / 16 / 1.25:.0f} s per node at 10 Gbit/s across 16 nodes.")


if __name__ == "__main__":
    main()
