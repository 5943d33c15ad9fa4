"""Let a subpackage be called as its main function (``ntpgeom.train(...)``, ``ntpgeom.probe(...)``).

``ntpgeom.train`` is both the training subpackage and the function that trains; without this, whichever was bound
last would hide the other. Making the module object callable keeps ``from ntpgeom.train import load_run`` and
``ntpgeom.train(data, ...)`` both working.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable


def make_module_callable(module_name: str, func: Callable[..., Any]) -> None:
    """Make ``sys.modules[module_name]`` callable, forwarding calls to ``func``."""

    class _CallableModule(types.ModuleType):
        __doc__ = sys.modules[module_name].__doc__

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

    sys.modules[module_name].__class__ = _CallableModule
