"""Exception types for user mistakes.

Every error a user can cause by passing bad input derives from :class:`NTPGeomError` and carries a one-line message
that names the problem and what to do about it. The CLI maps these to exit code 2 and one line on stderr.
Programming errors (bugs) are never caught.
"""

from __future__ import annotations


class NTPGeomError(ValueError):
    """Base class of every user-facing ntpgeom error."""


class NTPDataError(NTPGeomError):
    """Invalid corpus, counts, dataset file or data-layer option."""


class FormatError(NTPDataError):
    """A file is not an ntpgeom file of the expected kind, is corrupt, or has another format version."""


class ShapeError(NTPGeomError):
    """Arrays of incompatible shapes were passed."""


class SolverError(NTPGeomError):
    """Invalid solver input or option (bad support matrix, unknown method, missing optional backend)."""


class SolverWarning(UserWarning):
    """A solver stopped before reaching the requested tolerance; its status is ``Status.USER_LIMIT``."""
