"""A generic ASP.NET Core SignalR hub server for simulators and tests (ASGI; asyncio or trio).

It serves several hubs on one port, like an ASP.NET Core app with ``MapHub<T>`` calls:
negotiate (versions 0 and 1), the WebSocket transport, bearer-token checks, the JSON hub
protocol (versions 1 and 2), keep-alive, invocations, server-to-client streams, server-initiated
calls, Close messages, stateful reconnect and fault injection.

Registering a hub -- the API a domain simulator plugs into::

    server = HubServer(token_validator=lambda token: users.get(token))   # None -> HTTP 401
    hub = server.add_hub("/hubs/control/v1")

    @hub.method("GetAccounts")             # hub method names are case-insensitive
    async def get_accounts(ctx, args):      # ctx: HubCallContext; then the call's arguments
        return [...]                        # the result (any JSON value); sync handlers work too

    @hub.method("Fail")
    def fail(ctx):
        raise HubMethodError("no such account")   # -> Completion with this error text

    @hub.stream("StreamPrices")            # async generator: each yield is a StreamItem
    async def stream_prices(ctx, args):
        while True:
            yield {"Price": 1.0}            # CancelInvocation from the client cancels it
            await anyio.sleep(1)

    hub.on_connected(lambda conn: ...)      # after the handshake (sync or async)
    hub.on_disconnected(lambda conn, error: ...)  # once the connection is gone for good

    await conn.send("OnEvent", payload)     # server -> one client (conn = ctx.connection)
    await hub.send_all("OnEvent", payload)  # server -> every connection of the hub
    conn.groups.add("strategy:12"); await hub.send_group("strategy:12", "OnEvent", payload)

``ctx`` (:class:`HubCallContext`) carries ``connection`` (:class:`ServerConnection`: ``user``
as returned by the token validator, ``connection_id``, ``items`` dict for per-connection state,
``groups``), ``hub`` and ``invocation_id``. Exceptions other than :class:`HubMethodError` are
logged and reported as ASP.NET Core does ("An unexpected error occurred invoking 'X' on the
server."), with the exception text appended when ``detailed_errors`` is on.

Invocations of one connection run one at a time, in order (ASP.NET Core's default
``MaximumParallelInvocationsPerClient = 1``); streams run concurrently.

Fault knobs (:attr:`HubServer.faults`, a :class:`FaultKnobs`): ``response_delay`` seconds
before every Completion; ``refuse_resume`` makes reconnects to a known token answer 404 (the
client must negotiate afresh); ``reject_tokens`` makes every token check fail (HTTP 401).
``resume_refusal`` says how a refused resume (or any unknown connection token) is answered:
``"http404"`` (ASP.NET Core), ``"close"`` (the WebSocket is accepted, then closed at once
with no message, as some third-party servers do) or ``"close_message"`` (accepted, a hub Close
message with ``allowReconnect``, then closed); ``drop_after_handshake`` drops every
WebSocket right after its handshake (a server that accepts and cuts at once).
``server.websocket_requests`` counts WebSocket upgrade requests (tests count reconnects with it).
``conn.drop()`` closes the WebSocket without a Close message (a network failure as the client
sees it); with stateful reconnect the connection waits ``resume_window`` seconds for the client.
``conn.close(error, allow_reconnect=...)`` sends a Close message. ``server.forget(conn)`` drops
it and forgets its token.

Serve it with :func:`sessionkit_mesolive.sim.app.serve` (hypercorn: its asyncio or trio worker).
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import attrs

from ..signalr import SignalRError, build_negotiate_response
from .hubserver_connection import HubCallContext, HubMethodError, ServerConnection

__all__ = [
    "HubServer",
    "Hub",
    "HubMethodError",
    "HubCallContext",
    "ServerConnection",
    "FaultKnobs",
    "RESUME_REFUSALS",
    "TokenValidator",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
TokenValidator = Callable[[str | None], Any]
"""Gets the bearer token (None when absent); returns the user (anything but None) or None."""


def _refusal(_inst: object, _attr: object, value: str) -> None:
    if value not in RESUME_REFUSALS:
        raise ValueError(
            f"resume_refusal must be one of {sorted(RESUME_REFUSALS)}, got {value!r}"
        )


RESUME_REFUSALS = frozenset({"http404", "close", "close_message"})
"""How a refused resume is answered: HTTP 404 on the upgrade (ASP.NET Core); the WebSocket
accepted and closed at once without a word (what some third-party servers do); or accepted,
then a hub Close message (``allowReconnect``) and the close."""


@attrs.define
class FaultKnobs:
    """Failure injection switches; change them at any time."""

    response_delay: float = 0.0
    refuse_resume: bool = False
    resume_refusal: str = attrs.field(default="http404", validator=_refusal)
    drop_after_handshake: bool = False
    reject_tokens: bool = False


class Hub:
    """One hub endpoint: its methods, streams, hooks and live connections."""

    def __init__(self, server: HubServer, path: str) -> None:
        self.server = server
        self.path = path
        self.methods: dict[str, Callable[..., Any]] = {}
        self.streams: dict[str, Callable[..., AsyncIterator[Any]]] = {}
        self._on_connected: list[Callable[..., Any]] = []
        self._on_disconnected: list[Callable[..., Any]] = []
        self.connections: dict[str, ServerConnection] = {}  # connection id -> connection

    def method(self, name: str) -> Callable[[F], F]:
        """Decorator registering ``handler(ctx, *args)`` as hub method ``name``."""

        def register(handler: F) -> F:
            if inspect.isasyncgenfunction(handler):
                raise TypeError(f"{name!r}: async generators are streams; use hub.stream()")
            self.methods[name.lower()] = handler
            return handler

        return register

    def stream(self, name: str) -> Callable[[F], F]:
        """Decorator registering the async generator ``handler(ctx, *args)`` as stream ``name``."""

        def register(handler: F) -> F:
            if not inspect.isasyncgenfunction(handler):
                raise TypeError(f"stream {name!r} must be an async generator function")
            self.streams[name.lower()] = handler
            return handler

        return register

    def on_connected(self, callback: Callable[[ServerConnection], Any]) -> None:
        self._on_connected.append(callback)

    def on_disconnected(
        self, callback: Callable[[ServerConnection, BaseException | None], Any]
    ) -> None:
        self._on_disconnected.append(callback)

    async def send_all(self, target: str, *args: Any) -> None:
        """Call client method ``target`` on every connection of this hub."""
        await self._send_many(list(self.connections.values()), target, args)

    async def send_group(self, group: str, target: str, *args: Any) -> None:
        """Call client method ``target`` on the connections in ``group``."""
        await self._send_many(
            [c for c in self.connections.values() if group in c.groups], target, args
        )

    async def _send_many(
        self, conns: Iterable[ServerConnection], target: str, args: tuple[Any, ...]
    ) -> None:
        for conn in conns:
            try:
                await conn.offer(target, *args)
            except SignalRError as exc:  # closed meanwhile: nothing to deliver
                logger.debug("skipping %r for %s: %s", target, conn, exc)


class HubServer:
    """Hubs plus the connection registry; see the module docstring for the API."""

    def __init__(
        self,
        *,
        token_validator: TokenValidator | None = None,
        stateful_reconnect: bool = True,
        keepalive_interval: float = 15.0,
        client_timeout: float = 30.0,
        resume_window: float = 15.0,
        buffer_size: int = 100_000,
        max_message_size: int = 1024 * 1024,
        detailed_errors: bool = False,
    ) -> None:
        self.token_validator = token_validator
        self.stateful_reconnect = stateful_reconnect
        self.keepalive_interval = keepalive_interval
        self.client_timeout = client_timeout
        self.resume_window = resume_window
        self.buffer_size = buffer_size
        self.max_message_size = max_message_size
        self.detailed_errors = detailed_errors
        self.faults = FaultKnobs()
        self.hubs: dict[str, Hub] = {}
        self._by_token: dict[str, ServerConnection] = {}
        self.websocket_requests = 0
        """WebSocket upgrade requests received (accepted or not)."""
        self.nursery: Any = None  # set while serving (tasks that outlive one WebSocket)

    def add_hub(self, path: str) -> Hub:
        """Create the hub served at ``path`` (e.g. ``/hubs/control/v1``)."""
        path = "/" + path.strip("/")
        if path in self.hubs:
            raise ValueError(f"a hub is already registered at {path!r}")
        hub = self.hubs[path] = Hub(self, path)
        return hub

    # --- used by the ASGI layer ----------------------------------------------------------

    def authenticate(self, token: str | None) -> Any:
        """The user for ``token``, or None when it must be refused."""
        if self.faults.reject_tokens:
            return None
        if self.token_validator is None:
            return True if token is None else token
        try:
            return self.token_validator(token)
        except Exception:
            logger.exception("token validator failed")
            return None

    def negotiate(self, hub: Hub, user: Any, *, version: int, stateful_requested: bool) -> bytes:
        """Register a new connection and return the negotiate body for it."""
        conn = self.new_connection(
            hub, user, version=version, stateful=stateful_requested and self.stateful_reconnect
        )
        if self.nursery is not None:  # a negotiated connection nobody opens is forgotten
            self.nursery.start_soon(conn.expire_if_unused)
        return build_negotiate_response(
            version=version,
            connection_id=conn.connection_id,
            connection_token=conn.connection_token,
            stateful=conn.stateful_allowed,
        )

    def new_connection(
        self, hub: Hub, user: Any, *, version: int, stateful: bool
    ) -> ServerConnection:
        connection_id = secrets.token_urlsafe(16)
        token = secrets.token_urlsafe(16) if version >= 1 else connection_id
        conn = ServerConnection(self, hub, user, connection_id, token, stateful_allowed=stateful)
        self._by_token[token] = conn
        return conn

    def lookup(self, token: str) -> ServerConnection | None:
        conn = self._by_token.get(token)
        if conn is not None and conn.started and self.faults.refuse_resume:
            return None
        return conn

    def unregister(self, conn: ServerConnection) -> None:
        if self._by_token.get(conn.connection_token) is conn:
            del self._by_token[conn.connection_token]
        conn.hub.connections.pop(conn.connection_id, None)

    def forget(self, conn: ServerConnection) -> None:
        """Drop ``conn`` and forget its token: a resume attempt gets HTTP 404."""
        self.unregister(conn)
        conn.drop()

    @property
    def connections(self) -> list[ServerConnection]:
        return list(self._by_token.values())
