"""The sans-IO :class:`~sessionkit.testing.ReferenceExchange` served over any ServerEndpoint.

One task accepts connections; each connection gets a reader task (frames in,
decoded, handed to the exchange) and a writer task (the exchange's outbox
encoded and sent, in order). The exchange's heartbeats run on a timer of the event loop
(asyncio or trio).
A new connection replaces the previous one, as the exchange itself decides;
a logout or a refused login closes the connection once its last answer is
written. A frame that does not decode is logged and skipped: a bad frame
from a client never stops the server.

The ``ExchangeServer`` handed to ``task_status.started()`` lets a test poke
the exchange between frames: change its state directly, then call
:meth:`ExchangeServer.flush` so what it queued is written.

Transports that know more (the ZMQ simulator) subclass :class:`ExchangeServer`,
override its hooks, :meth:`~ExchangeServer.client_codec` (a codec per client,
chosen from its first frame) and :meth:`~ExchangeServer.close_connection` (how a
finished connection is closed, told *why* it ended), and run it with
:meth:`~ExchangeServer.serve`.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .._codec import Codec, JsonCodec
from .._errors import DecodeError
from ..testing import ExchangeConnection, ReferenceExchange
from ._transport import ServerEndpoint, Transport, TransportClosedError
from ._util import Signal

__all__ = ["serve_reference_exchange", "ExchangeServer"]

logger = logging.getLogger(__name__)


class _Served:
    __slots__ = ("transport", "conn", "codec", "changed", "number", "why")

    def __init__(self, transport: Transport, conn: ExchangeConnection, number: int) -> None:
        self.transport = transport
        self.conn = conn
        #: the codec this client speaks (None until its first frame; see ``client_codec``)
        self.codec: Codec | None = None
        self.changed = Signal()
        self.number = number
        #: why the connection ended (passed to ``abort`` by transports that take a reason)
        self.why = "logged out"


class ExchangeServer:
    """A handle on a running :func:`serve_reference_exchange`."""

    #: how log lines name this server
    log_name = "reference exchange"

    def __init__(self, exchange: ReferenceExchange, codec: Codec) -> None:
        self.exchange = exchange
        #: the codec answers are written in (until a client's first frame chose one)
        self.codec = codec
        self._served: list[_Served] = []
        #: connections accepted so far
        self.connections = 0
        #: frames from clients that did not decode (logged and skipped)
        self.bad_frames = 0

    def flush(self) -> None:
        """Write what the exchange queued outside a request (after a test changed it)."""
        for s in self._served:
            s.changed.fire()

    def drop(self, reason: str = "connection dropped by the server") -> int:
        """Cut every open connection at once (``abort`` when the transport has it)."""
        n = 0
        for s in list(self._served):
            s.conn.closed = True
            s.why = reason
            abort = getattr(s.transport, "abort", None)
            if abort is not None:
                abort(reason)
            s.changed.fire()
            n += 1
        return n

    # -- hooks for transports that know more ---------------------------------------------

    def client_codec(self, first_frame: bytes) -> Codec:
        """The codec a client speaks, from its first frame (here: always :attr:`codec`)."""
        return self.codec

    async def close_connection(self, transport: Transport, why: str) -> None:
        """Close a finished connection, which ended because ``why`` ("logged out", "login
        refused", "replaced by a new connection", a transport's reason...); here:
        ``aclose``, shielded from cancellation."""
        with anyio.CancelScope(shield=True):
            await transport.aclose()

    # -- serving ---------------------------------------------------------------------------

    async def serve(self, endpoint: ServerEndpoint, *, heartbeats: bool = True,
                    task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve every client ``endpoint`` accepts until it closes (then every connection
        is cut) or until cancelled; ``task_status.started(self)`` once serving."""
        async with anyio.create_task_group() as tasks:
            if heartbeats:
                tasks.start_soon(self._heartbeats)
            task_status.started(self)
            await self._accept_loop(endpoint, tasks)
            tasks.cancel_scope.cancel()

    async def _heartbeats(self) -> None:
        ex = self.exchange
        while True:
            ex.tick(anyio.current_time())
            self.flush()
            await anyio.sleep(max(ex.heartbeat_interval_ms, 1) / 1000.0)

    async def _accept_loop(self, endpoint: Any, tasks: TaskGroup) -> None:
        """Accept until the endpoint closes; each connection is served in ``tasks``."""
        while True:
            try:
                transport = await endpoint.accept()
            except TransportClosedError:
                return
            self.connections += 1
            for old in list(self._served):  # the exchange serves one connection at a time
                old.why = "replaced by a new connection"
            conn = self.exchange.connect()  # closes the connection it replaces
            self.flush()
            number = getattr(transport, "number", self.connections)
            tasks.start_soon(self._serve, _Served(transport, conn, number))

    async def _serve(self, served: _Served) -> None:
        self._served.append(served)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._reader, served, tasks.cancel_scope)
                await self._writer(served)
                tasks.cancel_scope.cancel()
        finally:
            self._served.remove(served)
            served.conn.closed = True
            await self.close_connection(served.transport, served.why)

    async def _reader(self, served: _Served, scope: anyio.CancelScope) -> None:
        conn, codec = served.conn, served.codec
        try:
            while True:
                frames = await served.transport.receive_frames()
                for frame in frames:
                    if codec is None:
                        codec = served.codec = self.client_codec(frame)
                    try:
                        msg = codec.decode(frame)
                    except DecodeError as err:
                        self.bad_frames += 1
                        logger.warning("%s: skipped a bad frame on connection #%d: %s",
                                       self.log_name, served.number, err)
                        continue
                    conn.receive(msg)
                if conn.closed and not conn.logged_in:
                    served.why = "login refused"
                served.changed.fire()
        except TransportClosedError as exc:
            logger.debug("%s: connection #%d closed: %s", self.log_name, served.number,
                         exc.reason)
            conn.closed = True
            served.why = exc.reason
            scope.cancel()

    async def _writer(self, served: _Served) -> None:
        conn, transport = served.conn, served.transport
        while True:
            out = conn.outbox()
            if out:
                encode = (served.codec or self.codec).encode
                try:
                    await transport.send_frames([encode(m) for m in out])
                except TransportClosedError:
                    return
                continue
            if conn.closed:
                return
            await served.changed.wait()


async def serve_reference_exchange(endpoint: ServerEndpoint, exchange: ReferenceExchange,
                                   codec: Codec | None = None, *, heartbeats: bool = True,
                                   task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED,
                                   ) -> None:
    """Serve ``exchange`` to every client ``endpoint`` accepts, until cancelled.

    Start it with ``await tasks.start(serve_reference_exchange, endpoint, exchange)`` (an
    AnyIO task group, or a trio nursery): that returns the :class:`ExchangeServer` handle.
    """
    server = ExchangeServer(exchange, codec or JsonCodec())
    await server.serve(endpoint, heartbeats=heartbeats, task_status=task_status)
