"""``ntpgeom data``: build, generate and inspect NTP datasets."""

from __future__ import annotations

import contextlib
import inspect
import math
from enum import Enum
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from .. import data as D
from .. import validate
from .._io import check_output_target, note_input
from ..data.engines.config import CLI_FIELDS as CORPUS_CLI_FIELDS
from ..data.engines.config import CONSTRAINTS as CORPUS_CONSTRAINTS
from ..data.engines.config import CorpusConfig
from ..data.engines.hub import is_dataset_name, resolve_inputs
from ..data.prefixes import parse_lengths
from ..errors import NTPDataError
from ._common import (config_options, given, json_option, load_dataset, make_config, out_option, print_json,
                      seed_option, stages, with_options)

data_app = typer.Typer(help="Build, generate and inspect NTP datasets (contexts x next-token counts).", no_args_is_help=True)


class SynthKind(str, Enum):
    synthetic = "synthetic"
    stories = "stories"
    random = "random"
    k_subsets = "k-subsets"
    one_hot = "one-hot"


def _report(data: D.NTPData, out: Path, as_json: bool) -> None:
    if as_json:
        print_json({"path": str(out), **data.summary(top=0)})
    else:
        typer.echo(f"wrote {out}: {data!r}")


@data_app.command("synth")
def synth(
    kind: SynthKind = typer.Argument(..., help="synthetic | stories (built-in corpora) | random | k-subsets | one-hot"),
    out: Path = out_option("Output dataset file (.npz)."),
    V: int = typer.Option(10, "--V", help="Vocabulary size (random, k-subsets, one-hot)."),
    m: int = typer.Option(95, "--m", help="Number of contexts (random)."),
    k: int = typer.Option(2, "--k", help="Support size (k-subsets)."),
    kmin: int = typer.Option(1, "--kmin", help="Smallest support size (random)."),
    kmax: int = typer.Option(5, "--kmax", help="Largest support size (random)."),
    n_supports: Optional[int] = typer.Option(None, "--n-supports", help="Pool of distinct supports shared by contexts (random)."),
    probs: str = typer.Option("dirichlet", "--probs", help="uniform | dirichlet | counts (random, k-subsets)."),
    per_class: str = typer.Option("1", "--per-class", help="Contexts per class (one-hot): one int, or V comma-separated ints."),
    seed: int = seed_option(),
    as_json: bool = json_option(),
) -> None:
    """Generate a synthetic dataset or a built-in corpus."""
    seed = validate.seed("--seed", seed, error=NTPDataError)
    check_output_target(out)
    pc = _per_class(per_class) if kind is SynthKind.one_hot else [1]
    validate.size_limit(f"data synth {kind.value}", _synth_entries(kind, V, m, k, kmax, pc), error=NTPDataError)
    if kind is SynthKind.synthetic:
        data = D.corpora.synthetic()
    elif kind is SynthKind.stories:
        data = D.corpora.stories(seed=seed)
    elif kind is SynthKind.random:
        data = D.synthetic.random_supports(V, m, (kmin, kmax), n_supports, probs, seed=seed)
    elif kind is SynthKind.k_subsets:
        data = D.synthetic.all_k_subsets(V, k, probs, seed=seed)
    else:
        data = D.synthetic.one_hot(V, pc[0] if len(pc) == 1 else pc)
    data.save(out)
    _report(data, out, as_json)


def _per_class(per_class: str) -> list[int]:
    try:
        pc = [int(x) for x in per_class.split(",")]
    except ValueError:
        raise NTPDataError(f"--per-class must be an int or comma-separated ints, got {per_class!r}") from None
    return [validate.positive_int("--per-class", x, error=NTPDataError) for x in pc]


def _synth_entries(kind: SynthKind, V: int, m: int, k: int, kmax: int, per_class: list[int]) -> float:
    """Array entries a generator would allocate (token names + sparse entries + contexts), estimated BEFORE it runs."""
    if kind in (SynthKind.synthetic, SynthKind.stories):
        return 0.0
    V = validate.positive_int("--V", V, error=NTPDataError)
    if kind is SynthKind.random:
        return V + validate.positive_int("--m", m, error=NTPDataError) * (max(kmax, 1) + 2.0)
    if kind is SynthKind.k_subsets:
        k = validate.positive_int("--k", k, hi=V, error=NTPDataError)
        log_m = math.lgamma(V + 1) - math.lgamma(k + 1) - math.lgamma(V - k + 1)
        return V + math.exp(min(log_m, 700.0)) * (k + 2.0)
    return V + 3.0 * (V * per_class[0] if len(per_class) == 1 else sum(per_class))


def build(
    text: Optional[list[Path]] = None,
    pairs: Optional[Path] = None,
    header: str = "auto",
    out: Path = Path(),
    context_len: str = "5",
    tokenizer: str = "word",
    rare: str = "drop",
    work_dir: Optional[Path] = None,
    as_json: bool = False,
    split: Optional[str] = None,
    **options: Any,
) -> None:
    """Count the NTP statistics of a text corpus (or a pairs file) and save them."""
    if text and (split is not None or any(is_dataset_name(p) for p in text)):  # Hugging Face names: the local cache
        text = resolve_inputs(text, split)
    clen = validate.positive_int("--context-len", int(context_len), error=NTPDataError) \
        if context_len.strip().isdigit() else parse_lengths(context_len, "--context-len")  # a range lo:hi (App. D.3)
    opts = given(options)
    if pairs is None and _sharded(text, opts.get("engine"), opts.get("ids_column")):
        if not isinstance(clen, int):
            raise NTPDataError("--context-len lo:hi (every length) needs one text file; the streaming engines count "
                               "one context length")
        values = {**opts, "context_len": clen, "tokenizer": tokenizer}
        if "max_vocab" in opts:
            values["rare"] = rare
        config = make_config(CorpusConfig, values, CORPUS_CONSTRAINTS, NTPDataError)
        data = _build_sharded(text, out, work_dir, as_json, config)
        _singleton_note(data, opts)
        return _report(data, out, as_json)
    text = text[0] if text else None
    filters = {k: opts.get(k) for k in ("min_count", "top_k", "min_support", "max_support", "max_vocab")}
    filters["rare"] = rare if opts.get("max_vocab") is not None else None
    if (text is None) == (pairs is None):
        raise NTPDataError("give either a TEXT file or --pairs CSV (exactly one)")
    _note_inputs([p for p in (text, pairs) if p is not None], tokenizer)
    check_output_target(out)
    with _interruptible(out), stages(not as_json) as say:
        if pairs is not None:
            say("reading pairs")
            has_header = {"auto": None, "yes": True, "no": False}[validate.choice("--header", header, ("auto", "yes", "no"),
                                                                                    error=NTPDataError)]
            data = D.from_pairs(pairs, header=has_header, **filters)
        else:
            data = D.from_text(text, clen, tokenizer, doc_sep=opts.get("doc_sep", "blank"),
                               lowercase=opts.get("lowercase", False), progress=say, **filters)
        say("writing")
        data.save(out)
    if pairs is None:
        _singleton_note(data, opts)
    _report(data, out, as_json)


def _singleton_note(data: D.NTPData, opts: dict) -> None:
    """A newcomer's unfiltered corpus is mostly contexts seen once (each a support of size 1, a trivial row for the
    theory): say how many, and how to keep the recurring ones."""
    if opts.get("min_count") is not None or opts.get("top_k") is not None or not data.m:
        return
    once = int(np.count_nonzero(np.asarray(data.counts.sum(axis=0)).ravel() == 1))
    if once and once >= 0.25 * data.m:
        typer.echo(f"note: {once} of the {data.m} contexts ({once / data.m:.0%}) were seen once; to keep the recurring "
                   "ones pass --min-count 2 (or --top-k K for the K most frequent)", err=True)


_K = inspect.Parameter.KEYWORD_ONLY
build.__signature__ = with_options([  # type: ignore[attr-defined]
    inspect.Parameter("text", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[list[Path]],
                      default=typer.Argument(None, help="A UTF-8 text file (or give --pairs); or files, globs, folders "
                                             "of shards (.parquet .arrow .jsonl .txt; see --engine).")),
    inspect.Parameter("pairs", _K, annotation=Optional[Path], default=typer.Option(
        None, "--pairs", help="A CSV/TSV of context, next, count rows instead of text.")),
    inspect.Parameter("header", _K, annotation=str, default=typer.Option(
        "auto", "--header", help="Pairs file header row: auto (only a row naming the columns context,next[,count]) | "
        "yes | no. A non-numeric count elsewhere is an error.")),
    inspect.Parameter("out", _K, annotation=Path, default=out_option("Output dataset file (.npz).")),
    inspect.Parameter("context_len", _K, annotation=str, default=typer.Option(
        "5", "--context-len", "-T", help="Tokens per context (T-1), or a range lo:hi: the contexts of every length "
        "lo..hi (autoregressive, App. D.3).")),
    inspect.Parameter("tokenizer", _K, annotation=str, default=typer.Option(
        "word", "--tokenizer", help="word | char | bpe:<vocab size> | path to a tokenizers JSON.")),
    inspect.Parameter("rare", _K, annotation=str, default=typer.Option(
        "drop", "--rare", help="With --max-vocab, what to do with the other next tokens: drop | map (to <unk>).")),
    inspect.Parameter("work_dir", _K, annotation=Optional[Path], default=typer.Option(
        None, "--work-dir", help="Folder for intermediate files (default: OUT.work); rerun the same command to resume; "
        "removed on success.")),
    inspect.Parameter("as_json", _K, annotation=bool, default=json_option()),
    inspect.Parameter("split", _K, annotation=Optional[str], default=typer.Option(
        None, "--split", help="With a Hugging Face dataset name (read from the local cache, never downloaded) or a "
        "saved dataset dictionary: the split to count.")),
], config_options(CorpusConfig, CORPUS_CLI_FIELDS))
data_app.command("build")(build)


_SHARD_SUFFIXES = (".parquet", ".pq", ".jsonl", ".ndjson", ".arrow")


def _sharded(inputs: Optional[list[Path]], engine: Optional[str], ids_column: Optional[str]) -> bool:
    """Use the streaming engines: asked for, or several inputs, a glob, a folder or a shard format."""
    if not inputs:
        return False
    first = inputs[0]
    return (engine is not None or ids_column is not None or len(inputs) > 1 or first.is_dir()
            or any(c in str(first) for c in "*?[") or first.suffix.lower() in _SHARD_SUFFIXES)


def _build_sharded(inputs: list[Path], out: Path, work_dir: Optional[Path], as_json: bool,
                   config: CorpusConfig) -> D.NTPData:
    from ..data.engines import build_corpus
    from ..data.engines.inputs import input_files

    _note_inputs(input_files([str(p) for p in inputs])[0], config.tokenizer)
    check_output_target(out)
    work = work_dir or out.with_name(out.name + ".work")
    with _interruptible(out, work), stages(not as_json) as say:
        data = build_corpus([str(p) for p in inputs], config, work_dir=work, progress=say)
        say("writing")
        data.save(out)
    for msg in data.meta.get("skipped", []):
        typer.echo(f"skipped: {msg}", err=True)
    for line in build_notes(data.meta):
        typer.echo(f"note: {line}", err=True)
    return data


def build_notes(meta: Any) -> list[str]:
    """What a user should know about a sharded build (from its metadata): capped workers, null texts, recounted
    shards."""
    notes = []
    asked, used = meta.get("workers_asked"), meta.get("workers")
    if asked is not None and used is not None and used < asked:
        notes.append(f"--workers {asked} capped at {used} (the CPU cores, the shards and partitions to share)")
    if meta.get("null_documents"):
        notes.append(f"{meta['null_documents']} row(s) held a null text or id list and were read as empty documents")
    if meta.get("shards_redone"):
        notes.append(f"{meta['shards_redone']} finished shard(s) in the work folder failed their checksum and were "
                     "counted again")
    return notes


@contextlib.contextmanager
def _interruptible(out: Path, work: Optional[Path] = None) -> Iterator[None]:
    """Ctrl-C during a build: one line saying what is left (the work folder kept for a resume, or nothing), exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        kept = work is not None and work.is_dir() and any(work.iterdir())
        typer.echo(f"interrupted; the work folder {work} is kept: rerun the same command to resume (delete it to start "
                   "over)" if kept else f"interrupted; nothing was written to {out}", err=True)
        raise typer.Exit(130) from None


def _note_inputs(files: list[Path], tokenizer: Optional[str]) -> None:
    """Every file the command reads (the shards, the text, the pairs, a tokenizer file) is an input: the output may
    be none of them (through a link or a hard link too: ``check_output_target`` compares the files themselves)."""
    for f in files:
        note_input(f)
    if tokenizer and Path(tokenizer).is_file():
        note_input(tokenizer)


@data_app.command("info")
def info(
    path: str = typer.Argument(..., help="A dataset file, or a built-in corpus name (synthetic, stories)."),
    top: int = typer.Option(5, "--top", help="How many of the most frequent contexts to list."),
    as_json: bool = json_option(),
) -> None:
    """Summarise a dataset: sizes, n, entropy bound, supports, density, most frequent contexts."""
    top = validate.nonneg_int("--top", top, error=NTPDataError)
    data = load_dataset(path)
    s = data.summary(top=top)
    if as_json:
        print_json(s)
        return
    con = Console()
    t = Table(title=f"{path}", show_header=False)
    for key in ("m", "V", "input_vocab_size", "context_len", "n", "entropy_bound", "distinct_supports",
                "mean_support_size", "density", "hash"):
        v = s[key]
        t.add_row(key, f"{v:.6g}" if isinstance(v, float) else str(v))
    t.add_row("support sizes", ", ".join(f"{k}: {c}" for k, c in s["support_size_histogram"].items()))
    t.add_row("source", str(s["meta"].get("source", "?")))
    con.print(t)
    if s["top_contexts"]:
        tc = Table(title="most frequent contexts")
        tc.add_column("context")
        tc.add_column("count", justify="right")
        tc.add_column("next tokens (P)")
        for row in s["top_contexts"]:
            tc.add_row(row["context"], str(row["count"]), ", ".join(f"{k} {p:.3g}" for k, p in row["next"].items()))
        con.print(tc)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
