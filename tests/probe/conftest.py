"""Session fixtures for the probe tests: tiny random causal LMs saved to temporary folders (see _probe_helpers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# No module-level importorskip here: in a conftest it aborts the whole run (`pytest tests/probe` exited 1). Each test
# module that needs transformers skips itself, with a reason; the helpers are imported inside the fixtures.


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    from _probe_helpers import class_corpus

    p = tmp_path_factory.mktemp("corpus") / "chain.txt"
    p.write_text(class_corpus(), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Saved tiny models: {"llama": dir, "gpt2": dir, "collapse": dir, "llama_tied": dir}."""
    from _probe_helpers import collapse_model, make_model, make_tokenizer

    root = tmp_path_factory.mktemp("models")
    tok = make_tokenizer()
    out = {}
    for name, kind, tie in (("llama", "llama", False), ("gpt2", "gpt2", True), ("llama_tied", "llama", True)):
        d = root / name
        make_model(kind, len(tok), seed=1, tie=tie).save_pretrained(d)
        tok.save_pretrained(d)
        out[name] = d
    model, tok = collapse_model(seed=2)
    d = root / "collapse"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    out["collapse"] = d
    return out
