"""The `ntpgeom data` commands: outputs, --json, and bad input (exit code 2, one line, no partial file)."""

from __future__ import annotations

import json

import pytest

import ntpgeom as g
from ntpgeom.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("kind,V,m", [("synthetic", 30, 16), ("stories", 102, 413)])
def test_synth_builtin_and_info_json(tmp_path, capsys, kind, V, m):
    path = tmp_path / f"{kind}.npz"
    code, out, _ = run(["data", "synth", kind, "-o", str(path), "--json"], capsys)
    assert code == 0 and json.loads(out)["m"] == m
    code, out, _ = run(["data", "info", str(path), "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and (info["V"], info["m"]) == (V, m)
    assert info["entropy_bound"] == pytest.approx(g.load(path).entropy_bound)
    assert sum(info["support_size_histogram"].values()) == m
    code, out, _ = run(["data", "info", str(path)], capsys)
    assert code == 0 and "entropy_bound" in out and "most frequent contexts" in out


def test_synth_generators(tmp_path, capsys):
    for args, m in [(["random", "--V", "8", "--m", "30", "--n-supports", "5"], 30), (["k-subsets", "--V", "6", "--k", "2"], 15),
                    (["one-hot", "--V", "3", "--per-class", "1,2,3"], 6)]:
        path = tmp_path / "x.npz"
        code, out, err = run(["data", "synth", *args, "-o", str(path), "--json"], capsys)
        assert code == 0, err
        assert g.load(path).m == m


def test_build_text_and_pairs(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat\n\nthe cat ran on the road\n", encoding="utf-8")
    out_path = tmp_path / "t.npz"
    code, out, err = run(["data", "build", str(text), "-T", "2", "-o", str(out_path), "--json"], capsys)
    assert code == 0, err
    assert g.load(out_path).hash == g.from_text(text, 2).hash
    pairs = tmp_path / "p.csv"
    pairs.write_text("a b,c,2\na b,d,1\n")
    code, _, err = run(["data", "build", "--pairs", str(pairs), "-o", str(tmp_path / "p.npz")], capsys)
    assert code == 0, err
    assert g.load(tmp_path / "p.npz").n == 3


@pytest.mark.parametrize(
    "setup,args,msg",
    [
        (lambda d: None, ["data", "build", "{d}/missing.txt", "-o", "{d}/o.npz"], "not found"),
        (lambda d: (d / "e.txt").write_text("  \n\n "), ["data", "build", "{d}/e.txt", "-o", "{d}/o.npz"], "empty"),
        (lambda d: (d / "s.txt").write_text("a b\n\nc d"), ["data", "build", "{d}/s.txt", "-T", "4", "-o", "{d}/o.npz"], "too long"),
        (lambda d: (d / "l.txt").write_bytes("caf\xe9".encode("latin-1")), ["data", "build", "{d}/l.txt", "-T", "1", "-o", "{d}/o.npz"], "UTF-8"),
        (lambda d: (d / "u.txt").write_text("a b c d"), ["data", "build", "{d}/u.txt", "-T", "1", "--tokenizer", "magic", "-o", "{d}/o.npz"], "unknown tokenizer"),
        (lambda d: (d / "n.csv").write_text("a,b,-3\n"), ["data", "build", "--pairs", "{d}/n.csv", "-o", "{d}/o.npz"], ">= 0"),
        (lambda d: (d / "z.csv").write_text("a,b,0\n"), ["data", "build", "--pairs", "{d}/z.csv", "-o", "{d}/o.npz"], "no observations"),
        (lambda d: None, ["data", "info", "{d}/missing.npz"], "not found"),
        (lambda d: (d / "junk.npz").write_text("junk"), ["data", "info", "{d}/junk.npz"], "not a readable"),
        (lambda d: None, ["data", "synth", "random", "--V", "3", "--kmax", "5", "-o", "{d}/o.npz"], "support sizes"),
    ],
)
def test_bad_input_exit_2_one_line_no_output(tmp_path, capsys, setup, args, msg):
    setup(tmp_path)
    code, out, err = run([a.format(d=tmp_path) for a in args], capsys)
    assert code == 2
    assert err.startswith("error: ") and msg in err and err.count("\n") == 1
    assert not (tmp_path / "o.npz").exists()
    assert not list(tmp_path.glob(".*.tmp*"))


def test_build_pairs_header_flag(tmp_path, capsys):
    p = tmp_path / "p.csv"
    p.write_text("ctx,nxt,n\na b,c,2\n")
    code, _, err = run(["data", "build", "--pairs", str(p), "-o", str(tmp_path / "o.npz")], capsys)
    assert code == 2 and "line 1 has a count 'n'" in err and not (tmp_path / "o.npz").exists()
    code, _, err = run(["data", "build", "--pairs", str(p), "--header", "yes", "-o", str(tmp_path / "o.npz")], capsys)
    assert code == 0, err
    assert g.load(tmp_path / "o.npz").n == 2
