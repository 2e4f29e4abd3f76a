"""A sessionkit adapter: newline-delimited JSON over TCP, on AnyIO streams (asyncio or trio).

Each frame is one line: the frame's bytes, then ``\\n``. The session's ``JsonCodec``
writes one JSON document per frame with no raw newline in it, so a frame is a line.
Written from ``docs/adapters.md`` alone, as a third party would; the walk-through
there follows this file. Try it without installing anything:

    cd examples/ndjson_adapter
    sessionkit conformance --adapter ndjson_adapter:adapter [--backend asyncio|trio]
    sessionkit demo --adapter ndjson_adapter:adapter [--backend asyncio|trio]
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from anyio.abc import Listener, SocketAttribute, SocketStream

from sessionkit.runtime import ConnectError, TransportClosedError

if TYPE_CHECKING:
    from sessionkit.runtime import Adapter, TcpServerEndpoint, Transport

__all__ = ["NdjsonTransport", "NdjsonConnector", "NdjsonEndpoint", "NdjsonAdapter", "adapter"]

#: the longest line (frame) carried: 4 MiB, over the codec's 1 MiB, so that a frame too
#: big for the codec still reaches it and the session reports it; a longer line ends the
#: connection with a TransportClosedError saying so
MAX_FRAME_SIZE = 4 << 20


class NdjsonTransport:
    """One TCP connection carrying frames as lines."""

    def __init__(self, stream: SocketStream, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._stream = stream
        self._max = max_frame_size
        self._buffer = bytearray()  # bytes read, not yet returned as frames
        self._scanned = 0  # how much of _buffer holds no newline
        self._send_lock = anyio.Lock()  # the exchange side may send from two tasks
        self._closed: str | None = None  # why no more frames come, once they cannot

    async def send_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            if b"\n" in frame:
                raise ValueError("an ndjson frame cannot hold a newline byte (use JsonCodec, "
                                 "which writes none)")
        if self._closed is not None:
            raise TransportClosedError(self._closed)
        data = b"".join(frame + b"\n" for frame in frames)
        async with self._send_lock:
            try:
                await self._stream.send(data)
            except (anyio.BrokenResourceError, OSError) as exc:
                raise TransportClosedError(self._lost("sending", exc)) from exc
            except anyio.ClosedResourceError:
                raise TransportClosedError(self._closed or "closed by this side") from None
            except anyio.get_cancelled_exc_class():
                # part of a line may have gone out: the stream cannot carry another frame
                self._closed = self._closed or "a send was cancelled in the middle of a frame"
                await self._abort()
                raise

    async def receive_frames(self) -> list[bytes]:
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                # Checkpoint before taking the frames off the buffer: a cancel lands here
                # (or in receive_some below, which then received nothing), never after.
                await anyio.lowlevel.checkpoint()
                return self._take_lines()
            self._scanned = len(self._buffer)
            if self._scanned > self._max:
                self._closed = (f"the peer sent a frame over {self._max} bytes "
                                f"(max_frame_size) without its end of line")
                await self._abort()
            if self._closed is not None:
                raise TransportClosedError(self._closed)
            try:
                data = await self._stream.receive(65536)
            except anyio.EndOfStream:
                self._closed = "the peer closed the connection"
                if self._buffer:
                    self._closed += f" in the middle of a frame ({len(self._buffer)} bytes)"
                await self._abort()
                continue
            except (anyio.BrokenResourceError, OSError) as exc:
                self._lost("receiving", exc)
                continue
            except anyio.ClosedResourceError:
                self._closed = self._closed or "closed by this side"
                continue
            self._buffer += data

    def _take_lines(self) -> list[bytes]:
        *lines, rest = bytes(self._buffer).split(b"\n")
        self._buffer = bytearray(rest)
        self._scanned = 0
        return lines

    async def _abort(self) -> None:
        # closed even when cancelled: a cancel already on its way must not leave it open
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    def _lost(self, doing: str, exc: Exception) -> str:
        self._closed = self._closed or f"the connection broke while {doing}: " \
                                       f"{exc.__cause__ or exc}"
        return self._closed

    async def aclose(self) -> None:
        self._closed = self._closed or "closed by this side"
        await self._stream.aclose()


class NdjsonConnector:
    """Connects to ``host:port``."""

    def __init__(self, host: str, port: int, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.host, self.port = host, port
        #: what the transport carries: the runtime refuses a codec making larger frames
        self.max_frame_size = max_frame_size

    async def connect(self) -> NdjsonTransport:
        try:
            stream = await anyio.connect_tcp(self.host, self.port)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return NdjsonTransport(stream, self.max_frame_size)


class NdjsonEndpoint:
    """A listening server; :meth:`accept` gives the server side of each connection."""

    def __init__(self, listener: Listener[SocketStream]) -> None:
        self._listener = listener
        self._send, self._accepted = anyio.create_memory_object_stream[NdjsonTransport](16)

    @property
    def tcp_address(self) -> tuple[str, int]:
        address = self._listener.extra(SocketAttribute.local_address)
        assert isinstance(address, tuple)  # a TCP listener's (host, port[, ...])
        return str(address[0]), int(address[1])

    def connector(self, *, via: tuple[str, int] | None = None) -> NdjsonConnector:
        host, port = via or self.tcp_address
        return NdjsonConnector(host, port)

    async def accept(self) -> NdjsonTransport:
        try:
            return await self._accepted.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise TransportClosedError("the endpoint is closed") from None

    async def _close_pending(self) -> None:
        while True:
            try:
                await self._accepted.receive_nowait()._abort()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return

    async def _accept_loop(self) -> None:
        async with self._send:
            await self._listener.serve(self._accepted_one)

    async def _accepted_one(self, stream: SocketStream) -> None:
        await self._send.send(NdjsonTransport(stream))


class NdjsonAdapter:
    """What the ``sessionkit.adapters`` entry point names."""

    name = "ndjson"
    capabilities = frozenset({"session", "ack_mid", "batch", "run_id", "event_replay",
                              "backpressure", "heartbeat", "idempotency", "reconnect", "tcp"})
    max_frame_size: int | None = MAX_FRAME_SIZE
    #: real sockets: virtual time jumps only after every task waited 50 ms of real time
    conformance_clock = "virtual:0.05"

    def connector(self, host: str, port: int) -> NdjsonConnector:
        return NdjsonConnector(host, port)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0
                    ) -> AsyncIterator[NdjsonEndpoint]:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        endpoint = NdjsonEndpoint(listener)
        async with listener, anyio.create_task_group() as tasks:
            tasks.start_soon(endpoint._accept_loop)
            try:
                yield endpoint
            finally:
                tasks.cancel_scope.cancel()
                await endpoint._close_pending()


adapter = NdjsonAdapter()

if TYPE_CHECKING:  # mypy --strict checks the adapter against sessionkit's contract
    _adapter: Adapter = adapter
    _transport: type[Transport] = NdjsonTransport

    def _endpoint(endpoint: NdjsonEndpoint) -> TcpServerEndpoint:  # the tcp capability's
        return endpoint
