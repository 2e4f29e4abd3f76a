"""The server side: one ROUTER socket, each client connection an accepted transport.

One pump task owns the ROUTER's FD (and its monitor's, through one epoll descriptor): it
reads every ready message, routes it by routing id to that connection's
:class:`ServerTransport`, and turns monitor ``disconnected`` events into closed transports.
A connection is accepted when its first message (the client's hello) arrives: a ROUTER
learns a peer's routing id from its messages. Sends go straight to the ROUTER from the
sending task, which then wakes the pump if the send consumed its read signal.
``ROUTER_MANDATORY`` makes a vanished peer an error (the transport closes) and a peer at its
high-water mark a wait, never a silent drop.
"""

from __future__ import annotations

import errno
import logging
import select
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import zmq

from sessionkit import ConfigError
from sessionkit.runtime import TransportClosedError

from ._address import check_endpoint, split_tcp_endpoint
from ._client import ZmqConnector
from ._framing import close_message, parse_multipart
from ._keys import CurveClient, CurveServer, KeyPair, fingerprint
from ._monitor import (
    SERVER_EVENTS,
    attach_monitor,
    close_monitor,
    drain_monitor,
    protocol_error_text,
)
from ._options import SocketOptions
from ._zap import ZapHandler
from ._zmq_fd import NOBLOCK, POLLIN, FdWaiter, Wakeup, events, fileno

__all__ = ["ZmqServerEndpoint", "ServerTransport", "serve_endpoint"]

logger = logging.getLogger(__name__)

MAX_BATCH = 65536
#: frames one connection may have waiting unread before the server drops it (flood guard;
#: in bytes the bound is SocketOptions.max_inbound_bytes)
MAX_UNREAD = 1 << 18
#: while a send waits on a full peer, it re-tries at least this often: libzmq signals
#: "some peer became writable" on the ROUTER's FD, not which one, and a command processed by
#: another task's call can hide that signal
BLOCKED_RECHECK = 0.01


class ServerTransport:
    """One client connection accepted by a :class:`ZmqServerEndpoint`."""

    def __init__(self, endpoint: ZmqServerEndpoint, identity: bytes, *, user_id: str | None,
                 peer_address: str | None, number: int) -> None:
        self._ep = endpoint
        self.identity = identity
        #: the client's CURVE public key (Z85) as the ZAP handler vouched for it, or None
        self.user_id = user_id
        self.peer_address = peer_address
        self.number = number
        self._frames: deque[bytes] = deque()
        #: bytes of the frames in ``_frames`` (bounded by ``max_inbound_bytes``)
        self._unread_bytes = 0
        self._lot = Wakeup()
        self._closed: str | None = None
        self.frames_received = 0
        self.frames_sent = 0

    def __repr__(self) -> str:
        who = f" key {fingerprint(self.user_id.encode())}" if self.user_id else ""
        state = f"closed: {self._closed}" if self._closed else "open"
        return f"<ServerTransport #{self.number} {self.peer_address}{who} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def receive_frames(self) -> list[bytes]:
        await anyio.lowlevel.checkpoint_if_cancelled()
        while not self._frames:
            if self._closed is not None:
                raise TransportClosedError(self._closed)
            await self._lot.wait()
        out = list(self._frames)
        self._frames.clear()
        self._unread_bytes = 0
        self.frames_received += len(out)
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return out

    async def send_frames(self, frames: Sequence[bytes]) -> None:
        await self._ep._send(self, frames)

    def abort(self, reason: str = "connection aborted by the server") -> None:
        """Close at once: tell the client (best effort), drop unread frames."""
        self._ep._close_peer(self, reason, local=True)

    async def aclose(self) -> None:
        self._ep._close_peer(self, "closed by the server", local=True)
        await anyio.lowlevel.checkpoint()


class ZmqServerEndpoint:
    """A listening ROUTER (see :func:`serve_endpoint`). ``endpoint`` is the bound address."""

    def __init__(self, ctx: zmq.Context[Any], sock: zmq.Socket[Any], mon: zmq.Socket[Any],
                 endpoint: str, options: SocketOptions, curve: CurveServer | None,
                 client_keys: KeyPair | None) -> None:
        self._ctx = ctx
        self._sock = sock
        self._mon = mon
        self.endpoint = endpoint
        self.options = options
        self.curve = curve
        self._client_keys = client_keys
        self._waiter = FdWaiter([sock, mon])
        self._pending_poll = select.poll()
        self._pending_poll.register(fileno(sock), select.POLLIN)
        self._peers: dict[bytes, ServerTransport] = {}
        self._by_fd: dict[int, ServerTransport] = {}
        self._retired: dict[bytes, None] = {}
        self._pending: deque[ServerTransport] = deque()
        self._accept_lot = Wakeup()
        self._io_lot = Wakeup()
        self._closed: str | None = None
        self._zap: ZapHandler | None = None
        self.connections = 0
        self.handshake_failures: list[str] = []

    def __repr__(self) -> str:
        mech = "CURVE" if self.curve else "NULL"
        return f"<ZmqServerEndpoint {self.endpoint} ({mech}, {len(self._peers)} connections)>"

    @property
    def server_key(self) -> bytes | None:
        """The server's CURVE public key (give it to clients), or None without CURVE."""
        return self.curve.keypair.public if self.curve else None

    @property
    def tcp_address(self) -> tuple[str, int]:
        """``(host, port)`` this endpoint listens on (the ``tcp`` capability: the
        conformance suite puts its fault proxy in front of it)."""
        host, port = split_tcp_endpoint(self.endpoint, what="the bound endpoint")
        return host.strip("[]"), port

    def connector(self, *, curve: CurveClient | None = None,
                  options: SocketOptions | None = None, via: tuple[str, int] | None = None,
                  **extra: Any) -> ZmqConnector:
        """A connector to this endpoint. With CURVE and no ``curve`` given, it uses the
        client key pair made by ``serve(curve=True)`` (or a fresh one if any key is let in).
        ``via``: connect to that ``(host, port)`` instead (a proxy in front of this endpoint),
        with the same keys and options."""
        if extra:
            raise ConfigError(f"ZmqServerEndpoint.connector takes curve=, options= and via=, "
                              f"got {sorted(extra)}")
        if curve is None and self.curve is not None:
            keys = self._client_keys or (KeyPair.generate() if self.curve.allow_any else None)
            if keys is None:
                raise ConfigError("this endpoint's CURVE allow-list was given by the caller: "
                                  "pass curve=CurveClient(...) with an allowed client key")
            curve = CurveClient(keypair=keys, server_key=self.curve.keypair.public)
        endpoint = self.endpoint
        if via is not None:
            if not (isinstance(via, tuple) and len(via) == 2):
                raise ConfigError(f"via must be (host, port), got {via!r}")
            host = f"[{via[0]}]" if ":" in str(via[0]) else via[0]
            endpoint = f"tcp://{host}:{via[1]}"
        return ZmqConnector(endpoint, curve=curve, options=options or self.options)

    def connections_open(self) -> list[ServerTransport]:
        return list(self._peers.values())

    async def accept(self) -> ServerTransport:
        """The next client connection (known by the hello its client sends on connecting)."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        while not self._pending:
            if self._closed is not None:
                raise TransportClosedError(f"server endpoint {self.endpoint} is closed: "
                                           f"{self._closed}")
            await self._accept_lot.wait()
        t = self._pending.popleft()
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return t

    def drop_connections(self, reason: str = "connection dropped by the server") -> int:
        """Close every open connection (each client is told ``reason``)."""
        peers = list(self._peers.values())
        for t in peers:
            self._close_peer(t, reason, local=True)
        return len(peers)

    # -- the pump ----------------------------------------------------------------------

    async def _pump(self) -> None:
        sock, mon = self._sock, self._mon
        try:
            while True:
                self._drain()  # data first: a close notice explains the disconnect after it
                self._check_monitor()
                ready = events(sock) & POLLIN or \
                    events(mon) & POLLIN
                if self._io_lot:  # this pump's calls processed commands: blocked sends re-try
                    self._io_lot.wake_all()
                if ready:
                    await anyio.lowlevel.checkpoint()
                    continue
                await self._waiter.wait()
        except anyio.ClosedResourceError:
            return

    def _drain(self) -> None:
        sock = self._sock
        recv = sock.recv
        get = sock.getsockopt
        RCVMORE = zmq.RCVMORE
        max_unread_bytes = self.options.max_inbound_bytes
        touched: set[ServerTransport] = set()
        try:
            for _ in range(MAX_BATCH):
                ident = recv(NOBLOCK)
                if not get(RCVMORE):  # pragma: no cover - a ROUTER always adds a routing id
                    continue
                t = self._peers.get(ident)
                if t is None:
                    zf = recv(NOBLOCK, copy=False)
                    payload = zf.bytes
                    t = self._new_peer(ident, zf)
                else:
                    payload = recv(NOBLOCK)
                if get(RCVMORE):
                    parts = [payload]
                    while get(RCVMORE):
                        parts.append(recv(NOBLOCK))
                    data, closing = parse_multipart(parts)
                    if closing is not None:
                        if t is not None:
                            self._close_peer(t, f"the client closed the connection: {closing}",
                                             local=False)
                            touched.discard(t)
                        continue
                    if data is None:
                        continue
                    payload = data
                if t is None or t._closed is not None:
                    continue
                t._frames.append(payload)
                t._unread_bytes += len(payload)
                touched.add(t)
                if len(t._frames) > MAX_UNREAD or t._unread_bytes > max_unread_bytes:
                    self._close_peer(t, f"the client sent over {MAX_UNREAD} frames or "
                                        f"{max_unread_bytes} bytes the server did not read "
                                        f"(max_inbound_bytes)", local=True)
        except zmq.Again:
            pass
        for t in touched:
            t._lot.wake_all()

    def _new_peer(self, ident: bytes, frame: zmq.Frame) -> ServerTransport | None:
        if ident in self._retired or self._closed is not None:
            return None  # a closed connection's late messages
        self._check_monitor()  # disconnects first: a reused fd must not close the newcomer

        def prop(name: Any) -> Any:
            try:
                return frame.get(name)
            except (zmq.ZMQError, ValueError, TypeError):
                return None

        fd = prop(zmq.SRCFD)
        self.connections += 1
        t = ServerTransport(self, ident, user_id=prop("User-Id") or None,
                            peer_address=prop("Peer-Address"), number=self.connections)
        if isinstance(fd, int) and fd >= 0:
            old = self._by_fd.get(fd)
            if old is not None:  # its socket was closed before this one took its number
                self._close_peer(old, "the client disconnected", local=False)
            self._by_fd[fd] = t
            t._fd = fd  # type: ignore[attr-defined]
        self._peers[ident] = t
        self._pending.append(t)
        self._accept_lot.wake_all()
        logger.debug("accepted connection #%d from %s", t.number, t.peer_address)
        return t

    def _check_monitor(self) -> None:
        for ev in drain_monitor(self._mon):
            if ev.event == zmq.EVENT_DISCONNECTED:
                t = self._by_fd.pop(ev.value, None)
                # the connection's last frames may have reached the socket's queue since the
                # last drain (a full queue holds them back until it is read): read them all
                # first, so that they are delivered before the close
                while events(self._sock) & POLLIN:
                    self._drain()
                if t is not None:
                    self._close_peer(t, "the client disconnected (connection lost)", local=False)
            elif ev.event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._handshake_failed(f"a client's CURVE key was refused (ZAP status "
                                       f"{ev.value})")
            elif ev.event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                self._handshake_failed(f"a handshake failed: {protocol_error_text(ev.value)}")
            elif ev.event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                self._handshake_failed("a handshake failed (the client closed the connection)")

    def _handshake_failed(self, what: str) -> None:
        logger.info("%s: %s", self.endpoint, what)
        self.handshake_failures.append(what)
        del self.handshake_failures[:-100]

    # -- sending and closing ---------------------------------------------------------------

    def _after_io(self) -> None:
        """A zmq call by a task other than the pump may have consumed the pump's signal."""
        if self._waiter.parked and events(self._sock) & POLLIN:
            self._waiter.wake()

    async def _send(self, t: ServerTransport, frames: Sequence[bytes]) -> None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        sock = self._sock
        ident = t.identity
        n = len(frames)
        i = 0
        waited = False
        retried_at = -1
        flags = NOBLOCK | zmq.SNDMORE
        while i < n:
            if t._closed is not None:
                raise TransportClosedError(t._closed)
            try:
                while i < n:
                    sock.send(ident, flags)
                    sock.send(frames[i], NOBLOCK)
                    i += 1
            except zmq.Again:  # the peer is at its high-water mark: wait, never drop
                # Were commands pending (some peer's "writable again")? EVENTS processes them
                # all: then others blocked re-try too, and so does this send, once.
                pending = bool(self._pending_poll.poll(0))
                ready = events(sock)
                if ready & POLLIN and self._waiter.parked:
                    self._waiter.wake()
                if pending and self._io_lot:
                    self._io_lot.wake_all()
                if retried_at != i:  # re-try once right after EVENTS processed commands
                    retried_at = i
                    continue
                retried_at = -1
                with anyio.move_on_after(BLOCKED_RECHECK):
                    await self._io_lot.wait()
                waited = True
            except zmq.ZMQError as exc:
                if exc.errno == errno.EHOSTUNREACH:
                    self._close_peer(t, "the client disconnected (host unreachable)",
                                     local=False)
                    raise TransportClosedError(t._closed or "closed") from None
                if exc.errno == zmq.ENOTSOCK or self._closed is not None:
                    raise TransportClosedError(f"server endpoint {self.endpoint} is closed") \
                        from None
                raise
        t.frames_sent += n
        self._after_io()
        if self._io_lot:
            self._io_lot.wake_all()
        if not waited:
            await anyio.lowlevel.cancel_shielded_checkpoint()

    def _close_peer(self, t: ServerTransport, reason: str, *, local: bool) -> None:
        if t._closed is not None:
            return
        t._closed = f"this side is closed: {reason}" if local else reason
        self._peers.pop(t.identity, None)
        self._retired[t.identity] = None
        if len(self._retired) > 100_000:
            for k in list(self._retired)[:50_000]:
                del self._retired[k]
        fd = getattr(t, "_fd", None)
        if fd is not None and self._by_fd.get(fd) is t:
            del self._by_fd[fd]
        if t in self._pending:
            self._pending.remove(t)
        if local:
            t._frames.clear()
            t._unread_bytes = 0
            if self._closed is None:
                try:
                    self._sock.send_multipart([t.identity, *close_message(reason)], NOBLOCK)
                    self._after_io()
                except zmq.ZMQError:
                    pass
        logger.debug("connection #%d closed: %s", t.number, reason)
        t._lot.wake_all()
        self._io_lot.wake_all()

    async def aclose(self, reason: str = "the server shut down") -> None:
        """Stop listening, close every connection (clients are told ``reason``) and release
        the address (idempotent; closes at once even when cancelled)."""
        if self._closed is None:
            self._shutdown(reason)
            if self._zap is not None:
                self._zap.close()
        if not self._ctx.closed:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._ctx.term)
        await anyio.lowlevel.checkpoint()

    def _shutdown(self, reason: str) -> None:
        if self._closed is not None:
            return
        for t in list(self._peers.values()):
            self._close_peer(t, reason, local=True)
        self._closed = reason
        for t in self._pending:
            t._closed = reason
        self._accept_lot.wake_all()
        self._waiter.close()
        close_monitor(self._sock, self._mon)
        self._sock.close(linger=int(self.options.linger * 1000))


def _resolve_curve(curve: CurveServer | bool | None) -> tuple[CurveServer | None, KeyPair | None]:
    if curve is None or curve is False:
        return None, None
    if curve is True:
        client = KeyPair.generate()
        return CurveServer(keypair=KeyPair.generate(), allow=[client.public]), client
    if isinstance(curve, CurveServer):
        return curve, None
    raise ConfigError(f"curve must be True, False or a CurveServer, got {type(curve).__name__}")


def _bind(sock: zmq.Socket[Any], bind: str) -> str:
    if bind.startswith("tcp://") and bind.endswith(":0"):
        bind = bind[:-2] + ":*"
    try:
        sock.bind(bind)
    except zmq.ZMQError as exc:
        raise ConfigError(f"cannot bind {bind}: {exc}") from None
    endpoint: bytes = sock.getsockopt(zmq.LAST_ENDPOINT)  # type: ignore[assignment]
    return endpoint.decode()


@asynccontextmanager
async def serve_endpoint(bind: str = "tcp://127.0.0.1:*", *,
                         curve: CurveServer | bool | None = True,
                         options: SocketOptions | None = None,
                         ) -> AsyncIterator[ZmqServerEndpoint]:
    """Listen on ``bind`` until the block ends.

    ``curve``: True (the default) makes a fresh server key pair and a fresh client key pair,
    the only one allowed in, which :meth:`ZmqServerEndpoint.connector` uses; a
    :class:`CurveServer` gives the keys and allow-list; False serves without CURVE.
    """
    check_endpoint(bind, what="bind", bind=True)
    options = options or SocketOptions()
    server_curve, client_keys = _resolve_curve(curve)
    ctx: zmq.Context[Any] = zmq.Context(io_threads=1)
    zap: ZapHandler | None = None
    sock = mon = None
    try:
        if server_curve is not None:
            zap = ZapHandler(ctx, server_curve)  # before bind: no window without the allow-list
        sock = ctx.socket(zmq.ROUTER)
        options.apply_server(sock)
        if server_curve is not None:
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, server_curve.keypair.public)
            assert server_curve.keypair.secret is not None
            sock.setsockopt(zmq.CURVE_SECRETKEY, server_curve.keypair.secret)
            sock.setsockopt(zmq.ZAP_DOMAIN, b"sessionkit")
        mon = attach_monitor(ctx, sock, SERVER_EVENTS)
        endpoint = ZmqServerEndpoint(ctx, sock, mon, _bind(sock, bind), options, server_curve,
                                     client_keys)
        endpoint._zap = zap
    except BaseException:
        if zap is not None:
            zap.close()
        if sock is not None:
            if mon is not None:
                close_monitor(sock, mon)
            sock.close(linger=0)
        ctx.term()
        raise
    logger.info("serving on %s (%s)", endpoint.endpoint,
                f"CURVE, server key {fingerprint(server_curve.keypair.public)}"
                if server_curve else "no CURVE")
    try:
        async with anyio.create_task_group() as tg:
            if zap is not None:
                tg.start_soon(zap.run)
            tg.start_soon(endpoint._pump)
            try:
                yield endpoint
            finally:
                tg.cancel_scope.cancel()
    finally:
        await endpoint.aclose()
