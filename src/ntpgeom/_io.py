"""Small I/O helpers shared by every layer: atomic writes, hashing, run provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on failure delete it.

    Readers never see a half-written file: either the old content or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():
            os.chmod(tmp_path, _FILE_MODE)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_update_array(h: "hashlib._Hash", a: Any) -> None:
    """Feed an array's dtype, shape and bytes into a hash object."""
    import numpy as np

    a = np.ascontiguousarray(a)
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
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


def save_npz(path: str | os.PathLike, header: dict[str, Any], arrays: dict[str, Any], compress: bool = True) -> Path:
    """Write ``arrays`` and a JSON ``header`` (which names the format and its version) to one ``.npz``, atomically.

    Raises ``TypeError`` if the header is not JSON-serialisable (numpy scalars, arrays and paths are converted).
    """
    import numpy as np

    blob = json.dumps(header, ensure_ascii=False, default=_json_default).encode("utf-8")
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, header=np.frombuffer(blob, dtype=np.uint8), **arrays)
    return path


def load_npz(path: str | os.PathLike, format_name: str, version: int, what: str, remedy: str) -> tuple[dict, dict]:
    """Read an ``.npz`` written by :func:`save_npz`; return ``(header, arrays)``.

    Checks that the file exists, is a readable ``.npz`` with a JSON header, holds ``format_name`` and has format
    ``version``; otherwise raises :class:`~ntpgeom.errors.FormatError` naming ``what`` the file should be and the
    ``remedy`` (e.g. the command that recreates it).
    """
    import zipfile

    import numpy as np

    from .errors import FormatError

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{what} file not found: {path}; {remedy}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise FormatError(f"{path} is not a readable ntpgeom {what} (corrupt or not an .npz file: {exc})") from exc
    if "header" not in arrays:
        raise FormatError(f"{path} is an .npz file but not an ntpgeom {what} (no header); {remedy}")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: the {what} header is corrupt ({exc})") from exc
    if header.get("format") != format_name:
        raise FormatError(f"{path} holds {header.get('format')!r}, not an ntpgeom {what}")
    if header.get("version") != version:
        raise FormatError(
            f"{path} has {what} format version {header.get('version')}, this ntpgeom reads version {version}; {remedy}"
        )
    return header, arrays
