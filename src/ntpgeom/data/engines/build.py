"""``build_corpus``: exact NTP statistics of many shards, streamed and partitioned, in-process or on Ray."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
import time
from pathlib import Path
from typing import Any, Callable, Sequence


from ..._io import write_json_atomic, write_text_atomic
from ...errors import NTPDataError
from ...progress import Progress
from ..dataset import NTPData
from ..tokenize import bpe_size, train_bpe
from .assemble import assemble, vocab_map
from .config import ENGINES, CorpusConfig, corpus_config  # noqa: F401 (ENGINES re-exported)
from .local import WorkDir, merge_next_totals, run_map_local, worker_pool
from .memory import count_in_memory, fits_in_memory
from .reduce import TopK, run_reduce_local
from .readers import (FREQUENCY_TOKENIZERS, Encoder, ReadSpec, VocabEncoder, detect_ids_column, discover, documents,
                      token_frequencies)

BPE_SAMPLE_CHARS = 1 << 27  # characters of documents a streaming "bpe:N" tokenizer is trained on (first pass)


def build_corpus(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    config: CorpusConfig | None = None,
    *,
    work_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    in_memory: bool | None = False,
    **options: Any,
) -> NTPData:
    """Count next-token statistics of a sharded corpus, exactly, with memory bounded by one shard plus one partition.

    Parameters
    ----------
    paths : path, glob or dataset folder, or a sequence of them
        Text files (documents split by ``doc_sep``), JSONL (field ``text_column`` or ``ids_column``), Parquet
        (column ``text_column``, default ``"text"``, or a list<int> ``ids_column``; one row = one document; without
        ``ids_column``, Parquet/Arrow shards that lack ``text_column`` but hold exactly one list<int> column are read
        as pre-tokenised ids from it) and
        Hugging Face datasets saved on disk (their ``.arrow`` / ``.parquet`` files). Never the network.
    context_len : int
        Tokens per context (T-1), >= 1. Keys of any width stay exact.
    tokenizer : str, optional
        For text input: ``"word"`` or ``"char"`` (ids by corpus frequency, as :func:`~ntpgeom.data.from_text`; one
        extra pass builds the vocabulary), ``"bpe:N"`` (a byte-pair encoding of N tokens trained in a first pass on
        the first ``BPE_SAMPLE_CHARS`` = 2**27 characters of documents in shard order: the whole corpus when
        smaller, then identical to ``from_text``) or a ``tokenizers`` JSON file. Not needed with ``ids_column``.
    engine : {"local", "ray"}
        ``"local"``: this process and ``workers`` worker processes. ``"ray"``: the same map and reduce functions as
        Ray tasks, the selection included (``pip install ntpgeom[scale]``); ``ray_address`` joins a cluster (the
        work folder must then be on a shared filesystem).
    partitions : int, optional
        Hash partitions of the contexts; the merge holds one partition (about 1/partitions of all partial counts)
        at a time. Default: one per 8 MiB of input files, at least 16 (so a partition holds the partial counts of
        about 8 MiB of input whatever the corpus size).
    work_dir : path, optional
        Folder for intermediate files; a rerun with the same folder resumes (finished shards are not recounted).
        Removed on success. Default: a temporary folder (no resume).
    workers : int, optional
        Processes for the local engine's map and merge (shards and partitions are spread over them). Default: all
        cores (``os.cpu_count()``) when the input is larger than 64 MiB, else 1 (in this process: starting workers
        costs about a second). Each worker holds its own shard or partition (see Memory). Results do not depend
        on it.
    skip_bad : bool
        Skip unreadable shards instead of failing; they are listed in ``meta["skipped"]``.
    progress : callable, optional
        ``progress(stage, done=None, total=None)``; the stage text carries the throughput (tokens/s).
    in_memory : bool or None
        Read every shard into memory and count them with one kernel call (no work folder, no merge; 3-4x less
        CPU when almost every window is distinct). None: when the input fits (``engine="local"`` and
        :func:`~ntpgeom.data.engines.memory.fits_in_memory`: the estimated peak within half the available memory),
        as ``ntpgeom data build`` does. False (default): always stream. The result is the same.
    config : CorpusConfig, optional
        The settings below and the filters (defaults on its fields); ``**options`` (field names, None = not given)
        go on top: ``build_corpus(paths, context_len=2, top_k=100)``.
    **options
        The fields of :class:`~ntpgeom.data.engines.config.CorpusConfig`: the settings above and the filters of
        :func:`~ntpgeom.data.filter_data` (``min_count``, ``top_k``, ``min_support``, ``max_support``,
        ``max_vocab``, ``next_vocab``, ``rare``, ``unk_token``), applied exactly after the merge.

    Memory (local engine), per worker: the larger of one shard being counted (a Parquet row group or file, and one
    counting chunk of ``chunk_tokens``, default 4M tokens, at most ~0.1 KB per token in the kernel) and one merged
    partition (the partial counts of ~8 MiB of input, ~80 bytes per row with sort temporaries); on the driver, the
    selected output (with ``top_k``: the candidate rows of about K contexts, pruned whenever they exceed
    4 K + 65536 rows). None of these grows with the corpus up to 4096 partitions (32 GiB of input files; beyond,
    pass ``partitions``). Without ``top_k`` or other filters the output itself is the bound.

    Returns
    -------
    NTPData, identical (arrays and content hash) to :func:`~ntpgeom.data.from_tokens` on the concatenated token
    stream with one document per row (``output_vocab="observed"``).
    """
    cfg = corpus_config(config, options)
    say = progress or (lambda *_a: None)
    say("finding shards")
    shards, skipped = discover(paths, cfg.skip_bad)
    if not shards:
        raise NTPDataError("no readable shard in the input" + (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
    ids_column = cfg.ids_column
    if ids_column is None:  # Parquet/Arrow without the text column but with one list<int> column: pre-tokenised
        ids_column = detect_ids_column(shards[0], cfg.text_column)
    spec = ReadSpec(cfg.text_column, ids_column, cfg.tokenizer, cfg.doc_sep, cfg.lowercase, int(cfg.chunk_tokens))
    by_frequency = ids_column is None and cfg.tokenizer in FREQUENCY_TOKENIZERS
    bpe = None if ids_column is not None else bpe_size(cfg.tokenizer)
    encoder = None if ids_column is not None or by_frequency or bpe else Encoder(cfg.tokenizer or "")
    if in_memory is None:
        in_memory = cfg.engine == "local" and fits_in_memory(shards, spec)
    size = sum(os.path.getsize(f) for f in {sh.path for sh in shards})
    workers = int(cfg.workers if cfg.workers is not None else (os.cpu_count() or 1) if size > (64 << 20) else 1)
    partitions = int(cfg.partitions if cfg.partitions is not None else min(4096, max(16, -(-size // (8 << 20)))))
    job = {"format": "ntpgeom.work/2", "context_len": int(cfg.context_len), "partitions": partitions,
           "read": [cfg.text_column, ids_column, cfg.tokenizer, cfg.doc_sep, bool(cfg.lowercase)],
           "shards": [[s.path, s.unit, s.stamp] for s in shards]}
    own = work_dir is None
    work = WorkDir(Path(tempfile.mkdtemp(prefix="ntpgeom-work-")) if own else Path(work_dir), job)
    work.open()
    try:
        data = _count(paths, shards, skipped, spec, cfg, work, (workers, partitions, in_memory), encoder, bpe, say)
    except BaseException:
        if own or not any(work.done(i) for i in range(len(shards))):
            work.remove()  # nothing to resume from
        raise
    work.remove()
    return data


def _count(paths: Any, shards: list, skipped: list[str], spec: ReadSpec, cfg: CorpusConfig, work: WorkDir,
           sizes: tuple[int, int], encoder: Encoder | None, bpe: int | None, say: Callable[..., None]) -> NTPData:
    """The passes over the shards in ``work`` (``sizes``: workers, partitions, in memory): the vocabulary or the BPE
    tokenizer when needed (``encoder`` None without ids), then map, reduce and selection (or one in-memory count)."""
    t0 = time.perf_counter()
    (workers, partitions, in_memory), T, filters, local = sizes, int(cfg.context_len), cfg.filters(), cfg.engine == "local"
    if spec.ids_column is None and spec.tokenizer in FREQUENCY_TOKENIZERS:
        encoder = _frequency_encoder(shards, spec, work, cfg.skip_bad, skipped, say)
    elif bpe:
        encoder = _bpe_encoder(shards, spec, bpe, work, cfg.skip_bad, skipped, say)
    if in_memory:
        return count_in_memory(shards, spec, encoder, T, filters, cfg.skip_bad, say, {
            "source": _source(paths), "engine": "memory", "tokenizer": cfg.tokenizer, "ids_column": spec.ids_column,
            "skipped": skipped})
    with worker_pool(workers if local else 1) as pool:
        if local:
            done, bad, totals = run_map_local(shards, spec, T, partitions, work, encoder, cfg.skip_bad, say, pool)

            def reduce(vmap):
                return run_reduce_local(work, done, partitions, T, vmap, filters, pool, workers, say)
        else:
            from .ray_engine import run_ray

            done, bad, totals, reduce = run_ray(shards, spec, T, partitions, work, encoder, cfg.skip_bad,
                                                cfg.ray_address, filters, say)
        skipped = list(dict.fromkeys(skipped + bad))
        return _select(work, done, reduce, encoder, T, filters, say, {
            "source": _source(paths), "engine": cfg.engine, "tokenizer": cfg.tokenizer, "ids_column": spec.ids_column,
            "n_docs": totals["docs"], "n_shards": len(done), "skipped": skipped, "shards_resumed": totals["resumed"],
            "count_seconds": round(time.perf_counter() - t0, 3), "n_tokens": totals["tokens"],
            "workers": workers if local else None})


def _frequency_encoder(shards: list, spec: ReadSpec, work: WorkDir, skip_bad: bool, skipped: list[str],
                       say: Callable[..., None]) -> VocabEncoder:
    """First pass for ``"word"``/``"char"``: the corpus-wide token frequencies (kept in the work folder on resume)."""
    path = work.root / "vocab.json"
    if path.is_file():
        return VocabEncoder(spec.tokenizer, Counter(json.loads(path.read_text(encoding="utf-8"))))
    freq: Counter = Counter()
    for i, shard in enumerate(shards):
        try:
            freq.update(token_frequencies(shard, spec))
        except NTPDataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
        say("building the vocabulary", i + 1, len(shards))
    write_json_atomic(path, dict(freq))
    return VocabEncoder(spec.tokenizer, freq)


def _bpe_encoder(shards: list, spec: ReadSpec, vocab_size: int, work: WorkDir, skip_bad: bool, skipped: list[str],
                 say: Callable[..., None]) -> Encoder:
    """``"bpe:N"``: train on the first documents in shard order, up to ``BPE_SAMPLE_CHARS`` characters (the whole
    corpus when smaller: then the tokenizer is the one ``from_text`` trains), kept in the work folder on resume."""
    path = work.root / "bpe.json"
    if not path.is_file():
        sample: list[str] = []
        chars = 0
        for i, shard in enumerate(shards):
            if chars >= BPE_SAMPLE_CHARS:
                break
            try:
                docs = documents(shard, spec)
            except NTPDataError as exc:
                if not skip_bad:
                    raise
                skipped.append(str(exc))
                continue
            for d in docs:
                if chars >= BPE_SAMPLE_CHARS:
                    break
                sample.append(d)
                chars += len(d)
            say("reading the BPE training sample", i + 1, len(shards))
        say("training the BPE tokenizer")
        write_text_atomic(path, train_bpe(sample, vocab_size))
    return Encoder(str(path))


def _select(work: WorkDir, done: list[int], reduce: Callable[[Any], TopK], encoder: Encoder | VocabEncoder | None,
            context_len: int, filters: dict, say: Callable[..., None], info: dict) -> NTPData:
    """The next-token restriction from the global totals, the engine's reduce (merge + selection per partition),
    then the final exact top-K and assembly on the driver (memory: the selected rows)."""
    max_id = max((work.record(i)["max_id"] for i in done), default=-1)
    if max_id < 0:
        raise NTPDataError("the corpus is empty (no tokens); give a non-empty corpus")
    names = encoder.vocab() if encoder is not None else [str(i) for i in range(max_id + 1)]
    if max_id >= len(names):
        raise NTPDataError(f"token id {max_id} is outside the tokenizer's vocabulary of size {len(names)}")
    next_ids, next_tot = merge_next_totals(work, done)
    vmap = vocab_map(next_ids, next_tot, names, len(names), filters)
    candidates = reduce(vmap)
    say("assembling")
    meta = {"source": "tokens", "context_len": context_len, "n_tokens": info.pop("n_tokens"), "output_vocab": "observed"}
    return assemble(candidates.rows, context_len, names, vmap, filters, {**meta, **info})


def _source(paths: Any) -> str:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return ", ".join(str(p) for p in items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")
