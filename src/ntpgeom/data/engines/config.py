"""The streaming build's configuration: one frozen dataclass with its defaults and constraints (as ``TrainConfig``).

:class:`CorpusConfig` holds every setting of :func:`ntpgeom.data.engines.build_corpus` (the inputs, the work folder
and the progress callback are arguments), the filters of :func:`ntpgeom.data.filter_data` included; the field's
``help`` documents it once for the API and ``ntpgeom data build``, whose options are generated from
:data:`CLI_FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from ... import validate
from ...errors import NTPDataError
from ...validate import Interval, OneOf

ENGINES = ("local", "ray")
#: the fields that are filters of :func:`ntpgeom.data.filter_data` (applied exactly after the merge)
FILTER_KEYS = ("min_count", "top_k", "min_support", "max_support", "max_vocab", "next_vocab", "rare", "unk_token")
_REQUIRED = object()


def _opt(default: Any, help: str) -> Any:
    return field(metadata={"help": help}) if default is _REQUIRED else field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class CorpusConfig:
    """How a sharded corpus is read, counted and filtered (defaults on the fields; ``context_len`` is required;
    a filter left at None is not applied)."""

    context_len: int = _opt(_REQUIRED, "Tokens per context (T-1), >= 1.")
    tokenizer: str | None = _opt(None, "word | char | bpe:<vocab size> | path to a tokenizers JSON (not needed with "
                                       "ids_column).")
    engine: str = _opt("local", "Streaming sharded build: local (in-process; the default for several inputs, globs, "
                                "folders, .parquet/.arrow/.jsonl) | ray.")
    text_column: str = _opt("text", "Text column / JSON field of Parquet, Arrow and JSONL shards.")
    ids_column: str | None = _opt(None, "A pre-tokenised list<int> column / field instead of text.")
    doc_sep: str = _opt("blank", "Document separator: blank | line | none | a literal string.")
    lowercase: bool = _opt(False, "Lowercase the text first.")
    partitions: int | None = _opt(None, "Hash partitions of the contexts, in [1, 65536] (default: one per 8 MiB of "
                                        "input, at least 16).")
    skip_bad: bool = _opt(False, "Skip unreadable shards (listed on stderr and in meta['skipped']) instead of failing.")
    ray_address: str | None = _opt(None, "Ray cluster to join (engine ray); default: a local Ray instance.")
    chunk_tokens: int = _opt(1 << 22, "Tokens per counting chunk of a shard.")
    workers: int | None = _opt(None, "Processes for the local engine (default: all cores when the input exceeds "
                                     "64 MiB, else 1; never more than the cores, nor than the shards and "
                                     "partitions).")
    min_count: float | None = _opt(None, "Keep contexts seen at least this often.")
    top_k: int | None = _opt(None, "Keep the k most frequent contexts.")
    min_support: int | None = _opt(None, "Smallest support size kept.")
    max_support: int | None = _opt(None, "Largest support size kept.")
    max_vocab: int | None = _opt(None, "Keep only the most frequent next tokens.")
    next_vocab: Sequence[str] | None = _opt(None, "Keep exactly these next tokens (instead of max_vocab).")
    rare: str | None = _opt(None, "What to do with the other next tokens: drop | map (to unk_token).")
    unk_token: str | None = _opt(None, "The token the others are mapped to with rare='map' (default <unk>).")

    def __post_init__(self) -> None:
        validate.check_fields(vars(self), CONSTRAINTS, error=NTPDataError)
        if self.min_support is not None and self.max_support is not None and self.min_support > self.max_support:
            raise NTPDataError(f"min_support ({self.min_support}) is larger than max_support ({self.max_support})")

    def filters(self) -> dict[str, Any]:
        """The filters given (not None), for :func:`ntpgeom.data.filter_data`."""
        return {k: getattr(self, k) for k in FILTER_KEYS if getattr(self, k) is not None}


_POS_INT = Interval(True, 0, open_lo=True)
CONSTRAINTS: dict[str, list[Any]] = {
    "context_len": [_POS_INT], "tokenizer": [str, None], "engine": [OneOf(ENGINES)], "text_column": [str],
    "ids_column": [str, None], "doc_sep": [str], "lowercase": [bool], "partitions": [Interval(True, 1, 65536), None],
    "skip_bad": [bool], "ray_address": [str, None], "chunk_tokens": [_POS_INT], "workers": [_POS_INT, None],
    "min_count": [Interval(False, 0), None], "top_k": [_POS_INT, None], "min_support": [_POS_INT, None],
    "max_support": [_POS_INT, None], "max_vocab": [_POS_INT, None], "rare": [OneOf(("drop", "map")), None],
    "unk_token": [str, None],
}
FIELDS = {f.name: f for f in fields(CorpusConfig)}
#: the fields ``ntpgeom data build`` has generated options for (``--context-len``, ``--tokenizer`` and ``--rare``
#: it declares itself: they also serve the in-memory builders)
CLI_FIELDS = ("doc_sep", "lowercase", "min_count", "top_k", "min_support", "max_support", "max_vocab", "engine",
              "ray_address", "workers", "skip_bad", "text_column", "ids_column")


def corpus_config(config: CorpusConfig | None, options: Mapping[str, Any]) -> CorpusConfig:
    """``config`` (or the defaults) with the keyword ``options`` (field names; None = not given) on top."""
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown}; filters are {list(FILTER_KEYS)}, the options "
                        f"{[k for k in FIELDS if k not in FILTER_KEYS]}")
    values = {} if config is None else {k: getattr(config, k) for k in FIELDS}
    values.update({k: v for k, v in options.items() if v is not None})
    if "context_len" not in values:
        raise NTPDataError("build_corpus needs context_len (tokens per context, >= 1)")
    return CorpusConfig(**values)
