"""A minimal adapter over plain TCP (frames with a 4-byte length prefix), and a broken
variant, for the suite's own tests of its real network faults (``tcp`` capability).

It is also the smallest example of the two ``tcp`` hooks: ``endpoint.tcp_address`` and
``endpoint.connector(via=(host, port))``, and of an adapter written on AnyIO (it runs on
asyncio and on trio).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from sessionkit.runtime import ConnectError, TransportClosedError

_HEADER = struct.Struct("!I")


class TcpTransport:
    """Frames over one TCP stream. ``naive``: takes each read for one whole frame (the bug
    a frame split across reads exposes). ``lossy``: takes frames off its buffer before a
    checkpoint, so a cancel there loses them (what ``receive-cancel-safe`` catches)."""

    def __init__(self, stream: anyio.abc.SocketStream, naive: bool = False,
                 lossy: bool = False) -> None:
        self.stream = stream
        self.naive = naive
        self.lossy = lossy
        self._buf = bytearray()
        self._closed: str | None = None
        self._send_lock = anyio.Lock()

    async def send_frames(self, frames: list[bytes]) -> None:
        if self._closed is not None:
            raise TransportClosedError(self._closed)
        data = b"".join(_HEADER.pack(len(f)) + f for f in frames)
        try:
            async with self._send_lock:
                await self.stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._closed = self._closed or f"sending failed: {exc!r}"
            raise TransportClosedError(self._closed) from None

    def _whole_frame(self) -> bool:
        buf = self._buf
        return len(buf) >= 4 and len(buf) >= 4 + _HEADER.unpack_from(buf)[0]

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
            if self.lossy and self._whole_frame():
                frames = self._parse()
                await anyio.lowlevel.checkpoint()
                return frames
            if self._whole_frame():  # taken off the buffer after the last checkpoint only
                await anyio.lowlevel.checkpoint()
                return self._parse()
            if self._closed is not None:
                raise TransportClosedError(self._closed)
            try:
                data = await self.stream.receive(65536)
            except anyio.BrokenResourceError as exc:
                self._closed = f"the connection was lost: {exc.__cause__!r}"
                continue
            except anyio.ClosedResourceError:
                self._closed = "closed by this side"
                continue
            except anyio.EndOfStream:  # the peer sends no more: this transport is done too
                self._closed = "the peer closed the connection"
                await self.stream.aclose()
                continue
            if self.naive:  # one read, one frame: wrong once TCP splits or merges them
                return [bytes(data[4:])]
            else:
                self._buf += data

    async def aclose(self) -> None:
        self._closed = self._closed or "closed by this side"
        await self.stream.aclose()


class TcpConnector:
    def __init__(self, host: str, port: int, naive: bool, lossy: bool = False) -> None:
        self.host, self.port, self.naive, self.lossy = host, port, naive, lossy

    async def connect(self) -> TcpTransport:
        try:
            stream = await anyio.connect_tcp(self.host, self.port)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return TcpTransport(stream, self.naive, self.lossy)


class TcpEndpoint:
    def __init__(self, listener: anyio.abc.SocketListener, naive: bool,
                 lossy: bool = False) -> None:
        self.listener = listener
        self.naive = naive
        self.lossy = lossy
        self._send, self._receive = anyio.create_memory_object_stream[TcpTransport](100)

    @property
    def tcp_address(self) -> tuple[str, int]:
        host, port = self.listener.extra(anyio.abc.SocketAttribute.local_address)[:2]
        return str(host), int(port)

    def connector(self, *, via: tuple[str, int] | None = None) -> TcpConnector:
        host, port = via or self.tcp_address
        return TcpConnector(host, port, self.naive, self.lossy)

    async def accept(self) -> TcpTransport:
        return await self._receive.receive()

    async def _accept_loop(self) -> None:
        while True:
            stream = await self.listener.accept()
            await self._send.send(TcpTransport(stream, self.naive, self.lossy))


class TcpAdapter:
    capabilities = frozenset({"session", "ack_mid", "batch", "reconnect", "event_replay",
                              "idempotency", "heartbeat", "tcp"})
    conformance_clock = "virtual:0.05"

    def __init__(self, naive: bool = False, lossy: bool = False) -> None:
        self.naive = naive
        self.lossy = lossy
        self.name = "tcp-naive" if naive else "tcp-lossy" if lossy else "tcp"

    def connector(self, host: str, port: int) -> TcpConnector:
        return TcpConnector(host, port, self.naive, self.lossy)

    @asynccontextmanager
    async def serve(self, **_: Any) -> AsyncIterator[TcpEndpoint]:
        multi = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        (listener,) = multi.listeners
        endpoint = TcpEndpoint(listener, self.naive, self.lossy)
        try:
            async with anyio.create_task_group() as nursery:
                nursery.start_soon(endpoint._accept_loop)
                try:
                    yield endpoint
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            await listener.aclose()


#: for ``sessionkit conformance --adapter tcp_adapters:adapter`` (run from this directory)
adapter = TcpAdapter()
