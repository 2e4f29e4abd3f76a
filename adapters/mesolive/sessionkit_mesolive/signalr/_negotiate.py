"""Sans-IO pieces of the HTTP negotiate step (client and server side) and URL building.

``POST {hub}/negotiate?negotiateVersion=1`` answers either a connection (ids plus the available
transports), a redirect (``url`` and perhaps ``accessToken``), or an ``error``. Version 1 adds
``connectionToken`` (what goes in ``id=`` on the transport URL); version 0 servers only send
``connectionId``, which then doubles as the token.

>>> from sessionkit_mesolive.signalr import negotiate_url, websocket_url
>>> negotiate_url("http://127.0.0.1:5000/hubs/control/v1", stateful=True)
'http://127.0.0.1:5000/hubs/control/v1/negotiate?negotiateVersion=1&useStatefulReconnect=true'
>>> websocket_url("https://h/hubs/x?a=1", "tok/en")
'wss://h/hubs/x?a=1&id=tok%2Fen'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import attrs
import msgspec

from ._errors import AuthenticationError, NegotiateError

__all__ = [
    "NegotiateResponse",
    "NegotiateRedirect",
    "negotiate_url",
    "websocket_url",
    "parse_negotiate_response",
    "build_negotiate_response",
]


@attrs.frozen
class NegotiateResponse:
    """A usable negotiate answer."""

    connection_id: str
    connection_token: str
    negotiate_version: int
    transports: tuple[str, ...]
    stateful_reconnect: bool


@attrs.frozen
class NegotiateRedirect:
    """The server sent the client elsewhere (e.g. Azure SignalR Service)."""

    url: str
    access_token: str | None = attrs.field(default=None, repr=False)


def _with_query(url: str, params: list[tuple[str, str]], *, path_suffix: str = "") -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {k for k, _ in query}
    query.extend((k, v) for k, v in params if k not in names)
    path = parts.path.rstrip("/") + path_suffix if path_suffix else parts.path
    return urlunsplit(
        (parts.scheme, parts.netloc, path, urlencode(query, quote_via=quote, safe=""), "")
    )


def negotiate_url(hub_url: str, *, stateful: bool = False, version: int = 1) -> str:
    """The negotiate URL for ``hub_url`` (query strings on the hub URL are kept)."""
    scheme = urlsplit(hub_url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"hub URL must start with http:// or https://, got {hub_url!r}")
    params = [("negotiateVersion", str(version))]
    if stateful:
        params.append(("useStatefulReconnect", "true"))
    return _with_query(hub_url, params, path_suffix="/negotiate")


def websocket_url(
    hub_url: str, connection_token: str | None, *, access_token: str | None = None
) -> str:
    """The WebSocket URL: ws(s) scheme, ``id=<token>`` and optionally ``access_token``."""
    parts = urlsplit(hub_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"hub URL must be http(s) or ws(s), got {hub_url!r}")
    params: list[tuple[str, str]] = []
    if connection_token:
        params.append(("id", connection_token))
    if access_token:
        params.append(("access_token", access_token))
    return _with_query(urlunsplit((scheme, *parts[1:])), params)


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "<empty body>"


def parse_negotiate_response(status: int, body: bytes) -> NegotiateResponse | NegotiateRedirect:
    """Interpret the HTTP status and body of a negotiate request."""
    if status in (401, 403):
        raise AuthenticationError(
            f"negotiate was refused with HTTP {status}: the bearer token is missing, invalid "
            f"or not allowed ({_excerpt(body)})",
            status_code=status,
        )
    if status == 404:
        raise NegotiateError(
            "negotiate returned HTTP 404: this URL is not a SignalR hub, or a proxy blocks it",
            status_code=status,
        )
    if status != 200:
        raise NegotiateError(
            f"negotiate returned HTTP {status}: {_excerpt(body)}", status_code=status
        )
    try:
        data: Any = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise NegotiateError(f"negotiate answer is not JSON: {_excerpt(body)}") from None
    if not isinstance(data, dict):
        raise NegotiateError(f"negotiate answer must be a JSON object, got {type(data).__name__}")
    if data.get("error"):
        raise NegotiateError(f"server refused the negotiate: {data['error']}")
    if "ProtocolVersion" in data:
        raise NegotiateError(
            "this is an ASP.NET (not ASP.NET Core) SignalR server, which is not supported"
        )
    url = data.get("url")
    if url:
        if not isinstance(url, str):
            raise NegotiateError(
                f"negotiate redirect field 'url' must be a string, got {url!r:.60}"
            )
        token = data.get("accessToken")
        if token is not None and not isinstance(token, str):
            raise NegotiateError("negotiate redirect field 'accessToken' must be a string")
        return NegotiateRedirect(url, token)
    version = data.get("negotiateVersion") or 0
    if type(version) is not int:
        raise NegotiateError(
            f"negotiate field 'negotiateVersion' must be an integer, got {version!r:.40}"
        )
    connection_id = data.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        raise NegotiateError(f"negotiate answer lacks a 'connectionId' string: {_excerpt(body)}")
    token = data.get("connectionToken") if version >= 1 else connection_id
    if not isinstance(token, str) or not token:
        raise NegotiateError(
            f"negotiate version {version} answer lacks a 'connectionToken' string: {_excerpt(body)}"
        )
    transports_raw = data.get("availableTransports") or []
    if not isinstance(transports_raw, list):
        raise NegotiateError("negotiate field 'availableTransports' must be an array")
    transports: list[str] = []
    for entry in transports_raw:
        if isinstance(entry, dict) and isinstance(entry.get("transport"), str):
            formats = entry.get("transferFormats") or []
            if entry["transport"] != "WebSockets" or "Text" in formats:
                transports.append(entry["transport"])
    if "WebSockets" not in transports:
        raise NegotiateError(
            f"server does not offer the WebSockets transport with text frames "
            f"(offers {transports or 'nothing'})"
        )
    return NegotiateResponse(
        connection_id=connection_id,
        connection_token=token,
        negotiate_version=version,
        transports=tuple(transports),
        stateful_reconnect=data.get("useStatefulReconnect") is True,
    )


def build_negotiate_response(
    *, version: int, connection_id: str, connection_token: str, stateful: bool
) -> bytes:
    """Server side: the JSON body ASP.NET Core sends for a WebSockets-only hub."""
    body: dict[str, Any] = {"connectionId": connection_id}
    if version >= 1:
        body = {
            "negotiateVersion": 1,
            "connectionId": connection_id,
            "connectionToken": connection_token,
        }
    else:
        body["negotiateVersion"] = 0
    body["availableTransports"] = [
        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
    ]
    if stateful:
        body["useStatefulReconnect"] = True
    return msgspec.json.encode(body)
