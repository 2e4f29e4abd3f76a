"""The codec and state machines stay sans-IO: no trio, sockets, HTTP or WebSocket imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sessionkit_mesolive.signalr as package

SANS_IO = [
    "_errors", "_messages", "_wire", "_protocol", "_stateful", "_events", "_endpoint",
    "_client_protocol", "_server_protocol", "_negotiate", "_reconnect",
]  # fmt: skip
FORBIDDEN = {"trio", "socket", "asyncio", "threading", "httpx", "websockets", "trio_websocket",
             "hypercorn", "time", "selectors"}  # fmt: skip
# (``random`` is allowed: _reconnect takes a random.Random instance from the caller.)


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            roots.add("." + node.module)
    return roots


@pytest.mark.parametrize("name", SANS_IO)
def test_module_is_sans_io(name: str) -> None:
    roots = imported_roots(Path(package.__file__).parent / f"{name}.py")
    assert not roots & FORBIDDEN, f"{name} imports {roots & FORBIDDEN}"
    io_modules = {"._client", "._supervisor", "._transport", "._stream"}
    assert not roots & io_modules, f"{name} imports the I/O layer: {roots & io_modules}"
