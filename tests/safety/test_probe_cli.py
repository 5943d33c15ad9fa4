"""``probe`` options and hostile weights (issue 24, low): ``--measure-contexts 1`` names the option; ``--from`` with
``--model``/``--text``/``-T`` is refused (they were silently ignored); a pickled ``pytorch_model.bin`` (protocol 4)
is one ``error:`` line: torch's pickle-protocol warning no longer leaks before it, its advice to retry with
``weights_only=False`` is not repeated, and the pickle never runs."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)
sys.path.insert(0, str(Path(__file__).parents[1] / "probe"))

from _probe_helpers import class_corpus  # noqa: E402

from ntpgeom.cli import main  # noqa: E402



def _one_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture()
def text(tmp_path):
    t = tmp_path / "c.txt"
    t.write_text(class_corpus(n_docs=2, doc_len=20))
    return t


def test_measure_contexts_below_two_names_the_option(llama_dir, text, tmp_path, capsys):
    err = _one_error(["probe", "--model", str(llama_dir), "--text", str(text), "-T", "2", "--measure-contexts", "1",
                      "-o", str(tmp_path / "out")], capsys)
    assert "--measure-contexts" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra,named", [(["--model", "{model}"], "--model"), (["--text", "{text}"], "--text"),
                                         (["-T", "3"], "--context-len")])
def test_from_with_extraction_options_is_refused(llama_dir, text, tmp_path, capsys, extra, named):
    saved = tmp_path / "saved"
    saved.mkdir()
    argv = ["probe", "--from", str(saved), *[a.format(model=llama_dir, text=text) for a in extra],
            "-o", str(tmp_path / "out")]
    err = _one_error(argv, capsys)
    assert "--from" in err and named in err and not (tmp_path / "out").exists()


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return pathlib.Path.write_text, (pathlib.Path(self.marker), "pickle ran")


def test_pickled_weights_are_one_line_without_torch_warning(llama_dir, text, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    (llama_dir / "model.safetensors").unlink()
    blob = pickle.dumps(_Payload(str(marker)), protocol=4)
    (llama_dir / "pytorch_model.bin").write_bytes(blob + b"\0" * 200_000)  # big enough for the declared model
    err = _one_error(["probe", "--model", str(llama_dir), "--text", str(text), "-T", "2", "-o", str(tmp_path / "o")],
                     capsys)
    assert "never loads" in err and "weights_only" not in err and "Warning" not in err
    assert not marker.exists()
