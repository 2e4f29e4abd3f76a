"""The docstring examples of the SignalR package run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "sessionkit_mesolive.signalr._protocol",
    "sessionkit_mesolive.signalr._client_protocol",
    "sessionkit_mesolive.signalr._server_protocol",
    "sessionkit_mesolive.signalr._negotiate",
    "sessionkit_mesolive.signalr._reconnect",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
