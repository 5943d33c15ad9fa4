"""Counting throughput of ``ntpgeom.from_tokens`` against a straightforward pure-Python dictionary count.

Streams: (1) a Zipf-distributed token stream of 5M tokens with document boundaries, (2) the KJV bible tokenised with
the word tokenizer (Debian ``bible-kjv``; skipped if ``bible`` is not installed), repeated to at least 5M tokens.
Both implementations count the same windows (context length T-1, never across documents); the results are checked
equal before timing is reported. Prints medians over repeats, the rates and the ratio.

Run: ``python benchmarks/bench_data.py [--tokens 5000000] [--context-len 5] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections import Counter

import numpy as np
from threadpoolctl import threadpool_limits

import ntpgeom as g


def python_dict_count(ids: list[int], doc_ids: list[int], T1: int) -> Counter:
    """What a first attempt would write: a dictionary keyed by (context tuple, next token)."""
    counts: Counter = Counter()
    for i in range(len(ids) - T1):
        if doc_ids[i] == doc_ids[i + T1]:
            counts[(tuple(ids[i : i + T1]), ids[i + T1])] += 1
    return counts


def zipf_stream(n: int, vocab: int, seed: int, doc_len: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks**1.1
    ids = rng.choice(vocab, size=n, p=p / p.sum()).astype(np.int64)
    doc_ids = np.arange(n) // doc_len
    return ids, doc_ids


def bible_stream(n: int) -> tuple[np.ndarray, np.ndarray] | None:
    if shutil.which("bible") is None:
        return None
    text = subprocess.run(["bible", "gen1:1-rev22:21"], capture_output=True, text=True, check=True).stdout
    docs = g.data.split_documents(text.lower(), "line")
    enc = g.data.encode(docs, "word")
    reps = -(-n // len(enc.ids))
    ids = np.tile(enc.ids, reps)[:n]
    doc_ids = (np.tile(enc.doc_ids, reps) + np.repeat(np.arange(reps), len(enc.ids)) * (enc.doc_ids.max() + 1))[:n]
    return ids, doc_ids


def check_equal(data: g.NTPData, ref: Counter) -> None:
    assert data.n == sum(ref.values()), (data.n, sum(ref.values()))
    assert data.counts.nnz == len(ref)
    # spot-check 1000 entries
    strings = data.context_strings()
    index = {s: j for j, s in enumerate(strings)}
    vocab_index = {t: z for z, t in enumerate(data.vocab)}
    C = data.counts.tocsr()
    for (ctx, nxt), c in list(ref.items())[:1000]:
        j = index[" ".join(map(str, ctx))]
        assert C[vocab_index[str(nxt)], j] == c


def bench(name: str, ids: np.ndarray, doc_ids: np.ndarray, T1: int, repeats: int) -> dict:
    py_ids, py_docs = ids.tolist(), doc_ids.tolist()
    fast_times, slow_times = [], []
    data = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = g.from_tokens(ids, T1, doc_ids)
        fast_times.append(time.perf_counter() - t0)
    ref = None
    for _ in range(max(1, repeats // 2)):
        t0 = time.perf_counter()
        ref = python_dict_count(py_ids, py_docs, T1)
        slow_times.append(time.perf_counter() - t0)
    check_equal(data, ref)
    fast, slow = statistics.median(fast_times), statistics.median(slow_times)
    return {"stream": name, "tokens": len(ids), "m": data.m, "nnz": data.counts.nnz, "ntpgeom_s": fast,
            "python_s": slow, "ntpgeom_tok_per_s": len(ids) / fast, "python_tok_per_s": len(ids) / slow, "ratio": slow / fast}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=5_000_000)
    ap.add_argument("--context-len", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    rows = []
    with threadpool_limits(args.threads):
        ids, docs = zipf_stream(args.tokens, 50_000, seed=0)
        rows.append(bench("zipf(V=50k, s=1.1)", ids, docs, args.context_len, args.repeats))
        bible = bible_stream(args.tokens)
        if bible is not None:
            rows.append(bench("kjv bible (word, lowercase)", *bible, args.context_len, args.repeats))
        else:
            print("bible not installed (apt-get install bible-kjv): real-text stream skipped")
    print(f"\ncounting windows of T-1={args.context_len}, BLAS threads={args.threads}, medians of {args.repeats} (python: {max(1, args.repeats // 2)})")
    print(f"{'stream':30s} {'tokens':>9s} {'m':>9s} {'ntpgeom s':>10s} {'python s':>9s} {'ntpgeom tok/s':>14s} {'python tok/s':>13s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['stream']:30s} {r['tokens']:9d} {r['m']:9d} {r['ntpgeom_s']:10.3f} {r['python_s']:9.2f} "
              f"{r['ntpgeom_tok_per_s']:14.3g} {r['python_tok_per_s']:13.3g} {r['ratio']:6.1f}x")


if __name__ == "__main__":
    main()
