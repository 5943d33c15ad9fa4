"""The one loader per file kind against crafted and damaged files: every case is one FormatError, never a crash,
never a pickle executed, never a silently different object."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom import _io
from ntpgeom.data import dataset as ds
from ntpgeom.errors import FormatError
from ntpgeom.theory import compute_theory, load_theory


def _parts(d):
    C = d.counts
    header = {"format": ds.FORMAT_NAME, "version": ds.FORMAT_VERSION, "hash": d.hash, "shape": list(C.shape),
              "vocab": list(d.vocab), "input_vocab": list(d.input_vocab), "meta": {}}
    arrays = {"data": C.data.copy(), "indices": C.indices.astype(np.int64), "indptr": C.indptr.astype(np.int64),
              "contexts": d.contexts.copy()}
    return header, arrays


def _set(key, value):
    def edit(h, a):
        (a if key in a else h)[key] = value

    return edit


def _arr(key, fn):
    def edit(h, a):
        a[key] = fn(a[key])

    return edit


def _decreasing(ip):
    ip = ip.copy()
    ip[1], ip[2] = ip[2], ip[1] - 1
    return ip


CRAFTED = {
    "decreasing indptr": _arr("indptr", _decreasing),
    "indptr not from 0": _arr("indptr", lambda ip: ip + 1),
    "indptr short": _arr("indptr", lambda ip: ip[:-1]),
    "indptr float": _arr("indptr", lambda ip: ip.astype(np.float64)),
    "negative row index": _arr("indices", lambda ix: np.where(np.arange(ix.size) == 0, -1, ix)),
    "row index >= V": _arr("indices", lambda ix: np.where(np.arange(ix.size) == 0, 10**6, ix)),
    "indices 2-D": _arr("indices", lambda ix: ix.reshape(1, -1)),
    "NaN count": _arr("data", lambda d: np.where(np.arange(d.size) == 0, np.nan, d)),
    "inf count": _arr("data", lambda d: np.where(np.arange(d.size) == 0, np.inf, d)),
    "negative count": _arr("data", lambda d: -d),
    "1e308 counts": _arr("data", lambda d: np.full_like(d, 1e308)),
    "complex counts": _arr("data", lambda d: d.astype(np.complex128)),
    "negative context id": _arr("contexts", lambda c: c - 10**6),
    "contexts wrong rows": _arr("contexts", lambda c: c[:-1]),
    "contexts float": _arr("contexts", lambda c: c.astype(np.float32)),
    "empty shape": _set("shape", [0, 5]),
    "shape not ints": _set("shape", ["x", "y"]),
    "vocab not a list": _set("vocab", "abc"),
    "vocab too short": lambda h, a: h.update(vocab=h["vocab"][:-1]),
    "vocab not strings": lambda h, a: h.update(vocab=list(range(len(h["vocab"])))),
    "meta not a dict": _set("meta", [1, 2]),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_sparse_structure_refused_before_scipy(tmp_path, case):
    """A file with a valid content hash (anyone can recompute it) but a hostile structure is refused."""
    header, arrays = _parts(g.corpora.synthetic())
    CRAFTED[case](header, arrays)
    path = _io.save_npz(tmp_path / "crafted.npz", header, arrays)
    with pytest.raises(FormatError, match="content is invalid|corrupt"):
        g.load(path)


def test_huge_counts_refused_in_memory_too():
    with pytest.raises(g.NTPDataError, match="2\\*\\*53"):
        g.from_counts(np.array([[1e308, 1.0], [1e308, 2.0]]))
    with pytest.raises(g.NTPDataError, match="total count"):
        g.from_counts(np.full((4, 4), 2.0**52))
    import scipy.sparse as sp

    bad = sp.csc_array((np.ones(2), np.array([0, 1]), np.array([0, 2, 1])), shape=(2, 2))
    with pytest.raises(g.NTPDataError, match="never decrease"):
        g.from_counts(bad)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(marker)
    header = {"format": ds.FORMAT_NAME, "version": ds.FORMAT_VERSION}
    blob = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = tmp_path / "evil.npz"
    np.savez(path, header=blob, data=arr, indices=arr, indptr=arr, contexts=arr)
    assert b"PWNED" in zipfile.ZipFile(path).read("data.npy")  # the payload is really in the file
    with pytest.raises(FormatError, match="pickled objects"):
        g.load(path)
    raw = tmp_path / "raw.pkl.npz"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(FormatError):
        g.load(raw)
    assert not marker.exists()


def _flips_and_truncations(good: bytes, n_flips: int, n_trunc: int, seed: int):
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, len(good), size=n_flips):
        b = bytearray(good)
        b[pos] ^= 1 << int(rng.integers(0, 8))
        yield bytes(b)
    for cut in rng.integers(1, len(good), size=n_trunc):
        yield good[:cut]


def test_dataset_byte_flips_and_truncations(tmp_path):
    d = g.corpora.synthetic()
    good = d.save(tmp_path / "good.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    outcomes = {"refused": 0, "identical": 0}
    for blob in _flips_and_truncations(good, 150, 40, seed=0):
        bad.write_bytes(blob)
        try:
            e = g.load(bad)
        except FormatError:
            outcomes["refused"] += 1
        else:  # a flip in zip metadata the reader ignores: the content must be exactly the original
            assert e.hash == d.hash and (e.counts != d.counts).nnz == 0
            outcomes["identical"] += 1
    assert outcomes["refused"] > 100


def test_theory_byte_flips_never_lose_L_mm_silently(tmp_path):
    d = g.corpora.synthetic()
    th = compute_theory(d)
    assert th.L_mm is not None
    good = th.save(tmp_path / "t.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    for blob in _flips_and_truncations(good, 120, 30, seed=1):
        bad.write_bytes(blob)
        try:
            t = load_theory(bad)
        except FormatError:
            continue
        assert t.L_mm is not None and np.array_equal(t.L_mm, th.L_mm)


def test_theory_without_hash_or_with_dropped_array_refused(tmp_path):
    th = compute_theory(g.corpora.synthetic())
    p = th.save(tmp_path / "t.npz")
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    del arrays["L_mm"]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "dropped.npz", **arrays)
    with pytest.raises(FormatError, match="lists arrays"):
        load_theory(tmp_path / "dropped.npz")
    header.pop("content_hash")
    header["arrays"] = sorted(k for k in arrays if k != "header")
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "nohash.npz", **arrays)
    with pytest.raises(FormatError, match="no content hash"):
        load_theory(tmp_path / "nohash.npz")


def test_bare_npy_folder_and_unreadable(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(FormatError, match="not an .npz"):
        g.load(tmp_path / "a.npy")
    with pytest.raises(FormatError, match="not a regular file"):
        g.load(tmp_path)


@pytest.mark.parametrize("damage", [b"[", b" "])  # '(' -> '[': numpy's ValueError; ')' -> ' ': tokenize's TokenError
def test_damaged_npy_header_is_one_format_error(tmp_path, damage):
    """A flipped byte in an array's header dict (seen in the byte-flip test) is a FormatError, not a crash."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(3.0))
    raw = bytearray(buf.getvalue())
    i = raw.index(b"(3,)") + (0 if damage == b"[" else 3)
    raw[i:i + 1] = damage
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("a.npy", bytes(raw))
    with pytest.raises(FormatError, match="corrupt"):
        g.load(tmp_path / "d.npz")


def test_dataset_file_hashes_its_arrays_once_and_the_loader_still_checks_them(tmp_path):
    """A dataset's content hash covers its header only (one SHA-256 pass on save): the dataset hash in the header
    covers the arrays, which the loader recomputes; a file with an array changed under an intact header is refused,
    a full-hash file (older ntpgeom) still loads, and a loader that does not check arrays refuses a header-only file."""
    d = g.corpora.synthetic()
    p = d.save(tmp_path / "d.npz")
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    assert header["content_hash_covers"] == "header" and g.load(p).hash == d.hash
    arrays["data"] = arrays["data"].copy()
    arrays["data"][0] += 1.0  # header (and its hash) intact, one count changed
    np.savez(tmp_path / "changed.npz", **arrays)
    with pytest.raises(FormatError, match="content hash mismatch"):
        g.load(tmp_path / "changed.npz")
    with pytest.raises(FormatError, match="carry no content hash"):
        _io.load_npz(p, ds.FORMAT_NAME, ds.FORMAT_VERSION, "dataset", "")
    full_header, full_arrays = _parts(d)
    assert g.load(_io.save_npz(tmp_path / "full.npz", full_header, full_arrays)).hash == d.hash


def test_dataset_file_is_a_plain_npz_at_zlib_level_one(tmp_path):
    d = g.corpora.synthetic()
    p = d.save(tmp_path / "d.npz")
    with zipfile.ZipFile(p) as zf:
        assert sorted(zf.namelist()) == ["contexts.npy", "data.npy", "header.npy", "indices.npy", "indptr.npy"]
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(p, allow_pickle=False) as z:  # numpy reads it as its own
        assert np.array_equal(z["data"], d.counts.data)
    q = d.save(tmp_path / "u.npz", compress=False)
    with zipfile.ZipFile(q) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    assert g.load(q).hash == g.load(p).hash == d.hash
