"""A counting job's work folder: its layout, the checksums of its pieces and its single-writer lock.

Layout (every file written atomically; a shard's folder appears by one rename once complete)::

    manifest.json                 the job (context length, reader settings, partitions, shard list)
    shards/<i>/record.json        tokens, documents, windows and largest id of shard i; the CRC-32 of every file
                                  of the shard and of the record itself (checked on resume: a damaged shard is
                                  counted again)
    shards/<i>/next.npz           its next-token totals (ids, counts)
    shards/<i>/<c>-ck.bin ...     chunk c's pre-aggregated rows grouped by the hash partition of their context:
                                  packed contexts (ck) or id rows (ctx), next ids (nxt), counts (cnt), and each
                                  partition's bounds (bounds): a merge reads only its slice, by offset

A rerun with the same work folder and job skips the shards whose folder exists and passes its checksums (resume
after a crash); ``vocab.json``/``bpe.json`` (first passes) carry a ``.crc32`` beside them, and are redone when it
fails.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..._io import folder_lock, write_json_atomic, write_text_atomic
from ...errors import NTPDataError

MANIFEST = "ntpgeom.work/3"
LOCK = ".ntpgeom-lock"


class WorkDir:
    """A job's work folder (see the module docstring)."""

    def __init__(self, root: Path, job: dict):
        self.root = Path(root)
        self.job = job
        self.shards = self.root / "shards"
        self._records: dict[int, dict] = {}

    def open(self) -> None:
        """Create the folder, or check that an existing one holds the same job (else a clear error)."""
        man = self.root / "manifest.json"
        if man.is_file():
            try:
                old = json.loads(man.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise NTPDataError(f"{man} is unreadable ({exc}); remove the work folder {self.root}") from exc
            if old != self.job:
                raise NTPDataError(f"the work folder {self.root} holds another job (different inputs or settings); "
                                   "remove it or choose another --work-dir")
        else:
            if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                raise NTPDataError(f"the work folder {self.root} exists and is not an ntpgeom work folder (it is "
                                   "removed on success); give a new or empty folder")
            self.shards.mkdir(parents=True, exist_ok=True)
            write_json_atomic(man, self.job)
        self.shards.mkdir(parents=True, exist_ok=True)

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

    def shard_dir(self, i: int) -> Path:
        return self.shards / f"{i:06d}"

    def done(self, i: int) -> bool:
        return (self.shard_dir(i) / "record.json").is_file()

    def intact(self, i: int) -> bool:
        """Whether finished shard i is as written: its record's own CRC-32 and that of every file it lists."""
        folder = self.shard_dir(i)
        try:
            rec = json.loads((folder / "record.json").read_text(encoding="utf-8"))
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

    def record(self, i: int) -> dict:
        return json.loads((self.shard_dir(i) / "record.json").read_text(encoding="utf-8"))

    def next_totals(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.shard_dir(i) / "next.npz", allow_pickle=False) as z:
            return z["ids"], z["counts"]

    def seen_ids(self, i: int) -> np.ndarray:
        """The distinct token ids of shard i (sorted)."""
        with np.load(self.shard_dir(i) / "next.npz", allow_pickle=False) as z:
            return z["seen"]

    def pieces(self, i: int, p: int) -> list[tuple]:
        """Shard i's rows in partition p, one piece per chunk: ``("packed", b, ck, nxt, cnt)`` or
        ``("rows", None, ctx, nxt, cnt)`` (read by offset: memory is the piece, never the whole shard file)."""
        if i not in self._records:  # small (bounds live in their own file): memory ~ shards, not shards x partitions
            self._records[i] = self.record(i)
        out = []
        for c, ch in enumerate(self._records[i]["chunks"]):
            lo, hi = (int(x) for x in np.fromfile(self.shard_dir(i) / f"{c:05d}-bounds.bin", dtype=np.int64, count=2,
                                                  offset=8 * p))
            if hi == lo:
                continue
            a = {}
            for name, dt in ch["dtypes"].items():
                width = ch["shape"][1] if name == "ctx" else 1
                dt = np.dtype(dt)
                a[name] = np.fromfile(self.shard_dir(i) / f"{c:05d}-{name}.bin", dtype=dt, count=(hi - lo) * width,
                                      offset=lo * width * dt.itemsize)
            if ch["kind"] == "packed":
                out.append(("packed", ch["b"], a["ck"], a["nxt"], a["cnt"]))
            else:
                out.append(("rows", None, a["ctx"].reshape(hi - lo, -1).astype(np.int64), a["nxt"], a["cnt"]))
        return out

    def remove(self) -> None:
        """Delete this job's files (on success); the folder itself too when nothing else is left in it."""
        shutil.rmtree(self.shards, ignore_errors=True)
        shutil.rmtree(self.root / "reduced", ignore_errors=True)
        for name in ("vocab.json", "bpe.json"):
            (self.root / name).unlink(missing_ok=True)
            (self.root / f"{name}.crc32").unlink(missing_ok=True)
        (self.root / "manifest.json").unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:
            pass


def file_crc(path: Path) -> str:
    """CRC-32 of a file, hex (detects any flipped bit or burst up to 32 bits; read in 4 MiB blocks)."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def text_crc(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8')):08x}"
