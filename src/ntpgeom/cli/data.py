"""``ntpgeom data``: build, generate and inspect NTP datasets."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .. import data as D
from .. import validate
from .._io import check_output_target
from ..data.prefixes import parse_lengths
from ..errors import NTPDataError
from ._common import load_dataset, print_json, stages

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
    out: Path = typer.Option(..., "-o", "--out", help="Output dataset file (.npz)."),
    V: int = typer.Option(10, "--V", help="Vocabulary size (random, k-subsets, one-hot)."),
    m: int = typer.Option(95, "--m", help="Number of contexts (random)."),
    k: int = typer.Option(2, "--k", help="Support size (k-subsets)."),
    kmin: int = typer.Option(1, "--kmin", help="Smallest support size (random)."),
    kmax: int = typer.Option(5, "--kmax", help="Largest support size (random)."),
    n_supports: Optional[int] = typer.Option(None, "--n-supports", help="Pool of distinct supports shared by contexts (random)."),
    probs: str = typer.Option("dirichlet", "--probs", help="uniform | dirichlet | counts (random, k-subsets)."),
    per_class: str = typer.Option("1", "--per-class", help="Contexts per class (one-hot): one int, or V comma-separated ints."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
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


@data_app.command("build")
def build(
    text: Optional[list[Path]] = typer.Argument(None, help="A UTF-8 text file (or give --pairs); or files, globs, folders of shards (.parquet .arrow .jsonl .txt; see --engine)."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="A CSV/TSV of context, next, count rows instead of text."),
    header: str = typer.Option("auto", "--header", help="Pairs file header row: auto (only a row naming the columns "
                               "context,next[,count]) | yes | no. A non-numeric count elsewhere is an error."),
    out: Path = typer.Option(..., "-o", "--out", help="Output dataset file (.npz)."),
    context_len: str = typer.Option("5", "--context-len", "-T", help="Tokens per context (T-1), or a range lo:hi: "
                                    "the contexts of every length lo..hi (autoregressive, App. D.3)."),
    tokenizer: str = typer.Option("word", "--tokenizer", help="word | char | bpe:<vocab size> | path to a tokenizers JSON."),
    doc_sep: str = typer.Option("blank", "--doc-sep", help="Document separator: blank | line | none | a literal string."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase the text first."),
    min_count: Optional[float] = typer.Option(None, "--min-count", help="Keep contexts seen at least this often."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Keep the k most frequent contexts."),
    min_support: Optional[int] = typer.Option(None, "--min-support", help="Smallest support size kept."),
    max_support: Optional[int] = typer.Option(None, "--max-support", help="Largest support size kept."),
    max_vocab: Optional[int] = typer.Option(None, "--max-vocab", help="Keep only the most frequent next tokens."),
    rare: str = typer.Option("drop", "--rare", help="What to do with the other next tokens: drop | map (to <unk>)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="Streaming sharded build: local (in-process; the default for several inputs, globs, folders, .parquet/.arrow/.jsonl) | ray."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join (--engine ray); default: a local Ray instance."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Folder for intermediate files (default: OUT.work); rerun the same command to resume; removed on success."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for --engine local (default: all cores when the input exceeds 64 MiB, else 1)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable shards (listed on stderr) instead of failing."),
    text_column: str = typer.Option("text", "--text-column", help="Text column / JSON field of Parquet, Arrow and JSONL shards."),
    ids_column: Optional[str] = typer.Option(None, "--ids-column", help="A pre-tokenised list<int> column / field instead of text."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Count the NTP statistics of a text corpus (or a pairs file) and save them."""
    clen = validate.positive_int("--context-len", int(context_len), error=NTPDataError) \
        if context_len.strip().isdigit() else parse_lengths(context_len, "--context-len")  # a range lo:hi (App. D.3)
    if pairs is None and _sharded(text, engine, ids_column):
        if not isinstance(clen, int):
            raise NTPDataError("--context-len lo:hi (every length) needs one text file; the streaming engines count "
                               "one context length")
        opts = dict(min_count=min_count, top_k=top_k, min_support=min_support, max_support=max_support,
                    max_vocab=max_vocab, rare=rare, context_len=clen, tokenizer=tokenizer, doc_sep=doc_sep,
                    lowercase=lowercase, engine=engine or "local", ray_address=ray_address, skip_bad=skip_bad, workers=workers,
                    text_column=text_column, ids_column=ids_column)
        return _report(_build_sharded(text, out, work_dir, as_json, opts), out, as_json)
    text = text[0] if text else None
    filters = dict(min_count=min_count, top_k=top_k, min_support=min_support, max_support=max_support,
                   max_vocab=max_vocab, rare=rare if max_vocab is not None else None)
    if (text is None) == (pairs is None):
        raise NTPDataError("give either a TEXT file or --pairs CSV (exactly one)")
    check_output_target(out)
    with stages(not as_json) as say:
        if pairs is not None:
            say("reading pairs")
            has_header = {"auto": None, "yes": True, "no": False}[validate.choice("--header", header, ("auto", "yes", "no"),
                                                                                    error=NTPDataError)]
            data = D.from_pairs(pairs, header=has_header, **filters)
        else:
            data = D.from_text(text, clen, tokenizer, doc_sep=doc_sep, lowercase=lowercase, progress=say, **filters)
        say("writing")
        data.save(out)
    _report(data, out, as_json)


_SHARD_SUFFIXES = (".parquet", ".pq", ".jsonl", ".ndjson", ".arrow")


def _sharded(inputs: Optional[list[Path]], engine: Optional[str], ids_column: Optional[str]) -> bool:
    """Use the streaming engines: asked for, or several inputs, a glob, a folder or a shard format."""
    if not inputs:
        return False
    first = inputs[0]
    return (engine is not None or ids_column is not None or len(inputs) > 1 or first.is_dir()
            or any(c in str(first) for c in "*?[") or first.suffix.lower() in _SHARD_SUFFIXES)


def _build_sharded(inputs: list[Path], out: Path, work_dir: Optional[Path], as_json: bool, opts: dict) -> D.NTPData:
    from ..data.engines import build_corpus

    check_output_target(out)
    if opts["max_vocab"] is None:
        opts["rare"] = None
    with stages(not as_json) as say:
        data = build_corpus([str(p) for p in inputs], work_dir=work_dir or out.with_name(out.name + ".work"),
                            progress=say, **opts)
        say("writing")
        data.save(out)
    for msg in data.meta.get("skipped", []):
        typer.echo(f"skipped: {msg}", err=True)
    return data


@data_app.command("info")
def info(
    path: str = typer.Argument(..., help="A dataset file, or a built-in corpus name (synthetic, stories)."),
    top: int = typer.Option(5, "--top", help="How many of the most frequent contexts to list."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
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
