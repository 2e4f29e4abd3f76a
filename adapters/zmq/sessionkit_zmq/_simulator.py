"""The ZMQ exchange simulator: the core's sans-IO ReferenceExchange served on a ROUTER.

The serving is :class:`sessionkit.runtime.ExchangeServer`'s; this module supplies its hooks.
Each accepted connection gets a reader (frames decoded with the codec the client uses,
told apart by the first byte, then handed to the exchange) and a writer (the exchange's
outbox encoded and sent in order). The exchange's heartbeats run on a timer task. A new
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

import anyio

from sessionkit import Codec
from sessionkit.runtime import ExchangeServer
from sessionkit.testing import ReferenceExchange

from ._client import ZmqConnector
from ._framing import codec_for, sniff_codec
from ._keys import CurveClient, CurveServer
from ._options import SocketOptions
from ._server import ZmqServerEndpoint, serve_endpoint

__all__ = ["ZmqSimulator", "serve_simulator"]

logger = logging.getLogger(__name__)


class ZmqSimulator(ExchangeServer):
    """A running simulator (see :func:`serve_simulator`).

    The runtime's :class:`~sessionkit.runtime.ExchangeServer` does the serving; this adds
    the ZeroMQ endpoint, a codec per client (told apart by its first byte), closing with
    the reason the connection ended, and the fault knobs.
    """

    log_name = "simulator"

    def __init__(self, server: ZmqServerEndpoint, exchange: ReferenceExchange) -> None:
        super().__init__(exchange, codec_for(None, server.options.max_frame_size))
        self.server = server

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
        return self.drop(reason)

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

    # -- ExchangeServer hooks ---------------------------------------------------------------

    def client_codec(self, first_frame: bytes) -> Codec:
        return codec_for(sniff_codec(first_frame), self.server.options.max_frame_size)

    async def close_connection(self, transport: Any, why: str) -> None:
        transport.abort(why)

    # -- serving --------------------------------------------------------------------------

    _scope: anyio.CancelScope

    async def _run(self, heartbeats: bool, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as self._scope:
            await self.serve(self.server, heartbeats=heartbeats, task_status=task_status)


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
        async with anyio.create_task_group() as outer:
            await outer.start(sim._run, heartbeats)
            try:
                yield sim
            finally:
                sim._scope.cancel()
