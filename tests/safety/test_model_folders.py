"""Crafted model folders for the probe: custom code is never run (and the error names the file), models without a
trained LM head are refused, garbage weights, impossible devices and an output that is a file give one error line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)
sys.path.insert(0, str(Path(__file__).parents[1] / "probe"))

import torch  # noqa: E402
from _probe_helpers import class_corpus, make_tokenizer  # noqa: E402

from ntpgeom.cli import main  # noqa: E402
from ntpgeom.probe import ProbeError, load_model  # noqa: E402
from ntpgeom.probe import model as pm  # noqa: E402

EVIL = "import pathlib\npathlib.Path({marker!r}).write_text('custom code ran')\n"



def _plant(folder: Path, json_name: str, auto_map: dict, marker: Path) -> None:
    for ref in auto_map.values():
        (folder / f"{ref.split('.')[0]}.py").write_text(EVIL.format(marker=str(marker)))
    cfg = json.loads((folder / json_name).read_text())
    cfg["auto_map"] = auto_map
    (folder / json_name).write_text(json.dumps(cfg))


@pytest.mark.parametrize("json_name,auto_map", [
    ("config.json", {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilLM"}),
    ("tokenizer_config.json", {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}),
])
def test_custom_code_never_runs_and_error_names_the_file(llama_dir, tmp_path, json_name, auto_map):
    marker = tmp_path / "MARKER"
    if json_name == "tokenizer_config.json":
        auto_map = {"AutoTokenizer": "tokenization_evil.EvilTokenizer"}
    _plant(llama_dir, json_name, auto_map, marker)
    with pytest.raises(ProbeError, match=r"evil\.py") as exc:
        load_model(llama_dir)
    assert "never runs code" in str(exc.value)
    assert not marker.exists()


def test_transformers_itself_is_told_never_to_trust_remote_code(llama_dir, tmp_path, monkeypatch):
    """Defence in depth: with ntpgeom's own refusal disabled, transformers still never runs (or prompts for) the code."""
    marker = tmp_path / "MARKER"
    _plant(llama_dir, "config.json", {"AutoConfig": "configuration_evil.EvilConfig",
                                      "AutoModelForCausalLM": "modeling_evil.EvilLM"}, marker)
    monkeypatch.setattr(pm, "refuse_custom_code", lambda *a, **k: None)
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("transformers prompted for custom code"))
    try:
        load_model(llama_dir)
    except ProbeError:
        pass
    assert not marker.exists()


def test_encoder_without_lm_head_refused(tmp_path):
    from transformers import BertConfig, BertForMaskedLM, BertModel

    tok = make_tokenizer()
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64)
    for name, cls in (("mlm", BertForMaskedLM), ("base", BertModel)):
        d = tmp_path / name
        cls(cfg).save_pretrained(d)
        tok.save_pretrained(d)
        with pytest.raises(ProbeError, match="no LM head"):
            load_model(d)
    # a base encoder whose config hides its architecture: caught by the weights transformers would initialise at random
    cfgj = json.loads((tmp_path / "base" / "config.json").read_text())
    cfgj.pop("architectures")
    (tmp_path / "base" / "config.json").write_text(json.dumps(cfgj))
    with pytest.raises(ProbeError, match="newly initialised|no LM head"):
        load_model(tmp_path / "base")


def test_garbage_and_truncated_weights(llama_dir):
    w = llama_dir / "model.safetensors"
    good = w.read_bytes()
    for blob in (b"\x00garbage" * 100, good[: len(good) // 3], b"\xff" * 8 + good[8:]):
        w.write_bytes(blob)
        with pytest.raises(ProbeError, match="cannot load the model weights|weight files"):
            load_model(llama_dir)


@pytest.mark.parametrize("device,msg", [("bogus", "unknown device"), ("cuda", "CUDA is not available"),
                                        ("cuda:7", "CUDA"), ("meta", "unsupported device")])
def test_impossible_devices(llama_dir, device, msg):
    if device.startswith("cuda") and torch.cuda.is_available() and device == "cuda":
        pytest.skip("this machine has CUDA")
    with pytest.raises(ProbeError, match=msg):
        load_model(llama_dir, device=device)


@pytest.mark.parametrize("extra,msg", [(["--device", "bogus"], "unknown device"), (["-o", "{file}"], "existing file"),
                                       (["-T", "nan"], "--context-len"), (["--seed", "-1"], "--seed"),
                                       (["--dtype", "float8"], "--dtype")])
def test_cli_errors_are_one_line(llama_dir, tmp_path, capsys, extra, msg):
    text = tmp_path / "c.txt"
    text.write_text(class_corpus(n_docs=2, doc_len=20))
    file = tmp_path / "exists.txt"
    file.write_text("keep me")
    argv = ["probe", "--model", str(llama_dir), "--text", str(text), "-T", "2", "-o", str(tmp_path / "out")]
    argv += [a.format(file=file) for a in extra]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and msg in err, err
    assert file.read_text() == "keep me" and not (tmp_path / "out").exists()
