"""``build_corpus``: exact NTP statistics of many shards, streamed and partitioned, in-process or on Ray."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..._json import loads_json
from ...errors import NTPDataError
from ...progress import Progress
from ..dataset import NTPData
from ..tokenize import bpe_size, train_bpe
from .assemble import assemble, vocab_map
from .config import ENGINES, CorpusConfig, corpus_config  # noqa: F401 (ENGINES re-exported)
from .inputs import discover
from .local import MANIFEST, WorkDir, distinct_ids, merge_next_totals, run_map_local, worker_pool
from .readers import FREQUENCY_TOKENIZERS, Encoder, ReadSpec, VocabEncoder, detect_ids_column, documents, token_frequencies
from .memory import count_in_memory, fits_in_memory
from .reduce import TopK, run_reduce_local

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
    work_dir : path, optional
        Folder for intermediate files; a rerun with the same folder resumes (finished shards are not recounted).
        Removed on success. Default: a temporary folder (no resume).
    progress : callable, optional
        ``progress(stage, done=None, total=None)``; the stage text carries the throughput (tokens/s).
    config : CorpusConfig, optional
        The settings under Other Parameters and the filters (defaults on its fields); ``**options`` (field names, None = not given)
        go on top: ``build_corpus(paths, context_len=2, top_k=100)``.
    **options
        The fields of :class:`~ntpgeom.data.engines.config.CorpusConfig`: the settings below and the filters of
        :func:`~ntpgeom.data.filter_data` (``min_count``, ``top_k``, ``min_support``, ``max_support``,
        ``max_vocab``, ``next_vocab``, ``rare``, ``unk_token``), applied exactly after the merge.

    Returns
    -------
    NTPData, identical (arrays and content hash) to :func:`~ntpgeom.data.from_tokens` on the concatenated token
    stream with one document per row (``output_vocab="observed"``). For pre-tokenised ids the input vocabulary is
    the distinct ids that occur, sorted, each named by its id (``"17"``): ``from_tokens`` on the ids renumbered by
    their rank among them, ``vocab=`` their names (the same as ``from_tokens(ids)`` when every id 0..max occurs). Ids
    must be integers in [0, 2**63 - 2]; one huge id costs one name, not one per possible id.

    Other Parameters
    ----------------
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
    workers : int, optional
        Processes for the local engine's map and merge (shards and partitions are spread over them). Default: all
        cores (``os.cpu_count()``) when the input is larger than 64 MiB, else 1 (in this process: starting workers
        costs about a second). Each worker holds its own shard or partition (see Memory). Results do not depend
        on it.
    skip_bad : bool
        Skip unreadable shards instead of failing; they are listed in ``meta["skipped"]``.
    in_memory : bool or None
        Read every shard into memory and count them with one kernel call (no work folder, no merge; 3-4x less
        CPU when almost every window is distinct). None: when the input fits (``engine="local"`` and
        :func:`~ntpgeom.data.engines.memory.fits_in_memory`: the estimated peak within half the available memory),
        as ``ntpgeom data build`` does. False (default): always stream. The result is the same.

    Notes
    -----
    Memory (local engine), per worker: the larger of one shard being counted (a Parquet row group or file, and one
    counting chunk of ``chunk_tokens``, default 4M tokens, at most ~0.1 KB per token in the kernel) and one merged
    partition (the partial counts of ~8 MiB of input, ~80 bytes per row with sort temporaries); on the driver, the
    selected output (with ``top_k``: the candidate rows of about K contexts, pruned whenever they exceed
    4 K + 65536 rows). None of these grows with the corpus up to 4096 partitions (32 GiB of input files; beyond,
    pass ``partitions``). Without ``top_k`` or other filters the output itself is the bound.
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
    partitions = int(cfg.partitions if cfg.partitions is not None else min(4096, max(16, -(-size // (8 << 20)))))
    workers = worker_count(cfg.workers, size, len(shards), partitions)
    job = {"format": MANIFEST, "context_len": int(cfg.context_len), "partitions": partitions,
           "read": [cfg.text_column, ids_column, cfg.tokenizer, cfg.doc_sep, bool(cfg.lowercase)],
           "shards": [[s.path, s.unit, s.stamp] for s in shards]}
    own = work_dir is None
    work = WorkDir(Path(tempfile.mkdtemp(prefix="ntpgeom-work-")) if own else Path(work_dir), job)
    work.open()
    with work.locked():
        try:
            data = _count(paths, shards, skipped, spec, cfg, work, (workers, partitions, in_memory), encoder, bpe, say)
        except BaseException as exc:
            finished = [work.done(i) for i in range(len(shards))]
            if own or not any(finished) or (isinstance(exc, NTPDataError) and all(finished)):
                work.remove()  # nothing to resume from, or every shard counted and the data refused: rerun needs others
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
            "shards_redone": totals["redone"], "null_documents": totals["null_docs"],
            "count_seconds": round(time.perf_counter() - t0, 3), "n_tokens": totals["tokens"],
            "workers": workers if local else None, "workers_asked": cfg.workers if local else None})


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(asked: int | None, size: int, n_shards: int, partitions: int) -> int:
    """Worker processes of the local engine: ``asked`` (default: all cores above 64 MiB of input, else 1), never more
    than the cores nor than the units of work (shards to map, partitions to merge): more would only wait."""
    want = asked if asked is not None else cpu_cores() if size > (64 << 20) else 1
    return int(max(1, min(want, cpu_cores(), max(n_shards, partitions))))


def _frequency_encoder(shards: list, spec: ReadSpec, work: WorkDir, skip_bad: bool, skipped: list[str],
                       say: Callable[..., None]) -> VocabEncoder:
    """First pass for ``"word"``/``"char"``: the corpus-wide token frequencies (kept in the work folder on resume)."""
    kept = work.read_checked("vocab.json")
    if kept is not None:
        return VocabEncoder(spec.tokenizer, Counter(loads_json(kept)))
    freq: Counter = Counter()
    for i, shard in enumerate(shards):
        try:
            freq.update(token_frequencies(shard, spec))
        except NTPDataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
        say("building the vocabulary", i + 1, len(shards))
    work.write_checked("vocab.json", json.dumps(dict(freq), sort_keys=True))
    return VocabEncoder(spec.tokenizer, freq)


def _bpe_encoder(shards: list, spec: ReadSpec, vocab_size: int, work: WorkDir, skip_bad: bool, skipped: list[str],
                 say: Callable[..., None]) -> Encoder:
    """``"bpe:N"``: train on the first documents in shard order, up to ``BPE_SAMPLE_CHARS`` characters (the whole
    corpus when smaller: then the tokenizer is the one ``from_text`` trains), kept in the work folder on resume."""
    path = work.root / "bpe.json"
    if work.read_checked("bpe.json") is None:
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
        work.write_checked("bpe.json", train_bpe(sample, vocab_size))
    return Encoder(str(path))


def _select(work: WorkDir, done: list[int], reduce: Callable[[Any], TopK], encoder: Encoder | VocabEncoder | None,
            context_len: int, filters: dict, say: Callable[..., None], info: dict) -> NTPData:
    """The next-token restriction from the global totals, the engine's reduce (merge + selection per partition),
    then the final exact top-K and assembly on the driver (memory: the selected rows). Pre-tokenised ids (no
    ``encoder``) are renumbered by rank among the distinct ids that occur (the token names are the original ids),
    so one huge id costs one name, not one per possible id."""
    max_id = max((work.record(i)["max_id"] for i in done), default=-1)
    if max_id < 0:
        raise NTPDataError("the corpus is empty (no tokens); give a non-empty corpus")
    seen = None if encoder is not None else distinct_ids(np.concatenate([work.seen_ids(i) for i in done]))
    names: Any = encoder.vocab() if encoder is not None else IdNames(max_id + 1)
    if max_id >= len(names):
        raise NTPDataError(f"token id {max_id} is outside the tokenizer's vocabulary of size {len(names)}")
    next_ids, next_tot = merge_next_totals(work, done)
    vmap = vocab_map(next_ids, next_tot, names, len(names), filters)
    candidates = reduce(vmap)
    say("assembling")
    meta = {"source": "tokens", "context_len": context_len, "n_tokens": info.pop("n_tokens"), "output_vocab": "observed"}
    rows = candidates.rows
    if seen is not None:  # raw ids -> ranks (order kept); the <unk> id (above every id) -> len(seen)
        rows = [(np.searchsorted(seen, c), np.searchsorted(seen, n), k) for c, n, k in rows]
        names = [str(i) for i in seen.tolist()]
        vmap = None if vmap is None else replace(vmap, unk_id=len(names))
        meta["input_vocab"] = "the distinct ids that occur, sorted (token names: the ids)"
    return assemble(rows, context_len, names, vmap, filters, {**meta, **info})


class IdNames:
    """The names of raw token ids 0..n-1 (``str(i)``), without a list of n strings."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> str:
        return str(int(i))


def _source(paths: Any) -> str:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return ", ".join(str(p) for p in items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")
