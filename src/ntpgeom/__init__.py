"""ntpgeom: the implicit geometry of next-token prediction.

Data (``NTPData`` and its builders) → theory (L_in, L_mm, S̃) → training → metrics → reports.
"""

from importlib import metadata as _metadata

from .data import (
    NTPData,
    corpora,
    filter_data,
    from_counts,
    from_pairs,
    from_text,
    from_tokens,
    load,
    synthetic,
)
from .errors import FormatError, NTPDataError, NTPGeomError

try:
    __version__ = _metadata.version("ntpgeom")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "NTPData", "load", "from_counts", "from_tokens", "from_text", "from_pairs", "filter_data", "synthetic", "corpora",
    "NTPGeomError", "NTPDataError", "FormatError", "__version__",
]
