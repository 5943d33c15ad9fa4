"""A zip "encrypted" flag flipped in an .npz (one bit, in the local or the central header) is one FormatError
(issue 24, low): was an uncaught ``RuntimeError: File 'header.npy' is encrypted, password required``."""

from __future__ import annotations

import pytest

import ntpgeom as g
from ntpgeom.errors import FormatError


@pytest.mark.parametrize("where", ["central", "both"])
def test_encrypted_flag_is_a_format_error(tmp_path, where):
    path = g.corpora.synthetic().save(tmp_path / "d.npz")
    raw = bytearray(path.read_bytes())
    if where in ("central", "both"):
        raw[raw.index(b"PK\x01\x02") + 8] |= 1  # general-purpose flag of the first central-directory entry
    if where in ("local", "both"):
        raw[raw.index(b"PK\x03\x04") + 6] |= 1  # ... of the first local file header
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="corrupt"):
        g.load(path)


def test_local_flag_alone_is_ignored_and_the_content_still_verified(tmp_path):
    """zipfile reads the flag from the central directory: a flip in the local header alone changes nothing read (the
    content hash still verifies the same dataset)."""
    d = g.corpora.synthetic()
    path = d.save(tmp_path / "d.npz")
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"PK\x03\x04") + 6] |= 1
    path.write_bytes(bytes(raw))
    assert g.load(path).hash == d.hash
