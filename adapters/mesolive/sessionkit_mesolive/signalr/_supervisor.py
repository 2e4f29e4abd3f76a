"""Transport side of :class:`~._client.HubConnection`: links, read/timer loops, reconnecting.

A *link* is one WebSocket carrying the connection. :meth:`Supervisor._supervise` runs the first
link, then on every loss decides between:

* **resume** (stateful reconnect on, and the loss was not a protocol error): reconnect to the
  same connection token; the protocol replays what the server did not acknowledge and drops
  what it already got. Pending calls continue untouched.
* **fresh**: negotiate a new connection. Pending calls fail with ConnectionLostError (their
  outcome is unknown) and ``on_reconnected`` reports ``new_connection=True``.

A resume counts as done only when the server acknowledges it with its ``Sequence`` message
(until then nothing is announced). A resume the server refuses -- HTTP 404 (token unknown), or
the WebSocket closed before that acknowledgement -- switches to fresh, under the same backoff.
Attempts follow the :class:`ReconnectPolicy` (first at once, then exponential backoff with
jitter); a link that came up but ended before the server sent anything does not reset the
count, so a server that accepts and cuts at once is retried with growing delays, never in a
hot loop.

Inbound queues are bounded: server-to-client invocations wait for the handlers in a queue of
``max_pending_invocations``, and each stream's items in its :class:`~._stream.StreamBuffer`.
While a queue that must not lose anything is full the reader stops reading the WebSocket
(back-pressure to the server); the peer timeout is suspended meanwhile. If the task that
empties the full queue is itself waiting on this connection (a handler awaiting ``invoke``),
that wait ends with :class:`HandlerBlockedError` instead of deadlocking.
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import attrs
import httpx

from ._backpressure import Backpressure
from ._errors import (
    AuthenticationError,
    ConnectionClosedError,
    ConnectionLostError,
    HandshakeError,
    HubError,
    ProtocolError,
    ResumeRefusedError,
    ServerTimeoutError,
    SignalRError,
    TokenRefusedError,
    TransportError,
)
from ._events import (
    Acked,
    CloseReceived,
    HandshakeCompleted,
    InvocationCompleted,
    PeerTimedOut,
    Resumed,
    ServerInvoked,
    StreamCompleted,
    StreamItemReceived,
)
from ._negotiate import websocket_url
from ._stream import StreamBuffer, StreamEnd
from ._transport import (
    TokenTransport,
    WebSocketChannel,
    WebSocketLibrary,
    negotiate,
    open_websocket,
)

if TYPE_CHECKING:
    from ._client_protocol import ClientProtocol
    from ._reconnect import ReconnectPolicy

__all__ = ["ConnectionState", "Reconnected", "Supervisor", "Waiter", "maybe_await"]

logger = logging.getLogger(__name__)


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@attrs.frozen
class Reconnected:
    """What ``on_reconnected`` callbacks get.

    ``new_connection`` True: the old connection could not be resumed (or was refused) and a
    fresh negotiate made a new one. Messages may have been lost both ways and server-side state
    tied to the connection (groups, subscriptions) is gone: re-subscribe and resync / replay.
    False: stateful reconnect resumed the same connection and the server acknowledged the
    resume (its ``Sequence`` message): nothing was lost. ``attempts``: how many attempts this
    recovery took.
    """

    connection_id: str
    new_connection: bool
    attempts: int


class Waiter:
    """A one-shot result slot for an invocation."""

    __slots__ = ("event", "value", "error")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def set(self, value: Any = None, error: BaseException | None = None) -> None:
        if not self.event.is_set():
            self.value, self.error = value, error
            self.event.set()


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class Supervisor(Backpressure):
    """Mixin holding the connection-management half of HubConnection."""

    # Provided by HubConnection.
    url: str
    _proto: ClientProtocol
    _policy: ReconnectPolicy | None
    _token_factory: Any
    _stateful_wanted: bool
    _headers: dict[str, str]
    _token_transport: TokenTransport
    _library: WebSocketLibrary
    _rng: random.Random
    _max_ws_size: int
    _flush: Callable[[], Any]
    _on_acked: Callable[[], None]
    _closed_error: Callable[[], BaseException]

    def _init_supervisor(self) -> None:
        self.state = ConnectionState.CLOSED
        self.connection_id: str | None = None
        self._http: httpx.AsyncClient | None = None
        self._token: str | None = None
        self._token_fixed = False  # a negotiate redirect imposed an access token
        self._transport_url: str | None = None
        self._connection_token: str | None = None
        self._negotiated_stateful = False
        self._waiters: dict[str, Waiter] = {}
        self._streams: dict[str, StreamBuffer] = {}
        self._on_reconnecting: list[Callable[..., Any]] = []
        self._on_reconnected: list[Callable[..., Any]] = []
        self._on_closed: list[Callable[..., Any]] = []
        self._channel: WebSocketChannel | None = None
        self._connected = anyio.Event()
        self._closed = anyio.Event()
        self._link_scope: anyio.CancelScope | None = None
        self._timer_scope: anyio.CancelScope | None = None
        self._close_error: BaseException | None = None
        # the channel is unbounded; what bounds it is _queued_invocations (state callbacks,
        # at most a pair per reconnect, are not counted)
        self._dispatch_send, self._dispatch_recv = anyio.create_memory_object_stream[Any](math.inf)
        self._init_backpressure()
        self._link_productive = True
        self._attempts_so_far = 0

    # --- events from the protocol --------------------------------------------------------

    def _handle_events(self, events: list[Any]) -> BaseException | None:
        """Apply protocol events; returns why the link must end, if it must."""
        end: BaseException | None = None
        for event in events:
            if isinstance(event, InvocationCompleted):
                waiter = self._waiters.pop(event.invocation_id, None)
                if waiter is None:
                    continue
                completion = event.completion
                if completion.error is not None:
                    waiter.set(error=HubError(completion.error, method=event.target))
                else:
                    waiter.set(completion.result)
            elif isinstance(event, StreamItemReceived):
                buffer = self._streams.get(event.invocation_id)
                if buffer is not None:
                    buffer.put(event.item)
            elif isinstance(event, StreamCompleted):
                buffer = self._streams.pop(event.invocation_id, None)
                if buffer is not None:
                    error = HubError(event.error, method=event.target) if event.error else None
                    buffer.finish(StreamEnd(error))
            elif isinstance(event, ServerInvoked):
                self._dispatch_send.send_nowait(event)
                self._queued_invocation()
            elif isinstance(event, Acked):
                self._on_acked()
            elif isinstance(event, CloseReceived):
                end = _ServerClosed(event.error, event.allow_reconnect)
            elif isinstance(event, PeerTimedOut):
                end = ServerTimeoutError(
                    f"no message from the server for {event.silence:.1f} s "
                    f"(server timeout {self._proto.timeout:.1f} s)"
                )
        return end

    # --- one link ------------------------------------------------------------------------

    async def _token_value(self) -> str | None:
        if self._token_fixed or self._token_factory is None:
            return self._token
        return await maybe_await(self._token_factory())  # type: ignore[no-any-return]

    async def _negotiate(self) -> None:
        assert self._http is not None
        self._token_fixed = False
        token = await self._token_value()
        url, used, answer = await negotiate(
            self._http,
            self.url,
            token=token,
            stateful=self._stateful_wanted,
            headers=self._headers,
        )
        self._token_fixed = used != token
        self._token = used
        self._transport_url = url
        self._connection_token = answer.connection_token
        self.connection_id = answer.connection_id
        self._negotiated_stateful = answer.stateful_reconnect and self._stateful_wanted
        logger.info(
            "negotiated connection %s (stateful reconnect %s)",
            answer.connection_id,
            "on" if self._negotiated_stateful else "off",
        )

    def _opener(self, token: str | None, in_query: bool) -> Any:
        assert self._transport_url is not None
        url = websocket_url(
            self._transport_url, self._connection_token, access_token=token if in_query else None
        )
        headers = list(self._headers.items())
        if token and not in_query:
            headers.append(("Authorization", f"Bearer {token}"))
        return open_websocket(url, headers, library=self._library, max_size=self._max_ws_size)

    async def _open(self, token: str | None) -> tuple[Any, WebSocketChannel]:
        opener = self._opener(token, self._token_transport == "query")
        try:
            return opener, await opener.__aenter__()
        except AuthenticationError:
            if self._token_transport != "auto" or not token:
                raise
            logger.info(
                "WebSocket upgrade refused with the Authorization header; "
                "retrying with the access_token query parameter"
            )
            opener = self._opener(token, True)
            return opener, await opener.__aenter__()

    async def _run_link(self, *, resume: bool, on_up: Callable[[], None]) -> BaseException:
        """Open a transport, handshake (or resume), call ``on_up``, pump until it breaks.

        Returns why the link ended. Raises only while setting up (the link never came up); a
        resume the server refused raises :class:`TokenRefusedError` (HTTP 404) or
        :class:`ResumeRefusedError` (closed before the server's ``Sequence``).
        """
        token = await self._token_value() if resume else self._token
        opener, channel = await self._open(token)
        self._link_productive = False
        acknowledged = not resume
        try:
            with anyio.CancelScope() as scope:
                self._link_scope = scope
                now = anyio.current_time()
                if resume:
                    self._proto.resume(now)
                else:
                    lost = self._proto.restart(now, stateful=self._negotiated_stateful)
                    self._fail_pending(
                        lost,
                        ConnectionLostError(
                            "the connection was replaced by a new one before the result arrived; "
                            "the call's outcome is unknown"
                        ),
                    )
                self._channel = channel
                await self._flush()
                if resume:
                    end = await self._await_resume(channel)
                    if isinstance(end, _ServerClosed):
                        return end  # the server's Close came before its acknowledgement
                    acknowledged = True
                else:
                    end = await self._handshake(channel)
                self.state = ConnectionState.CONNECTED
                self._connected.set()
                on_up()
                if end is None:
                    end = await self._pump(channel)
                return end
            if not acknowledged and not self._closed.is_set():
                raise ResumeRefusedError(
                    "the WebSocket broke before the server acknowledged the resume (no Sequence "
                    f"message): connection {self.connection_id} is taken as lost"
                )
            return TransportError("the WebSocket was aborted (transport dropped)")
        finally:
            self._channel = None
            self._link_scope = None
            with anyio.CancelScope(shield=True):
                await opener.__aexit__(None, None, None)

    async def _handshake(self, channel: WebSocketChannel) -> BaseException | None:
        with anyio.move_on_after(self._proto.timeout):
            while True:
                try:
                    data = await channel.receive()
                except TransportError as exc:
                    raise HandshakeError(f"connection closed during the handshake: {exc}") from None
                events = self._proto.receive_data(data, anyio.current_time())
                for i, event in enumerate(events):
                    if isinstance(event, HandshakeCompleted):
                        return self._handle_events(events[i + 1 :])
        raise HandshakeError(f"no handshake response within {self._proto.timeout:.1f} s")

    async def _await_resume(self, channel: WebSocketChannel) -> BaseException | None:
        """Read until the server acknowledges the resume with its ``Sequence`` message.

        Returns why the link must end when something after the acknowledgement (in the same
        read) ends it, or the server's Close when that came first.
        """
        with anyio.move_on_after(self._proto.timeout):
            while True:
                try:
                    data = await channel.receive()
                except TransportError as exc:
                    raise ResumeRefusedError(
                        "the server closed the WebSocket before acknowledging the resume (no "
                        f"Sequence message): it no longer knows connection {self.connection_id} "
                        f"({exc})"
                    ) from None
                events = self._proto.receive_data(data, anyio.current_time())
                for i, event in enumerate(events):
                    if isinstance(event, Resumed):
                        rest = events[:i] + events[i + 1 :]
                        # replayed messages right behind the acknowledgement: the link works
                        self._link_productive = any(
                            not isinstance(e, (Acked, CloseReceived)) for e in rest
                        )
                        return self._handle_events(rest)
                    if isinstance(event, CloseReceived):
                        return _ServerClosed(event.error, event.allow_reconnect)
                self._handle_events(events)  # acks; numbered messages wait for the Sequence
        raise ServerTimeoutError(
            f"the server did not acknowledge the resume within {self._proto.timeout:.1f} s"
        )

    async def _pump(self, channel: WebSocketChannel) -> BaseException:
        reasons: list[BaseException] = []
        proto = self._proto

        async def reader() -> None:
            try:
                while True:
                    await self._wait_for_room()
                    data = await channel.receive()
                    self._link_productive = True
                    end = self._handle_events(proto.receive_data(data, anyio.current_time()))
                    if end is not None:
                        reasons.append(end)
                        break
                    if proto._outbox:
                        await self._flush()
                    timer = self._timer_scope
                    if timer is not None:
                        deadline = proto.next_deadline()
                        if deadline is not None and deadline < timer.deadline:
                            timer.deadline = deadline
            except SignalRError as exc:
                reasons.append(exc)
            nursery.cancel_scope.cancel()

        async def timer() -> None:
            try:
                while True:
                    deadline = proto.next_deadline()
                    with anyio.CancelScope(
                        deadline=math.inf if deadline is None else deadline
                    ) as self._timer_scope:
                        await anyio.sleep_forever()
                    end = self._handle_events(proto.handle_timer(anyio.current_time()))
                    if end is not None:
                        reasons.append(end)
                        break
                    await self._flush()
            finally:
                self._timer_scope = None
            nursery.cancel_scope.cancel()

        async with anyio.create_task_group() as nursery:
            nursery.start_soon(reader)
            nursery.start_soon(timer)
        return reasons[0] if reasons else TransportError("the WebSocket was aborted")

    def _fail_pending(self, ids: list[str], error: BaseException) -> None:
        for invocation_id in ids:
            waiter = self._waiters.pop(invocation_id, None)
            if waiter is not None:
                waiter.set(error=error)
            buffer = self._streams.pop(invocation_id, None)
            if buffer is not None:
                buffer.finish(StreamEnd(error))

    # --- supervision ---------------------------------------------------------------------

    async def _supervise(
        self, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self._negotiate()
        reason: BaseException | None = await self._run_link(resume=False, on_up=task_status.started)
        try:
            while reason is not None:
                reason = await self._recover(reason)
        except Exception as exc:  # a bug or an unexpected library error: close, never crash
            logger.exception("hub connection failed unexpectedly")
            self._finish(exc)
            await self._run_closed_callbacks()

    async def _close_for_good(self, error: BaseException) -> None:
        self._finish(error)
        await self._run_closed_callbacks()

    async def _recover(self, reason: BaseException) -> BaseException | None:
        """Handle a lost link; returns why the next link ended, or None once closed.

        Attempts are numbered from 1 after a link that received something; after a link that
        came up but ended before the server sent anything the numbering goes on from the
        attempts that brought it up (so the backoff keeps growing and ``max_attempts`` holds).
        """
        now = anyio.current_time()
        attempt = 0 if self._link_productive else self._attempts_so_far
        if isinstance(reason, _ServerClosed):
            text = reason.error or "no reason given"
            if not reason.allow_reconnect or self._policy is None:
                await self._close_for_good(
                    ConnectionClosedError(f"the server closed the connection: {text}")
                )
                return None
            self._proto.transport_lost(now)
            resumable = False
            reason = ConnectionLostError(
                f"the server closed the connection, reconnect allowed: {text}"
            )
        else:
            resumable = self._proto.transport_lost(now) and not isinstance(reason, ProtocolError)
        logger.warning("connection %s lost: %s", self.connection_id, reason)
        if self._policy is None:
            await self._close_for_good(reason)
            return None
        if not resumable:
            self._fail_pending(
                self._proto.forget_pending(),
                ConnectionLostError(
                    f"the connection was lost before the result arrived ({reason}); "
                    "the call's outcome is unknown"
                ),
            )
        self.state = ConnectionState.RECONNECTING
        self._connected = anyio.Event()
        self._dispatch_send.send_nowait((list(self._on_reconnecting), reason))
        while True:
            attempt += 1
            self._attempts_so_far = attempt
            if not self._policy.should_retry(attempt):
                await self._close_for_good(
                    ConnectionLostError(
                        f"gave up reconnecting after {attempt - 1} attempts; last error: {reason}"
                    )
                )
                return None
            await anyio.sleep(self._policy.delay(attempt, self._rng))
            try:
                if resumable:
                    end = await self._run_link(
                        resume=True, on_up=functools.partial(self._announce, False, attempt)
                    )
                    if isinstance(end, _ServerClosed) and self.state is not (
                        ConnectionState.CONNECTED
                    ):
                        # the server closed the resume before acknowledging it
                        if not end.allow_reconnect:
                            return end  # closes for good with the server's text
                        raise ResumeRefusedError(
                            "the server closed the connection instead of resuming it: "
                            f"{end.error or 'no reason given'}"
                        )
                    return end
                await self._negotiate()
                return await self._run_link(
                    resume=False, on_up=functools.partial(self._announce, True, attempt)
                )
            except TokenRefusedError as exc:
                # refused by a 404 or by a close: the connection is lost; a new one is
                # negotiated under the same backoff, and announced as new
                logger.info("%s: negotiating a new connection", exc)
                resumable = False
                self._proto.transport_lost(anyio.current_time())
                self._fail_pending(
                    self._proto.forget_pending(),
                    ConnectionLostError(
                        "the server refused to resume the connection before the result arrived; "
                        "the call's outcome is unknown"
                    ),
                )
                reason = exc
            except AuthenticationError as exc:
                await self._close_for_good(exc)
                return None
            except (SignalRError, OSError) as exc:
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                reason = exc

    def _announce(self, new_connection: bool, attempts: int) -> None:
        info = Reconnected(self.connection_id or "", new_connection, attempts)
        logger.info(
            "reconnected (%s connection %s)",
            "new" if new_connection else "resumed",
            self.connection_id,
        )
        self._dispatch_send.send_nowait((list(self._on_reconnected), info))

    def _finish(self, error: BaseException | None) -> None:
        """Close for good: fail everything pending, wake every waiter."""
        if self._closed.is_set():
            return
        self.state = ConnectionState.CLOSED
        self._close_error = error
        closed = self._closed_error()
        self._fail_pending(self._proto.close(), closed)
        for waiter in self._waiters.values():
            waiter.set(error=closed)
        self._waiters.clear()
        for buffer in self._streams.values():
            buffer.finish(StreamEnd(closed))
        self._streams.clear()
        self._on_acked()
        self._room.set()
        self._connected.set()
        self._closed.set()
        if self._link_scope is not None:
            self._link_scope.cancel()

    async def _run_closed_callbacks(self) -> None:
        callbacks, self._on_closed = self._on_closed, []
        for callback in callbacks:
            try:
                with anyio.CancelScope(shield=True):
                    await maybe_await(callback(self._close_error))
            except Exception:
                logger.exception("on_closed callback %r failed", callback)


class _ServerClosed(Exception):
    """Internal reason: the server sent Close."""

    def __init__(self, error: str | None, allow_reconnect: bool) -> None:
        super().__init__(error or "server closed the connection")
        self.error = error
        self.allow_reconnect = allow_reconnect
