"""Text, pairs, filters, generators and built-in corpora."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

import ntpgeom as g


# ---------------------------------------------------------------------------- text
def test_from_text_word_tokenizer_and_documents():
    text = "The cat sat. The cat ran.\n\nThe dog sat."
    d = g.from_text(text, 2, lowercase=True)
    ctx = dict(zip(d.context_strings(), range(d.m)))
    P = d.P.toarray()
    j = ctx["the cat"]
    assert P[d.vocab.index("sat"), j] == 0.5 and P[d.vocab.index("ran"), j] == 0.5
    # "sat ." -> "the" would cross the blank line between documents: it must not be counted
    assert "the" in d.vocab  # from ". the" inside the first document
    assert P[:, ctx["sat ."]].sum() == 1 and d.counts[:, [ctx["sat ."]]].sum() == 1
    assert d.meta["n_docs"] == 2 and d.meta["tokenizer"] == "word"


def test_from_text_reads_files_and_rejects_non_utf8(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a b c a b d", encoding="utf-8")
    assert g.from_text(f, 2).n == 4
    assert g.from_text(str(f), 2).n == 4
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait caf\xe9".encode("latin-1"))
    with pytest.raises(g.NTPDataError, match="not valid UTF-8"):
        g.from_text(latin, 1)
    with pytest.raises(g.NTPDataError, match="not found"):
        g.from_text(tmp_path / "missing.txt", 1)


def test_text_errors():
    with pytest.raises(g.NTPDataError, match="empty"):
        g.from_text("   \n\n  ", 2)
    with pytest.raises(g.NTPDataError, match="too long"):
        g.from_text("a b c\n\nd e", 5)
    with pytest.raises(g.NTPDataError, match="unknown tokenizer"):
        g.from_text("a b c d", 1, tokenizer="sentencepiece")
    with pytest.raises(g.NTPDataError, match="bpe:<vocab size>"):
        g.from_text("a b c d", 1, tokenizer="bpe:lots")
    with pytest.raises(g.NTPDataError, match="context_len"):
        g.from_text("a b c d", 0)


def test_bpe_tokenizer_is_deterministic_and_file_tokenizer(tmp_path):
    text = "\n\n".join(["the quick brown fox jumps over the lazy dog"] * 20 + ["a fox is quick and brown"] * 5)
    a = g.from_text(text, 3, tokenizer="bpe:60")
    b = g.from_text(text, 3, tokenizer="bpe:60")
    assert a.hash == b.hash and a.m > 0
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "the": 1, "fox": 2, "quick": 3}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tok.json"
    tok.save(str(path))
    d = g.from_text("the quick fox the quick dog", 2, tokenizer=str(path))
    assert d.input_vocab[:4] == ("<unk>", "the", "fox", "quick")
    assert set(d.vocab) == {"fox", "the", "quick", "<unk>"}  # "dog" is unknown to the file's vocabulary
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(g.NTPDataError, match="not a valid tokenizers JSON"):
        g.from_text("a b", 1, tokenizer=str(bad))


# ---------------------------------------------------------------------------- pairs
def test_pairs_csv_and_tsv(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("context,next,count\nthe cat,sat,3\nthe cat,ran,1\na dog,sat,2\nthe cat,sat,1\n")
    d = g.from_pairs(csv)
    assert d.m == 2 and d.V == 2 and d.n == 7 and d.context_len == 2
    j = d.context_strings().index("the cat")
    assert d.P.toarray()[d.vocab.index("sat"), j] == pytest.approx(0.8)
    tsv = tmp_path / "p.tsv"
    tsv.write_text("the cat\tsat\nthe cat\tran\n")
    e = g.from_pairs(tsv)
    assert e.m == 1 and e.n == 2
    for body, msg in [("a b,x,-1\n", "line 1 has a negative count"), ("a b,x,1\na b,y,many\n", "line 2 has a count 'many'"),
                      ("a b,x,1\na,y,1\n", "same length"), ("a,b,1\na,b,c,d\n", "line 2 has 4 fields")]:
        csv.write_text(body)
        with pytest.raises(g.NTPDataError, match=msg):
            g.from_pairs(csv)
    csv.write_text("context,next,count\n")
    with pytest.raises(g.NTPDataError, match="empty"):
        g.from_pairs(csv)


# ---------------------------------------------------------------------------- filters
def _toy():
    # contexts: c0 n=10 k=3, c1 n=2 k=1, c2 n=5 k=2, c3 n=1 k=1
    C = np.array([[5, 2, 0, 0], [4, 0, 3, 0], [1, 0, 2, 0], [0, 0, 0, 1]], dtype=float)
    return g.from_counts(C, vocab=["a", "b", "c", "d"])


def test_filters():
    d = _toy()
    assert g.filter_data(d, min_count=2).m == 3
    assert g.filter_data(d, min_count=2).vocab == ("a", "b", "c")  # "d" no longer occurs: pruned
    assert g.filter_data(d, top_k=2).context_strings() == ["c0", "c2"]
    assert g.filter_data(d, min_support=2).context_strings() == ["c0", "c2"]
    assert g.filter_data(d, max_support=1).context_strings() == ["c1", "c3"]
    kept = g.filter_data(d, max_vocab=2)  # a (7) and b (7) are the most frequent next tokens
    assert kept.vocab == ("a", "b") and kept.m == 3 and kept.n == 14
    mapped = g.filter_data(d, max_vocab=2, rare="map")
    assert mapped.vocab == ("a", "b", "<unk>") and mapped.n == d.n
    assert g.filter_data(d, next_vocab=["d"]).context_strings() == ["c3"]
    assert mapped.meta["filters"]["rare"] == "map"
    with pytest.raises(g.NTPDataError, match="min_count"):
        g.filter_data(d, min_count=100)
    with pytest.raises(g.NTPDataError, match="larger than"):
        g.filter_data(d, min_support=3, max_support=2)
    with pytest.raises(g.NTPDataError, match="top_k"):
        g.filter_data(d, top_k=0)
    with pytest.raises(g.NTPDataError, match="not in the data"):
        g.filter_data(d, next_vocab=["zzz"])
    # filters are usable from every builder
    assert g.from_tokens([[0, 1, 0, 1, 0, 2]], 1, min_count=3).context_strings() == ["0"]
    assert g.from_text("a b a b a c", 1, top_k=1).context_strings() == ["a"]


# ---------------------------------------------------------------------------- generators
@pytest.mark.parametrize("V,k", [(5, 1), (6, 2), (7, 3)])
def test_all_k_subsets(V, k):
    d = g.synthetic.all_k_subsets(V, k)
    assert d.m == comb(V, k) == d.n_supports
    assert set(d.support_sizes.tolist()) == {k}
    assert d.entropy_bound == pytest.approx(np.log(k))


def test_one_hot_balanced_and_imbalanced():
    d = g.synthetic.one_hot(4, 3)
    assert d.m == 12 and set(d.support_sizes.tolist()) == {1} and d.n_supports == 4
    assert d.entropy_bound == 0.0
    e = g.synthetic.one_hot(3, [1, 2, 5])
    assert np.bincount(e.support_groups).tolist() == [1, 2, 5]
    with pytest.raises(g.NTPDataError):
        g.synthetic.one_hot(3, [1, 2])


@pytest.mark.parametrize("probs", ["uniform", "dirichlet", "counts"])
def test_random_supports(probs):
    d = g.synthetic.random_supports(10, 95, (1, 5), n_supports=20, probs=probs, seed=4)
    assert d.m == 95 and d.n_supports == 20
    assert d.support_sizes.min() >= 1 and d.support_sizes.max() <= 5
    again = g.synthetic.random_supports(10, 95, (1, 5), n_supports=20, probs=probs, seed=4)
    other = g.synthetic.random_supports(10, 95, (1, 5), n_supports=20, probs=probs, seed=5)
    assert d.hash == again.hash != other.hash
    if probs == "dirichlet":
        assert np.allclose(d.pi, 1 / 95)
    if probs == "uniform":
        P = d.P
        assert np.allclose(P.data, np.repeat(1 / d.support_sizes, d.support_sizes))
    with pytest.raises(g.NTPDataError):
        g.synthetic.random_supports(10, 5, (1, 5), n_supports=6)
    with pytest.raises(g.NTPDataError):
        g.synthetic.random_supports(3, 5, (1, 5))


def test_builtin_corpora_documented_shapes():
    s = g.corpora.synthetic()
    assert (s.m, s.V, s.context_len) == (16, 30, 5)
    assert set(s.support_sizes.tolist()) == {3}
    assert s.entropy_bound == pytest.approx(1.02, abs=0.01)
    assert s.n_supports < s.m  # some contexts share a support
    t = g.corpora.stories()
    assert 380 <= t.m <= 430 and 95 <= t.V <= 110 and t.context_len == 5
    assert 28 <= t.n_supports <= 33
    assert t.support_sizes.min() == 1 and t.support_sizes.max() == 8
    assert np.bincount(t.support_groups).max() >= 10  # supports shared by many contexts
    assert g.corpora.stories().hash == t.hash != g.corpora.stories(seed=1).hash


def test_from_text_reports_progress_per_chunk_of_documents():
    text = "\n\n".join(f"doc {i} has words" for i in range(4500))
    calls = []
    d = g.from_text(text, 2, progress=lambda *a: calls.append(a))
    stages = [c[0] for c in calls]
    assert stages[0] == "reading" and stages[-1] == "counting"
    tok = [c[1:] for c in calls if c[0] == "tokenising"]
    assert tok[0] == (0, 4500) and tok[-1] == (4500, 4500)
    assert [t[0] for t in tok] == sorted(t[0] for t in tok) and len(tok) >= 3
    assert d.meta["n_docs"] == 4500


# ----------------------------------------------------------------------------- hostile counts, headers, BOM
@pytest.mark.parametrize("count,msg", [("0x10", "not a decimal number"), ("three", "not a decimal number"),
                                       ("nan", "not a decimal number"), ("inf", "not a decimal number"),
                                       ("-3", "negative count"), ("1e308", "between 0 and 2\\*\\*53"),
                                       ("1_000", "not a decimal number"), ("", "not a decimal number")])
def test_pairs_counts_refused_naming_the_line(tmp_path, count, msg):
    p = tmp_path / "p.csv"
    p.write_text(f"a b,c,1\n\na b,d,{count}\n")
    with pytest.raises(g.NTPDataError, match=f"line 3 has .*{msg}"):
        g.from_pairs(p)


def test_pairs_finite_total_required(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("".join(f"a b,t{i},9e15\n" for i in range(3)))
    with pytest.raises(g.NTPDataError, match="2\\*\\*53"):
        g.from_pairs(p)


@pytest.mark.parametrize("first,header,m_expected", [
    ("context,next,count", None, 1),        # names the columns: a header
    ("Context\tNext_Token\tWeight", None, 1),
    ("context,next", None, 1),
    ("x y,z,count", True, 1),                # explicit header=True
])
def test_header_rule(tmp_path, first, header, m_expected):
    sep = "\t" if "\t" in first else ","
    p = tmp_path / ("p.tsv" if sep == "\t" else "p.csv")
    p.write_text(f"{first}\na b{sep}c{sep}2\n" if first.count(sep) == 2 else f"{first}\na b{sep}c\n")
    d = g.from_pairs(p, header=header)
    assert d.m == m_expected and d.context_strings() == ["a b"]


@pytest.mark.parametrize("first", ["ctx,nxt,count", "the cat,sat,three", "context,next,many"])
def test_non_numeric_first_row_is_an_error_not_a_header(tmp_path, first):
    p = tmp_path / "p.csv"
    p.write_text(f"{first}\na b,c,2\n")
    with pytest.raises(g.NTPDataError, match="line 1 has a count"):
        g.from_pairs(p)
    p.write_text(f"{first}\na b,c,2\n")
    assert g.from_pairs(p, header=True).n == 2


def test_bom_is_never_a_token(tmp_path):
    t = tmp_path / "t.txt"
    t.write_bytes("\ufeffthe cat sat\n\n\ufeffthe cat ran\n".encode("utf-8"))
    d = g.from_text(t, 1)
    assert not any("\ufeff" in s for s in (*d.vocab, *d.input_vocab))
    assert d.hash == g.from_text("the cat sat\n\nthe cat ran\n", 1).hash
    p = tmp_path / "p.csv"
    p.write_bytes("\ufeffcontext,next,count\na b,c,2\n".encode("utf-8"))
    assert g.from_pairs(p).context_strings() == ["a b"]
    from ntpgeom.data import encode

    assert "\ufeff" not in encode(["\ufeffab cd"], "char").vocab


def test_from_text_takes_a_long_line_without_newline_as_text_not_a_file_name():
    # 256..4095 characters with no newline: too long for a file name (ENAMETOOLONG), so it is the text itself
    text = " ".join(["the cat sat"] * 40)
    assert 256 < len(text) < 4096
    data = g.from_text(text, context_len=1)
    assert data.V == 3 and data.m == 3
