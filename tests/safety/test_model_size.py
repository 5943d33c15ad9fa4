"""A model is sized before any weight is allocated (issue 24, high): a header-only GGUF file (60 bytes), a GGUF whose
metadata declares a model far bigger than its tensors, a config.json far bigger than its weight files, and a model that
does not fit this machine's memory are each refused with one ProbeError / one `error:` line, and transformers never
builds the model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)
gguf = pytest.importorskip("gguf", reason="GGUF files need the `gguf` package", exc_type=ImportError)
sys.path.insert(0, str(Path(__file__).parents[1] / "probe"))

from _probe_helpers import class_corpus  # noqa: E402

from ntpgeom.cli import main  # noqa: E402
from ntpgeom.probe import ProbeError, load_model  # noqa: E402
from ntpgeom.probe import model as pm  # noqa: E402
from ntpgeom.probe import size as ps  # noqa: E402


def _gguf(path: Path, metadata: bool, tensor: bool) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    if metadata:  # a 0.84-billion-parameter Llama, declared
        w.add_context_length(2048), w.add_embedding_length(4096), w.add_block_count(4)
        w.add_feed_forward_length(11008), w.add_head_count(32), w.add_head_count_kv(8)
        w.add_layer_norm_rms_eps(1e-5), w.add_vocab_size(32000)
    if tensor:
        w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    return path


@pytest.fixture()
def never_built(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the weights were loaded before the size check")
    monkeypatch.setattr(pm, "_weights", boom)



def test_header_only_gguf_refused_before_anything_is_built(tmp_path, never_built):
    f = _gguf(tmp_path / "tiny.gguf", metadata=False, tensor=False)
    assert f.stat().st_size < 100
    with pytest.raises(ProbeError, match="holds no tensors"):
        load_model(f)


def test_gguf_metadata_bigger_than_its_tensors_refused(tmp_path, never_built):
    f = _gguf(tmp_path / "big.gguf", metadata=True, tensor=True)
    V, d, L, ff, kv = 32000, 4096, 4, 11008, 8 * 128  # closed form: tied embedding, GQA attention, SwiGLU MLP, RMSNorms
    n = V * d + L * (2 * d * d + 2 * d * kv + 3 * d * ff + 2 * d) + d
    with pytest.raises(ProbeError, match="holds 32 weights") as exc:
        load_model(f)
    assert f"{n:.3g} parameters" in str(exc.value)


@pytest.mark.parametrize("blob", [b"GGUF", b"GGUF\x03\x00\x00\x00" + b"\xff" * 52, b"\x00" * 60])
def test_malformed_gguf_is_one_probe_error(tmp_path, never_built, blob):
    f = tmp_path / "bad.gguf"
    f.write_bytes(blob)
    with pytest.raises(ProbeError, match="GGUF"):
        load_model(f)


def test_config_bigger_than_its_weight_files_refused(llama_dir, never_built):
    (llama_dir / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ProbeError, match="weight files .* hold 64 bytes"):
        load_model(llama_dir)


def test_model_that_does_not_fit_memory_refused(llama_dir, never_built, monkeypatch):
    monkeypatch.setattr(ps, "memory_bytes", lambda: 10_000)
    with pytest.raises(ProbeError, match=r"needs about .* GiB to load, more than this machine's"):
        load_model(llama_dir)


def test_parameter_count_matches_the_real_model(llama_dir):
    lm = load_model(llama_dir)
    from transformers import AutoConfig

    assert ps.count_parameters(AutoConfig.from_pretrained(llama_dir)) == lm.info["n_params"]


def test_cli_header_only_gguf_is_one_error_line(tmp_path, capsys, never_built):
    f = _gguf(tmp_path / "tiny.gguf", metadata=False, tensor=False)
    text = tmp_path / "c.txt"
    text.write_text(class_corpus(n_docs=2, doc_len=20))
    with pytest.raises(SystemExit) as e:
        main(["probe", "--model", str(f), "--text", str(text), "-T", "2", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "no tensors" in err, err
    assert not (tmp_path / "out").exists()
