"""Counting equals a brute-force dictionary count (hypothesis), for both counting paths of count_windows."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntpgeom as g
from ntpgeom.data import count_windows


def brute_force(docs: list[list[int]], T1: int):
    """(context tuple) -> Counter(next token), by a plain Python loop per window inside each document."""
    table: dict[tuple[int, ...], Counter] = defaultdict(Counter)
    for doc in docs:
        for i in range(len(doc) - T1):
            table[tuple(doc[i : i + T1])][doc[i + T1]] += 1
    return table


def check_against(data: g.NTPData, table, names=str):
    """Every statistic of ``data`` equals the brute-force table, with formulas written out directly."""
    n = sum(sum(c.values()) for c in table.values())
    assert data.m == len(table)
    assert data.n == n
    ctx = [tuple(int(data.input_vocab[i]) if names is str else i for i in row) for row in data.contexts.tolist()]
    assert len(set(ctx)) == data.m
    P = data.P.toarray()
    S = data.S.toarray()
    H = 0.0
    for j, c in enumerate(ctx):
        counter = table[c]
        nj = sum(counter.values())
        assert data.context_counts[j] == nj
        assert data.pi[j] == pytest.approx(nj / n, rel=1e-12)
        for tok, cnt in counter.items():
            z = data.vocab.index(str(tok))
            assert P[z, j] == pytest.approx(cnt / nj, rel=1e-12)
            H -= (nj / n) * (cnt / nj) * np.log(cnt / nj)
        assert S[:, j].sum() == len(counter)
        assert data.support_sizes[j] == len(counter)
    assert np.allclose(P.sum(axis=0), 1.0)
    assert data.entropy_bound == pytest.approx(H, rel=1e-10, abs=1e-12)
    # output vocabulary = exactly the tokens observed as next tokens
    observed = {str(t) for counter in table.values() for t in counter}
    assert set(data.vocab) == observed


docs_strategy = st.lists(st.lists(st.integers(0, 6), min_size=0, max_size=40), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(docs=docs_strategy, T1=st.integers(1, 4))
def test_from_tokens_matches_dictionary_count(docs, T1):
    table = brute_force(docs, T1)
    if not table:
        with pytest.raises(g.NTPDataError):
            g.from_tokens(docs, T1)
        return
    # list-of-documents input
    check_against(g.from_tokens(docs, T1), table)
    # flat ids + doc_ids input (documents as contiguous runs) gives the identical dataset
    flat = np.array([t for d in docs for t in d], dtype=np.int64)
    doc_ids = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    assert g.from_tokens(flat, T1, doc_ids).hash == g.from_tokens(docs, T1).hash


@settings(max_examples=40, deadline=None)
@given(docs=st.lists(st.lists(st.integers(0, 3), min_size=0, max_size=30), min_size=1, max_size=4), T1=st.integers(1, 3))
def test_general_path_equals_fast_path(docs, T1):
    """Huge token ids force the column-by-column compression path; it must count exactly the same windows."""
    big = 2**40
    flat = np.array([t for d in docs for t in d], dtype=np.int64)
    doc_ids = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    if len(flat) <= T1:
        return
    ctx_a, col_a, row_a, cnt_a = count_windows(flat, T1, doc_ids)
    huge = flat * (big + 1)  # same stream with huge ids: the mixed-radix key would overflow int64
    ctx_h, col_h, row_h, cnt_h = count_windows(huge, T1, doc_ids)
    assert np.array_equal(ctx_h // (big + 1), ctx_a)
    assert np.array_equal(col_h, col_a)
    assert np.array_equal(row_h // (big + 1), row_a)
    assert np.array_equal(cnt_h, cnt_a)


def test_windows_never_cross_documents():
    data = g.from_tokens([[0, 1], [2, 3]], 1)
    # windows: (0)->1, (2)->3 ; never (1)->2
    assert sorted(data.context_strings()) == ["0", "2"]
    assert data.n == 2


def test_non_contiguous_doc_ids_are_separate_runs():
    # doc ids [0,0,1,0,0]: the second run of 0s is a separate document, so no window spans the 1
    data = g.from_tokens(np.array([5, 6, 7, 5, 6]), 1, np.array([0, 0, 1, 0, 0]))
    assert data.context_strings() == ["5"]
    assert data.n == 2 and data.vocab == ("6",)
    with pytest.raises(g.NTPDataError, match="too long"):
        g.from_tokens(np.array([5, 6, 7, 5, 6]), 2, np.array([0, 0, 1, 0, 0]))


def test_support_groups_match_brute_force():
    data = g.synthetic.random_supports(8, 200, (1, 3), n_supports=12, seed=3)
    S = data.S.toarray()
    keys = [tuple(np.flatnonzero(S[:, j])) for j in range(data.m)]
    grp = data.support_groups
    for a in range(data.m):
        for b in range(a + 1, min(data.m, a + 25)):
            assert (grp[a] == grp[b]) == (keys[a] == keys[b])
    assert data.n_supports == len(set(keys)) == 12
    # first occurrence numbering
    firsts = [grp[j] for j in range(data.m) if keys[j] not in {keys[i] for i in range(j)}]
    assert firsts == list(range(12))
    rows = [tuple(np.flatnonzero(S[z])) for z in range(data.V)]
    tg = data.token_groups
    for a in range(data.V):
        for b in range(data.V):
            assert (tg[a] == tg[b]) == (rows[a] == rows[b])


@pytest.mark.parametrize("vocab,T1,n", [(3000, 5, 20000), (60, 12, 5000), (2, 70, 3000), (5, 2, 3000)])
def test_all_counting_paths_match_brute_force(vocab, T1, n):
    """Covers the bincount path (small key space), the single-sort path and prefix compression (once or repeatedly)."""
    rng = np.random.default_rng(vocab + T1)
    flat = rng.integers(0, vocab, size=n) * 7 + 3  # sparse, shifted ids
    cuts = np.sort(rng.choice(n, size=20, replace=False))
    docs = [d.tolist() for d in np.split(flat, cuts)]
    table = brute_force(docs, T1)
    data = g.from_tokens(docs, T1)
    assert data.m == len(table) and data.n == sum(sum(c.values()) for c in table.values())
    C = data.counts.tocsc()
    strings = data.context_strings()
    for j in rng.choice(data.m, size=min(300, data.m), replace=False):
        ctx = tuple(int(x) for x in strings[j].split())
        lo, hi = C.indptr[j], C.indptr[j + 1]
        got = {int(data.vocab[z]): c for z, c in zip(C.indices[lo:hi], C.data[lo:hi])}
        assert got == dict(table[ctx])
    # contexts come out in lexicographic order of their ids
    ctxs = [tuple(r) for r in data.contexts.tolist()]
    assert ctxs == sorted(ctxs)
