"""A minimal adapter over plain TCP (frames with a 4-byte length prefix), and a broken
variant, for the suite's own tests of its real network faults (``tcp`` capability).

It is also the smallest example of the two ``tcp`` hooks: ``endpoint.tcp_address`` and
``endpoint.connector(via=(host, port))``.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from sessionkit.runtime import ConnectError, TransportClosedError

_HEADER = struct.Struct("!I")


class TcpTransport:
    """Frames over one TCP stream. ``naive``: takes each read for one whole frame (the bug
    a frame split across reads exposes)."""

    def __init__(self, stream: trio.SocketStream, naive: bool = False) -> None:
        self.stream = stream
        self.naive = naive
        self._buf = bytearray()
        self._closed: str | None = None
        self._send_lock = trio.Lock()

    async def send_frames(self, frames: list[bytes]) -> None:
        if self._closed is not None:
            raise TransportClosedError(self._closed)
        data = b"".join(_HEADER.pack(len(f)) + f for f in frames)
        try:
            async with self._send_lock:
                await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = self._closed or f"sending failed: {exc!r}"
            raise TransportClosedError(self._closed) from None

    def _parse(self) -> list[bytes]:
        out = []
        buf = self._buf
        while len(buf) >= 4:
            (n,) = _HEADER.unpack_from(buf)
            if len(buf) < 4 + n:
                break
            out.append(bytes(buf[4:4 + n]))
            del buf[:4 + n]
        return out

    async def receive_frames(self) -> list[bytes]:
        while True:
            frames = self._parse()
            if frames:
                await trio.lowlevel.checkpoint()
                return frames
            if self._closed is not None:
                raise TransportClosedError(self._closed)
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError as exc:
                self._closed = f"the connection was lost: {exc.__cause__!r}"
                continue
            except trio.ClosedResourceError:
                self._closed = "closed by this side"
                continue
            if not data:  # the peer sends no more: this frame transport is done too
                self._closed = "the peer closed the connection"
                await self.stream.aclose()
            elif self.naive:  # one read, one frame: wrong once TCP splits or merges them
                return [bytes(data[4:])]
            else:
                self._buf += data

    async def aclose(self) -> None:
        self._closed = self._closed or "closed by this side"
        await self.stream.aclose()


class TcpConnector:
    def __init__(self, host: str, port: int, naive: bool) -> None:
        self.host, self.port, self.naive = host, port, naive

    async def connect(self) -> TcpTransport:
        try:
            stream = await trio.open_tcp_stream(self.host, self.port)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return TcpTransport(stream, self.naive)


class TcpEndpoint:
    def __init__(self, listener: trio.SocketListener, naive: bool) -> None:
        self.listener = listener
        self.naive = naive
        self._send, self._receive = trio.open_memory_channel[TcpTransport](100)

    @property
    def tcp_address(self) -> tuple[str, int]:
        host, port = self.listener.socket.getsockname()[:2]
        return host, port

    def connector(self, *, via: tuple[str, int] | None = None) -> TcpConnector:
        host, port = via or self.tcp_address
        return TcpConnector(host, port, self.naive)

    async def accept(self) -> TcpTransport:
        return await self._receive.receive()

    async def _accept_loop(self) -> None:
        while True:
            stream = await self.listener.accept()
            await self._send.send(TcpTransport(stream, self.naive))


class TcpAdapter:
    capabilities = frozenset({"session", "ack_mid", "batch", "reconnect", "event_replay",
                              "idempotency", "heartbeat", "tcp"})
    conformance_clock = "virtual:0.05"

    def __init__(self, naive: bool = False) -> None:
        self.naive = naive
        self.name = "tcp-naive" if naive else "tcp"

    def connector(self, host: str, port: int) -> TcpConnector:
        return TcpConnector(host, port, self.naive)

    @asynccontextmanager
    async def serve(self, **_: Any) -> AsyncIterator[TcpEndpoint]:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        endpoint = TcpEndpoint(listener, self.naive)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(endpoint._accept_loop)
                try:
                    yield endpoint
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            await listener.aclose()
