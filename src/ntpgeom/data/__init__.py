"""Data layer: corpora and generators to next-token-prediction statistics (theory.md §1)."""

from . import corpora, synthetic
from .builders import count_windows, filter_data, from_counts, from_text, from_tokens, read_text, split_documents
from .pairs import from_pairs
from .corpora import load
from .dataset import FORMAT_VERSION, NTPData
from .tokenize import encode

__all__ = [
    "NTPData", "load", "FORMAT_VERSION", "from_counts", "from_tokens", "from_text", "from_pairs", "filter_data",
    "count_windows", "read_text", "split_documents", "encode", "synthetic", "corpora",
]
