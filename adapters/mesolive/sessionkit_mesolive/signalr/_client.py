"""The hub connection, on asyncio or trio: :class:`HubConnection` (public API, sending,
client methods).

The transport side -- negotiate, WebSocket, handshake, read/timer loops and reconnecting --
lives in :mod:`._supervisor`. See ``docs/signalr.md`` for the behaviour and its defaults.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import anyio
import anyio.abc
import httpx

from ._client_protocol import ClientProtocol
from ._errors import (
    BufferFullError,
    ConnectionClosedError,
    ConnectionLostError,
    HandlerBlockedError,
    SignalRError,
)
from ._events import ServerInvoked
from ._messages import Completion
from ._reconnect import SIGNALR_RECONNECT, ReconnectPolicy
from ._stream import HubStream, Overflow, StreamBuffer, check_buffer_options
from ._supervisor import ConnectionState, Reconnected, Supervisor, Waiter, maybe_await
from ._transport import TokenTransport, WebSocketLibrary, default_websocket_library

__all__ = ["HubConnection"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_RECONNECT = SIGNALR_RECONNECT
"""Retry forever: at once, then 0.5 s doubling to 30 s, +/-20 % jitter."""

TokenFactory = Callable[[], "str | None | Awaitable[str | None]"]


class HubConnection(Supervisor):
    """A client connection to one ASP.NET Core SignalR hub, on asyncio or trio (AnyIO).

    >>> async def main():  # doctest: +SKIP
    ...     async with HubConnection(url, token_factory=get_token, stateful_reconnect=True) as conn:
    ...         conn.on("OnOrderUpdate", handle_order_update)
    ...         accounts = await conn.invoke("ListAccounts", {})
    ...         async for prices in conn.stream("StreamPositionData", {"Include": "All"}):
    ...             ...

    ``url``: the hub URL (http or https). ``token_factory``: returns the bearer token, sync or
    async; called before every negotiate and every WebSocket connect; never logged.
    ``stateful_reconnect``: ask for stateful reconnect (resume + replay after a drop).
    ``reconnect``: the :class:`ReconnectPolicy`; None turns automatic reconnect off.
    ``keepalive_interval`` (15 s) / ``server_timeout`` (30 s): hub-protocol keep-alive.
    ``buffer_size``: replay-buffer bound in bytes (100 000). ``websocket``: ``"websockets"``
    (the default; asyncio and trio) or ``"trio-websocket"`` (trio only).
    ``token_transport``: ``"header"``, ``"query"`` (``access_token=``) or ``"auto"`` (header;
    query if the upgrade answers 401).
    ``rng``: randomness for the backoff jitter (seed it in tests).
    ``max_pending_invocations`` (1000): server-to-client invocations that may wait for the
    handlers; while that many wait the connection stops reading (back-pressure, nothing lost).
    """

    def __init__(
        self,
        url: str,
        *,
        token_factory: TokenFactory | None = None,
        stateful_reconnect: bool = False,
        reconnect: ReconnectPolicy | None = DEFAULT_RECONNECT,
        keepalive_interval: float = 15.0,
        server_timeout: float = 30.0,
        buffer_size: int = 100_000,
        max_message_size: int = 1024 * 1024,
        websocket: WebSocketLibrary | None = None,
        headers: Mapping[str, str] | None = None,
        token_transport: TokenTransport = "auto",
        http_timeout: float = 10.0,
        rng: random.Random | None = None,
        max_pending_invocations: int = 1000,
    ) -> None:
        if token_transport not in ("header", "query", "auto"):
            raise ValueError(
                f"token_transport must be 'header', 'query' or 'auto', got {token_transport!r}"
            )
        if (
            isinstance(max_pending_invocations, bool)
            or not isinstance(max_pending_invocations, int)
            or max_pending_invocations < 1
        ):
            raise ValueError(
                "max_pending_invocations must be an integer >= 1, got "
                f"{max_pending_invocations!r}"
            )
        self._max_pending_invocations = max_pending_invocations
        self.url = url
        self._token_factory = token_factory
        self._stateful_wanted = stateful_reconnect
        self._policy = reconnect
        self._headers = dict(headers or {})
        self._token_transport = token_transport
        self._http_timeout = http_timeout
        self._library = websocket or default_websocket_library()
        self._rng = rng or random.Random()
        self._max_ws_size = max(4 * 1024 * 1024, 4 * max_message_size)
        self._proto = ClientProtocol(
            keepalive_interval=keepalive_interval,
            timeout=server_timeout,
            buffer_size=buffer_size,
            max_message_size=max_message_size,
        )
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._stack: AsyncExitStack | None = None
        self._nursery: anyio.abc.TaskGroup | None = None
        self._send_lock = anyio.Lock()
        self._space = anyio.Event()
        self._kick_event = anyio.Event()
        self._init_supervisor()

    # --- properties and registration -----------------------------------------------------

    @property
    def stateful(self) -> bool:
        """Whether the current connection uses stateful reconnect."""
        return self._proto.stateful

    @property
    def websocket_library(self) -> WebSocketLibrary:
        return self._library

    def on(self, target: str, handler: Callable[..., Any]) -> None:
        """Call ``handler(*arguments)`` when the server invokes ``target`` (case-insensitive).

        Handlers may be sync or async. They run one at a time, in arrival order, in a task of
        their own; every handler gets every call whatever another one raised (an exception is
        logged). When the server expects a result, the last handler's return value (or its
        exception text) is sent back. Calls wait for the handlers in a queue of
        ``max_pending_invocations``; while it is full the connection stops reading, so a slow
        handler slows the server down instead of piling its calls up in memory. A handler that
        awaits a call on this same connection while that queue is full gets
        :class:`HandlerBlockedError` (waiting would deadlock).
        """
        self._handlers.setdefault(target.lower(), []).append(handler)

    def off(self, target: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove one handler of ``target``, or all of them."""
        key = target.lower()
        if handler is None:
            self._handlers.pop(key, None)
        elif handler in self._handlers.get(key, []):
            self._handlers[key].remove(handler)

    def on_reconnecting(self, callback: Callable[[BaseException | None], Any]) -> None:
        """``callback(error)`` when the transport dropped and reconnecting starts."""
        self._on_reconnecting.append(callback)

    def on_reconnected(self, callback: Callable[[Reconnected], Any]) -> None:
        """``callback(info)`` after a reconnect; ``info.new_connection`` says whether to resync."""
        self._on_reconnected.append(callback)

    def on_closed(self, callback: Callable[[BaseException | None], Any]) -> None:
        """``callback(error)`` once the connection is closed for good (None: closed by you)."""
        self._on_closed.append(callback)

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> HubConnection:
        """Negotiate, open the WebSocket and complete the handshake (raises when that fails).

        The connection's background tasks live in a nursery opened here and closed by
        ``__aexit__``, so always use ``async with HubConnection(...) as conn``.
        """
        if self._stack is not None:
            raise RuntimeError("a HubConnection can only be entered once")
        stack = self._stack = AsyncExitStack()
        self._http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=self._http_timeout, follow_redirects=False)
        )
        nursery = self._nursery = await stack.enter_async_context(anyio.create_task_group())
        self.state = ConnectionState.CONNECTING
        try:
            await nursery.start(self._supervise)
        except BaseException as exc:
            error: BaseException = exc
            while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                error = error.exceptions[0]
            nursery.cancel_scope.cancel()
            self.state = ConnectionState.CLOSED
            try:
                await stack.aclose()
            except BaseException:
                pass
            if error is exc:
                raise
            raise error from None
        nursery.start_soon(self._dispatcher)
        nursery.start_soon(self._flusher)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def aclose(self) -> None:
        """Close the connection now (any task may call it; ``async with`` exit also does).

        Pending calls fail with :class:`ConnectionClosedError`; ``on_closed`` callbacks run.
        """
        if self.state is ConnectionState.CONNECTED and self._channel is not None:
            with anyio.move_on_after(1.0) as scope:
                scope.shield = True
                try:
                    self._proto.send_close(anyio.current_time())
                    await self._flush()
                except SignalRError:
                    pass
        self._finish(None)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        await self._run_closed_callbacks()

    async def wait_connected(self) -> None:
        """Wait until the connection is usable (at once when it is)."""
        while self.state is not ConnectionState.CONNECTED:
            if self.state is ConnectionState.CLOSED:
                raise self._closed_error()
            await self._connected.wait()

    async def wait_closed(self) -> BaseException | None:
        """Wait until the connection is closed for good; returns why (None: closed by you)."""
        await self._closed.wait()
        return self._close_error

    def drop_transport(self) -> None:
        """Fault injection: abort the current WebSocket as if the network had failed."""
        if self._link_scope is not None:
            self._link_scope.cancel()

    # --- calls ---------------------------------------------------------------------------

    async def invoke(self, method: str, *args: Any) -> Any:
        """Call hub ``method`` with ``args`` and return its result.

        Raises :class:`HubError` when the hub reports an error; :class:`ConnectionLostError`
        when the connection was lost (or replaced) before the result arrived, so the outcome is
        unknown; :class:`ConnectionClosedError` once closed. With stateful reconnect a drop
        that is resumed is invisible: the call completes normally.
        """
        await self._check_can_send()
        waiter = Waiter()
        invocation_id = await self._queue(lambda now: self._proto.invoke(method, args, now))
        self._waiters[invocation_id] = waiter
        await self._flush()
        try:
            await self._wait_on_reader(waiter.event)
        except HandlerBlockedError as exc:
            waiter.set(error=exc)  # (a no-op if the answer came at the same moment)
        finally:
            if not waiter.event.is_set() or waiter.error is not None:
                # the caller was cancelled, or its wait was broken: forget the call
                if self._waiters.get(invocation_id) is waiter:
                    del self._waiters[invocation_id]
                    self._proto.abandon(invocation_id)
        if waiter.error is not None:
            raise waiter.error
        return waiter.value

    async def send(self, method: str, *args: Any) -> None:
        """Call hub ``method`` without asking for a result (returns once written)."""
        await self._check_can_send()
        await self._queue(lambda now: self._proto.send(method, args, now))
        await self._flush()

    def stream(self, method: str, *args: Any, max_buffered: int = 1000,
               overflow: Overflow = "wait") -> HubStream:
        """The server-to-client stream ``method``: ``async for item in conn.stream(...)``.

        It starts on the first iteration and is cancelled on the server when the loop ends
        early; see :class:`HubStream`. At most ``max_buffered`` items wait for the reader:
        ``overflow="wait"`` stops reading the connection while they do (every item arrives),
        ``"drop_oldest"`` drops the oldest and yields an :class:`ItemsDropped` in its place
        (for level-triggered data, where only the newest value matters).
        """
        return HubStream(self, method, args, max_buffered=max_buffered, overflow=overflow)

    # --- sending machinery ---------------------------------------------------------------

    def _closed_error(self) -> BaseException:
        if self._close_error is not None:
            return ConnectionClosedError(f"the connection is closed: {self._close_error}")
        return ConnectionClosedError("the connection is closed")

    async def _check_can_send(self) -> None:
        state = self.state
        if state is ConnectionState.CONNECTED:
            return
        if state is ConnectionState.CLOSED:
            raise self._closed_error()
        if state is ConnectionState.RECONNECTING and not self._proto.stateful:
            raise ConnectionLostError(
                "the connection is reconnecting; calls are refused until it is back "
                "(await wait_connected(), or enable stateful_reconnect to have them buffered)"
            )
        if state is ConnectionState.CONNECTING:
            await self.wait_connected()

    async def _queue(self, make: Callable[[float], T]) -> T:
        """Run ``make(now)`` (which queues a message); wait for replay-buffer room if needed."""
        while True:
            try:
                return make(anyio.current_time())
            except BufferFullError:
                if self._space.is_set():
                    self._space = anyio.Event()
                logger.debug("replay buffer full: waiting for the server to acknowledge")
                await self._wait_on_reader(self._space)
                if self.state is ConnectionState.CLOSED:
                    raise self._closed_error() from None

    async def _flush(self) -> None:
        """Write everything the protocol queued, in order (one WebSocket frame)."""
        channel = self._channel
        if channel is None:
            return
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()  # uncontended: no extra trip through the scheduler
        try:
            frames = self._proto.data_to_send()
            if not frames:
                return
            await channel.send_text(frames[0] if len(frames) == 1 else b"".join(frames))
        except SignalRError as exc:
            logger.debug("send failed, the transport is going down: %s", exc)
            self.drop_transport()
        finally:
            lock.release()

    def _kick(self) -> None:
        self._kick_event.set()

    async def _flusher(self) -> None:
        """Writes what synchronous code queued (stream cancels from ``__del__``)."""
        while True:
            await self._kick_event.wait()
            self._kick_event = anyio.Event()
            await self._flush()

    def _on_acked(self) -> None:
        self._space.set()

    # --- streams (used by HubStream) -----------------------------------------------------

    async def _start_stream(
        self, method: str, args: tuple[Any, ...], max_buffered: int = 1000,
        overflow: Overflow = "wait"
    ) -> tuple[str, StreamBuffer]:
        check_buffer_options(max_buffered, overflow)
        await self._check_can_send()
        buffer = StreamBuffer(max_buffered, overflow, self._note_room)
        invocation_id = await self._queue(lambda now: self._proto.start_stream(method, args, now))
        self._streams[invocation_id] = buffer
        await self._flush()
        return invocation_id, buffer

    def _cancel_stream(self, invocation_id: str) -> None:
        if self._streams.pop(invocation_id, None) is not None:
            self._note_room()
        if self.state is ConnectionState.CLOSED:
            return
        try:
            if self._proto.cancel_stream(invocation_id, anyio.current_time()):
                self._kick()
        except (SignalRError, RuntimeError) as exc:
            logger.debug("could not send CancelInvocation for %s: %r", invocation_id, exc)

    # --- client methods and state callbacks ----------------------------------------------

    async def _dispatcher(self) -> None:
        self._dispatcher_task = anyio.get_current_task().id
        async for item in self._dispatch_recv:
            if isinstance(item, ServerInvoked):
                self._taken_invocation()
                await self._run_client_method(item)
                continue
            callbacks, arg = item
            for callback in callbacks:
                try:
                    await maybe_await(callback(arg))
                except Exception:
                    logger.exception("connection state callback %r failed", callback)

    async def _run_client_method(self, event: ServerInvoked) -> None:
        invocation = event.invocation
        handlers = list(self._handlers.get(invocation.target.lower(), ()))
        result: Any = None
        error: str | None = None
        if not handlers:
            logger.warning("no handler registered for client method %r", invocation.target)
            error = "Client didn't provide a result."
        for handler in handlers:
            try:
                result = await maybe_await(handler(*invocation.arguments))
                error = None
            except Exception as exc:
                logger.exception("handler for client method %r failed", invocation.target)
                error = f"{type(exc).__name__}: {exc}"
        if invocation.invocation_id is None or self.state is ConnectionState.CLOSED:
            return
        completion = (
            Completion.with_error(invocation.invocation_id, error)
            if error is not None
            else Completion.with_result(invocation.invocation_id, result)
        )
        try:
            await self._queue(lambda now: self._proto.complete_server_invocation(completion, now))
            await self._flush()
        except SignalRError as exc:
            logger.warning("could not return the result of %r: %s", invocation.target, exc)
