"""Streaming, partitioned corpus engines (issue 13): shard readers, the counting kernel, the in-process engine and
the optional Ray engine. The entry point is :func:`build_corpus`."""

from .build import ENGINES, build_corpus
from .config import CorpusConfig

__all__ = ["build_corpus", "CorpusConfig", "ENGINES"]
