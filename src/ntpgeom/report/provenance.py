"""What produced a report: command line, package version and git commit, library versions, date, wall time, machine,
seeds. Every report page (``ntpgeom report``, ``reproduce``, ``probe``) shows one :class:`Provenance` block.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

#: Libraries whose versions a report records (those installed).
KEY_LIBRARIES = ("numpy", "scipy", "torch", "transformers", "matplotlib", "jinja2", "cvxpy", "tokenizers")


@dataclass(frozen=True)
class Provenance:
    """The provenance block of a report page.

    ``seconds`` is the total wall time of the command that wrote the page (None when unknown); ``seeds`` the seeds of
    the runs shown; ``machine`` a dict with ``cpu``, ``cores``, ``threads`` and ``gpu``.
    """

    command: str
    version: str
    commit: str | None
    libraries: dict[str, str]
    date: str
    seconds: float | None
    machine: dict[str, Any]
    seeds: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) rows for a table, in reading order."""
        m = self.machine
        libs = ", ".join(f"{k} {v}" for k, v in self.libraries.items())
        cpu = f"{m.get('cpu') or 'unknown CPU'}, {m.get('cores')} cores (torch threads in use: {m.get('threads')})"
        rows = [
            ("command", self.command),
            ("ntpgeom", self.version + (f" (git {self.commit})" if self.commit else "")),
            ("libraries", libs),
            ("date (UTC)", self.date),
            ("total wall time", "–" if self.seconds is None else _duration(self.seconds)),
            ("machine", f"{m.get('system')}; {cpu}; GPU: {m.get('gpu') or 'none'}"),
            ("seed(s)", ", ".join(str(s) for s in self.seeds) or "–"),
        ]
        rows += [(str(k), str(v)) for k, v in self.extra.items()]
        return rows


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes} min {s:02d} s"


def command_line(argv: Iterable[str] | None = None) -> str:
    """The command that is running, shell-quoted (``ntpgeom ...`` when run through the entry point or ``-m``)."""
    args = list(sys.argv if argv is None else argv)
    if not args:
        return "(python API)"
    prog = Path(args[0]).name
    if prog in ("ntpgeom", "__main__.py") or args[0].endswith("ntpgeom/__main__.py"):
        args = ["ntpgeom", *args[1:]]
    elif prog in ("pytest", "-c", "") or "ipykernel" in " ".join(args[:2]):
        return "(python API)"
    else:
        args = [Path(args[0]).name, *args[1:]]
    return shlex.join(args)


def git_commit(path: Path | None = None) -> str | None:
    """The git commit of the source tree holding ``path`` (default: this package), '+dirty' if modified; None when
    the package is not in a git checkout or git is missing."""
    here = Path(path or Path(__file__).resolve().parent)
    root = next((p for p in (here, *here.parents) if (p / ".git").exists()), None)
    if root is None:
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def library_versions(names: Iterable[str] = KEY_LIBRARIES) -> dict[str, str]:
    """Python and the installed versions of ``names`` (missing packages are left out)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu_model() -> str | None:
    """The CPU model name (from /proc/cpuinfo on Linux, else the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict[str, Any]:
    """CPU model, logical cores, the thread setting in effect, and the GPU (when torch sees one)."""
    threads: int | None = None
    gpu = None
    torch = sys.modules.get("torch")  # never import torch only to describe the machine
    if torch is not None:
        threads = torch.get_num_threads()
        try:
            if torch.cuda.is_available():
                gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        except Exception:  # a broken driver must not fail a report
            gpu = None
    return {"system": f"{platform.system()} {platform.release()} ({platform.machine()})", "cpu": cpu_model(),
            "cores": os.cpu_count(), "threads": threads, "gpu": gpu}


def collect(seconds: float | None = None, seeds: Iterable[int] = (), command: str | None = None,
            extra: dict[str, Any] | None = None) -> Provenance:
    """The provenance of the current process (call it when the page is written)."""
    from .. import __version__

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return Provenance(
        command=command or command_line(), version=str(__version__), commit=git_commit(),
        libraries=library_versions(), date=now.isoformat().replace("+00:00", "Z"), seconds=seconds,
        machine=machine(), seeds=tuple(sorted({int(s) for s in seeds})), extra=dict(extra or {}),
    )
