"""A WebSocket client on AnyIO: the hub connection's WebSocket under trio.

The ``websockets`` package's sans-IO protocol (:class:`websockets.client.ClientProtocol`, the
object its own asyncio and trio clients drive) over an AnyIO TCP (or TLS) stream. It runs on
both loops; :mod:`._transport` uses it under trio, where it costs the whole hub client a
third less CPU per call than ``websockets.trio`` (``tools/bench_signalr.py --backend both
--one-path``; figures in ``docs/signalr.md``), and ``websockets.asyncio`` under asyncio,
which is faster there than any driver over AnyIO's asyncio streams.

What it does: the opening handshake (extra headers; a refusal raises the protocol's
``InvalidStatus`` / ``InvalidHandshake``), text messages both ways (fragmented messages are
reassembled), pings answered, the closing handshake (bounded by ``close_timeout``), a closed
or broken socket reported as :class:`TransportError` carrying the close code and reason.
What it leaves out: compression, proxies, keep-alive pings of its own (SignalR has its own).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections import deque
from typing import Any

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidState, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import USER_AGENT, Response
from websockets.protocol import State
from websockets.uri import parse_uri

from ._errors import TransportError

__all__ = ["AnyioWebSocket", "connect_websocket"]

_READ_SIZE = 65536
_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class AnyioWebSocket:
    """An open WebSocket (made by :func:`connect_websocket`); see :class:`WebSocketChannel`."""

    __slots__ = ("_stream", "_proto", "_events", "_fragments", "_send_lock")

    def __init__(self, stream: anyio.abc.ByteStream, proto: ClientProtocol,
                 events: list[Any]) -> None:
        self._stream = stream
        self._proto = proto
        self._events: deque[Any] = deque(events)
        self._fragments: list[bytes] = []
        self._send_lock = anyio.Lock()

    def _closed_error(self, doing: str) -> TransportError:
        proto = self._proto  # (close_exc is for the CLOSED state only; closing is enough)
        why = ConnectionClosed(proto.close_rcvd, proto.close_sent, proto.close_rcvd_then_sent)
        return TransportError(f"WebSocket closed{doing}: {why}")

    async def _write(self) -> None:
        """Send what the protocol queued, in order (frames, pongs, a close; then EOF)."""
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()  # uncontended: no extra trip through the scheduler
        try:
            chunks = self._proto.data_to_send()
            data = b"".join(chunks)
            if data:
                await self._stream.send(data)
            if chunks and not chunks[-1]:  # an empty chunk asks for a half-close
                try:
                    await self._stream.send_eof()
                except (NotImplementedError, *_BROKEN):
                    pass
        finally:
            lock.release()

    async def send_text(self, data: bytes) -> None:
        try:
            self._proto.send_text(data)
        except InvalidState:
            raise self._closed_error(" while sending") from None
        try:
            await self._write()
        except _BROKEN as exc:
            self._proto.receive_eof()
            raise TransportError(f"WebSocket closed while sending: {exc!r}") from None

    async def receive(self) -> bytes | str:
        proto = self._proto
        events = self._events
        while True:
            while events:
                event = events.popleft()
                if not isinstance(event, Frame):
                    continue
                opcode = event.opcode
                if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                    if event.fin:
                        return bytes(event.data)  # (the same object when it is bytes)
                    self._fragments = [bytes(event.data)]
                elif opcode is Opcode.CONT:
                    self._fragments.append(bytes(event.data))
                    if event.fin:
                        data, self._fragments = b"".join(self._fragments), []
                        return data
                elif opcode is Opcode.CLOSE:
                    await self._reply()
                    raise self._closed_error("")
            if proto.state is State.CLOSED:
                raise self._closed_error("")
            try:
                data = await self._stream.receive(_READ_SIZE)
            except _BROKEN:
                proto.receive_eof()
                events.extend(proto.events_received())
                await self._reply()
                if not events:
                    raise self._closed_error("") from None
                continue
            proto.receive_data(data)
            received = proto.events_received()
            events.extend(received)
            if proto.state is not State.OPEN or any(
                isinstance(e, Frame) and e.opcode.value >= 8 for e in received
            ):  # control frames (ping, close) and failures queue an answer
                await self._reply()

    async def _reply(self) -> None:
        try:
            await self._write()
        except _BROKEN:
            pass

    async def aclose(self, close_timeout: float) -> None:
        """The closing handshake (at most ``close_timeout`` seconds), then close the socket."""
        proto = self._proto
        try:
            with anyio.move_on_after(close_timeout):
                if proto.state is State.OPEN:
                    proto.send_close(1000)
                    await self._write()
                while proto.state is not State.CLOSED:
                    try:
                        data = await self._stream.receive(_READ_SIZE)
                    except _BROKEN:
                        proto.receive_eof()
                        break
                    proto.receive_data(data)
                    proto.events_received()
                    await self._reply()
        except _BROKEN:
            pass
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()


async def connect_websocket(url: str, headers: list[tuple[str, str]], *, max_size: int,
                            open_timeout: float, logger: logging.Logger) -> AnyioWebSocket:
    """Open the TCP (TLS for ``wss``) connection and complete the opening handshake.

    Raises the protocol's ``InvalidStatus`` (with the HTTP response) or ``InvalidHandshake``
    when the server refuses, :class:`TransportError` when the socket cannot be opened or
    breaks, ``TimeoutError`` after ``open_timeout`` seconds.
    """
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise TransportError(f"not a WebSocket URL: {exc}") from None
    proto = ClientProtocol(uri, max_size=max_size, logger=logger)
    with anyio.fail_after(open_timeout):
        if uri.secure:
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                uri.host, uri.port, ssl_context=ssl.create_default_context(),
                tls_hostname=uri.host)
        else:
            stream = await anyio.connect_tcp(uri.host, uri.port)
        try:
            sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = proto.connect()
            request.headers.update(headers)
            request.headers.setdefault("User-Agent", USER_AGENT)
            proto.send_request(request)
            await stream.send(b"".join(proto.data_to_send()))
            events: list[Any] = []
            while not events:
                try:
                    data = await stream.receive(_READ_SIZE)
                except _BROKEN:
                    proto.receive_eof()
                    events = proto.events_received()
                    break
                proto.receive_data(data)
                events = proto.events_received()
            if proto.handshake_exc is not None:
                raise proto.handshake_exc
            if not events or not isinstance(events[0], Response):
                raise TransportError("the connection closed before the WebSocket upgrade "
                                     "was answered")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
    return AnyioWebSocket(stream, proto, events[1:])
