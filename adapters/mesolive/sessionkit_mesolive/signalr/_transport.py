"""I/O for the client, on asyncio or trio: the negotiate request (httpx) and the WebSocket.

Both WebSocket libraries are wrapped in the same small interface, :class:`WebSocketChannel`,
so the client and the benchmark can use either:

* ``"websockets"`` (the default, on both loops): the ``websockets`` package's sans-IO
  protocol driven over AnyIO streams by :mod:`._websocket`: one code path for asyncio and
  trio. Measured with ``tools/bench_signalr.py --backend both --one-path`` (medians of 3
  runs x 2000 calls, figures in ``docs/signalr.md``): it costs the whole client 33 % less
  CPU per call than ``websockets.trio`` under trio, and 19 % more than websockets' own
  asyncio client under asyncio (AnyIO's asyncio socket streams pause and resume reading
  around every receive). A second code path for asyncio would have to earn 20 %: it does not;
* ``"trio-websocket"``: the ``trio-websocket`` package (wsproto underneath), under trio only.

Failures are mapped to this package's exceptions: a refused connection token (HTTP 404 on the
upgrade) is :class:`TokenRefusedError`, HTTP 401/403 is :class:`AuthenticationError`, anything
else :class:`TransportError`. Tokens never reach a log line: the ``websockets`` logger used
here and the ``trio-websocket`` logger redact ``Authorization`` values and ``access_token``
parameters.
"""

from __future__ import annotations

import logging
import re
from types import TracebackType
from typing import Any, Literal, Protocol, get_args

import anyio
import httpx

from .._detached import current_backend
from ._errors import AuthenticationError, NegotiateError, TokenRefusedError, TransportError
from ._negotiate import (
    NegotiateRedirect,
    NegotiateResponse,
    negotiate_url,
    parse_negotiate_response,
)

__all__ = [
    "WebSocketChannel",
    "WEBSOCKET_LIBRARIES",
    "open_websocket",
    "negotiate",
    "default_websocket_library",
]

logger = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"(access_token=)[^&\s]+|(Bearer )\S+", re.IGNORECASE)


class _RedactTokens(logging.Filter):
    """Removes bearer tokens from log records (the websockets library logs headers at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        def clean(value: Any) -> Any:
            if isinstance(value, str) and ("access_token=" in value or "earer " in value):
                return _TOKEN_RE.sub(lambda m: (m.group(1) or m.group(2)) + "<redacted>", value)
            return value

        if isinstance(record.args, tuple):
            record.args = tuple(clean(a) for a in record.args)
        record.msg = clean(record.msg)
        return True


_ws_logger = logging.getLogger(__name__ + ".websockets")
_ws_logger.addFilter(_RedactTokens())
# trio-websocket logs the request target (query string included) at DEBUG on its own logger.
logging.getLogger("trio-websocket").addFilter(_RedactTokens())


class WebSocketChannel(Protocol):
    """An open WebSocket carrying text frames."""

    async def send_text(self, data: bytes) -> None:
        """Send UTF-8 ``data`` as one text frame (raises :class:`TransportError` when broken)."""

    async def receive(self) -> bytes | str:
        """The next message (raises :class:`TransportError` when the socket closed)."""


class _TrioWebsocketChannel:
    __slots__ = ("_ws", "_closed_exc")

    def __init__(self, ws: Any, closed_exc: type[BaseException]) -> None:
        self._ws = ws
        self._closed_exc = closed_exc

    async def send_text(self, data: bytes) -> None:
        try:
            await self._ws.send_message(data.decode("utf-8"))
        except self._closed_exc as exc:
            raise TransportError(
                f"WebSocket closed while sending: {getattr(exc, 'reason', exc)}"
            ) from None

    async def receive(self) -> bytes | str:
        try:
            return await self._ws.get_message()  # type: ignore[no-any-return]
        except self._closed_exc as exc:
            raise TransportError(f"WebSocket closed: {getattr(exc, 'reason', exc)}") from None


class _Closer:
    """``__aexit__`` for a WebSocket of :mod:`._websocket` (the closing handshake)."""

    __slots__ = ("_ws", "_close_timeout")

    def __init__(self, ws: Any, close_timeout: float) -> None:
        self._ws = ws
        self._close_timeout = close_timeout

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._ws.aclose(self._close_timeout)


def _status_error(status: int, url_has_id: bool) -> Exception:
    if status in (401, 403):
        return AuthenticationError(
            f"WebSocket upgrade refused with HTTP {status}: bearer token missing or invalid",
            status_code=status,
        )
    if status == 404 and url_has_id:
        return TokenRefusedError(
            "the server does not know this connection token any more (HTTP 404 on the "
            "WebSocket upgrade)"
        )
    return TransportError(f"WebSocket upgrade refused with HTTP {status}")


class _OpenWebSocket:
    """Async context manager opening one WebSocket with the chosen library."""

    def __init__(
        self,
        library: WebSocketLibrary,
        url: str,
        headers: list[tuple[str, str]],
        *,
        max_size: int,
        open_timeout: float,
        close_timeout: float,
    ) -> None:
        if library not in WEBSOCKET_LIBRARIES:
            raise ValueError(
                f"unknown WebSocket library {library!r}; "
                f"choose one of {sorted(WEBSOCKET_LIBRARIES)}"
            )
        self._library = library
        self._url = url
        self._headers = headers
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._cm: Any = None
        self._has_id = "id=" in url

    async def __aenter__(self) -> WebSocketChannel:
        if self._library == "websockets":
            return await self._enter_websockets()
        return await self._enter_trio_websocket()

    async def _enter_websockets(self) -> WebSocketChannel:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        from ._websocket import connect_websocket

        try:
            ws = await connect_websocket(
                self._url, self._headers, max_size=self._max_size,
                open_timeout=self._open_timeout, logger=_ws_logger)
        except InvalidStatus as exc:
            raise _status_error(exc.response.status_code, self._has_id) from None
        except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
            raise TransportError(f"cannot open the WebSocket: {exc!r}") from None
        self._cm = _Closer(ws, self._close_timeout)
        return ws

    async def _enter_trio_websocket(self) -> WebSocketChannel:
        if current_backend() != "trio":
            raise TransportError(
                "the trio-websocket library runs under trio only: under asyncio use "
                "websocket='websockets' (the default)"
            )
        from trio_websocket import (
            ConnectionClosed,
            ConnectionRejected,
            HandshakeError,
            open_websocket_url,
        )

        self._cm = open_websocket_url(
            self._url,
            extra_headers=[(k.encode(), v.encode()) for k, v in self._headers],
            max_message_size=self._max_size,
            message_queue_size=64,
            connect_timeout=self._open_timeout,
            disconnect_timeout=self._close_timeout,
        )
        try:
            ws = await self._cm.__aenter__()
        except ConnectionRejected as exc:
            raise _status_error(exc.status_code, self._has_id) from None
        except (OSError, HandshakeError, ConnectionClosed, TimeoutError) as exc:
            raise TransportError(f"cannot open the WebSocket: {exc!r}") from None
        except BaseExceptionGroup as group:  # trio-websocket may wrap connect errors
            match, _rest = group.split((OSError, HandshakeError))
            if match is None:
                raise
            raise TransportError(f"cannot open the WebSocket: {match.exceptions[0]!r}") from None
        return _TrioWebsocketChannel(ws, ConnectionClosed)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        cm, self._cm = self._cm, None
        if cm is None:
            return False
        try:
            with anyio.move_on_after(self._close_timeout + 1.0) as scope:
                scope.shield = exc_type is anyio.get_cancelled_exc_class()
                await cm.__aexit__(None, None, None)
        except Exception as close_exc:  # closing a broken socket may fail: nothing to save
            logger.debug("error while closing the WebSocket: %r", close_exc)
        except BaseExceptionGroup as group:
            logger.debug("errors while closing the WebSocket: %r", group)
        return False


TokenTransport = Literal["header", "query", "auto"]
"""How the bearer token travels: the Authorization header, the ``access_token`` query
parameter, or ``"auto"``: the header, and the query parameter if the upgrade answers 401."""

WebSocketLibrary = Literal["websockets", "trio-websocket"]
"""The WebSocket libraries the client can use."""

WEBSOCKET_LIBRARIES = frozenset(get_args(WebSocketLibrary))


def default_websocket_library() -> WebSocketLibrary:
    """``"websockets"`` (a dependency; on either loop)."""
    return "websockets"


def open_websocket(
    url: str,
    headers: list[tuple[str, str]],
    *,
    library: WebSocketLibrary = "websockets",
    max_size: int = 4 * 1024 * 1024,
    open_timeout: float = 10.0,
    close_timeout: float = 1.0,
) -> _OpenWebSocket:
    """``async with open_websocket(url, headers) as channel:`` -- see :class:`WebSocketChannel`."""
    return _OpenWebSocket(
        library,
        url,
        headers,
        max_size=max_size,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
    )


async def negotiate(
    client: httpx.AsyncClient,
    hub_url: str,
    *,
    token: str | None,
    stateful: bool,
    headers: dict[str, str] | None = None,
    max_redirects: int = 100,
) -> tuple[str, str | None, NegotiateResponse]:
    """Run negotiate, following redirects.

    Returns ``(hub_url, token, answer)``: the URL and token to use for the transport (a
    redirect can change both).
    """
    url = hub_url
    for _ in range(max_redirects):
        request_headers = dict(headers or {})
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        target = negotiate_url(url, stateful=stateful)
        try:
            response = await client.post(target, headers=request_headers, content=b"")
        except httpx.HTTPError as exc:
            raise TransportError(f"negotiate request to {url} failed: {exc!r}") from None
        answer = parse_negotiate_response(response.status_code, response.content)
        if isinstance(answer, NegotiateRedirect):
            logger.debug("negotiate redirected to %s", answer.url.split("?", 1)[0])
            url = answer.url
            if answer.access_token:
                token = answer.access_token
            continue
        return url, token, answer
    raise NegotiateError(f"negotiate redirection limit of {max_redirects} exceeded")
