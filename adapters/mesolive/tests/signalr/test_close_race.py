"""The guard against hypercorn's close race (sessionkit_mesolive.sim._close_race)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from hypercorn.events import Closed, RawData
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio import tcp_server
from sessionkit_mesolive.sim import _close_race
from sessionkit_mesolive.sim.app import serve


class _Stream:
    """A socket stream another task is half-closing: every send_all is refused."""

    async def send_all(self, data: bytes) -> None:
        raise trio.BusyResourceError("another task is currently sending data on this SocketStream")


class _Protocol:
    def __init__(self) -> None:
        self.handled: list[Any] = []

    async def handle(self, event: Any) -> None:
        self.handled.append(event)


def _server(cls: type) -> Any:
    srv = cls.__new__(cls)  # only what protocol_send touches
    srv.send_lock = trio.Lock()
    srv.stream = _Stream()
    srv.protocol = _Protocol()
    return srv


def test_a_send_overlapping_the_close_closes_the_connection_not_the_server() -> None:
    async def main() -> None:
        plain = _server(tcp_server.TCPServer)
        with pytest.raises(trio.BusyResourceError):  # what ended the whole simulator
            await plain.protocol_send(RawData(data=b"close frame"))
        guarded = _server(_close_race._TCPServer)
        await guarded.protocol_send(RawData(data=b"close frame"))
        assert [type(e) for e in guarded.protocol.handled] == [Closed]
        assert not guarded.send_lock.locked()

    trio.run(main)


def test_serving_installs_the_guard() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, object())  # any ASGI app will do; nothing connects
            assert hypercorn_run.TCPServer is _close_race._TCPServer
            nursery.cancel_scope.cancel()

    trio.run(main)
