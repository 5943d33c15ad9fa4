"""Counting throughput of ``ntpgeom.from_tokens`` against a straightforward pure-Python dictionary count.

Streams of 5M tokens with document boundaries: Zipf-distributed ids over vocabularies of 50k (T-1 = 5: keys exceed
64 bits, one prefix compression), 128 (the paper's TinyStories setting, T-1 = 6: one sort) and 64 (T-1 = 3: the key
space is small, counted without sorting), and the KJV bible tokenised with the word tokenizer (Debian ``bible-kjv``;
skipped if ``bible`` is not installed) repeated to 5M tokens. Both implementations build the same V x m count matrix
(windows never cross documents), checked equal before the times are printed: medians, rates and the ratio.

Run: ``python benchmarks/bench_data.py [--tokens 5000000] [--context-len 5] [--repeats 3] [--threads 1]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections import Counter, defaultdict

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import ntpgeom as g


def python_dict_count(ids: list[int], doc_ids: list[int], T1: int):
    """What a first attempt would write: a dictionary of Counters (context tuple -> next token -> count), then the
    V x m sparse count matrix built from it with Python loops. Returns (counts dict, matrix)."""
    table: dict = defaultdict(Counter)
    for i in range(len(ids) - T1):
        if doc_ids[i] == doc_ids[i + T1]:
            table[tuple(ids[i : i + T1])][ids[i + T1]] += 1
    vocab = sorted({z for c in table.values() for z in c})
    row_of = {z: r for r, z in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for j, ctx in enumerate(sorted(table)):
        for z, c in table[ctx].items():
            rows.append(row_of[z])
            cols.append(j)
            vals.append(c)
    C = sp.csc_array((np.array(vals, dtype=np.float64), (np.array(rows), np.array(cols))), shape=(len(vocab), len(table)))
    return table, C


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


def check_equal(data: g.NTPData, ref) -> None:
    """The two implementations produce the same V x m count matrix (same context and token order)."""
    table, C = ref
    assert data.n == sum(sum(c.values()) for c in table.values())
    assert data.counts.shape == C.shape and data.counts.nnz == C.nnz
    assert abs(data.counts - C).max() == 0
    assert [tuple(int(t) for t in s.split()) for s in data.context_strings()[:1000]] == sorted(table)[:1000]


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
        for vocab, T1, label in ((50_000, args.context_len, "zipf V=50k"), (128, 6, "zipf V=128 (paper's TinyStories)"),
                                 (64, 3, "zipf V=64, short contexts")):
            ids, docs = zipf_stream(args.tokens, vocab, seed=0)
            rows.append(bench(f"{label}, T-1={T1}", ids, docs, T1, args.repeats))
        bible = bible_stream(args.tokens)
        if bible is not None:
            rows.append(bench(f"KJV bible (word, lowercase), T-1={args.context_len}", *bible, args.context_len, args.repeats))
        else:
            print("bible not installed (apt-get install bible-kjv): real-text stream skipped")
    print(f"\nBLAS threads={args.threads}; medians of {args.repeats} runs (python baseline: {max(1, args.repeats // 2)})")
    print(f"{'stream':44s} {'tokens':>9s} {'m':>9s} {'ntpgeom s':>10s} {'python s':>9s} {'ntpgeom tok/s':>14s} {'python tok/s':>13s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['stream']:44s} {r['tokens']:9d} {r['m']:9d} {r['ntpgeom_s']:10.3f} {r['python_s']:9.2f} "
              f"{r['ntpgeom_tok_per_s']:14.3g} {r['python_tok_per_s']:13.3g} {r['ratio']:6.1f}x")


if __name__ == "__main__":
    main()
