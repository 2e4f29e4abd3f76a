"""Which of sessionkit's modules run compiled, and the switch to their sources.

The core's state machines may be built with mypyc (setup.py). A compiled module lies
beside its source and Python imports it first. ``SESSIONKIT_PURE=1`` in the environment
(read when ``sessionkit`` is first imported) imports the sources instead: the same
behaviour, slower, and what debuggers, line profilers and coverage can step through.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from types import ModuleType

__all__ = ["compiled_modules", "prefer_sources", "pure_requested", "stale_builds"]

_PACKAGE = "sessionkit."


def compiled_modules() -> tuple[str, ...]:
    """The names of the sessionkit modules in use as compiled extensions, sorted.

    Empty when the core runs as pure Python (built without a C compiler, or run with
    ``SESSIONKIT_PURE=1``). Both behave the same; compiled is faster.

    >>> import sessionkit
    >>> all(name.startswith("sessionkit.") for name in sessionkit.compiled_modules())
    True
    """
    suffixes = tuple(EXTENSION_SUFFIXES)
    return tuple(sorted(
        name for name, module in list(sys.modules.items())
        if name.startswith(_PACKAGE)
        and (getattr(module, "__file__", None) or "").endswith(suffixes)))


def stale_builds(directory: str | os.PathLike[str]) -> list[str]:
    """The sources in ``directory`` changed after their compiled build beside them (an
    edit since ``setup.py`` built it): Python would import the old build in their place."""
    out = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        stem, _, rest = entry.name.partition(".")
        if not rest.startswith("cpython-") or not entry.name.endswith(tuple(EXTENSION_SUFFIXES)):
            continue
        source = os.path.join(directory, stem + ".py")
        if os.path.isfile(source) and os.stat(source).st_mtime > entry.stat().st_mtime:
            out.append(stem + ".py")
    return out


def pure_requested() -> bool:
    """Does the environment ask for the pure-Python core (``SESSIONKIT_PURE``)?"""
    return os.environ.get("SESSIONKIT_PURE", "").strip().lower() in ("1", "true", "yes")


class _SourcesFirst:
    """A meta path finder: a sessionkit module with a ``.py`` source is imported from it,
    even where a compiled build lies beside it."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if not name.startswith(_PACKAGE) or not path:
            return None
        leaf = name.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(name, source)
        return None  # a package, or not ours: the usual finders


def prefer_sources() -> None:
    """Import sessionkit's modules from their sources from now on (idempotent). Modules
    imported already stay as they are: call it before the first ``import sessionkit``
    does, as ``sessionkit/__init__.py`` does under ``SESSIONKIT_PURE``."""
    if _SourcesFirst not in sys.meta_path:
        sys.meta_path.insert(0, _SourcesFirst)
