"""The sans-IO :class:`~sessionkit.testing.ReferenceExchange` served over any ServerEndpoint.

One task accepts connections; each connection gets a reader task (frames in,
decoded, handed to the exchange) and a writer task (the exchange's outbox
encoded and sent, in order). The exchange's heartbeats run on a trio timer.
A new connection replaces the previous one, as the exchange itself decides;
a logout or a refused login closes the connection once its last answer is
written. A frame that does not decode is logged and skipped: a bad frame
from a client never stops the server.

The ``ExchangeServer`` handed to ``task_status.started()`` lets a test poke
the exchange between frames: change its state directly, then call
:meth:`ExchangeServer.flush` so what it queued is written.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from .._codec import Codec, JsonCodec
from .._errors import DecodeError
from ..testing import ExchangeConnection, ReferenceExchange
from ._transport import ServerEndpoint, Transport, TransportClosed

__all__ = ["serve_reference_exchange", "ExchangeServer"]

logger = logging.getLogger(__name__)


class _Served:
    __slots__ = ("transport", "conn", "lot", "number")

    def __init__(self, transport: Transport, conn: ExchangeConnection, number: int) -> None:
        self.transport = transport
        self.conn = conn
        self.lot = trio.lowlevel.ParkingLot()
        self.number = number


class ExchangeServer:
    """A handle on a running :func:`serve_reference_exchange`."""

    def __init__(self, exchange: ReferenceExchange, codec: Codec) -> None:
        self.exchange = exchange
        self.codec = codec
        self._served: list[_Served] = []
        #: connections accepted so far
        self.connections = 0
        #: frames from clients that did not decode (logged and skipped)
        self.bad_frames = 0

    def flush(self) -> None:
        """Write what the exchange queued outside a request (after a test changed it)."""
        for s in self._served:
            s.lot.unpark_all()

    def drop(self, reason: str = "connection dropped by the server") -> int:
        """Cut every open connection at once (``abort`` when the transport has it)."""
        n = 0
        for s in list(self._served):
            abort = getattr(s.transport, "abort", None)
            if abort is not None:
                abort(reason)
            s.conn.closed = True
            s.lot.unpark_all()
            n += 1
        return n

    async def _heartbeats(self) -> None:
        ex = self.exchange
        while True:
            ex.tick(trio.current_time())
            self.flush()
            await trio.sleep(max(ex.heartbeat_interval_ms, 1) / 1000.0)

    async def _serve(self, served: _Served) -> None:
        self._served.append(served)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader, served, nursery.cancel_scope)
                await self._writer(served)
                nursery.cancel_scope.cancel()
        finally:
            self._served.remove(served)
            served.conn.closed = True
            with trio.CancelScope(shield=True):
                await served.transport.aclose()

    async def _reader(self, served: _Served, scope: trio.CancelScope) -> None:
        decode, conn = self.codec.decode, served.conn
        try:
            while True:
                frames = await served.transport.receive_frames()
                for frame in frames:
                    try:
                        msg = decode(frame)
                    except DecodeError as err:
                        self.bad_frames += 1
                        logger.warning("reference exchange: skipped a bad frame on connection "
                                       "%d: %s", served.number, err)
                        continue
                    conn.receive(msg)
                served.lot.unpark_all()
        except TransportClosed as exc:
            logger.debug("reference exchange: connection %d closed: %s", served.number,
                         exc.reason)
            conn.closed = True
            scope.cancel()

    async def _writer(self, served: _Served) -> None:
        encode, conn, transport = self.codec.encode, served.conn, served.transport
        while True:
            out = conn.outbox()
            if out:
                try:
                    await transport.send_frames([encode(m) for m in out])
                except TransportClosed:
                    return
                continue
            if conn.closed:
                return
            await served.lot.park()


async def serve_reference_exchange(endpoint: ServerEndpoint, exchange: ReferenceExchange,
                                   codec: Codec | None = None, *, heartbeats: bool = True,
                                   task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``exchange`` to every client ``endpoint`` accepts, until cancelled.

    Start it with ``await nursery.start(serve_reference_exchange, endpoint,
    exchange)``: that returns the :class:`ExchangeServer` handle.
    """
    server = ExchangeServer(exchange, codec or JsonCodec())
    async with trio.open_nursery() as nursery:
        if heartbeats:
            nursery.start_soon(server._heartbeats)
        task_status.started(server)
        while True:
            try:
                transport = await endpoint.accept()
            except TransportClosed:
                nursery.cancel_scope.cancel()
                return
            server.connections += 1
            conn = exchange.connect()  # closes the connection it replaces
            server.flush()
            nursery.start_soon(server._serve, _Served(transport, conn, server.connections))
