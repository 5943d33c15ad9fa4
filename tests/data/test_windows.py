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


# ----------------------------------------------------------------------------- count_packed: every path
def _expected(docs: list[list[int]], T1: int):
    """contexts (sorted), indptr, next ids and counts, from the brute-force dictionary."""
    table = brute_force(docs, T1)
    ctxs = sorted(table)
    first, rows, cnts = [0], [], []
    for c in ctxs:
        for z in sorted(table[c]):
            rows.append(z)
            cnts.append(table[c][z])
        first.append(len(rows))
    return ctxs, first, rows, cnts


@settings(max_examples=80, deadline=None)
@given(alphabet=st.sampled_from([1, 2, 5, 16, 17, 40]), T1=st.integers(1, 34), bucket=st.sampled_from([4, 16]),
       data=st.data())
def test_count_packed_equals_a_dictionary_count_on_every_path(alphabet, T1, bucket, data):
    """Keys of one word (with crossing windows set to a sentinel, or removed when many or the key has 64 bits), 64 + hb
    bits (bucketed, hb below or at BUCKET_BITS), and prefix ranks (a sort with positions in the low bits)."""
    from ntpgeom.data import windows

    docs = data.draw(st.lists(st.lists(st.integers(0, alphabet - 1), max_size=60), min_size=1, max_size=5))
    scale = data.draw(st.sampled_from([1, 3, 2**33]))  # sparse or huge ids: densified
    flat = np.array([t * scale for d in docs for t in d], dtype=np.int64)
    starts = np.cumsum([len(d) for d in docs])[:-1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(windows, "BUCKET_BITS", bucket)
        mp.setattr(windows, "FEW", data.draw(st.sampled_from([1, 10**9])))  # crossing windows: a sentinel / removed
        c = windows.count_packed(flat, T1, starts[starts < len(flat)])
    ctxs, first, rows, cnts = _expected(docs, T1)
    assert [tuple(r) for r in (c.contexts // scale).tolist()] == ctxs
    assert c.first.tolist() == first and (c.row // scale).tolist() == rows and c.cnt.tolist() == cnts


@pytest.mark.parametrize("T1", [15, 16, 40])
def test_count_packed_at_64_bits_and_beyond_with_every_token(T1):
    """16 distinct tokens (4 bits): T-1 = 15 fills exactly 64 bits (crossing windows removed, no sentinel),
    16 needs 68 (one bucket pass), 40 ranks prefixes first."""
    rng = np.random.default_rng(T1)
    docs = [rng.integers(0, 16, size=int(rng.integers(0, 200))).tolist() for _ in range(30)]
    docs[0] = list(range(16)) + docs[0]
    flat = np.array([t for d in docs for t in d], dtype=np.int64)
    starts = np.cumsum([len(d) for d in docs])[:-1]
    from ntpgeom.data.windows import count_packed

    c = count_packed(flat, T1, starts)
    ctxs, first, rows, cnts = _expected(docs, T1)
    assert [tuple(r) for r in c.contexts.tolist()] == ctxs
    assert c.first.tolist() == first and c.row.tolist() == rows and c.cnt.tolist() == cnts


def test_rank_compression_without_room_for_positions_uses_an_argsort():
    from ntpgeom.data import windows

    key = np.array([2**62 + 5, 7, 2**62 + 5, 3, 7], dtype=np.uint64)  # 63-bit keys: no room for the positions
    new, distinct = windows._compress(key.copy(), 63)
    assert distinct.tolist() == [3, 7, 2**62 + 5] and new.tolist() == [2, 1, 2, 0, 1]
    new, distinct = windows._compress(np.array([9, 4, 9], dtype=np.uint64), 4)  # positions in the low bits
    assert distinct.tolist() == [4, 9] and new.tolist() == [1, 0, 1]


def test_crossing_windows_come_from_the_document_starts():
    from ntpgeom.data.windows import crossing, doc_starts, longest_run

    starts = doc_starts(np.array([0, 0, 0, 1, 1, 2, 2, 2, 2]))
    assert starts.tolist() == [3, 5]
    assert crossing(starts, 9 - 2, 3).tolist() == [1, 2, 3, 4]  # windows of 3 starting there span a start
    assert longest_run(starts, 9) == 4 and longest_run(np.zeros(0, np.int64), 0) == 0


def test_crossing_sorts_the_marks_of_few_documents_and_marks_a_bitmap_for_many():
    from ntpgeom.data.windows import crossing

    rng = np.random.default_rng(0)
    for n_docs in (3, 5000):  # few documents in a long stream: the sorted path; many: the bitmap
        starts = np.sort(rng.choice(np.arange(1, 100_000), size=n_docs, replace=False))
        want = sorted({s - k for s in starts.tolist() for k in range(1, 5) if 0 <= s - k < 99_996})
        assert crossing(starts, 99_996, 5).tolist() == want


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8, np.uint16, np.uint64])
def test_count_windows_takes_any_integer_dtype(dtype):
    ids = [0, 1, 2, 0, 1, 3, 0, 1, 2]
    want = count_windows(np.array(ids, np.int64), 2, np.array([0] * 5 + [1] * 4))
    got = count_windows(np.array(ids, dtype), 2, np.array([0] * 5 + [1] * 4))
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
