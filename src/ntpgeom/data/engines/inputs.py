"""Which files a sharded build reads: files, globs and dataset folders expanded into shards, deterministically.

- A glob is expanded without following symbolic links to folders when it recurses (``**``): a link loop
  (``tree/a/loop -> ..``) cannot make it run forever. A link named directly, or matched by a pattern, is read.
- In a folder (say a Hugging Face dataset saved on disk) the shards are the files of ONE kind: the kind with the most
  files, where plain text (``.txt``/``.text``) counts only when the folder holds no Parquet, Arrow or JSONL file
  (ties: Parquet, then Arrow, then JSONL). So a README.txt or LICENSE.txt beside Parquet shards is never counted as
  training text; every file of another kind left out is listed as skipped. ``.json`` files in a folder are metadata.
- :func:`input_files` lists every file a build would read (no Parquet metadata is opened), so the command line can
  refuse an output path that is one of its inputs before any work is done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ...errors import NTPDataError
from .readers import SUFFIX_KIND, Shard, file_shards

#: folder kinds in order of precedence on ties
_FOLDER_KINDS = ("parquet", "arrow", "jsonl", "text")


def input_files(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """The files of ``paths`` (files, globs, dataset folders), sorted per item and deduplicated, and the messages of
    the folder files left out (another kind than the folder's shards)."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise NTPDataError("no input given; pass one or more files, globs or dataset folders")
    files: list[Path] = []
    left_out: list[str] = []
    for item in items:
        s = str(item)
        if any(c in s for c in "*?["):
            hits = safe_glob(s)
            if not hits:
                raise NTPDataError(f"the pattern {s!r} matches no file; check the path and quote the glob")
            files += hits
        elif Path(s).is_dir():
            found, other = folder_shards(Path(s))
            files += found
            left_out += other
        elif Path(s).is_file():
            files.append(Path(s))
        else:
            raise NTPDataError(f"input not found: {s}; give existing files, globs or dataset folders")
    return list(dict.fromkeys(files)), left_out


def discover(paths: str | os.PathLike | Sequence[str | os.PathLike], skip_bad: bool = False) -> tuple[list[Shard], list[str]]:
    """Expand files, globs and dataset folders into shards (sorted, deterministic). Returns (shards, skipped): the
    skipped are unreadable files (with ``skip_bad``; else the first one raises) and folder files of another kind."""
    files, skipped = input_files(paths)
    shards: list[Shard] = []
    for f in files:
        try:
            shards += file_shards(f)
        except NTPDataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
    return shards, skipped


def folder_shards(folder: Path) -> tuple[list[Path], list[str]]:
    """The shard files of a dataset folder (recursively, not through links to folders) and the messages of the
    data files of other kinds left out (see the module docstring)."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIX_KIND
                   and p.suffix.lower() != ".json")
    if not found:
        raise NTPDataError(f"the folder {folder} holds no .parquet/.arrow/.jsonl/.txt file")
    by_kind: dict[str, list[Path]] = {k: [] for k in _FOLDER_KINDS}
    for p in found:
        by_kind[SUFFIX_KIND[p.suffix.lower()]].append(p)
    structured = [k for k in _FOLDER_KINDS[:-1] if by_kind[k]]
    kind = max(structured, key=lambda k: (len(by_kind[k]), -_FOLDER_KINDS.index(k))) if structured else "text"
    other = [p for p in found if SUFFIX_KIND[p.suffix.lower()] != kind]
    why = f"not a shard: the folder {folder} is read as its {len(by_kind[kind])} {kind} file(s)"
    return by_kind[kind], [f"{p} ({why}; name the file to read it)" for p in other]


def safe_glob(pattern: str) -> list[Path]:
    """The files matching ``pattern``, sorted; ``**`` recurses without following links to folders (no loops).
    Hidden names (a leading dot) match only a pattern part that starts with a dot, as :func:`glob.glob`."""
    parts = Path(pattern).parts
    k = next(i for i, part in enumerate(parts) if any(c in part for c in "*?["))
    root = Path(*parts[:k]) if k else Path(".")
    rest = parts[k:]
    if not root.is_dir():
        return []
    dotted = any(part.startswith(".") for part in rest)
    out = []
    for hit in root.glob("/".join(rest)):
        if not dotted and any(name.startswith(".") for name in hit.relative_to(root).parts):
            continue
        if hit.is_file():
            out.append(hit)
    return sorted(out)
