"""The probe's output folder: staged whole, published by one rename, replacing only a previous probe.

A probe folder is identified by its marker, ``summary.json`` of format ``ntpgeom.probe`` (:func:`is_probe`), as a
report folder by its ``report.json``. :func:`staged` writes everything (arrays, summary, report) into a hidden
sibling folder and renames it onto ``-o`` at the end, so an interrupted or failed probe (a full disk) leaves the old
folder as it was. An existing non-empty ``-o`` needs ``overwrite``, and even then only a previous probe is
replaced: never a user's folder, and never a folder that is or holds an input (the model, the text, the theory
file, the ``--from`` folder).
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .._io import note_input, os_reason, publish_dir
from .._json import loads_json
from ..data import NTPData
from ..data import load as load_data
from ..errors import FormatError, OutputError, ProbeError

FORMAT_NAME = "ntpgeom.probe"


def is_probe(folder: str | Path) -> bool:
    """Whether ``folder`` holds a probe written by ntpgeom (its ``summary.json`` of format ``ntpgeom.probe``)."""
    try:
        head = loads_json((Path(folder) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(head, dict) and head.get("format") == FORMAT_NAME


def check_out_dir(out_dir: str | Path, inputs: Sequence[str | Path] = (), overwrite: bool = True) -> Path:
    """The probe's output folder, checked before any work: not a file; not an input nor a folder holding one
    (``inputs``); and, when it exists and is not empty, ``overwrite`` given and the folder a previous probe.
    Raises :class:`~ntpgeom.errors.OutputError`."""
    out = Path(out_dir)
    try:
        if out.exists() and not out.is_dir():
            raise OutputError(f"-o {out} is an existing file, not a folder; the probe writes a folder of results: "
                              "choose a new folder name")
        full = out.is_dir() and any(out.iterdir())
        absolute = out.resolve()
        for p in inputs:
            q = Path(p).resolve()
            if absolute == q or absolute in q.parents:
                raise OutputError(f"-o {out} is or holds an input of this probe ({p}); choose an -o folder outside "
                                  "the inputs")
    except OSError as exc:
        raise OutputError(f"cannot use {out} as the output folder: {os_reason(exc)}") from None
    if full and not overwrite:
        raise OutputError(f"-o {out} already exists and is not empty; pass --overwrite (overwrite=True) to replace a "
                          "previous probe, or choose another -o folder")
    if full and not is_probe(out):
        raise OutputError(f"--overwrite replaces only a previous probe, and {out} is not one (no summary.json of an "
                          "ntpgeom probe); choose another -o folder, or move that folder away yourself")
    return out


@contextmanager
def staged(out_dir: str | Path, inputs: Sequence[str | Path] = (), overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out_dir``; when the block ends, publish it onto ``out_dir`` (a previous
    probe there is replaced only now, after the new one is complete); on any failure remove it and leave
    ``out_dir`` as it was. The checks of :func:`check_out_dir` run before and again at the end."""
    out = check_out_dir(out_dir, inputs, overwrite).absolute()
    tmp = out.with_name(f".{out.name}.probe-{time.time_ns()}")
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {os_reason(exc)}") from None
    try:
        yield tmp
        check_out_dir(out, inputs, overwrite)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{time.time_ns()}")
        try:
            out.rename(old)
        except OSError as exc:
            raise OutputError(f"cannot replace {out}: {os_reason(exc)}") from None
    try:
        publish_dir(tmp, out)
    except OutputError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- reading a probe folder
def read_summary(out: Path) -> dict[str, Any]:
    path = out / "summary.json"
    if not path.is_file():
        raise ProbeError(f"{out} lacks summary.json; a probe folder is written by `ntpgeom probe -o`")
    note_input(path)
    try:
        return loads_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} is corrupt ({exc}); rerun `ntpgeom probe`") from None


def read_source(out: Path) -> NTPData:
    if not (out / "data.npz").is_file():
        raise ProbeError(f"{out} lacks data.npz; a probe folder is written by `ntpgeom probe -o`")
    return load_data(out / "data.npz")


def check_probe_arrays(path: Path, a: dict[str, np.ndarray]) -> None:
    need = {"H": 2, "W": 2, "L": 2, "lse": 1, "token_ids": 1}
    for k, nd in need.items():
        if k not in a or a[k].ndim != nd or a[k].dtype.kind not in ("iu" if k == "token_ids" else "f"):
            raise FormatError(f"{path}: array {k!r} is missing or has the wrong type/rank (corrupt probe result)")
    (d, m), (V, d2), L = a["H"].shape, a["W"].shape, a["L"].shape
    ok = d == d2 and L == (V, m) and a["lse"].shape == (m,) and a["token_ids"].shape == (V,)
    if "b" in a:
        ok = ok and a["b"].shape == (V,)
    if "idx" in a:
        ok = ok and a["idx"].shape == (m,) and a["idx"].dtype.kind in "iu"
    if "H_mean" in a or "H_gram" in a:
        ok = ok and a.get("H_mean", np.empty(0)).shape == (d,) and a.get("H_gram", np.empty(0)).shape == (d, d)
    if not ok:
        raise FormatError(f"{path}: array shapes disagree (H {a['H'].shape}, W {a['W'].shape}, L {L}); corrupt probe result")
