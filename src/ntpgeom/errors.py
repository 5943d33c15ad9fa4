"""Every exception type ntpgeom raises for a user mistake or a failing outside world, in one place.

Every such error derives from :class:`NTPGeomError` and carries a one-line message that names the problem and what
to do about it. The CLI maps these to exit code 2 and one line on stderr. Programming errors (bugs) are never caught.

The layers re-export their own type from here (``ntpgeom.train.TrainError`` is ``ntpgeom.errors.TrainError``), so
``except`` clauses work whichever import path a caller used.
"""

from __future__ import annotations


class NTPGeomError(ValueError):
    """Base class of every user-facing ntpgeom error."""


class ValidationError(NTPGeomError):
    """An option or argument out of its allowed range or set (see :mod:`ntpgeom.validate`)."""


class NTPDataError(NTPGeomError):
    """Invalid corpus, counts, dataset file or data-layer option."""


class FormatError(NTPDataError):
    """A file is not an ntpgeom file of the expected kind, is corrupt, or has another format version."""


class OutputError(NTPGeomError):
    """An output cannot be written: read-only or full file system, a folder or device at the path, a name too long,
    or the output is one of the command's inputs. Nothing was changed at the path."""


class ShapeError(NTPGeomError):
    """Arrays of incompatible shapes were passed."""


class SolverError(NTPGeomError):
    """Invalid solver input or option (bad support matrix, unknown method, missing optional backend)."""


class SolverWarning(UserWarning):
    """A solver stopped before reaching the requested tolerance; its status is ``Status.USER_LIMIT``."""


class TrainError(NTPGeomError):
    """Invalid training configuration, or a run folder that cannot be created or resumed."""


class MetricsError(NTPGeomError):
    """Invalid input to a metric (wrong shape, mismatched sizes, non-finite values)."""


class ReportError(NTPGeomError):
    """Invalid input to the report (no runs, a run without snapshots, a theory for other data, a bad output path)."""


class ReproduceError(NTPGeomError):
    """Invalid reproduce option (unknown experiment, unreadable corpus, bad output folder)."""


class ProbeError(NTPGeomError):
    """Invalid model folder, model without a trained LM head, unusable corpus, device or probe option."""


__all__ = [
    "NTPGeomError", "ValidationError", "NTPDataError", "FormatError", "OutputError", "ShapeError", "SolverError",
    "SolverWarning", "TrainError", "MetricsError", "ReportError", "ReproduceError", "ProbeError",
]
