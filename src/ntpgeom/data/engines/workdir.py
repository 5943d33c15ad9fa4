"""The checks of a counting job's work folder (:class:`~ntpgeom.data.engines.local.WorkDir`, whose docstring has the
layout): the CRC-32 of every piece, written when the piece is created and checked on resume, and the folder's
single-writer lock (the one of run folders, :func:`ntpgeom._lock.folder_lock`).
"""

from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path
from typing import Iterator

from ..._io import write_text_atomic
from ..._json import loads_json
from ..._lock import folder_lock
from ...errors import NTPDataError

LOCK = ".ntpgeom-lock"


class WorkChecks:
    """Checksums and lock of a work folder at ``self.root`` whose finished shards are ``self.shard_dir(i)``."""

    root: Path

    def shard_dir(self, i: int) -> Path:  # the subclass's layout
        raise NotImplementedError

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's single-writer lock (``.ntpgeom-lock``, as a run folder's): a second build into the same
        work folder (the same ``-o``) gets a clear error instead of sharing it. The folder is removed afterwards when
        nothing else is left in it."""
        try:
            with folder_lock(self.root, LOCK, NTPDataError):
                yield
        finally:
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def intact(self, i: int) -> bool:
        """Whether finished shard i is as written: its record's own CRC-32 and that of every file it lists."""
        folder = self.shard_dir(i)
        try:
            rec = loads_json((folder / "record.json").read_text(encoding="utf-8"))
            files = rec["files"]
            return (rec.pop("check") == text_crc(json.dumps(rec, sort_keys=True))
                    and {p.name for p in folder.iterdir()} == {*files, "record.json"}
                    and all(file_crc(folder / name) == crc for name, crc in files.items()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False

    def read_checked(self, name: str) -> str | None:
        """The text of a checksummed work file (vocabulary, BPE tokenizer), or None when absent or damaged."""
        try:
            text = (self.root / name).read_text(encoding="utf-8")
            return text if (self.root / f"{name}.crc32").read_text(encoding="utf-8").strip() == text_crc(text) else None
        except (OSError, ValueError):
            return None

    def write_checked(self, name: str, text: str) -> None:
        """Write a work file and then its CRC-32 (a crash in between leaves it unchecked: it is redone)."""
        (self.root / f"{name}.crc32").unlink(missing_ok=True)
        write_text_atomic(self.root / name, text)
        write_text_atomic(self.root / f"{name}.crc32", text_crc(text) + "\n")


def file_crc(path: Path) -> str:
    """CRC-32 of a file, hex (detects any flipped bit or burst up to 32 bits; read in 4 MiB blocks)."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def text_crc(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8')):08x}"
