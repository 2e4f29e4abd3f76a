""":class:`MesoLiveClient`: the three hub connections of one MesoLive user as one context.

::

    async with MesoLiveClient("https://host", token_factory=lambda: api_key) as client:
        accounts = await client.control.list_accounts()
        entry = await client.data.get_position_snapshot(position_id=7, include_position="All",
                                                        include_legs="None",
                                                        include_leg_groups="None")
        await client.events.subscribe_to_strategies(strategies=None)

The connections open in the order the reference recommends (Control, then Data, then Event)
with stateful reconnect on, so a short network drop is resumed without losing a call or a
callback. Register Event Hub handlers (``client.events.on(...)``) before entering the block
to see the active state the server pushes when the Event Hub connects. A refused token raises
:class:`~._hubs.MesoLiveAuthenticationError`; any other failure to connect raises
:class:`~._errors.MesoLiveSignalRError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from ._catalogue import Hub
from ._converters import MesoLiveConverter, default_converter
from ._hubs import ControlHub, DataHub, EventHub, HubClient, signalr_error
from .signalr import SIGNALR_RECONNECT, HubConnection, HubError, ReconnectPolicy, SignalRError

__all__ = ["MesoLiveClient", "DEFAULT_RECONNECT"]

logger = logging.getLogger(__name__)

DEFAULT_RECONNECT = SIGNALR_RECONNECT
"""Reconnect for ever: at once, then 0.5 s doubling up to 30 s, with jitter."""


class MesoLiveClient:
    """The Control, Data and Event hub clients of one user (see the module docstring).

    ``base_url``: the server's origin (``https://host``); the hub paths are appended.
    ``token_factory``: returns the MesoLive API key (sync or async), called before every
    negotiate and connect; never logged. ``reconnect``: the SignalR reconnect policy (None:
    none). ``call_timeout``: see :class:`~._hubs.HubClient`. Other keyword ``options`` go to
    every :class:`~.signalr.HubConnection` (``keepalive_interval``, ``server_timeout``,
    ``websocket``...).
    """

    def __init__(self, base_url: str, *, token_factory: Callable[[], Any] | None,
                 stateful_reconnect: bool = True,
                 reconnect: ReconnectPolicy | None = DEFAULT_RECONNECT,
                 call_timeout: float | None = None,
                 converter: MesoLiveConverter = default_converter,
                 **options: Any) -> None:
        self.base_url = base_url.rstrip("/")

        def connect(hub: Hub) -> HubConnection:
            return HubConnection(self.base_url + hub.path, token_factory=token_factory,
                                 stateful_reconnect=stateful_reconnect, reconnect=reconnect,
                                 **options)

        kw: dict[str, Any] = {"converter": converter, "call_timeout": call_timeout}
        self.control = ControlHub(connect(Hub.CONTROL), **kw)
        self.data = DataHub(connect(Hub.DATA), **kw)
        self.events = EventHub(connect(Hub.EVENT), **kw)
        self._stack: AsyncExitStack | None = None

    @property
    def hubs(self) -> tuple[HubClient, HubClient, HubClient]:
        """The three hub clients in connection order."""
        return (self.control, self.data, self.events)

    def __repr__(self) -> str:
        return f"<MesoLiveClient {self.base_url}>"

    async def __aenter__(self) -> MesoLiveClient:
        if self._stack is not None:
            raise RuntimeError("a MesoLiveClient can only be entered once")
        stack = self._stack = AsyncExitStack()
        try:
            for client in self.hubs:
                try:
                    await stack.enter_async_context(client.connection)
                except (SignalRError, HubError, OSError) as exc:
                    raise signalr_error(exc, f"connecting to {client.connection.url}") from exc
        except BaseException:
            self._stack = None
            await stack.aclose()
            raise
        logger.info("connected to the MesoLive hubs at %s", self.base_url)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the three connections (Event, Data, Control)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def drop_transports(self) -> None:
        """Fault injection: abort the three WebSockets as if the network failed."""
        for client in self.hubs:
            client.connection.drop_transport()
