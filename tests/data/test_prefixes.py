"""Contexts of every length lo..hi (data/prefixes.py, App. D.3): counts against a brute-force window count, ℋ_T,
the file format (old files load, new ones round-trip) and bad ranges."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from ntpgeom.data import NTPData, from_tokens, load
from ntpgeom.data.prefixes import parse_lengths
from ntpgeom.errors import NTPDataError

DOCS = [[0, 1, 2, 0, 1, 3, 0, 1, 2], [2, 0, 1, 2, 2], [3, 3], [1, 0, 1, 2, 0, 1, 3, 3, 1]]


def _brute(docs, lo, hi):
    """{(context tuple): Counter(next)} over every window inside one document."""
    out = defaultdict(Counter)
    for doc in docs:
        for T in range(lo, hi + 1):
            for p in range(len(doc) - T):
                out[tuple(doc[p:p + T])][doc[p + T]] += 1
    return out


def _as_dict(data: NTPData):
    got = {}
    C = data.counts
    for j in range(data.m):
        t = int(data.context_lengths[j])
        ctx = tuple(int(data.input_vocab[i]) for i in data.contexts[j, :t])
        lo, hi = C.indptr[j], C.indptr[j + 1]
        got[ctx] = Counter({int(data.vocab[z]): float(c) for z, c in zip(C.indices[lo:hi], C.data[lo:hi])})
    return got


@pytest.mark.parametrize("rng", [(1, 1), (1, 3), (2, 4)])
def test_counts_match_brute_force_and_never_cross_documents(rng):
    data = from_tokens(DOCS, rng)
    assert _as_dict(data) == _brute(DOCS, *rng)
    assert data.contexts.shape[1] == rng[1] and data.context_lengths.min() == rng[0]
    assert np.all(np.diff(data.context_lengths) >= 0)  # ordered by length
    pad = len(data.input_vocab) - 1
    for j in range(data.m):  # left-aligned, padded with the extra input token
        assert np.all(data.contexts[j, data.context_lengths[j]:] == pad)


def test_entropy_by_length_is_the_per_length_normalised_entropy():
    data = from_tokens(DOCS, (1, 3))
    brute = _brute(DOCS, 1, 3)
    for T, H_T in data.entropy_by_length().items():
        ctxs = {c: n for c, n in brute.items() if len(c) == T}
        total = sum(sum(n.values()) for n in ctxs.values())
        want = -sum(c / total * math.log(c / sum(n.values())) for n in ctxs.values() for c in n.values())
        assert H_T == pytest.approx(want, rel=1e-12)
    single = from_tokens(DOCS, 2)
    assert single.context_lengths is None and single.entropy_by_length() == {2: single.entropy_bound}


def test_string_range_and_file_round_trip(tmp_path):
    a, b = from_tokens(DOCS, (1, 3)), from_tokens(DOCS, "1:3")
    assert a.hash == b.hash
    back = load(a.save(tmp_path / "a.npz"))
    assert back.hash == a.hash and np.array_equal(back.context_lengths, a.context_lengths)
    assert back.select_contexts([0, 5]).context_lengths.tolist() == a.context_lengths[[0, 5]].tolist()
    # fixed-length data: no array in the file, hash unchanged by the optional field
    fixed = from_tokens(DOCS, 2)
    assert NTPData(fixed.counts.copy(), fixed.vocab, fixed.contexts, fixed.input_vocab).hash == fixed.hash
    assert load(fixed.save(tmp_path / "f.npz")).context_lengths is None


def test_ten_or_more_lengths_round_trip(tmp_path):
    """Lengths >= 10: the metadata's per-length counts (int keys) must not break the file's content hash (JSON
    turns the keys into strings, which sort "10" before "2")."""
    doc = [list(range(7)) * 3]
    a = from_tokens(doc, (1, 12))
    back = load(a.save(tmp_path / "long.npz"))
    assert back.hash == a.hash and sorted(set(back.context_lengths.tolist())) == list(range(1, 13))


@pytest.mark.parametrize("bad", [(0, 3), (3, 2), "1-3", "a:b", (1,), (1.5, 2)])
def test_bad_ranges_are_one_clear_error(bad):
    with pytest.raises(NTPDataError, match="lo:hi"):
        parse_lengths(bad)


def test_bad_context_lengths_array():
    d = from_tokens(DOCS, 2)
    with pytest.raises(NTPDataError, match="context_lengths"):
        NTPData(d.counts.copy(), d.vocab, d.contexts, d.input_vocab, {}, np.full(d.m, 3))


def test_filters_keep_the_context_lengths():
    from ntpgeom.data import filter_data

    data = from_tokens(DOCS, (1, 3))
    kept = filter_data(data, top_k=5)
    assert kept.context_lengths is not None and kept.m == 5
    full = {tuple(c): t for c, t in zip(data.contexts.tolist(), data.context_lengths.tolist())}
    assert all(full[tuple(c)] == t for c, t in zip(kept.contexts.tolist(), kept.context_lengths.tolist()))
