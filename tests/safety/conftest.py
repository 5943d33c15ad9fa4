"""Fixtures shared by the safety tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture()
def llama_dir(tmp_path):
    """A tiny random Llama folder with its tokenizer (built from a config; needs the `probe` extra)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "probe"))
    from _probe_helpers import make_model, make_tokenizer

    d = tmp_path / "llama"
    tok = make_tokenizer()
    make_model("llama", len(tok), seed=1).save_pretrained(d)
    tok.save_pretrained(d)
    return d
