"""Text files and documents: reading UTF-8 text with clear errors, and splitting it into documents."""

from __future__ import annotations

import re
from pathlib import Path

from .. import validate
from .._io import note_input, os_reason
from ..errors import NTPDataError

BOM = "\ufeff"


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, with clear errors for a missing file, a folder or device, or another encoding.

    A leading UTF-8 byte-order mark is dropped (it is an encoding marker, never text).
    """
    path = validate.input_file("text file", path, error=NTPDataError)
    note_input(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NTPDataError(f"cannot read {path}: {os_reason(exc)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NTPDataError(
            f"{path} is not valid UTF-8 (bad byte at offset {exc.start}); convert it first, "
            "e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`"
        ) from exc
    return text.removeprefix(BOM)


def split_documents(text: str, doc_sep: str = "blank") -> list[str]:
    """Split text into documents: ``"blank"`` (blank lines), ``"line"`` (each line), ``"none"`` (one document) or a
    literal separator string. Byte-order marks (U+FEFF, e.g. from concatenated files) are removed: never a token."""
    text = text.replace(BOM, "")
    if doc_sep == "blank":
        docs = re.split(r"\n[ \t\r\f\v]*\n", text)
    elif doc_sep == "line":
        docs = text.splitlines()
    elif doc_sep == "none":
        docs = [text]
    elif doc_sep:
        docs = text.split(doc_sep)
    else:
        raise NTPDataError("doc_sep must be 'blank', 'line', 'none' or a non-empty separator string")
    return [d for d in docs if d.strip()]
