"""The one set of checks for values that cross a boundary (CLI options, public-API arguments, configurations).

Each helper returns the value converted to its canonical type, or raises an :class:`~ntpgeom.errors.NTPGeomError`
(``ValidationError`` unless the caller passes its layer's type as ``error``) with a one-line message that names the
option, the value given and what is allowed. ``bool`` is never accepted as a number.

Configuration dataclasses (``TrainConfig``, ``ProbeConfig``, ``ReportConfig``, ``CorpusConfig``) declare what each
field accepts once, as a list of alternatives (:class:`Interval`, :class:`OneOf`, a type, ``None``), and check a
configuration with :func:`check_fields`. One seed range everywhere: :data:`SEED` = [0, :data:`MAX_SEED`].
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import NTPGeomError, ValidationError

__all__ = ["integer", "positive_int", "nonneg_int", "real", "choice", "seed", "input_file", "size_limit",
           "MAX_SEED", "MAX_ENTRIES", "Interval", "OneOf", "SEED", "accepts", "describe", "check_fields"]

#: Largest accepted random seed: seeds are non-negative (numpy's generators refuse negative ones) and ``seed + 1`` (the
#: training sampler's) still fits a signed 64-bit integer (torch).
MAX_SEED = 2**63 - 2
#: Largest number of array entries a generator or builder may allocate before it refuses (about 0.8 GB of float64).
MAX_ENTRIES = 100_000_000

Err = type[NTPGeomError]


def integer(name: str, v: Any, *, lo: int | None = None, hi: int | None = None, error: Err = ValidationError) -> int:
    """``v`` as an int in ``[lo, hi]`` (either bound optional); floats that are whole numbers are refused too."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise error(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise error(f"{name} must be {_range(lo, hi)}, got {v}")
    return v


def positive_int(name: str, v: Any, *, hi: int | None = None, error: Err = ValidationError) -> int:
    """``v`` as an int >= 1 (and <= ``hi``)."""
    return integer(name, v, lo=1, hi=hi, error=error)


def nonneg_int(name: str, v: Any, *, hi: int | None = None, error: Err = ValidationError) -> int:
    """``v`` as an int >= 0 (and <= ``hi``)."""
    return integer(name, v, lo=0, hi=hi, error=error)


def seed(name: str, v: Any, *, error: Err = ValidationError) -> int:
    """A random seed: an int in [0, :data:`MAX_SEED`] (the range :data:`SEED` declares)."""
    return integer(name, v, lo=0, hi=MAX_SEED, error=error)


def real(
    name: str,
    v: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    error: Err = ValidationError,
) -> float:
    """``v`` as a finite float within the bounds (``lo_open``/``hi_open`` exclude the bound itself)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise error(f"{name} must be a real number, got {v!r}")
    x = float(v)
    if not math.isfinite(x):
        raise error(f"{name} must be a finite number, got {v!r}")
    bad_lo = lo is not None and (x <= lo if lo_open else x < lo)
    bad_hi = hi is not None and (x >= hi if hi_open else x > hi)
    if bad_lo or bad_hi:
        lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
        hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
        raise error(f"{name} must be {' and '.join(s for s in (lo_s, hi_s) if s)}, got {x:g}")
    return x


def choice(name: str, v: Any, choices: Iterable[str], *, error: Err = ValidationError) -> str:
    """``v`` if it is one of ``choices`` (exact string match)."""
    allowed = list(choices)
    if not isinstance(v, str) or v not in allowed:
        raise error(f"{name} must be one of {', '.join(allowed)}; got {v!r}")
    return v


def input_file(name: str, p: str | os.PathLike, *, error: Err = ValidationError) -> Path:
    """``p`` as a Path to an existing regular file (not a folder, FIFO or device)."""
    path = Path(p)
    try:
        if not path.exists():
            raise error(f"{name} not found: {path}")
        if path.is_dir():
            raise error(f"{name} {path} is a folder; give a file")
        if not path.is_file():
            raise error(f"{name} {path} is not a regular file (a device, FIFO or socket); give a file")
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise error(f"{name} {path}: {exc.strerror or exc}") from None
    return path


def size_limit(what: str, entries: int | float, *, limit: int = MAX_ENTRIES, error: Err = ValidationError) -> None:
    """Refuse, before allocating, work that would hold more than ``limit`` array entries (8 bytes each)."""
    if entries > limit:
        raise error(f"{what} would hold about {entries:.3g} array entries (~{entries * 8 / 1e9:.3g} GB); "
                    f"the limit is {limit:.0e}: choose smaller sizes")


def _range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


# ------------------------------------------------------------------------------- declared constraints (configs)
@dataclass(frozen=True)
class Interval:
    """A real (``integer=False``) or integer number in ``[lo, hi]``; ``open_lo``/``open_hi`` exclude the ends."""

    integer: bool
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False

    def accepts(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral if self.integer else numbers.Real):
            return False
        x = int(v) if self.integer else float(v)  # integers compared exactly (float(2**63 - 2) rounds up)
        if not math.isfinite(x):
            return False
        lo_ok = self.lo is None or (x > self.lo if self.open_lo else x >= self.lo)
        return lo_ok and (self.hi is None or (x < self.hi if self.open_hi else x <= self.hi))

    def describe(self) -> str:
        kind = "integer" if self.integer else "number"
        if self.lo == 0 and self.hi is None:
            return f"a positive {kind}" if self.open_lo else f"a non-negative {kind}"
        lo = "(" if self.open_lo else "["
        hi = ")" if self.open_hi else "]"
        return f"{'an' if self.integer else 'a'} {kind} in {lo}{self.lo}, {self.hi if self.hi is not None else 'inf'}{hi}"


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (compared with ``==``)."""

    choices: tuple[Any, ...]


#: The one seed range of every configuration, option and generator: [0, MAX_SEED].
SEED = Interval(True, 0, MAX_SEED)


def accepts(c: Any, v: Any) -> bool:
    """Whether ``v`` satisfies the alternative ``c``: ``None`` (accepts None), an :class:`Interval`, a
    :class:`OneOf` or a type (``isinstance``)."""
    if c is None:
        return v is None
    if isinstance(c, Interval):
        return c.accepts(v)
    if isinstance(c, OneOf):
        return v in c.choices
    return isinstance(v, c)


def describe(c: Any) -> str:
    """What the alternative ``c`` accepts, in words."""
    if c is None:
        return "None"
    if isinstance(c, Interval):
        return c.describe()
    if isinstance(c, OneOf):
        return "one of " + ", ".join(map(str, c.choices))
    return {bool: "True or False", str: "a string"}.get(c, f"a {getattr(c, '__name__', c)}")


def check_fields(values: Mapping[str, Any], constraints: Mapping[str, Sequence[Any]], *, error: Err = ValidationError,
                 names: Mapping[str, str] | None = None) -> None:
    """Check each value against its list of alternatives in ``constraints``; raise ``error`` naming the first bad one
    (by ``names[field]``, e.g. the command-line flag, else the field name). Fields without constraints pass."""
    for field_name, v in values.items():
        alternatives = constraints.get(field_name)
        if alternatives is None or any(accepts(c, v) for c in alternatives):
            continue
        name = (names or {}).get(field_name, field_name)
        choices = next((c.choices for c in alternatives if isinstance(c, OneOf)), None)
        if choices is not None:
            raise error(f"{name} must be one of {', '.join(map(str, choices))}; got {v!r}")
        raise error(f"{name} must be {' or '.join(describe(c) for c in alternatives)}, got {v!r}")
