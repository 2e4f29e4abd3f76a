"""The ASGI face of :class:`~.hubserver.HubServer`: negotiate over HTTP, hubs over WebSocket.

Routes, for every hub path ``P``:

* ``POST P/negotiate?negotiateVersion=N[&useStatefulReconnect=true]``: token check (401), then
  the negotiate body of a new connection (version 0 or 1 answer, as ASP.NET Core does).
* WebSocket ``P?id=<token>``: token check (401), unknown token (404, or accepted and closed
  at once with the ``resume_refusal="close"`` fault), a second live socket for a
  connection without stateful reconnect (409); then the hub protocol. Without ``id`` a
  connection is created on the spot (the clients' "skip negotiation" mode).

The ``lifespan`` scope opens the nursery that connections use for work outliving one socket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import anyio

from .hubserver import Hub, HubServer

__all__ = ["HubServerApp"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _bearer(scope: Scope, query: dict[str, str]) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
    return query.get("access_token") or None


class _AsgiTransport:
    __slots__ = ("_receive", "_send", "disconnected")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.disconnected = False

    async def send(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def receive(self) -> bytes | str | None:
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                return text if text is not None else message.get("bytes") or b""
            if kind == "websocket.disconnect":
                self.disconnected = True
                return None


class HubServerApp:
    """ASGI 3 application serving a :class:`HubServer`."""

    def __init__(self, server: HubServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                break
        async with anyio.create_task_group() as nursery:
            self.server.nursery = nursery
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            nursery.cancel_scope.cancel()
        self.server.nursery = None
        await send({"type": "lifespan.shutdown.complete"})

    # --- HTTP ----------------------------------------------------------------------------

    @staticmethod
    async def _respond(
        send: Send, status: int, body: bytes, content_type: bytes = b"text/plain"
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _hub_for(self, path: str) -> Hub | None:
        return self.server.hubs.get("/" + path.strip("/"))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:  # drain the request body
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        path: str = scope["path"]
        if path.rstrip("/").endswith("/negotiate"):
            hub = self._hub_for(path.rstrip("/")[: -len("/negotiate")])
            if hub is not None:
                await self._negotiate(scope, send, hub)
                return
        if self._hub_for(path) is not None:
            await self._respond(send, 400, b"Only the WebSockets transport is served here.")
            return
        await self._respond(send, 404, b"Not Found")

    async def _negotiate(self, scope: Scope, send: Send, hub: Hub) -> None:
        if scope["method"] != "POST":
            await self._respond(send, 405, b"negotiate requires POST")
            return
        query = _query(scope)
        user = self.server.authenticate(_bearer(scope, query))
        if user is None:
            await self._respond(send, 401, b"Unauthorized")
            return
        try:
            version = int(query.get("negotiateVersion", "0"))
        except ValueError:
            await self._respond(send, 400, b"negotiateVersion must be an integer")
            return
        body = self.server.negotiate(
            hub,
            user,
            version=min(max(version, 0), 1),
            stateful_requested=query.get("useStatefulReconnect") == "true",
        )
        await self._respond(send, 200, body, b"application/json")

    # --- WebSocket -----------------------------------------------------------------------

    @staticmethod
    async def _deny(scope: Scope, send: Send, status: int, text: str) -> None:
        if "websocket.http.response" in scope.get("extensions", {}):
            body = text.encode()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        self.server.websocket_requests += 1
        hub = self._hub_for(scope["path"])
        if hub is None:
            await self._deny(scope, send, 404, "Not Found")
            return
        query = _query(scope)
        user = self.server.authenticate(_bearer(scope, query))
        if user is None:
            await self._deny(scope, send, 401, "Unauthorized")
            return
        token = query.get("id")
        if token is None:
            conn = self.server.new_connection(hub, user, version=1, stateful=False)
        else:
            found = self.server.lookup(token)
            if found is None or found.hub is not hub:
                refusal = self.server.faults.resume_refusal
                if refusal != "http404":
                    # accepted, then closed at once (with a hub Close message, or without)
                    await send({"type": "websocket.accept"})
                    if refusal == "close_message":
                        text = '{"type":7,"error":"No Connection with that ID",' \
                               '"allowReconnect":true}\x1e'
                        await send({"type": "websocket.send", "text": text})
                    await send({"type": "websocket.close", "code": 1000})
                    return
                await self._deny(scope, send, 404, "No Connection with that ID")
                return
            conn = found
        if not conn.can_attach():
            await self._deny(scope, send, 409, "Connection ID already in use")
            return
        await send({"type": "websocket.accept"})
        transport = _AsgiTransport(receive, send)
        await conn.serve_transport(transport)
        if not transport.disconnected:
            # A drop (fault or timeout) must look abnormal; a finished connection closes cleanly.
            code = 1000 if conn.closed else 1011
            try:
                await send({"type": "websocket.close", "code": code})
            except Exception as exc:  # the socket is already gone
                logger.debug("closing the WebSocket failed: %r", exc)
