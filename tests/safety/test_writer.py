"""The one writer (`ntpgeom._io.atomic_path`) under faults and hostile targets, directly and through the CLI.

Each case checks the contract: one `error:` line naming the path and the reason, exit 2, the previous content intact,
no temporary left behind.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom import _io
from ntpgeom.errors import OutputError

sys.path.insert(0, str(Path(__file__).parent))
from _safety_cli import one_error, run  # noqa: E402



def no_temps(folder):
    return not [p for p in folder.iterdir() if ".tmp" in p.name]


# ----------------------------------------------------------------------------- injected OSErrors at each write step
_STEPS = ["mkstemp", "write", "fsync", "replace"]


def _inject(monkeypatch, step, err):
    def boom(*_a, **_k):
        raise OSError(err, os.strerror(err))

    if step == "mkstemp":
        monkeypatch.setattr(_io.tempfile, "mkstemp", boom)
    elif step == "fsync":
        monkeypatch.setattr(_io.os, "fsync", boom)
    elif step == "replace":
        monkeypatch.setattr(_io.os, "replace", boom)


@pytest.mark.parametrize("err,reason", [(errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system"),
                                        (errno.EACCES, "permission denied"), (errno.EIO, "input/output error")])
@pytest.mark.parametrize("step", _STEPS)
def test_oserror_at_each_write_step_leaves_previous_file(tmp_path, monkeypatch, step, err, reason):
    target = tmp_path / "d.npz"
    g.corpora.synthetic().save(target)
    before = target.read_bytes()
    _inject(monkeypatch, step, err)
    with pytest.raises(OutputError, match=reason) as exc:
        with _io.atomic_path(target) as tmp:
            if step == "write":
                raise OSError(err, os.strerror(err))
            tmp.write_bytes(b"new content")
    assert str(target) in str(exc.value)
    assert target.read_bytes() == before
    assert no_temps(tmp_path)


@pytest.mark.parametrize("cmd", [["data", "synth", "stories"], ["data", "build", "--pairs", "{p}"], ["solve", "synthetic"]])
def test_cli_enospc_one_error_line(tmp_path, capsys, monkeypatch, cmd):
    (tmp_path / "p.csv").write_text("a b,c,2\na b,d,1\n")
    out = tmp_path / "o.npz"
    out.write_bytes(b"previous")
    real_fsync = os.fsync

    def full(fd):
        real_fsync(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_io.os, "fsync", full)
    code, _, err = run([c.format(p=tmp_path / "p.csv") for c in cmd] + ["-o", out], capsys)
    one_error(code, err, str(out), "no space left on device")
    assert out.read_bytes() == b"previous" and no_temps(tmp_path)


# ----------------------------------------------------------------------------- hostile targets
def test_read_only_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permission bits do not stop writes (the injected EROFS case covers it)")
        code, _, err = run(["data", "synth", "stories", "-o", ro / "x.npz"], capsys)
        one_error(code, err, str(ro / "x.npz"), "permission denied")
    finally:
        os.chmod(ro, 0o755)


def test_fifo_target_refused(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = run(["data", "synth", "stories", "-o", fifo], capsys)
    one_error(code, err, str(fifo), "FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and no_temps(tmp_path)


def test_device_node_and_link_to_it_refused(tmp_path, capsys):
    dev = tmp_path / "devnull"
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("os.mknod needs root")
    link = tmp_path / "link"
    link.symlink_to(dev)
    for target in (dev, link):
        code, _, err = run(["data", "synth", "stories", "-o", target], capsys)
        one_error(code, err, str(target), "character device")
    assert stat.S_ISCHR(os.stat(dev).st_mode) and link.is_symlink() and no_temps(tmp_path)


def test_folder_dangling_link_and_long_name(tmp_path, capsys):
    code, _, err = run(["data", "synth", "stories", "-o", tmp_path], capsys)
    one_error(code, err, "is a folder")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere" / "x.npz")
    code, _, err = run(["data", "synth", "stories", "-o", dangling], capsys)
    one_error(code, err, "does not exist")
    code, _, err = run(["data", "synth", "stories", "-o", tmp_path / ("a" * 300 + ".npz")], capsys)
    one_error(code, err, "file name too long")
    assert no_temps(tmp_path)


def test_link_to_regular_file_is_written_through(tmp_path):
    real = tmp_path / "real.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    g.corpora.synthetic().save(link)
    assert link.is_symlink() and g.load(real).hash == g.corpora.synthetic().hash


@pytest.mark.parametrize("kind", ["solve", "pairs", "hardlink"])
def test_output_equal_to_input_refused(tmp_path, capsys, kind):
    d = tmp_path / "d.npz"
    g.corpora.synthetic().save(d)
    p = tmp_path / "p.csv"
    p.write_text("a b,c,2\n")
    if kind == "solve":
        argv, victim = ["solve", d, "-o", d], d
    elif kind == "pairs":
        argv, victim = ["data", "build", "--pairs", p, "-o", p], p
    else:
        os.link(d, tmp_path / "alias.npz")
        argv, victim = ["solve", d, "-o", tmp_path / "alias.npz"], d
    before = victim.read_bytes()
    code, _, err = run(argv, capsys)
    one_error(code, err, "also an input of this command")
    assert victim.read_bytes() == before


def test_api_may_overwrite_a_file_it_read(tmp_path):
    """Outside a CLI command the guard is off: load, filter, save back is an ordinary API use."""
    d = tmp_path / "d.npz"
    g.corpora.synthetic().save(d)
    data = g.load(d)
    data.select_contexts(np.arange(3)).save(d)
    assert g.load(d).m == 3


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path):
    target = tmp_path / "x.npz"
    dead = tmp_path / f".x.npz.ntpgeom-{2**22 + 12345}.abc.tmp"  # pid above pid_max: no such process
    live = tmp_path / f".x.npz.ntpgeom-{os.getppid()}.abc.tmp"
    dead.write_bytes(b"partial")
    live.write_bytes(b"in progress")
    g.corpora.synthetic().save(target)
    assert not dead.exists() and live.exists()
