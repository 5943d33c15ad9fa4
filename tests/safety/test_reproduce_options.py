"""``reproduce`` checks every option before any work (issue 24, low): a bad tokenizer was reported after a progress
line ("reading ..."), ``--resume --overwrite`` was accepted, and a seed past the seed range must be refused at parse
time. Each case is one ``error:`` line naming the option, exit 2, nothing written, and no stage started."""

from __future__ import annotations

import importlib

import pytest

from ntpgeom.cli import main
from ntpgeom.errors import ReproduceError
from ntpgeom.experiments import ReproduceConfig

rp = importlib.import_module("ntpgeom.experiments.reproduce")  # the module (the package exports the function)


@pytest.fixture()
def no_work(monkeypatch):
    def started(*a, **k):
        raise AssertionError("reproduce started working before refusing its options")
    monkeypatch.setattr(rp, "plan_experiments", started)


@pytest.mark.parametrize("args,msg", [
    (["--quick", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    (["--quick", "--seeds", "99999999999999999999999"], "--seeds must be between 0 and"),
    (["--quick", "--seeds", "0,-1"], "--seeds must be between 0 and"),
    (["--quick", "--seed", "99999999999999999999999"], "--seed must be between 0 and"),
    (["--text", "{text}", "--tokenizer", "bogus"], "--tokenizer: unknown tokenizer 'bogus'"),
    (["--text", "{text}", "--tokenizer", "bpe:0"], "--tokenizer: bad tokenizer 'bpe:0'"),
    (["--text", "{text}", "--tokenizer", "missing.json"], "--tokenizer: no tokenizer file missing.json"),
])
def test_bad_options_are_one_line_before_any_work(tmp_path, capsys, no_work, args, msg):
    text = tmp_path / "t.txt"
    text.write_text("one two three four five six seven eight\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main(["reproduce", *[a.format(text=text) for a in args], "-o", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and msg in err, err
    assert not out.exists()


def test_api_refuses_resume_with_overwrite(tmp_path):
    with pytest.raises(ReproduceError, match="exclude each other"):
        ReproduceConfig(out=tmp_path, resume=True, overwrite=True)
    assert ReproduceConfig(out=tmp_path, tokenizer="bpe:64").tokenizer == "bpe:64"


@pytest.mark.parametrize("content,msg", [(b"", "is empty"), (b"\xff\xfe bad", "not valid UTF-8"),
                                         (b"a\n", "too long")])
def test_a_bad_text_is_one_error_line_without_a_progress_line_first(tmp_path, capsys, content, msg):
    text = tmp_path / "t.txt"
    text.write_bytes(content)
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "--text", str(text), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and msg in err, err
    assert not (tmp_path / "out").exists()
