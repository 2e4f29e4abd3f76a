"""The client side: a DEALER socket per connection, driven from AnyIO (asyncio or trio).

:class:`ZmqConnector` opens a connection and returns only once the ZMTP handshake (with
CURVE, the key exchange and the server's ZAP verdict) has succeeded, reading the socket
monitor; a refused key, a wrong server key, a mechanism mismatch or no answer within
``connect_timeout`` raise :class:`~sessionkit.runtime.ConnectError` naming the reason.

:class:`ZmqTransport` is one connection. ZeroMQ would reconnect a DEALER by itself, but a
reference-protocol session belongs to one connection (its login), so once connected a
disconnect ends the transport (:class:`~sessionkit.runtime.TransportClosedError`) and the
runtime's reconnect policy opens a new connection and session, resuming by event id.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any

import anyio
import zmq

from sessionkit.runtime import ConnectError, TransportClosedError

from ._address import check_endpoint
from ._framing import HELLO, close_message, parse_multipart
from ._keys import CurveClient, fingerprint
from ._monitor import (
    CLIENT_EVENTS,
    MonitorEvent,
    attach_monitor,
    close_monitor,
    drain_monitor,
    protocol_error_text,
)
from ._options import SocketOptions
from ._zmq_fd import NOBLOCK, POLLIN, POLLOUT, FdWaiter, events

__all__ = ["ZmqConnector", "ZmqTransport", "client_context"]

logger = logging.getLogger(__name__)

_RCVMORE = int(zmq.RCVMORE)

#: most frames returned by one receive_frames call (a fairness guard, far above normal batches)
MAX_BATCH = 65536

_context: zmq.Context[Any] | None = None


def client_context() -> zmq.Context[Any]:
    """The process-wide context of client sockets (one I/O thread)."""
    global _context
    if _context is None or _context.closed:
        _context = zmq.Context(io_threads=1)
    return _context


class ZmqConnector:
    """Opens client connections to ``endpoint`` (e.g. ``tcp://127.0.0.1:5555``)."""

    def __init__(self, endpoint: str, *, curve: CurveClient | None = None,
                 options: SocketOptions | None = None,
                 context: zmq.Context[Any] | None = None) -> None:
        check_endpoint(endpoint)
        if curve is not None and not isinstance(curve, CurveClient):
            raise TypeError(f"curve must be a CurveClient or None, got {type(curve).__name__}")
        self.endpoint = endpoint
        self.curve = curve
        self.options = options or SocketOptions()
        self._context = context

    @property
    def max_frame_size(self) -> int:
        """The largest frame the connection carries (the socket's ``MAXMSGSIZE``): the
        runtime refuses a codec whose limit is over it."""
        return self.options.max_message_size

    def __repr__(self) -> str:
        mech = f"CURVE, server key {fingerprint(self.curve.server_key)}" if self.curve else "NULL"
        return f"<ZmqConnector {self.endpoint} ({mech})>"

    async def connect(self) -> ZmqTransport:
        ctx = self._context or client_context()
        opts = self.options
        sock = ctx.socket(zmq.DEALER)
        mon: zmq.Socket[Any] | None = None
        try:
            opts.apply_client(sock)
            if self.curve is not None:
                sock.setsockopt(zmq.CURVE_SERVERKEY, self.curve.server_key)
                sock.setsockopt(zmq.CURVE_PUBLICKEY, self.curve.keypair.public)
                assert self.curve.keypair.secret is not None
                sock.setsockopt(zmq.CURVE_SECRETKEY, self.curve.keypair.secret)
            mon = attach_monitor(ctx, sock, CLIENT_EVENTS)
            try:
                sock.connect(self.endpoint)
            except zmq.ZMQError as exc:
                raise ConnectError(f"cannot connect to {self.endpoint!r}: {exc}") from None
            await self._handshake(mon)
            sock.send_multipart(HELLO, NOBLOCK)  # the server accepts the connection on it
        except BaseException:
            if mon is not None:
                close_monitor(sock, mon)
            sock.close(linger=0)
            raise
        logger.debug("connected to %s", self.endpoint)
        return ZmqTransport(sock, mon, self.endpoint, linger=opts.linger,
                            max_batch_bytes=opts.max_inbound_bytes)

    async def _handshake(self, mon: zmq.Socket[Any]) -> None:
        timeout = self.options.connect_timeout
        waiter = FdWaiter([mon])
        last: MonitorEvent | None = None
        retries = 0
        with anyio.move_on_after(timeout):
            while True:
                for ev in drain_monitor(mon):
                    if ev.event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        return
                    failure = self._failure(ev)
                    if failure is not None:
                        raise ConnectError(failure)
                    if ev.event == zmq.EVENT_CONNECT_RETRIED:
                        retries += 1
                    last = ev
                if events(mon) & POLLIN:
                    continue
                await waiter.wait()
        what = f"no TCP connection (refused or unreachable; {retries} retries)"
        if last is not None and last.event == zmq.EVENT_CONNECTED:
            what = "connected, but the handshake did not finish (no answer)"
        raise ConnectError(f"no connection to {self.endpoint} within {timeout} s: {what}")

    def _failure(self, ev: MonitorEvent) -> str | None:
        """The ConnectError reason for a monitor event that ends the attempt, else None."""
        where = self.endpoint
        if ev.event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            key = fingerprint(self.curve.keypair.public) if self.curve else "(none)"
            return (f"{where} refused this client's CURVE key {key} (ZAP status {ev.value}): "
                    f"the exchange does not have this public key on its allow-list")
        if ev.event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            text = protocol_error_text(ev.value)
            hint = ""
            if "mechanism mismatch" in text:
                hint = " (one side uses CURVE and the other does not)"
            elif "cryptographic" in text:
                hint = " (the CURVE keys do not match)"
            return f"handshake with {where} failed: {text}{hint}"
        if ev.event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            if self.curve is not None:
                return (f"the CURVE handshake with {where} failed: the server closed the "
                        f"connection. The server public key given "
                        f"({fingerprint(self.curve.server_key)}) is most likely not this "
                        f"server's, or the server does not use CURVE")
            return (f"handshake with {where} failed: the server closed the connection "
                    f"(it may require CURVE: pass curve=CurveClient(...))")
        return None


class ZmqTransport:
    """One client connection (see the module docstring). Use from one or two tasks: one
    receiving and one sending at a time."""

    def __init__(self, sock: zmq.Socket[Any], mon: zmq.Socket[Any], endpoint: str, *,
                 linger: float = 0.5, max_batch_bytes: int = 64 << 20) -> None:
        self._sock: zmq.Socket[Any] | None = sock
        self._mon = mon
        self._waiter = FdWaiter([sock, mon])
        self._mon_unread = True  # the monitor may hold events: read it before waiting
        self._linger_ms = int(linger * 1000)
        self._closed: str | None = None
        self.endpoint = endpoint
        self.frames_sent = 0
        self.frames_received = 0
        #: one read takes at most this many bytes (the rest stays in ZeroMQ's bounded queue)
        self.max_batch_bytes = max_batch_bytes

    def __repr__(self) -> str:
        state = f"closed: {self._closed}" if self._closed else "open"
        return f"<ZmqTransport {self.endpoint} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed is not None

    # -- receiving -------------------------------------------------------------------

    def _drain(self, sock: zmq.Socket[Any]) -> list[bytes]:
        """Every message ready now (non-blocking), control messages handled.

        It reads until ``zmq.Again`` (half a microsecond, as a plain recv) rather than
        asking ``EVENTS`` first (several: pyzmq builds an enum member per option read),
        and reads each message as plain bytes: a data message is single-part, so only a
        message whose first part is empty (a control message, or an empty frame) is asked
        whether more parts follow (``RCVMORE``)."""
        out: list[bytes] = []
        append = out.append
        recv, get = sock.recv, sock.get
        size, limit = 0, self.max_batch_bytes
        try:
            for _ in range(MAX_BATCH):
                frame = recv(NOBLOCK)
                if not frame and get(_RCVMORE):  # a control message: [b"", cmd...]
                    parts: list[bytes] = [frame]
                    while get(_RCVMORE):
                        parts.append(recv(NOBLOCK))
                    _, closing = parse_multipart(parts)
                    if closing is not None:
                        self._closed = f"the exchange closed the connection: {closing}"
                        break
                    continue
                append(frame)
                size += len(frame)
                if size >= limit:  # bounded in bytes: the rest waits in ZeroMQ's queue
                    break
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            self._closed = f"receiving from {self.endpoint} failed: {exc}"
        self.frames_received += len(out)
        return out

    def _check_monitor(self) -> None:
        for ev in drain_monitor(self._mon):
            if ev.event in (zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED,
                            zmq.EVENT_MONITOR_STOPPED) and self._closed is None:
                self._closed = (f"the connection to {self.endpoint} was lost ({ev.name}: the "
                                f"exchange went away, the network failed, a ZMTP heartbeat "
                                f"timed out, or a message passed ZMQ_MAXMSGSIZE)")
                logger.info("%s", self._closed)

    async def receive_frames(self) -> list[bytes]:
        """Wait for frames and return every one ready; TransportClosedError when it ends."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            sock = self._sock
            if sock is None:
                raise TransportClosedError(self._closed or "transport closed")
            frames = self._drain(sock)
            if frames:
                if not waited:
                    await anyio.lowlevel.cancel_shielded_checkpoint()
                return frames
            if self._closed is not None:
                self._teardown(0)
                raise TransportClosedError(self._closed)
            # A wake that brought no frame may be the monitor's (a disconnect): read it
            if waited or self._mon_unread:
                self._mon_unread = False
                self._check_monitor()
                if self._closed is not None:
                    continue  # one last drain: deliver what arrived before the loss
            if events(sock) & POLLIN:
                continue
            try:
                await self._waiter.wait()
            except anyio.ClosedResourceError:
                raise TransportClosedError(self._closed or "transport closed") from None
            waited = True

    # -- sending ---------------------------------------------------------------------

    def _send_some(self, sock: zmq.Socket[Any], frames: Sequence[bytes], i: int) -> int:
        """Send ``frames[i:]`` without waiting, up to ZeroMQ's SNDHWM; returns the index
        reached. Then wakes a task parked on the FD if the sends consumed its read signal
        (a send processes the socket's pending commands)."""
        send = sock.send
        n, start = len(frames), i
        try:
            while i < n:
                send(frames[i], NOBLOCK)
                i += 1
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            if exc.errno == errno.EMSGSIZE:  # pragma: no cover - DEALER has no limit here
                raise
            self._closed = f"sending to {self.endpoint} failed: {exc}"
            raise TransportClosedError(self._closed) from None
        finally:
            self.frames_sent += i - start
        if self._waiter.parked and events(sock) & POLLIN:
            self._waiter.wake()
        return i

    def _open_socket(self) -> zmq.Socket[Any]:
        sock = self._sock
        if sock is None or self._closed is not None:
            raise TransportClosedError(self._closed or "transport closed")
        return sock

    async def send_frames(self, frames: Sequence[bytes]) -> None:
        """Send ``frames`` in order; waits (never drops) while ZeroMQ's SNDHWM is reached.

        A cancellation point always; a schedule point only when it had to wait (when nothing
        blocked, the owner task goes straight on to receive_frames, which has one). If
        cancelled while waiting, the frames before the wait were sent and the rest not.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        sock = self._open_socket()
        i = self._send_some(sock, frames, 0)
        while i < len(frames):
            if not events(sock) & POLLOUT:
                self._check_monitor()
                if self._closed is not None:
                    raise TransportClosedError(self._closed)
                try:
                    await self._waiter.wait()
                except anyio.ClosedResourceError:
                    raise TransportClosedError(self._closed or "transport closed") from None
                sock = self._open_socket()
            i = self._send_some(sock, frames, i)

    def send_frames_nowait(self, frames: Sequence[bytes]) -> int:
        """Send what fits now without waiting; returns how many of ``frames`` went out.

        The runtime's :class:`~sessionkit.runtime.NonBlockingTransport`: a submitting task
        sends at once while the owner is parked in :meth:`receive_frames`. Past ZeroMQ's
        SNDHWM it stops and leaves the rest to the owner's :meth:`send_frames`. Raises
        TransportClosedError on a closed connection.
        """
        return self._send_some(self._open_socket(), frames, 0)

    # -- closing ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close (idempotent): tell the exchange, then release the socket. Queued frames
        (a logout) still go out for up to ``linger`` seconds."""
        sock = self._sock
        if sock is not None:
            linger = 0
            if self._closed is None:
                self._closed = "transport closed locally"
                linger = self._linger_ms
                try:
                    sock.send_multipart(close_message("closed by the client"), NOBLOCK)
                except zmq.ZMQError:
                    pass
            self._teardown(linger)
        await anyio.lowlevel.checkpoint()

    def _teardown(self, linger_ms: int) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._waiter.close()
        close_monitor(sock, self._mon)
        sock.close(linger=linger_ms)
