"""A theory file is checked against its dataset, not only against its own hash (issue 24, medium): an edited copy whose
content hash was recomputed (rows of L_in permuted, a Gram replaced, ...) is refused by ``load_theory(path, data)`` and
``check_theory``; the report and the probe check a given theory the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom._io import content_hash
from ntpgeom.errors import FormatError
from ntpgeom.theory import check_theory


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = g.corpora.synthetic()
    path = tmp_path_factory.mktemp("th") / "theory.npz"
    g.compute_theory(data).save(path)
    return data, path


def _forge(src, dst, name, rng):
    """A copy of ``src`` with the rows of ``name`` permuted (so that it differs) and its content hash recomputed, as
    a hostile user would write it."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays.pop("header").tobytes())
    a = arrays[name]
    for _ in range(100):
        b = a[rng.permutation(a.shape[0])]
        if not np.allclose(a, b):
            break
    arrays[name] = b
    header["content_hash"] = content_hash(header, arrays)
    np.savez_compressed(dst, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)


@pytest.mark.parametrize("name", ["L_in", "S_tilde", "L_mm", "W_mm", "H_mm", "G_W", "G_H", "G_W_proxy", "G_H_proxy"])
def test_forged_copy_with_recomputed_hash_is_refused(saved, tmp_path, name):
    data, path = saved
    forged = tmp_path / "forged.npz"
    _forge(path, forged, name, np.random.default_rng(0))
    g.load_theory(forged)  # its own hash verifies: the file alone cannot tell
    with pytest.raises(FormatError, match="edited or corrupt"):
        g.load_theory(forged, data)


def test_genuine_theory_passes_and_restricted_theory_too(saved):
    data, path = saved
    th = g.load_theory(path, data)
    check_theory(th, data)
    idx = np.arange(0, data.m, 2)
    sub = data.select_contexts(idx)
    check_theory(th.restrict(idx, sub.hash), sub)


def test_forged_certificate_is_refused(saved, tmp_path):
    data, path = saved
    th = g.load_theory(path)
    from dataclasses import replace

    from ntpgeom.theory import TildeCertificate

    flipped = replace(th, certificate=TildeCertificate(not th.certificate.holds, 0.0, (0, 0)))
    with pytest.raises(FormatError, match="certificate"):
        check_theory(flipped, data)


def test_theory_of_other_data_is_refused_by_hash_first(saved):
    data, path = saved
    other = g.data.synthetic.random_supports(6, 5, (1, 3), seed=3)
    with pytest.raises(FormatError, match="computed for dataset"):
        g.load_theory(path, other)


def test_report_refuses_a_forged_theory(saved, tmp_path):
    data, path = saved
    forged = tmp_path / "forged.npz"
    _forge(path, forged, "L_in", np.random.default_rng(1))
    run = g.train(data, model="ufm", steps=3, lr=0.01, optimizer="adam", out=tmp_path / "run")
    with pytest.raises(FormatError, match="L_in is not the L_in"):
        g.build_report([run.path], tmp_path / "rep", theories={data.hash: g.load_theory(forged)})
    assert not (tmp_path / "rep").exists()


def _cli_one_error(argv, capsys):
    from ntpgeom.cli import main

    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if not x.startswith("[")]  # timestamped progress lines, then the error
    assert e.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_cli_report_refuses_a_forged_theory(saved, tmp_path, capsys):
    """``ntpgeom report RUN --theory FORGED``: the permuted-L_in copy (hash recomputed) is one error line, rc 2."""
    data, path = saved
    forged = tmp_path / "forged.npz"
    _forge(path, forged, "L_in", np.random.default_rng(1))
    run = g.train(data, model="ufm", steps=3, lr=0.01, optimizer="adam", out=tmp_path / "run")
    err = _cli_one_error(["report", run.path, "--theory", forged, "-o", tmp_path / "rep"], capsys)
    assert "L_in is not the L_in of this data" in err and not (tmp_path / "rep").exists()


def test_cli_probe_refuses_a_forged_theory(tmp_path, capsys):
    """``ntpgeom probe --theory FORGED`` (a fresh probe and ``--from`` a saved one): one error line, rc 2, no output."""
    pytest.importorskip("transformers", exc_type=ImportError)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "probe"))
    from _probe_helpers import class_corpus, make_model, make_tokenizer

    model, text = tmp_path / "llama", tmp_path / "c.txt"
    tok = make_tokenizer()
    make_model("llama", len(tok), seed=1).save_pretrained(model)
    tok.save_pretrained(model)
    text.write_text(class_corpus(n_docs=20, doc_len=40))
    saved = g.probe(model, text, context_len=1).save(tmp_path / "p")
    pdata = g.load(tmp_path / "p" / "data.npz")
    genuine = g.compute_theory(pdata).save(tmp_path / "th.npz")
    assert np.ptp(g.load_theory(genuine).L_in) > 0  # rows that differ: the permuted copy is another matrix
    forged = tmp_path / "forged.npz"
    _forge(genuine, forged, "L_in", np.random.default_rng(1))
    capsys.readouterr()  # the set-up's own output (transformers' progress bars)
    for argv in (["--from", tmp_path / "p"], ["--model", model, "--text", text, "-T", "1"]):
        err = _cli_one_error(["probe", *argv, "--theory", forged, "-o", tmp_path / "out"], capsys)
        assert "--theory" in err and "L_in is not the L_in of this data" in err and not (tmp_path / "out").exists()
    assert saved is not None
