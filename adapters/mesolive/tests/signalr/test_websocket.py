"""The one-code-path WebSocket client (``signalr/_websocket.py``: websockets' sans-IO protocol
over AnyIO streams) against a WebSocket server of its own on 127.0.0.1 (websockets' sans-IO
server protocol over an AnyIO listener), on asyncio and on trio: what hypercorn never does
-- fragmented messages, pings, a close code and reason -- reaches the client as it should."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.abc
import pytest
from sessionkit_mesolive.signalr import TransportError
from sessionkit_mesolive.signalr._websocket import connect_websocket
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

LOG = logging.getLogger(__name__)


async def _events(stream: anyio.abc.ByteStream, proto: ServerProtocol) -> list[Any]:
    while True:
        events = proto.events_received()
        if events:
            return events
        proto.receive_data(await stream.receive())


async def _flush(stream: anyio.abc.ByteStream, proto: ServerProtocol) -> None:
    data = b"".join(proto.data_to_send())
    if data:
        await stream.send(data)


def test_fragments_pings_and_a_close_reason_reach_the_client(run_on: Any) -> None:
    seen: list[tuple[Opcode, bytes]] = []

    async def serve_one(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            proto = ServerProtocol()
            [request] = await _events(stream, proto)
            assert isinstance(request, Request) and request.headers["X-Test"] == "yes"
            proto.send_response(proto.accept(request))
            proto.send_text(b"frag", fin=False)
            proto.send_continuation(b"ment", fin=False)
            proto.send_continuation(b"ed", fin=True)
            proto.send_ping(b"are you there")
            await _flush(stream, proto)
            while len(seen) < 2:
                for event in await _events(stream, proto):
                    if isinstance(event, Frame):
                        seen.append((event.opcode, bytes(event.data)))
                await _flush(stream, proto)
            proto.send_close(4001, "going away now")
            await _flush(stream, proto)
            with anyio.move_on_after(5):
                while True:
                    try:
                        proto.receive_data(await stream.receive())
                    except anyio.EndOfStream:
                        break

    async def main() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve_one)
            ws = await connect_websocket(f"ws://127.0.0.1:{port}/x", [("X-Test", "yes")],
                                         max_size=1 << 20, open_timeout=5, logger=LOG)
            assert await ws.receive() == b"fragmented"  # three frames, one message
            await ws.send_text(b"hello")
            with pytest.raises(TransportError, match="4001.*going away now"):
                await ws.receive()
            await ws.aclose(1.0)
            tg.cancel_scope.cancel()
        assert (Opcode.PONG, b"are you there") in seen  # the ping was answered
        assert (Opcode.TEXT, b"hello") in seen

    run_on(main)


def test_a_server_that_is_not_there_or_refuses_is_a_clear_error(run_on: Any) -> None:
    async def refuse(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    async def main() -> None:
        from websockets.exceptions import InvalidStatus

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, refuse)
            with pytest.raises(InvalidStatus) as refused:
                await connect_websocket(f"ws://127.0.0.1:{port}/x", [], max_size=1 << 20,
                                        open_timeout=5, logger=LOG)
            assert refused.value.response.status_code == 403
            tg.cancel_scope.cancel()
        with pytest.raises(OSError):
            await connect_websocket(f"ws://127.0.0.1:{port}/x", [], max_size=1 << 20,
                                    open_timeout=5, logger=LOG)

    run_on(main)
