"""The ``mesolive`` entry point is registered but the adapter is a clear placeholder for now."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from sessionkit_mesolive import AdapterNotReadyError


def test_entry_point_loads_and_use_fails_clearly() -> None:
    [ep] = [e for e in entry_points(group="sessionkit.adapters") if e.name == "mesolive"]
    adapter = ep.load()
    assert "not implemented yet" in repr(adapter)
    with pytest.raises(AdapterNotReadyError, match="not implemented yet .*adapter.connect"):
        adapter.connect("anything")
    with pytest.raises(NotImplementedError, match="sessionkit_mesolive.signalr"):
        adapter()
