"""Hugging Face dataset names as corpus inputs, read from the local cache only (never a download).

``ntpgeom data build roneneldan/TinyStories --split train -T 5 -o ts.npz`` counts a dataset that ``datasets`` has
cached on this machine: :func:`resolve_inputs` replaces every input that is not a file, glob or folder but names a
dataset by that dataset's cached Arrow files (one split), which the streaming engines then read like any other
shards. Resolution runs ``datasets`` in offline mode (``HF_DATASETS_OFFLINE=1``, ``HF_HUB_OFFLINE=1``): a dataset that
is not in the cache is an :class:`~ntpgeom.errors.NTPDataError`, not a download. ``--split`` also picks a split of
a ``DatasetDict`` saved with ``save_to_disk`` (its ``<folder>/<split>/``). ``datasets`` is optional (the ``hub``
extra); without it a dataset name is a clear error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from ...errors import NTPDataError

__all__ = ["is_dataset_name", "resolve_inputs", "cached_dataset_files"]

#: ``name`` or ``owner/name`` as the Hub spells them (letters, digits, ``-``, ``_``, ``.``)
_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
#: a missing input with one of these suffixes is a missing file, not a dataset name
_FILE_SUFFIXES = {".txt", ".text", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".arrow", ".csv", ".tsv", ".npz"}


def is_dataset_name(item: str | os.PathLike) -> bool:
    """Whether ``item`` reads as a Hugging Face dataset name: no such path, no glob, ``[owner/]name`` without a file
    suffix."""
    s = str(item)
    if Path(s).exists() or any(c in s for c in "*?[") or not _NAME.match(s):
        return False
    return Path(s).suffix.lower() not in _FILE_SUFFIXES


def _offline_datasets() -> Any:
    os.environ["HF_DATASETS_OFFLINE"] = "1"  # read when `datasets` is first imported ...
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import datasets
    except ImportError as exc:
        raise NTPDataError("reading a Hugging Face dataset by name needs the datasets package: "
                           "pip install 'ntpgeom[hub]' (or give the dataset's files or folder)") from exc
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # ... and forced here if it was imported before
        if hasattr(datasets.config, flag):
            setattr(datasets.config, flag, True)
    return datasets


def cached_dataset_files(name: str, split: str | None = None, cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """The cached Arrow files of one split of the Hugging Face dataset ``name``, offline.

    Parameters
    ----------
    name : str
        ``owner/name`` (or ``name``) of a dataset already in the local ``datasets`` cache.
    split : str, optional
        The split to read; may be omitted when the dataset has one split.
    cache_dir : path, optional
        The ``datasets`` cache (default: ``HF_DATASETS_CACHE`` or ``~/.cache/huggingface/datasets``).

    Returns
    -------
    list of Path
        The split's ``.arrow`` files, in order.

    Raises
    ------
    NTPDataError
        ``datasets`` is not installed, the dataset or the split is not in the cache (nothing is downloaded), or
        several splits are cached and none was chosen.

    Examples
    --------
    >>> cached_dataset_files("roneneldan/TinyStories", split="validation")  # doctest: +SKIP
    [PosixPath('.../roneneldan___tiny_stories/default/0.0.0/.../tiny_stories-validation.arrow')]
    """
    ds_lib = _offline_datasets()
    cache = str(cache_dir) if cache_dir is not None else os.environ.get("HF_DATASETS_CACHE")
    try:
        ds = ds_lib.load_dataset(name, split=split, cache_dir=cache)
    except Exception as exc:  # datasets raises ConnectionError, FileNotFoundError, ValueError ... for a cache miss
        where = cache or "the default datasets cache"
        raise NTPDataError(f"{name!r}{f' split {split!r}' if split else ''} is not in the local Hugging Face cache "
                           f"({where}): {type(exc).__name__}: {exc}. ntpgeom never downloads; load it once with "
                           "datasets.load_dataset on a machine with network, or give its files") from None
    if isinstance(ds, ds_lib.DatasetDict):
        if len(ds) != 1:
            raise NTPDataError(f"{name!r} has the splits {sorted(ds)}; choose one with --split")
        ds = next(iter(ds.values()))
    files = [Path(f["filename"]) for f in ds.cache_files]
    if not files:
        raise NTPDataError(f"{name!r} is held in memory by datasets, not in cached files; save it with save_to_disk")
    return files


def _saved_split(folder: Path, split: str) -> Path:
    """``<folder>/<split>`` of a ``DatasetDict`` saved with ``save_to_disk`` (checked)."""
    if not (folder / "dataset_dict.json").is_file():
        raise NTPDataError(f"--split {split!r}: {folder} is not a dataset dictionary saved with save_to_disk "
                           "(no dataset_dict.json)")
    if not (folder / split).is_dir():
        splits = sorted(p.name for p in folder.iterdir() if p.is_dir())
        raise NTPDataError(f"{folder} has no split {split!r}; its splits: {splits}")
    return folder / split


def resolve_inputs(inputs: Sequence[str | os.PathLike], split: str | None = None,
                   cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Replace dataset names by their cached Arrow files and saved dataset dictionaries by their ``split`` folder.

    Parameters
    ----------
    inputs : sequence of paths or names
        Files, globs, folders (passed through) and Hugging Face dataset names (:func:`is_dataset_name`).
    split : str, optional
        The split of every dataset name and every saved ``DatasetDict`` folder.
    cache_dir : path, optional
        The ``datasets`` cache (default: ``HF_DATASETS_CACHE`` or ``datasets``' default).

    Returns
    -------
    list of Path
        The inputs with every dataset replaced by its files (or split folder).

    Raises
    ------
    NTPDataError
        See :func:`cached_dataset_files`; a ``split`` that a saved dataset dictionary does not have, or a ``split``
        with no dataset to apply it to.
    """
    out: list[Path] = []
    used = False
    for item in inputs:
        p = Path(item)
        if is_dataset_name(item):
            out += cached_dataset_files(str(item), split, cache_dir)
        elif split is not None and p.is_dir() and (p / "dataset_dict.json").is_file():
            out.append(_saved_split(p, split))
        else:
            out.append(p)
            continue
        used = True
    if split is not None and not used:
        raise NTPDataError(f"--split {split!r} applies to a Hugging Face dataset name or a dataset dictionary saved "
                           "with save_to_disk; none was given")
    return out
