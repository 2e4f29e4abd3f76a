"""The object registered under the ``mesolive`` entry point of ``sessionkit.adapters``.

Its transport carries reference-protocol frames over a SignalR hub (``/hubs/session/v1``,
see :mod:`._session_hub`): ``connector(url=...)`` opens client connections, and ``serve()``
runs a :class:`~.sim.hubserver.HubServer` on 127.0.0.1 whose session-hub connections are
accepted as transports (what the conformance suite and the simulator use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio

from sessionkit import ConfigError

from ._session_hub import SESSION_HUB_PATH, SessionHubConnector, SessionHubEndpoint
from .sim.hubserver import HubServer

__all__ = ["MesoLiveAdapter", "adapter"]


class MesoLiveAdapter:
    """Reference-protocol sessions over ASP.NET Core SignalR (JSON hub protocol, WebSockets,
    stateful reconnect).

    >>> adapter.name, sorted(adapter.capabilities)[:3]
    ('mesolive', ['ack_mid', 'backpressure', 'batch'])
    """

    name = "mesolive"
    #: every capability of the reference protocol: the transport moves whole frames in
    #: order, both ways, bounded (a sender waits while the far side's buffer is full), and
    #: reports closes with their reason; everything else is the session core's. ``tcp``: the
    #: conformance suite may put its fault proxy in front of the hub server
    capabilities = frozenset({"session", "ack_mid", "batch", "run_id", "event_replay",
                              "backpressure", "heartbeat", "idempotency", "reconnect", "tcp"})
    #: real sockets under the conformance suite's MockClock: jump ahead only once every task
    #: has been idle this long in real time (frames are in flight meanwhile)
    conformance_clock = "virtual:0.1"
    #: the largest frame carried whole whatever its bytes: a frame travels in one hub
    #: message of at most 1 MiB (the hub server's ``max_message_size``) as a JSON string,
    #: up to 6 bytes per byte once escaped, or in base64; a message over the limit ends the
    #: connection (TransportClosedError naming the size). The conformance suite keeps its codecs
    #: under it; a session's default codec (1 MiB) is not (see docs/adapters.md)
    max_frame_size = 128 * 1024

    def connector(self, url: str | None = None, *, token: str | None = None,
                  token_factory: Any = None, **options: Any) -> SessionHubConnector:
        """A connector to the session hub at ``url`` (``http://host:port/hubs/session/v1``).

        ``token``/``token_factory``: the bearer token; other options go to the
        :class:`~.signalr.HubConnection` (``websocket``, ``keepalive_interval``...).
        """
        if url is None:
            raise ConfigError("the mesolive adapter's connector needs "
                              "url='http://HOST:PORT/hubs/session/v1'")
        return SessionHubConnector(url, token=token, token_factory=token_factory, **options)

    def serve(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
              server: HubServer | None = None,
              **options: Any) -> AbstractAsyncContextManager[SessionHubEndpoint]:
        """``async with adapter.serve() as endpoint``: a hub server on ``host:port`` (0: a
        free port) with the session hub; ``endpoint.accept()`` gives each client connection,
        ``endpoint.connector()`` connects to it. ``token``: the only bearer token accepted
        (None: any). ``server``: serve this :class:`HubServer` (with its other hubs) instead
        of a new one. ``options`` go to the new :class:`HubServer`."""
        if server is not None and options:
            raise ConfigError(f"serve(server=...) takes no HubServer options, got "
                              f"{sorted(options)}")
        return _serving(host, port, token, server, options)

    def __repr__(self) -> str:
        return "<sessionkit mesolive adapter (SignalR)>"


@asynccontextmanager
async def _serving(host: str, port: int, token: str | None, server: HubServer | None,
                   options: dict[str, Any]) -> AsyncIterator[SessionHubEndpoint]:
    from .sim.app import serve

    if server is None:
        validator = None if token is None else (lambda t: "user" if t == token else None)
        server = HubServer(token_validator=validator, **options)
    endpoint = SessionHubEndpoint(server, path=SESSION_HUB_PATH, token=token)
    async with anyio.create_task_group() as nursery:
        bound = await nursery.start(serve, server, host, port)
        endpoint.base_url = f"http://{host}:{bound}"
        try:
            yield endpoint
        finally:
            nursery.cancel_scope.cancel()


adapter = MesoLiveAdapter()
"""The object the ``mesolive`` entry point of ``sessionkit.adapters`` names."""
