"""The size check before any dense (V, m) allocation of the theory layer (issue 24: a 111 GiB allocation ended
``ntpgeom solve`` in a traceback): :func:`check_dense_size` estimates the bytes, compares them with this machine's
memory (as ``train``'s model-size check does) and refuses with a :class:`~ntpgeom.errors.SolverError` naming the size
in GiB and what to do instead, which the command line prints as one ``error:`` line.
"""

from __future__ import annotations

import os

from ..errors import SolverError


#: The share of this machine's memory that the dense (V, m) arrays of one computation may take (as ``train``'s
#: size check); past it the theory layer refuses before allocating (:func:`check_dense_size`).
DENSE_MEMORY_FRACTION = 0.5
#: Bytes per (V, m) entry of validating a sparse pattern into a dense mask: the float64 array, the 0/1 test's two
#: bool temporaries and the bool mask.
MASK_BYTES_PER_ENTRY = 12


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


#: What :func:`check_dense_size` suggests by default.
SMALLER_DATA = ("build the dataset with fewer contexts (`ntpgeom data build ... --min-count N` or `--top-k K`), or "
                "solve only the reduced problem in Python with ntpgeom.solve_ntp_svm_large(data, expand=False)")


def check_dense_size(V: int, m: int, bytes_per_entry: float, what: str = "NTP-SVM*",
                     advice: str = SMALLER_DATA) -> None:
    """Refuse, before allocating, dense (V, m) work that cannot fit in :data:`DENSE_MEMORY_FRACTION` of this
    machine's memory.

    Parameters
    ----------
    V, m : int
        The two sides (tokens x contexts, or a reduced pattern's).
    bytes_per_entry : float
        Bytes the work allocates per (V, m) entry.
    what : str
        The work, as the message names it.
    advice : str
        What to do instead (default :data:`SMALLER_DATA`).

    Raises
    ------
    SolverError
        Naming V, m, the size in GiB, the machine's memory and ``advice``.
    """
    need, have = float(V) * float(m) * float(bytes_per_entry), machine_memory()
    if have is None or need <= DENSE_MEMORY_FRACTION * have:
        return
    gib = need / 2**30
    size = f"{gib:.3g}" if gib < 1000 else f"{gib:,.0f}"
    raise SolverError(f"{what} on V = {V} x m = {m} needs dense V x m arrays of about {size} GiB, more than half of "
                      f"this machine's {have / 2**30:.3g} GiB; {advice}")


__all__ = ["DENSE_MEMORY_FRACTION", "MASK_BYTES_PER_ENTRY", "SMALLER_DATA", "check_dense_size", "machine_memory"]
