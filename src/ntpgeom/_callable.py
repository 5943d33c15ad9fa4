"""Let a subpackage be called as its main function (``ntpgeom.train(...)``, ``ntpgeom.probe(...)``).

``ntpgeom.train`` is both the training subpackage and the function that trains. :func:`make_module_callable` puts a
:class:`CallablePackage` in ``sys.modules`` in place of the package: calling it calls the function; every attribute
(``load_run``, ``__path__``, submodules, ...) is the package's, so ``from ntpgeom.train import load_run`` and
``import ntpgeom.train.loop`` keep working. To ``help()``, ``inspect.signature`` and IDEs it looks like the function:
its signature, its docstring, not the whole package's contents.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from typing import Any, Callable


class CallablePackage:
    """A package that is also a function. ``target`` is the function or ``"module:name"`` (imported on first use)."""

    def __init__(self, module: types.ModuleType, target: Callable[..., Any] | str) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_target", target)

    def _func(self) -> Callable[..., Any]:
        target = object.__getattribute__(self, "_target")
        if isinstance(target, str):
            mod, _, name = target.partition(":")
            target = getattr(importlib.import_module(mod), name)
            object.__setattr__(self, "_target", target)
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._func()(*args, **kwargs)

    # a non-data descriptor: to pydoc and inspect a "routine", so help() documents the function
    def __get__(self, obj: Any, objtype: Any = None) -> "CallablePackage":
        return self

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._func())

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self._func().__doc__

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_module"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_module"), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_module"), name)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_module"))

    def __repr__(self) -> str:
        module = object.__getattribute__(self, "_module")
        return f"<function {module.__name__}{self.__signature__} (also the package {module.__name__})>"


def make_module_callable(module_name: str, func: Callable[..., Any] | str) -> None:
    """Replace the package ``module_name`` in ``sys.modules`` by a :class:`CallablePackage` forwarding calls to
    ``func`` (a function, or ``"module:name"`` to import it on the first call). Call it last in the package's
    ``__init__``: the import system then binds the stand-in as the parent package's attribute."""
    module = sys.modules[module_name]
    sys.modules[module_name] = CallablePackage(module, func)  # type: ignore[assignment]
