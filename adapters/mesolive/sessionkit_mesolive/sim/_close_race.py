"""A guard for a race in hypercorn's trio server (seen with 0.18.0) that the simulator hits.

When a client closes a WebSocket just as the application's handler returns, two tasks of
one hypercorn connection touch its socket at once: the reader answers the client's close
frame (``send_all``, under the connection's send lock) while the application's side closes
the connection (``send_eof``, outside that lock). trio detects the overlap and raises
:class:`trio.BusyResourceError` in the sender; hypercorn lets it escape, and the exception
ends the whole server, every other connection with it. The connection was closing either
way, so :func:`install` makes the sender treat it as closed, as hypercorn already does for
``BrokenResourceError`` and ``ClosedResourceError``.
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.events import Closed
from hypercorn.trio import run as _run
from hypercorn.trio import tcp_server as _tcp_server

__all__ = ["install"]


class _TCPServer(_tcp_server.TCPServer):
    async def protocol_send(self, event: Any) -> None:
        try:
            await super().protocol_send(event)
        except trio.BusyResourceError:  # the connection is being closed meanwhile
            await self.protocol.handle(Closed())


def install() -> None:
    """Make hypercorn's trio worker build its connections with the guard (idempotent)."""
    if getattr(_run, "TCPServer", None) is _tcp_server.TCPServer:
        setattr(_run, "TCPServer", _TCPServer)  # noqa: B010 - hypercorn does not export it
