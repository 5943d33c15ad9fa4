"""NTPData validation, derived quantities, save/load round trip and corrupt-file handling."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import ntpgeom as g
from ntpgeom.data import dataset as ds


def test_derived_quantities_from_counts():
    C = np.array([[2, 0, 1], [1, 3, 0], [0, 0, 4]], dtype=float)
    d = g.from_counts(C, vocab=["a", "b", "c"])
    assert d.V == 3 and d.m == 3 and d.n == 11
    assert np.allclose(d.pi, [3 / 11, 3 / 11, 5 / 11])
    assert np.allclose(d.P.toarray(), C / C.sum(axis=0))
    assert np.array_equal(d.S.toarray(), (C > 0).astype(float))
    assert d.support_sizes.tolist() == [2, 1, 2]
    H = -sum(C[z, j] / 11 * np.log(C[z, j] / C[:, j].sum()) for z in range(3) for j in range(3) if C[z, j] > 0)
    assert d.entropy_bound == pytest.approx(H)
    assert d.entropy_bound >= 0


def test_real_valued_counts_allowed():
    d = g.from_counts(sp.csc_array(np.array([[0.25, 1.0], [0.75, 0.0]])))
    assert d.n == 2 and np.allclose(d.P.toarray()[:, 0], [0.25, 0.75])


@pytest.mark.parametrize(
    "C, msg",
    [
        (np.array([[1.0, -1.0], [1.0, 2.0]]), "negative"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), "NaN or infinite"),
        (np.array([[1.0, np.inf], [1.0, 2.0]]), "NaN or infinite"),
        (np.array([[1.0, 0.0], [1.0, 0.0]]), "no observations"),
        (np.zeros((0, 3)), "empty"),
        (np.ones(4), "2-D"),
        (np.array([["a", "b"]]), "numeric"),
    ],
)
def test_bad_counts(C, msg):
    with pytest.raises(g.NTPDataError, match=msg):
        g.from_counts(C)


def test_vocab_and_context_validation():
    with pytest.raises(g.NTPDataError, match="vocab has 1 entries"):
        g.from_counts(np.ones((2, 2)), vocab=["a"])
    with pytest.raises(g.NTPDataError, match="duplicate"):
        g.from_counts(np.ones((2, 2)), vocab=["a", "a"])
    with pytest.raises(g.NTPDataError, match="input_vocab"):
        g.from_counts(np.ones((2, 2)), contexts=np.zeros((2, 1), int))
    with pytest.raises(g.NTPDataError, match=r"\[0, 1\)"):
        g.from_counts(np.ones((2, 2)), contexts=np.array([[0], [1]]), input_vocab=["x"])


def test_dataset_is_immutable():
    d = g.corpora.synthetic()
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.vocab = ("x",)  # frozen dataclass
    with pytest.raises(ValueError):
        d.contexts[0, 0] = 3
    with pytest.raises(TypeError):
        d.meta["source"] = "other"


@pytest.mark.parametrize("make", [g.corpora.synthetic, g.corpora.stories, lambda: g.synthetic.random_supports(12, 40, seed=1)])
def test_save_load_round_trip(tmp_path, make):
    d = make()
    p = d.save(tmp_path / "sub" / "d.npz")
    e = g.load(p)
    assert e.hash == d.hash
    assert (e.counts != d.counts).nnz == 0
    assert e.vocab == d.vocab and e.input_vocab == d.input_vocab
    assert np.array_equal(e.contexts, d.contexts)
    assert dict(e.meta) == json.loads(json.dumps(dict(d.meta)))
    assert e.entropy_bound == d.entropy_bound
    assert not list((tmp_path / "sub").glob("*.tmp*")), "temporary files left behind"


def test_load_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(g.NTPDataError, match="not found"):
        g.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(g.FormatError, match="not a readable"):
        g.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(g.FormatError, match="no header"):
        g.load(foreign)
    # truncated copy of a real file
    good = g.corpora.synthetic().save(tmp_path / "good.npz")
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(g.FormatError):
        g.load(trunc)


def _rewrite(path, out, edit_header=None, edit_arrays=None):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes().decode())
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(out, **arrays)


def test_load_rejects_other_version_and_tampered_content(tmp_path):
    good = g.corpora.synthetic().save(tmp_path / "good.npz")
    v2 = tmp_path / "v2.npz"
    _rewrite(good, v2, edit_header=lambda h: h.update(version=ds.FORMAT_VERSION + 1))
    with pytest.raises(g.FormatError, match="version"):
        g.load(v2)
    tampered = tmp_path / "tampered.npz"

    def bump(a):
        a["data"] = a["data"] + 1.0

    _rewrite(good, tampered, edit_arrays=bump)
    with pytest.raises(g.FormatError, match="hash mismatch"):
        g.load(tampered)
    assert zipfile.is_zipfile(good)


def test_failed_save_leaves_nothing(tmp_path):
    d = g.from_counts(np.ones((2, 2)), meta={"bad": object()})
    with pytest.raises(g.NTPDataError, match="JSON"):
        d.save(tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_hash_is_content_only():
    a = g.from_counts(np.ones((2, 2)), meta={"source": "one"})
    b = g.from_counts(np.ones((2, 2)), meta={"source": "two"})
    c = g.from_counts(np.array([[1.0, 2.0], [1.0, 1.0]]))
    assert a.hash == b.hash != c.hash


def test_uncompressed_save_loads_identically_and_large_arrays_skip_zlib(tmp_path, monkeypatch):
    d = g.synthetic.random_supports(12, 40, seed=1)
    small, plain = d.save(tmp_path / "z.npz"), d.save(tmp_path / "p.npz", compress=False)
    with zipfile.ZipFile(small) as z, zipfile.ZipFile(plain) as p:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
        assert {i.compress_type for i in p.infolist()} == {zipfile.ZIP_STORED}
    for path in (small, plain):
        e = g.load(path)
        assert e.hash == d.hash and (e.counts != d.counts).nnz == 0 and np.array_equal(e.contexts, d.contexts)
    monkeypatch.setattr(ds, "COMPRESS_MAX_BYTES", 100)  # the default: zlib only up to this many bytes of arrays
    with zipfile.ZipFile(d.save(tmp_path / "big.npz")) as b:
        assert {i.compress_type for i in b.infolist()} == {zipfile.ZIP_STORED}


def test_summary_renders_the_top_contexts_like_a_stable_argsort():
    rng = np.random.default_rng(0)
    C = rng.integers(0, 3, size=(4, 50)).astype(float)
    C[0] += 1  # every context observed; many ties in n_j
    d = g.from_counts(C)
    nj = C.sum(axis=0)
    strings = d.context_strings()
    for top in (0, 1, 7, 50, 80):
        want = np.argsort(-nj, kind="stable")[:top]
        got = d.summary(top=top)["top_contexts"]
        assert [r["context"] for r in got] == [strings[j] for j in want]
        assert [r["count"] for r in got] == [int(nj[j]) for j in want]
    assert d.context_strings(idx=[3, 1]) == [strings[3], strings[1]]
