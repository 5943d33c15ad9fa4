"""(context, next token, count) rows, from a CSV/TSV file or an iterable, to :class:`NTPData`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import scipy.sparse as sp

from ..errors import NTPDataError
from .builders import filter_data, read_text, split_filters
from .counts import parse_count
from .dataset import NTPData

def from_pairs(
    pairs: str | Path | Iterable[tuple[str, str, float] | tuple[str, str]],
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    meta: dict[str, Any] | None = None,
    **filters: Any,
) -> NTPData:
    """Build a dataset from (context, next token, count) triples.

    ``pairs`` is a path to a CSV/TSV file (columns: context, next, count; count optional, default 1) or an iterable
    of tuples. Contexts are whitespace-separated token strings, all of the same length. Repeated (context, next) rows
    are summed.

    Header rule: with ``header=None`` (the default) the first row is a header only if it names the columns, i.e. its
    fields are ``context``, ``next`` (or ``next_token``/``token``/``target``) and, if present, ``count`` (or
    ``weight``/``n``), case-insensitively. ``header=True`` always skips the first row, ``header=False`` never does.
    Any other row whose count is not a plain decimal number is an error naming its line: counts must be finite
    numbers >= 0 written like ``3``, ``2.5`` or ``1e3`` (not ``0x10``, ``three``, ``nan``, ``inf``), at most 2**53.

    Parameters
    ----------
    pairs : path or iterable of tuples
        A CSV/TSV file or ``(context, next[, count])`` tuples.
    delimiter : str, optional
        Default: a tab for ``.tsv`` files, else sniffed (comma, tab or semicolon).
    header : bool, optional
        See the header rule above.
    meta : dict, optional
        Extra provenance stored in ``data.meta``.
    **filters
        See :func:`filter_data`.

    Returns
    -------
    NTPData

    Raises
    ------
    NTPDataError
        A malformed row (named by its line), contexts of different lengths, a bad count or filter.

    Examples
    --------
    >>> import ntpgeom as g
    >>> g.from_pairs([("a b", "c", 2), ("a b", "d", 1), ("b c", "c", 1)]).vocab
    ('c', 'd')
    """
    source = "<pairs>"
    if isinstance(pairs, (str, Path)):
        source = str(pairs)
        records = _read_pairs_file(Path(pairs), delimiter, header)
    else:
        records = [(i, r[0], r[1], r[2] if len(r) == 3 else 1) for i, r in enumerate(pairs, start=1)]
    if not records:
        raise NTPDataError(f"{source} holds no (context, next, count) rows; the corpus is empty")
    ctx_index: dict[tuple[str, ...], int] = {}
    tok_index: dict[str, int] = {}
    nxt_index: dict[str, int] = {}
    cols, rows_, vals = [], [], []
    width = None
    for line, ctx, nxt, cnt in records:
        toks = tuple(str(ctx).split())
        if not toks:
            raise NTPDataError(f"{source}: line {line} has an empty context")
        if width is None:
            width = len(toks)
        elif len(toks) != width:
            raise NTPDataError(f"{source}: line {line} has a context of {len(toks)} tokens, earlier lines have {width}; "
                               "all contexts must have the same length")
        vals.append(parse_count(cnt, f"{source}: line {line}"))
        for t in toks:
            tok_index.setdefault(t, len(tok_index))
        cols.append(ctx_index.setdefault(toks, len(ctx_index)))
        rows_.append(nxt_index.setdefault(str(nxt).strip(), len(nxt_index)))
    C = sp.csc_array((np.array(vals), (np.array(rows_), np.array(cols))), shape=(len(nxt_index), len(ctx_index)))
    contexts = np.array([[tok_index[t] for t in ctx] for ctx in ctx_index], dtype=np.int64)
    data = NTPData(C, list(nxt_index), contexts, list(tok_index), {"source": source, "context_len": width, **(meta or {})})
    f = split_filters(filters)
    return filter_data(data, **f) if f else data


def _read_pairs_file(path: Path, delimiter: str | None, header: bool | None) -> list[tuple[int, str, str, Any]]:
    """(line number, context, next, count) of each non-blank row of a pairs file, the header row (if any) skipped."""
    text = read_text(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") or ("\t" in text.split("\n", 1)[0]) else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [(reader.line_num, r) for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as exc:
        raise NTPDataError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from None
    if rows and (header is True or (header is None and _is_header(rows[0][1]))):
        rows = rows[1:]
    records = []
    for line, r in rows:
        if len(r) not in (2, 3):
            raise NTPDataError(f"{path}: line {line} has {len(r)} fields; each row must be context, next[, count]")
        records.append((line, r[0], r[1], r[2] if len(r) == 3 else 1))
    return records


_HEADER_NAMES = ({"context"}, {"next", "next_token", "token", "target"}, {"count", "weight", "n"})


def _is_header(row: list[str]) -> bool:
    """Whether a first row names the columns (see :func:`from_pairs`): every field is a known column name."""
    return 2 <= len(row) <= 3 and all(f.strip().lower() in names for f, names in zip(row, _HEADER_NAMES))
