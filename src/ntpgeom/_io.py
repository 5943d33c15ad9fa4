"""Small I/O helpers shared by every layer: atomic writes, hashing, run provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ._json import loads_json
from ._lock import pid_alive


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()

# ----------------------------------------------------------------------------- the one writer
# Inputs read while a command runs (see guard_inputs): the writer refuses to replace any of them.
_INPUTS: list[set[tuple[int, int]]] = []


@contextlib.contextmanager
def guard_inputs() -> Iterator[None]:
    """While active, every file read through :func:`note_input` (the loaders do) is protected: writing an output
    onto it raises :class:`~ntpgeom.errors.OutputError` ("output equals input"). The CLI wraps every command in it."""
    _INPUTS.append(set())
    try:
        yield
    finally:
        _INPUTS.pop()


def note_input(path: str | os.PathLike) -> None:
    """Record ``path`` as an input of the running command (no-op outside :func:`guard_inputs`)."""
    if _INPUTS:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            _INPUTS[-1].add((st.st_dev, st.st_ino))


def _is_input(st: os.stat_result) -> bool:
    return bool(_INPUTS) and (st.st_dev, st.st_ino) in _INPUTS[-1]


def os_reason(exc: OSError) -> str:
    """A short human reason for an OSError ("read-only file system", "no space left on device", ...)."""
    if exc.errno is not None:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def check_output_target(path: str | os.PathLike) -> Path:
    """Check that ``path`` may receive an output; return the path the writer replaces (symlinks to a regular file are
    written through, i.e. the link's target is replaced and the link kept).

    Refused with :class:`~ntpgeom.errors.OutputError`: a folder, a device node, FIFO or socket (or a link to one),
    a dangling link, and, inside :func:`guard_inputs`, a file the command reads as input.
    """
    from .errors import OutputError

    path = Path(path)
    try:
        target = path.resolve() if path.is_symlink() else path
        if path.is_symlink() and not target.exists():
            raise OutputError(f"cannot write {path}: it is a link to {target}, which does not exist; remove the link")
        st = os.stat(target) if target.exists() else None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {os_reason(exc)}") from None
    if st is None:
        return target
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {path}: it is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"refusing to write {path}: it is a {_kind(st.st_mode)}, not a regular file; choose a file path")
    if _is_input(st):
        raise OutputError(f"refusing to write {path}: it is also an input of this command; choose another output path")
    return target


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """The one writer of every ntpgeom output: yield a temporary path in the target's folder; when the block ends,
    fsync it and rename it onto ``path``; on any failure delete it and leave ``path`` as it was.

    Readers never see a half-written file: either the old content or the complete new one. The target must be a
    regular file or nothing (:func:`check_output_target`). Any ``OSError`` (read-only or full file system, a name
    too long, permissions) becomes one :class:`~ntpgeom.errors.OutputError` naming the path and the reason.
    """
    from .errors import OutputError

    path = Path(path)
    target = check_output_target(path)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stem = f".{target.name[:64]}.ntpgeom-"
        _sweep_stale(target.parent, stem)
        fd, tmp = tempfile.mkstemp(prefix=f"{stem}{os.getpid()}.", suffix=".tmp" + suffix, dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        if tmp_path.is_file():
            os.chmod(tmp_path, _FILE_MODE)  # mkstemp creates 0600; give the file the usual permissions
            _fsync(tmp_path)
        check_output_target(path)  # the target may have changed while we wrote
        os.replace(tmp_path, target)
        tmp_path = None
        with contextlib.suppress(OSError):
            _fsync(target.parent, directory=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {os_reason(exc)}") from None
    finally:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()


def _sweep_stale(folder: Path, stem: str) -> None:
    """Delete temporaries of earlier writes to the same target whose process is gone (killed with -9, power loss):
    names are ``<stem><pid>.<random>.tmp*``; a temporary of a live process is left alone."""
    with contextlib.suppress(OSError):
        for f in folder.iterdir():
            name = f.name
            if not (name.startswith(stem) and ".tmp" in name):
                continue
            pid = name[len(stem):].split(".", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                with contextlib.suppress(OSError):
                    f.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def save_work_arrays(path: str | os.PathLike, **arrays: Any) -> None:
    """Intermediate arrays of a resumable job, into a private staging folder that the job publishes whole with
    :func:`publish_dir`. Plain ``np.savez`` (no pickle, no per-file fsync: the folder rename and the job's record of
    finished shards carry the crash safety); any ``OSError`` becomes an ``OutputError``."""
    import numpy as np

    from .errors import OutputError

    try:
        np.savez(path, **arrays)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {os_reason(exc)}") from None


def publish_dir(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename a finished staging folder onto ``final`` (which must not exist or be an empty folder)."""
    from .errors import OutputError

    try:
        os.replace(tmp, final)
    except OSError as exc:
        raise OutputError(f"cannot publish {final}: {os_reason(exc)}") from None


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON (NaN/inf become null) to ``path`` atomically."""
    from .jsonable import dumps

    return write_text_atomic(path, dumps(obj, indent=2, sort_keys=True) + "\n")


def write_json_in_place(path: str | os.PathLike, obj: Any) -> Path:
    """Last resort when :func:`write_json_atomic` failed for lack of space: rewrite an existing file in place
    (truncated first, its freed blocks hold the new text). Not atomic; for a small status file only."""
    from .jsonable import dumps

    with open(path, "r+", encoding="utf-8") as fh:
        fh.truncate(0)
        fh.write(dumps(obj, indent=2, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def _json_default(o: Any) -> Any:
    """``default=`` hook of the header JSON in :func:`save_npz` and :func:`content_hash` (numpy scalars, paths, enums
    through :func:`ntpgeom.jsonable.to_jsonable`)."""
    from .jsonable import to_jsonable

    return to_jsonable(o)


def sha256_update_array(h: "hashlib._Hash", a: Any) -> None:
    """Feed an array's dtype, shape and bytes into a hash object."""
    import numpy as np

    a = np.ascontiguousarray(a)
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    try:
        h.update(memoryview(a.reshape(-1)).cast("B") if a.size else b"")  # the bytes, without a copy
    except (ValueError, TypeError):  # a dtype without a buffer format (datetime, structured)
        h.update(a.tobytes())


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python, ntpgeom and the numerical libraries (plus the ``extra`` packages installed), for
    provenance records."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("ntpgeom", "numpy", "scipy", "torch", "tokenizers", "cvxpy", *extra):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def content_hash(header: dict[str, Any], arrays: dict[str, Any]) -> str:
    """SHA-256 (hex) of a file's header (without its ``content_hash`` entry) and every array (name, dtype, shape,
    bytes, in name order): what :func:`save_npz` stores and :func:`load_npz` verifies."""
    h = hashlib.sha256()
    rest = {k: v for k, v in header.items() if k != "content_hash"}
    h.update(json.dumps(rest, sort_keys=True, ensure_ascii=False, default=_json_default).encode("utf-8"))
    for name in sorted(arrays):
        h.update(name.encode("utf-8"))
        sha256_update_array(h, arrays[name])
    return h.hexdigest()


def save_npz(path: str | os.PathLike, header: dict[str, Any], arrays: dict[str, Any], compress: bool = True,
             hash_arrays: bool = True, level: int = 6) -> Path:
    """Write ``arrays`` and a JSON ``header`` (which names the format and its version) to one ``.npz``, atomically.

    The header is stored with the list of arrays and a :func:`content_hash` of everything, which :func:`load_npz`
    verifies. ``hash_arrays=False``: the content hash covers the header only (marked ``"content_hash_covers":
    "header"``), for a file kind whose header holds its own hash of every array's content, which its loader checks
    (a dataset: one SHA-256 pass on save instead of two). Arrays must be plain numeric/bool arrays (no object arrays:
    they would need pickle). ``level``: the zlib level when compressed (1 writes ~6x faster than 6, files ~10 %
    larger; any level loads the same). Raises ``TypeError`` if the header is not JSON-serialisable (numpy scalars,
    arrays and paths are converted).
    """
    import numpy as np

    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, a in arrays.items():
        if a.dtype.hasobject:
            raise TypeError(f"array {k!r} has dtype object; ntpgeom files hold numeric arrays only")
    full = {**{k: v for k, v in header.items() if k != "content_hash_covers"}, "arrays": sorted(arrays),
            **({} if hash_arrays else {"content_hash_covers": HEADER_ONLY})}
    # hash the header as load_npz will read it back: JSON turns non-string keys (e.g. {10: ...}) into strings, which
    # sort differently, so a hash of the in-memory header would not verify (numbers >= 10 as keys)
    full = json.loads(json.dumps(full, ensure_ascii=False, default=_json_default))
    full["content_hash"] = content_hash(full, arrays if hash_arrays else {})
    blob = json.dumps(full, ensure_ascii=False, default=_json_default).encode("utf-8")
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            _write_npz(fh, {"header": np.frombuffer(blob, dtype=np.uint8), **arrays}, compress, level)
    return path


def _write_npz(fh: Any, arrays: dict[str, Any], compress: bool, level: int) -> None:
    """``np.savez``/``np.savez_compressed`` (the same archive: one ``NAME.npy`` member per array, zip64), with the
    zlib level chosen."""
    import zipfile

    from numpy.lib import format as npy

    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=mode, compresslevel=level if compress else None, allowZip64=True) as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                npy.write_array(member, a, allow_pickle=False)


def _read_npz(path: Path, what: str) -> dict[str, Any]:
    """Every array of an .npz (no pickle); any decoding failure becomes one FormatError."""
    import struct
    import tokenize
    import zipfile
    import zlib

    import numpy as np

    from .errors import FormatError

    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise ValueError("a bare .npy array, not an .npz archive")
        with z:
            return {k: z[k] for k in z.files}
    except OSError as exc:
        if exc.errno is not None:  # the file system refused (permissions, I/O error), not the content
            raise FormatError(f"cannot read {path}: {os_reason(exc)}") from None
        raise FormatError(f"{path} is not a readable ntpgeom {what} (corrupt or truncated: {_first_line(exc)})") from None
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, NotImplementedError, KeyError, struct.error,
            MemoryError, SyntaxError, tokenize.TokenError,  # these two: a damaged .npy header dict
            RuntimeError) as exc:  # zipfile: a member flagged "encrypted" (one flipped bit); ntpgeom never encrypts
        reason = "it holds pickled objects, which ntpgeom never loads" if "pickle" in str(exc) else _first_line(exc)
        raise FormatError(f"{path} is not a readable ntpgeom {what} (corrupt, truncated or not an .npz file: {reason})") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


#: ``content_hash_covers`` of a file whose content hash covers its header only (see :func:`save_npz`)
HEADER_ONLY = "header"


def load_npz(path: str | os.PathLike, format_name: str, version: int, what: str, remedy: str,
             arrays_verified: bool = False) -> tuple[dict, dict]:
    """The one reader of ntpgeom ``.npz`` files (written by :func:`save_npz`); returns ``(header, arrays)``.

    Checks that the file exists and is a regular file, is a readable ``.npz`` (``allow_pickle=False``) with a JSON
    header, holds ``format_name`` in format ``version``, lists exactly the arrays it holds and matches its
    :func:`content_hash`; otherwise raises :class:`~ntpgeom.errors.FormatError` naming ``what`` the file should be and
    the ``remedy`` (e.g. the command that recreates it). Structural checks of the arrays belong to each file kind's
    own loader, which runs them before using any array. ``arrays_verified``: the caller checks every array against
    a hash its header holds, so a file whose content hash covers the header only is accepted (else refused).
    """
    from .errors import FormatError

    path = Path(path)
    if not path.exists():
        raise FormatError(f"{what} file not found: {path}; {remedy}")
    if not path.is_file():
        raise FormatError(f"{path} is not a regular file (a folder or device), not an ntpgeom {what}; {remedy}")
    note_input(path)
    arrays = _read_npz(path, what)
    if "header" not in arrays:
        raise FormatError(f"{path} is an .npz file but not an ntpgeom {what} (no header); {remedy}")
    try:
        header = loads_json(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise FormatError(f"{path}: the {what} header is corrupt ({exc})") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path}: the {what} header is not a JSON object (corrupt file)")
    if header.get("format") != format_name:
        raise FormatError(f"{path} holds {header.get('format')!r}, not an ntpgeom {what}")
    if header.get("version") != version:
        raise FormatError(
            f"{path} has {what} format version {header.get('version')}, this ntpgeom reads version {version}; {remedy}"
        )
    if "content_hash" not in header:
        raise FormatError(f"{path} carries no content hash (written by an older ntpgeom, or tampered with); {remedy}")
    if header.get("arrays") != sorted(arrays):
        raise FormatError(f"{path}: the file lists arrays {header.get('arrays')} but holds {sorted(arrays)} (corrupt)")
    header_only = header.get("content_hash_covers") == HEADER_ONLY
    if header_only and not arrays_verified:
        raise FormatError(f"{path}: the {what}'s arrays carry no content hash (corrupt file); {remedy}")
    if content_hash(header, {} if header_only else arrays) != header["content_hash"]:
        raise FormatError(f"{path}: content hash mismatch, the {what} is corrupt or was modified; {remedy}")
    return header, arrays
