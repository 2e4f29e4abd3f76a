"""The ZMQ exchange simulator: the core's sans-IO ReferenceExchange served on a ROUTER.

Each accepted connection gets a reader (frames decoded with the codec the client uses,
told apart by the first byte, then handed to the exchange) and a writer (the exchange's
outbox encoded and sent in order). The exchange's heartbeats run on a trio timer. A new
connection replaces the previous one, as the exchange decides; a logout, a refused login or
a replaced connection closes the ZeroMQ connection once its last answer is written. A frame
that does not decode is logged and skipped: a bad frame never stops the simulator.

The fault knobs are the exchange's (``congested``, ``silent``, ``gap_every``, ``restart``)
plus :meth:`ZmqSimulator.drop_connections`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from sessionkit import Codec, DecodeError
from sessionkit.runtime import TransportClosed
from sessionkit.testing import ExchangeConnection, ReferenceExchange

from ._client import ZmqConnector
from ._framing import codec_for, sniff_codec
from ._keys import CurveClient, CurveServer
from ._options import SocketOptions
from ._server import ServerTransport, ZmqServerEndpoint, serve_endpoint

__all__ = ["ZmqSimulator", "serve_simulator"]

logger = logging.getLogger(__name__)


class _Served:
    __slots__ = ("transport", "conn", "codec", "lot", "why")

    def __init__(self, transport: ServerTransport, conn: ExchangeConnection) -> None:
        self.transport = transport
        self.conn = conn
        self.codec: Codec | None = None
        self.lot = trio.lowlevel.ParkingLot()
        self.why = "logged out"


class ZmqSimulator:
    """A running simulator (see :func:`serve_simulator`)."""

    def __init__(self, server: ZmqServerEndpoint, exchange: ReferenceExchange) -> None:
        self.server = server
        self.exchange = exchange
        self._served: list[_Served] = []
        #: frames from clients that did not decode (logged and skipped)
        self.bad_frames = 0
        #: connections accepted so far
        self.connections = 0

    @property
    def endpoint(self) -> str:
        """The address clients connect to, e.g. ``tcp://127.0.0.1:40123``."""
        return self.server.endpoint

    @property
    def server_key(self) -> bytes | None:
        return self.server.server_key

    def connector(self, *, curve: CurveClient | None = None,
                  options: SocketOptions | None = None) -> ZmqConnector:
        return self.server.connector(curve=curve, options=options)

    async def aclose(self) -> None:
        """Stop now (as a process exit would): clients are disconnected, the address is
        free again when this returns. The ``serve_simulator`` block may go on."""
        self._scope.cancel()
        await self.server.aclose("the exchange shut down")

    # -- fault knobs ------------------------------------------------------------------

    def flush(self) -> None:
        """Write what the exchange queued outside a request (after a knob changed it)."""
        for s in self._served:
            s.lot.unpark_all()

    def restart(self, run_id: str | None = None, *, drop_connections: bool = True) -> str:
        """Restart the exchange with a new run id: its open orders are cancelled, silently.

        Its event log survives (a client resuming by event id gets what it missed). With
        ``drop_connections`` the clients are disconnected, as a real restart does.
        """
        rid = self.exchange.restart(run_id)
        logger.info("simulator: exchange restarted with run id %s", rid)
        if drop_connections:
            self.drop_connections("the exchange restarted")
        return rid

    def drop_connections(self, reason: str = "connection dropped by the exchange") -> int:
        n = 0
        for s in list(self._served):
            s.conn.closed = True
            s.why = reason
            s.transport.abort(reason)
            s.lot.unpark_all()
            n += 1
        return n

    def set_congested(self, busy: bool) -> None:
        self.exchange.set_congested(busy)
        self.flush()

    @property
    def silent(self) -> bool:
        return self.exchange.silent

    @silent.setter
    def silent(self, value: bool) -> None:
        self.exchange.silent = value

    def publish_book_top(self, contract_id: int) -> None:
        self.exchange.publish_book_top(contract_id)
        self.flush()

    # -- serving --------------------------------------------------------------------------

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
            served.transport.abort(served.why)

    async def _reader(self, served: _Served, scope: trio.CancelScope) -> None:
        conn = served.conn
        max_frame = self.server.options.max_frame_size
        try:
            while True:
                frames = await served.transport.receive_frames()
                for frame in frames:
                    if served.codec is None:
                        served.codec = codec_for(sniff_codec(frame), max_frame)
                    try:
                        msg = served.codec.decode(frame)
                    except DecodeError as err:
                        self.bad_frames += 1
                        logger.warning("simulator: skipped a bad frame on connection #%d: %s",
                                       served.transport.number, err)
                        continue
                    conn.receive(msg)
                if conn.closed and not conn.logged_in:
                    served.why = "login refused"
                served.lot.unpark_all()
        except TransportClosed as exc:
            logger.debug("simulator: connection #%d closed: %s", served.transport.number,
                         exc.reason)
            conn.closed = True
            served.why = exc.reason
            scope.cancel()

    async def _writer(self, served: _Served) -> None:
        conn, transport = served.conn, served.transport
        while True:
            out = conn.outbox()
            if out:
                codec = served.codec or codec_for(None, self.server.options.max_frame_size)
                try:
                    await transport.send_frames([codec.encode(m) for m in out])
                except TransportClosed:
                    return
                continue
            if conn.closed:
                return
            await served.lot.park()

    async def _accept_loop(self) -> None:
        while True:
            try:
                transport = await self.server.accept()
            except TransportClosed:
                return
            self.connections += 1
            for old in list(self._served):  # the exchange serves one connection at a time
                old.why = "replaced by a new connection"
            conn = self.exchange.connect()
            self.flush()
            self._nursery.start_soon(self._serve, _Served(transport, conn))

    _nursery: trio.Nursery
    _scope: trio.CancelScope

    async def _run(self, heartbeats: bool, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._scope = nursery.cancel_scope
            nursery.start_soon(self._accept_loop)
            if heartbeats:
                nursery.start_soon(self._heartbeats)
            task_status.started()


@asynccontextmanager
async def serve_simulator(bind: str = "tcp://127.0.0.1:*", *,
                          curve: CurveServer | bool | None = True,
                          exchange: ReferenceExchange | None = None,
                          options: SocketOptions | None = None, heartbeats: bool = True,
                          **exchange_options: Any) -> AsyncIterator[ZmqSimulator]:
    """Serve the reference exchange on ``bind`` until the block ends.

    ``curve`` is as for :func:`~sessionkit_zmq.serve_endpoint` (True: fresh keys, and
    ``simulator.connector()`` uses the one allowed client key). ``exchange`` (or
    ``exchange_options`` such as ``run_id=``, ``heartbeat_interval_ms=``, ``gap_every=``,
    ``accounts=``) sets up the :class:`~sessionkit.testing.ReferenceExchange`.
    """
    if exchange is not None and exchange_options:
        raise TypeError("give exchange= or exchange options, not both")
    exchange = exchange or ReferenceExchange(**exchange_options)
    async with serve_endpoint(bind, curve=curve, options=options) as server:
        sim = ZmqSimulator(server, exchange)
        async with trio.open_nursery() as outer:
            await outer.start(sim._run, heartbeats)
            try:
                yield sim
            finally:
                sim._scope.cancel()
