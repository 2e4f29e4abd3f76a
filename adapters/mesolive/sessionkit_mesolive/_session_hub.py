"""Reference-protocol frames over a SignalR hub: the MesoLive adapter's transport.

The session hub (``/hubs/session/v1`` on the simulator) carries the frames of the core's JSON
codec, in batches, both ways:

* client -> server: the hub method ``SendFrames(frames)``, invoked (not fire-and-forget): the
  hub answers once the frames are in the server's inbound buffer, so the client's sender task
  waits while that is full (backpressure end to end), and an error answer (the hub refused
  them) ends the connection with a reason naming it. The client's ``send_frames`` only puts
  the frames in a bounded send queue: the session's owner task waits only while that is
  full, never for an answer, so its timers keep running while the network stalls;
* server -> client: the callback ``OnFrames(frames)``.

A frame travels as a JSON string when it is valid UTF-8 (every frame the JSON codec makes),
else as ``{"Base64": "..."}`` so that any bytes survive. An ``OnFrames`` item that is neither
(a number, an object without a valid ``Base64``...) does not cost the batch: the valid items
are delivered in order, and the bad one is handed to the session in its place as the JSON text
it was, so that the session's codec reports it as a protocol error carrying it (and a warning
here names what was wrong with it). One SignalR connection is one
:class:`~sessionkit.runtime.Transport`: :class:`SessionHubConnector` opens one per
``connect()``, and :class:`SessionHubEndpoint` (on a
:class:`~.sim.hubserver.HubServer`) accepts one per client connection. Stateful reconnect
rides out a network blip inside one transport; a connection that cannot be resumed ends the
transport (``TransportClosedError``) and the runtime reconnects and resumes the session.
"""

from __future__ import annotations

import base64
import logging
import math
from collections import deque
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.lowlevel
import msgspec

from sessionkit import ConfigError
from sessionkit.runtime import ConnectError, TransportClosedError

from ._detached import start_detached
from ._frame_queues import FrameInbox, FrameOutbox, Wakeup
from .signalr import HubConnection, HubError, Reconnected, ReconnectPolicy, SignalRError
from .sim.hubserver import HubCallContext, HubMethodError, HubServer, ServerConnection

__all__ = ["SESSION_HUB_PATH", "SEND_FRAMES", "ON_FRAMES", "encode_frames", "decode_frames",
           "SessionHubTransport", "SessionHubConnector", "SessionHubEndpoint",
           "ServerSessionTransport", "check_hub_url"]

logger = logging.getLogger(__name__)

SESSION_HUB_PATH = "/hubs/session/v1"
"""The path of the hub that carries reference-protocol sessions."""
SEND_FRAMES = "SendFrames"
ON_FRAMES = "OnFrames"
DEFAULT_MAX_BUFFER = 4096
"""Frames a receiving side holds before its sender waits."""
DEFAULT_MAX_SEND_QUEUE = 16384
"""Frames a client's send queue holds before ``send_frames`` waits (above the session's
window, ``max_in_flight``, so a session under its window never waits)."""
DEFAULT_MAX_SEND_QUEUE_BYTES = 16 << 20
"""Bytes a client's send queue holds before ``send_frames`` waits."""
MAX_SEND_BATCH_BYTES = 128 << 10
"""Frame bytes one ``SendFrames`` invocation carries at most (one frame at least): far
below the hub server's 1 MiB message limit even with JSON escaping."""
DEFAULT_LINGER = 0.5
"""Seconds ``aclose`` lets queued frames (a logout) go out first."""

#: resume the same SignalR connection after a blip, a few quick attempts; beyond that the
#: transport ends and the session runtime reconnects
SESSION_RECONNECT = ReconnectPolicy(initial=0.05, max=0.5, max_attempts=4, first_immediate=True)


def encode_frames(frames: list[bytes]) -> list[Any]:
    """The hub-message form of ``frames``.

    >>> encode_frames([b'{"type":"heartbeat"}', b"\\xff"])
    ['{"type":"heartbeat"}', {'Base64': '/w=='}]
    """
    out: list[Any] = []
    for frame in frames:
        try:
            out.append(bytes(frame).decode("utf-8"))
        except UnicodeDecodeError:
            out.append({"Base64": base64.b64encode(frame).decode("ascii")})
    return out


def decode_frames(items: Any) -> list[bytes]:
    """Frames from their hub-message form; raises ValueError naming a malformed item."""
    if not isinstance(items, list):
        raise ValueError(f"frames must be a JSON array, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(item.encode("utf-8"))
        elif isinstance(item, dict) and isinstance(item.get("Base64"), str):
            try:
                out.append(base64.b64decode(item["Base64"], validate=True))
            except ValueError:
                raise ValueError(f"frames[{i}].Base64 is not base64") from None
        else:
            raise ValueError(f"frames[{i}] must be a string or {{'Base64': ...}}, got "
                             f"{type(item).__name__}")
    return out


def decode_frames_keeping_bad(items: Any) -> tuple[list[bytes], list[str]]:
    """:func:`decode_frames` that loses nothing: every item becomes a frame, in order. An item
    that is not a frame becomes the JSON text it was (the session's codec then reports it,
    carrying it); the second list names what was wrong with each such item.

    >>> frames, problems = decode_frames_keeping_bad(['{"type":"heartbeat"}', 42,
    ...                                               {"Base64": "!"}])
    >>> frames
    [b'{"type":"heartbeat"}', b'42', b'{"Base64":"!"}']
    >>> problems[1]
    'frames[2].Base64 is not base64'
    """
    if not isinstance(items, list):
        return [_as_text(items)], [f"frames must be a JSON array, got {type(items).__name__}"]
    frames: list[bytes] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        try:
            frames += decode_frames([item])
        except ValueError as exc:
            frames.append(_as_text(item))
            problems.append(str(exc).replace("frames[0]", f"frames[{i}]"))
    return frames, problems


def _as_text(item: Any) -> bytes:
    try:
        return msgspec.json.encode(item)
    except (TypeError, ValueError, OverflowError):  # not JSON data (cannot come from the wire)
        return repr(item).encode("utf-8", "replace")


# -- the client side ------------------------------------------------------------------------


class SessionHubTransport:
    """One client connection to the session hub (made by :class:`SessionHubConnector`).

    The SignalR connection lives in a detached task (trio's system task, or an asyncio
    task: a transport is opened and closed from whatever task the runtime uses), started by
    :meth:`_start` and ended by :meth:`aclose` or by the server.

    :meth:`send_frames` hands the frames to a bounded send queue and returns: it waits only
    while that queue is full (``max_send_queue`` frames or ``max_send_queue_bytes`` bytes),
    never for the hub's answer, so the session's owner task keeps its timers (offline
    detection, ACK timeouts) running while the network stalls. A sender task of the
    connection carries the queue to the hub in ``SendFrames`` invocations, one at a time,
    in order, each holding what was queued meanwhile (up to ``MAX_SEND_BATCH_BYTES``). An
    invocation the hub answers with an error ends the transport with a reason naming it
    (``TransportClosedError`` from the next ``send_frames`` / ``receive_frames``): frames are
    never dropped in silence.
    """

    def __init__(self, url: str, *, token_factory: Any = None,
                 max_buffer: int = DEFAULT_MAX_BUFFER,
                 max_send_queue: int = DEFAULT_MAX_SEND_QUEUE,
                 max_send_queue_bytes: int = DEFAULT_MAX_SEND_QUEUE_BYTES,
                 linger: float = DEFAULT_LINGER, **options: Any) -> None:
        check_send_options(max_send_queue=max_send_queue,
                           max_send_queue_bytes=max_send_queue_bytes, linger=linger)
        self.url = url
        self._inbox = FrameInbox(max_buffer)
        self._outbox = FrameOutbox(max_send_queue, max_send_queue_bytes)
        self._linger = linger
        self._conn = HubConnection(url, token_factory=token_factory, stateful_reconnect=True,
                                   reconnect=options.pop("reconnect", SESSION_RECONNECT),
                                   **options)
        self._conn.on(ON_FRAMES, self._on_frames)
        self._conn.on_closed(self._on_closed)
        self._conn.on_reconnected(self._on_reconnected)
        self._up = anyio.Event()
        self._stop = anyio.Event()
        self._done = anyio.Event()
        self._error: BaseException | None = None
        self._connect_scope: anyio.CancelScope | None = None

    def __repr__(self) -> str:
        state = "open" if self._inbox.closed is None else f"closed: {self._inbox.closed}"
        return f"<SessionHubTransport {self.url} {state}>"

    @property
    def send_queue_peak(self) -> int:
        """The most frames that waited in the send queue (or for the hub's answer) at once."""
        return self._outbox.peak

    async def _start(self) -> None:
        self._connect_scope = scope = anyio.CancelScope()
        start_detached(self._life, name=f"session hub {self.url}")
        try:
            await self._up.wait()
        except BaseException:  # cancelled: the connect half-way through is abandoned too
            self._stop.set()
            scope.cancel()
            raise
        if self._error is not None:
            raise ConnectError(_connect_reason(self._error, self.url))

    async def _life(self) -> None:
        scope = self._connect_scope
        assert scope is not None  # set by _start
        try:
            with scope:  # cancelled by a connect() cancelled before the connection was up
                async with self._conn, anyio.create_task_group() as tg:
                    tg.start_soon(self._sender)
                    self._up.set()
                    await self._stop.wait()
                    tg.cancel_scope.cancel()
        except Exception as exc:  # a detached task must not raise
            self._error = exc
            self._end(f"the session hub connection failed: {exc}")
        finally:
            self._up.set()
            self._end("the connection is closed")
            self._done.set()

    def _end(self, reason: str) -> None:
        """Close both queues (the first reason given is the one reported) and stop."""
        self._inbox.close(reason)
        self._outbox.close()
        self._stop.set()

    async def _sender(self) -> None:
        """Carry the send queue to the hub, one ``SendFrames`` at a time, in order."""
        while True:
            try:
                frames = await self._outbox.take(MAX_SEND_BATCH_BYTES)
            except anyio.ClosedResourceError:
                return
            try:
                await self._conn.invoke(SEND_FRAMES, encode_frames(frames))
            except HubError as exc:
                self._end(f"the session hub refused {len(frames)} frames ({SEND_FRAMES} "
                          f"answered with an error): {exc}")
                return
            except SignalRError as exc:
                self._end(f"sending frames failed: {exc}")
                return
            except Exception as exc:  # a bug: end this connection, naming it
                logger.exception("session hub: sending frames failed")
                self._end(f"sending frames failed: {type(exc).__name__}: {exc}")
                return
            self._outbox.sent()

    async def _on_frames(self, items: Any = None) -> None:
        frames, problems = decode_frames_keeping_bad(items)
        for problem in problems:
            logger.warning("session hub: malformed OnFrames item from the server (handed to "
                           "the session, which reports it): %s", problem)
        await self._inbox.put(frames)

    def _on_closed(self, error: BaseException | None) -> None:
        self._end(str(error) if error is not None else "closed by this side")

    def _on_reconnected(self, info: Reconnected) -> None:
        if info.new_connection:  # the server's end of the old connection is gone
            self._end("the session hub connection was lost and could not be resumed")

    async def send_frames(self, frames: list[bytes]) -> None:
        """Queue ``frames`` for the hub, in order; waits only while the send queue is full
        (backpressure), never for the hub's answer."""
        if self._inbox.closed is None and self._outbox.full():
            # While the reader of our inbox (the session's owner task, here) waits for room,
            # OnFrames must not wait for inbox room: the answer that makes room may be behind
            # them on the connection (both directions flooding would deadlock).
            self._inbox.hold_off = True
            self._inbox.release_writers()
            try:
                await self._outbox.wait_for_room()
            finally:
                self._inbox.hold_off = False
        else:
            await anyio.lowlevel.checkpoint_if_cancelled()
        if self._inbox.closed is not None:
            raise TransportClosedError(self._inbox.closed)
        self._outbox.put(frames)

    async def receive_frames(self) -> list[bytes]:
        return await self._inbox.take()

    async def aclose(self) -> None:
        """Close: what was queued still goes out for up to ``linger`` seconds (a logout),
        unless the connection is already down or the call is cancelled."""
        try:
            if self._inbox.closed is None:
                with anyio.move_on_after(self._linger):
                    await self._outbox.wait_drained()
        finally:
            self._end("closed by this side")
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                await self._done.wait()
        await anyio.lowlevel.checkpoint()


def check_send_options(*, max_send_queue: object = DEFAULT_MAX_SEND_QUEUE,
                       max_send_queue_bytes: object = DEFAULT_MAX_SEND_QUEUE_BYTES,
                       linger: object = DEFAULT_LINGER) -> None:
    """ValueError naming the option when a send-queue option cannot work.

    >>> check_send_options(max_send_queue=0)
    Traceback (most recent call last):
    ...
    ValueError: max_send_queue must be an integer >= 1, got 0
    """
    for name, value in (("max_send_queue", max_send_queue),
                        ("max_send_queue_bytes", max_send_queue_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if (isinstance(linger, bool) or not isinstance(linger, int | float)
            or not 0 <= linger < math.inf):
        raise ValueError(f"linger must be a number of seconds >= 0, got {linger!r}")


def _connect_reason(exc: BaseException, url: str) -> str:
    from ._hubs import signalr_error

    if isinstance(exc, SignalRError | HubError):
        return str(signalr_error(exc, f"connecting to {url}"))
    return f"connecting to {url}: {type(exc).__name__}: {exc}"


def check_hub_url(url: object) -> str:
    """``url`` when it can name a hub (``http(s)://HOST:PORT/...``), else ConfigError naming
    the value: a bad port is refused here, not after a connect timeout.

    >>> check_hub_url("http://127.0.0.1:70000/hubs/session/v1")
    Traceback (most recent call last):
    ...
    sessionkit._errors.ConfigError: url 'http://127.0.0.1:70000/hubs/session/v1': the port must...
    """
    if not isinstance(url, str):
        raise ConfigError(f"url must be a string like http://HOST:PORT{SESSION_HUB_PATH}, got "
                          f"{type(url).__name__} {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"url {url!r} must look like http://HOST:PORT{SESSION_HUB_PATH} "
                          f"(http or https, with a host)")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ConfigError(f"url {url!r}: the port must be a number in 1-65535")
    return url


class SessionHubConnector:
    """Opens :class:`SessionHubTransport` connections to ``url`` (the session hub's URL).

    ``token`` (or ``token_factory``): the bearer token the hub server checks.
    ``max_buffer``, ``max_send_queue``, ``max_send_queue_bytes``, ``linger``: see
    :class:`SessionHubTransport`. Other options go to :class:`~.signalr.HubConnection`.
    """

    def __init__(self, url: str, *, token: str | None = None, token_factory: Any = None,
                 **options: Any) -> None:
        if token is not None and token_factory is not None:
            raise ValueError("give token= or token_factory=, not both")
        self.url = check_hub_url(url)
        check_send_options(**{k: options[k] for k in ("max_send_queue", "max_send_queue_bytes",
                                                      "linger") if k in options})
        self._token_factory = token_factory if token is None else (lambda: token)
        self._options = options
        self.attempts = 0

    def __repr__(self) -> str:
        return f"<SessionHubConnector {self.url}>"

    async def connect(self) -> SessionHubTransport:
        self.attempts += 1
        transport = SessionHubTransport(self.url, token_factory=self._token_factory,
                                        **dict(self._options))
        await transport._start()
        return transport


# -- the server side ------------------------------------------------------------------------


class ServerSessionTransport:
    """The server's end of one session-hub connection (see :class:`SessionHubEndpoint`)."""

    def __init__(self, conn: ServerConnection, max_buffer: int) -> None:
        self.connection = conn
        self._inbox = FrameInbox(max_buffer)

    def __repr__(self) -> str:
        return f"<ServerSessionTransport {self.connection.connection_id}>"

    async def send_frames(self, frames: list[bytes]) -> None:
        if self._inbox.closed is not None:
            raise TransportClosedError(self._inbox.closed)
        try:
            await self.connection.send(ON_FRAMES, encode_frames(frames))
        except SignalRError as exc:
            self._inbox.close(self._inbox.closed or f"the client connection is gone: {exc}")
            raise TransportClosedError(self._inbox.closed or "closed") from None

    async def receive_frames(self) -> list[bytes]:
        return await self._inbox.take()

    async def aclose(self) -> None:
        self._inbox.close("closed by this side")
        with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
            await self.connection.close("the server closed the session")
        await anyio.lowlevel.checkpoint()


class SessionHubEndpoint:
    """The session hub on a :class:`HubServer`: each client connection is accepted as a
    :class:`ServerSessionTransport`. ``base_url`` (``http://host:port``) makes
    :meth:`connector` work; ``token`` is what that connector sends."""

    def __init__(self, server: HubServer, *, path: str = SESSION_HUB_PATH,
                 base_url: str | None = None, token: str | None = None,
                 max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.server = server
        self.path = path
        self.base_url = base_url
        self.token = token
        self.max_buffer = max_buffer
        self.hub = server.hubs.get(path) or server.add_hub(path)
        self.hub.method(SEND_FRAMES)(self._send_frames)
        self.hub.on_connected(self._connected)
        self.hub.on_disconnected(self._disconnected)
        self._pending: deque[ServerSessionTransport] = deque()
        self._accept_lot = Wakeup()
        self.transports: list[ServerSessionTransport] = []

    @property
    def url(self) -> str:
        if self.base_url is None:
            raise RuntimeError("SessionHubEndpoint.base_url is not set (the server is not "
                               "being served yet)")
        return self.base_url + self.path

    @property
    def tcp_address(self) -> tuple[str, int]:
        """``(host, port)`` the hub server listens on (the ``tcp`` capability)."""
        parts = urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    def connector(self, *, via: tuple[str, int] | None = None,
                  **options: Any) -> SessionHubConnector:
        """A connector to this hub; ``via``: through that ``(host, port)`` instead (a proxy
        in front of the server)."""
        options.setdefault("token", self.token)
        url = self.url
        if via is not None:
            host = f"[{via[0]}]" if ":" in str(via[0]) else via[0]
            url = urlunsplit(urlsplit(url)._replace(netloc=f"{host}:{via[1]}"))
        return SessionHubConnector(url, **options)

    async def accept(self) -> ServerSessionTransport:
        await anyio.lowlevel.checkpoint_if_cancelled()
        while not self._pending:
            await self._accept_lot.wait()
        transport = self._pending.popleft()
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return transport

    def drop_connections(self) -> int:
        """Fault: cut every open connection like a network failure, forgetting it (no
        resume); returns how many."""
        n = 0
        for t in self.transports:
            if t._inbox.closed is None:
                self.server.forget(t.connection)
                n += 1
        return n

    def _connected(self, conn: ServerConnection) -> None:
        transport = ServerSessionTransport(conn, self.max_buffer)
        conn.items["session_transport"] = transport
        self.transports = [t for t in self.transports if t._inbox.closed is None]
        self.transports.append(transport)
        self._pending.append(transport)
        self._accept_lot.wake_all()

    def _disconnected(self, conn: ServerConnection, error: BaseException | None) -> None:
        transport = conn.items.get("session_transport")
        if transport is not None:
            transport._inbox.close(f"the client connection ended: {error}" if error
                                   else "the client closed the connection")

    async def _send_frames(self, ctx: HubCallContext, items: Any = None) -> None:
        transport = ctx.connection.items.get("session_transport")
        if transport is None:
            raise HubMethodError("no session on this connection")
        try:
            frames = decode_frames(items)
        except ValueError as exc:
            raise HubMethodError(str(exc)) from None
        await transport._inbox.put(frames)
