"""The ``--adapter`` argument of the commands: a registered name or a ``module:attribute``."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runtime import Adapter

__all__ = ["load_cli_adapter"]


def load_cli_adapter(name: str) -> Adapter:
    """The adapter registered as ``name``, or named by a ``module:attribute`` path imported
    as ``python -m`` would (the current directory first on the path), so that an adapter
    being written runs without being installed."""
    from ..runtime import load_adapter

    if ":" in name:
        here = os.getcwd()
        if here not in sys.path and "" not in sys.path:
            sys.path.insert(0, here)
    return load_adapter(name)
