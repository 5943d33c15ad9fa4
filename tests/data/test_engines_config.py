"""CorpusConfig: defaults (those of build_corpus before the dataclass), constraints, filters, keywords = config."""

from __future__ import annotations

import dataclasses

import pytest

from ntpgeom.data.engines.config import CLI_FIELDS, FIELDS, FILTER_KEYS, CorpusConfig, corpus_config
from ntpgeom.errors import NTPDataError


def test_defaults_and_filters():
    c = CorpusConfig(context_len=2)
    assert (c.tokenizer, c.engine, c.text_column, c.ids_column, c.doc_sep, c.lowercase, c.partitions, c.skip_bad,
            c.ray_address, c.chunk_tokens, c.workers) == (None, "local", "text", None, "blank", False, None, False,
                                                          None, 1 << 22, None)
    assert c.filters() == {} and set(FILTER_KEYS) <= set(FIELDS) and set(CLI_FIELDS) <= set(FIELDS)
    assert CorpusConfig(context_len=2, top_k=5, rare="map").filters() == {"top_k": 5, "rare": "map"}


@pytest.mark.parametrize("name, bad", [("context_len", 0), ("engine", "spark"), ("partitions", 0),
                                       ("partitions", 65537), ("workers", 0), ("top_k", 1.5), ("min_count", -1),
                                       ("rare", "keep"), ("lowercase", "yes")])
def test_constraints_reject(name, bad):
    with pytest.raises(NTPDataError, match=name):
        CorpusConfig(**{"context_len": 2, name: bad})
    with pytest.raises(NTPDataError, match="min_support .3. is larger than max_support .2."):
        CorpusConfig(context_len=2, min_support=3, max_support=2)


def test_keywords_build_the_config():
    base = CorpusConfig(context_len=2, top_k=3)
    assert corpus_config(None, {"context_len": 2, "top_k": 3, "min_count": None}) == base
    assert corpus_config(base, {"workers": 2}) == dataclasses.replace(base, workers=2)
    with pytest.raises(TypeError, match="filters are"):
        corpus_config(None, {"context_len": 2, "topk": 3})
    with pytest.raises(NTPDataError, match="context_len"):
        corpus_config(None, {})
