"""The single-writer lock of a folder (run folders, the data engines' work folder): one lock file created
exclusively, holding the owner's pid and host; a dead owner's lock is taken over."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (True when unsure)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _try_create_lock(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{os.getpid()} {socket.gethostname()}\n")
    return True


def lock_owner(path: Path) -> tuple[int, str] | None:
    """``(pid, host)`` of a lock file's holder (None when unreadable)."""
    try:
        words = Path(path).read_text(encoding="utf-8").split()
        return int(words[0]), (words[1] if len(words) > 1 else socket.gethostname())
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def folder_lock(folder: Path, name: str, error: type[Exception]) -> Iterator[None]:
    """Hold ``folder/name`` for the block: created exclusively (``O_EXCL``) holding this pid and host; a live holder
    (or one on another host, never guessed stale) raises ``error`` naming it; a dead holder's lock (a killed
    process) is taken over. The run folder (``train``) and the data engines' work folder use it."""
    path = Path(folder) / name
    try:
        if not _try_create_lock(path):
            owner = lock_owner(path)
            if owner is not None and (owner[1] != socket.gethostname() or pid_alive(owner[0])):
                raise error(f"{folder} is in use by another ntpgeom process (pid {owner[0]} on {owner[1]}); "
                            f"wait for it to finish or stop it (if it is gone, delete {path})")
            path.unlink(missing_ok=True)  # stale: its owner is gone
            if not _try_create_lock(path):
                raise error(f"{folder} is in use by another ntpgeom process; try again")
    except OSError as exc:
        raise error(f"cannot lock {folder}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        if lock_owner(path) == (os.getpid(), socket.gethostname()):
            path.unlink(missing_ok=True)
