"""One client connection inside :class:`~.hubserver.HubServer`: transports, calls, streams.

A :class:`ServerConnection` outlives its WebSockets: with stateful reconnect a dropped
transport leaves it waiting ``resume_window`` seconds for the client to come back with the same
token, while its hub methods and streams keep running (what they send is buffered for replay).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import attrs

from ..signalr import (
    Acked,
    BufferFullError,
    CancelInvocation,
    ClientHandshaked,
    CloseReceived,
    Completion,
    ConnectionClosedError,
    ConnectionLostError,
    EndpointState,
    HandshakeError,
    Invocation,
    PeerTimedOut,
    ProtocolError,
    ServerProtocol,
    SignalRError,
    StreamInvocation,
    StreamItem,
)

if TYPE_CHECKING:
    from .hubserver import Hub, HubServer

__all__ = ["ServerConnection", "HubCallContext", "HubMethodError", "Transport"]

logger = logging.getLogger(__name__)


class HubMethodError(Exception):
    """Raise from a hub method to answer with a Completion carrying ``str(error)``."""


class Transport(Protocol):
    """What the ASGI layer hands a connection: one accepted WebSocket."""

    async def send(self, text: str) -> None: ...

    async def receive(self) -> bytes | str | None:
        """The next message, or None once the client disconnected."""


@attrs.frozen
class HubCallContext:
    """First argument of every hub method and stream handler."""

    connection: ServerConnection
    hub: Hub
    invocation_id: str | None

    @property
    def user(self) -> Any:
        return self.connection.user


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


@functools.lru_cache(maxsize=1024)
def _arity(handler: Callable[..., Any]) -> tuple[int, float]:
    """(fewest, most) call arguments ``handler`` takes after ``ctx``."""
    low, high = 0, 0.0
    for param in list(inspect.signature(handler).parameters.values())[1:]:
        if param.kind is param.VAR_POSITIONAL:
            high = float("inf")
        elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            high += 1
            if param.default is param.empty:
                low += 1
    return low, high


def _arity_error(handler: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    low, high = _arity(handler)
    if low <= len(args) <= high:
        return None
    expects = f"{low}" if low == high else f"{low} to {high:g}"
    return f"Invocation provides {len(args)} argument(s) but target expects {expects}."


def _failed(target: str, detail: str) -> str:
    return f"Failed to invoke '{target}' due to an error on the server. {detail}"


class ServerConnection:
    """The server's view of one client connection (see :mod:`.hubserver` for the API)."""

    def __init__(
        self,
        server: HubServer,
        hub: Hub,
        user: Any,
        connection_id: str,
        connection_token: str,
        *,
        stateful_allowed: bool,
    ) -> None:
        self.server = server
        self.hub = hub
        self.user = user
        self.connection_id = connection_id
        self.connection_token = connection_token
        self.stateful_allowed = stateful_allowed
        self.items: dict[str, Any] = {}
        """Free per-connection state for hub code (subscriptions, cursors, ...)."""
        self.groups: set[str] = set()
        self.proto = ServerProtocol(
            stateful_allowed=stateful_allowed,
            keepalive_interval=server.keepalive_interval,
            timeout=server.client_timeout,
            buffer_size=server.buffer_size,
            max_message_size=server.max_message_size,
        )
        self.started = False  # a handshake succeeded
        self._drop_after_flush = False
        self.closed = False
        self.transports_served = 0
        self._transport: Transport | None = None
        self._transport_scope: anyio.CancelScope | None = None
        self._transport_done: anyio.Event | None = None
        self._timer_scope: anyio.CancelScope | None = None
        self._life_scope: anyio.CancelScope | None = None
        self._send_lock = anyio.Lock()
        self._space = anyio.Event()
        self._streams: dict[str, anyio.CancelScope] = {}
        self._generation = 0
        self._life_nursery: anyio.abc.TaskGroup | None = None
        self._early_spawns: list[tuple[Callable[..., Coroutine[Any, Any, Any]],
                                       tuple[Any, ...]]] = []
        self._work_send, self._work_recv = anyio.create_memory_object_stream[Any](float("inf"))

    def __repr__(self) -> str:
        return f"<ServerConnection {self.connection_id} hub={self.hub.path} closed={self.closed}>"

    @property
    def connected(self) -> bool:
        """A transport is attached right now."""
        return self._transport is not None

    @property
    def stateful(self) -> bool:
        return self.proto.stateful

    # --- API for hub code ----------------------------------------------------------------

    async def send(self, target: str, *args: Any) -> None:
        """Call client method ``target`` (raises ConnectionClosedError once closed).

        With stateful reconnect and the client away, the call is buffered for replay; if the
        buffer is full it waits for the client to come back (or for the connection to expire).
        """
        await self._send_message(Invocation(target, args))

    async def offer(self, target: str, *args: Any) -> None:
        """Like :meth:`send`, but a full buffer while the client is away closes the connection
        instead of waiting (what broadcasts use)."""
        await self._send_message(Invocation(target, args), wait_while_away=False)

    def drop(self) -> None:
        """Fault: close the WebSocket without a Close message, like a network failure."""
        if self._transport_scope is not None:
            self._transport_scope.cancel()

    async def close(self, error: str | None = None, *, allow_reconnect: bool = False) -> None:
        """Send a Close message and end the connection for good."""
        if self.closed:
            return
        self.proto.close(anyio.current_time(), error, allow_reconnect=allow_reconnect)
        await self._flush()
        self._finalize(None)

    # --- sending -------------------------------------------------------------------------

    async def _send_message(self, message: Any, *, wait_while_away: bool = True) -> None:
        """Queue and write ``message``.

        When the replay buffer is full: wait for acks if the client is attached (or if
        ``wait_while_away``); otherwise give up on the connection (a broadcast must not stall
        behind a client that went away).
        """
        while True:
            if self.closed:
                raise ConnectionClosedError(f"connection {self.connection_id} is closed")
            try:
                self.proto.send(message, anyio.current_time())
                break
            except BufferFullError:
                if self._transport is None and not wait_while_away:
                    self._finalize(
                        ConnectionLostError("replay buffer overflowed while the client was away")
                    )
                    raise
                if self._space.is_set():
                    self._space = anyio.Event()
                await self._space.wait()
        await self._flush()

    async def _flush(self) -> None:
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()  # uncontended: no extra trip through the scheduler
        try:
            frames = self.proto.data_to_send()
            transport = self._transport
            if not frames or transport is None:
                return
            await transport.send(b"".join(frames).decode("utf-8"))
        except Exception as exc:  # the transport broke under us
            logger.debug("send on connection %s failed: %r", self.connection_id, exc)
            self.drop()
        finally:
            lock.release()

    # --- transports ----------------------------------------------------------------------

    def can_attach(self) -> bool:
        """Whether a new WebSocket may take over (stateful, or never connected yet)."""
        if self.closed:
            return False
        if not self.started:
            return self._transport is None and self.transports_served == 0
        return self.proto.stateful

    async def serve_transport(self, transport: Transport) -> None:
        """Run one accepted WebSocket until it ends (called by the ASGI layer)."""
        if self._transport is not None:
            # Stateful reconnect while we still think the old socket is alive: replace it.
            done = self._transport_done
            self.drop()
            if done is not None:
                await done.wait()
        if self.closed:
            return
        self._generation += 1
        self.transports_served += 1
        now = anyio.current_time()
        if not self.started:
            self.proto.start(now)
        elif self.proto.state is EndpointState.DISCONNECTED:
            self.proto.resume(now)
            logger.info("connection %s resumed", self.connection_id)
        self._transport = transport
        self._transport_done = anyio.Event()
        error: BaseException | None = None
        try:
            with anyio.CancelScope() as scope:
                self._transport_scope = scope
                await self._flush()
                error = await self._pump(transport)
        finally:
            self._transport = None
            self._transport_scope = None
            self._transport_done.set()
            self._after_transport(error)

    def _after_transport(self, error: BaseException | None) -> None:
        if self.closed:
            return
        resumable = (
            self.started
            and self.proto.transport_lost(anyio.current_time())
            and self.server.lookup(self.connection_token) is self
        )
        if not resumable:
            self._finalize(error)
            return
        logger.info(
            "connection %s lost its transport; waiting %.1f s for a resume",
            self.connection_id,
            self.server.resume_window,
        )
        if self.server.nursery is not None:
            self.server.nursery.start_soon(self._expire, self._generation)

    async def expire_if_unused(self) -> None:
        """Forget a negotiated connection whose WebSocket never came (after resume_window)."""
        await anyio.sleep(self.server.resume_window)
        if self.transports_served == 0 and not self.closed:
            self._finalize(ConnectionLostError("the client never opened the WebSocket"))

    async def _expire(self, generation: int) -> None:
        await anyio.sleep(self.server.resume_window)
        if generation == self._generation and self._transport is None and not self.closed:
            self._finalize(
                ConnectionLostError(
                    f"client did not reconnect within {self.server.resume_window:.1f} s"
                )
            )

    async def _pump(self, transport: Transport) -> BaseException | None:
        result: list[BaseException | None] = []
        proto = self.proto

        async def reader() -> None:
            try:
                while True:
                    data = await transport.receive()
                    if data is None:
                        result.append(None)
                        break
                    if not self._handle(proto.receive_data(data, anyio.current_time())):
                        result.append(None)
                        break
                    if proto._outbox:
                        await self._flush()
                    if self._drop_after_flush:  # fault: cut right after the handshake
                        self._drop_after_flush = False
                        self.drop()
                    timer = self._timer_scope
                    deadline = proto.next_deadline()
                    if timer is not None and deadline is not None and deadline < timer.deadline:
                        timer.deadline = deadline
            except HandshakeError as exc:
                logger.info("connection %s: handshake refused: %s", self.connection_id, exc)
                await self._flush()
                self._finalize(exc)
                result.append(exc)
            except ProtocolError as exc:
                logger.warning("connection %s sent invalid data: %s", self.connection_id, exc)
                proto.close(anyio.current_time(), f"Connection closed with an error. {exc}")
                await self._flush()
                self._finalize(exc)
                result.append(exc)
            nursery.cancel_scope.cancel()

        async def timer() -> None:
            while True:
                deadline = proto.next_deadline()
                with anyio.CancelScope(
                    deadline=deadline if deadline is not None else float("inf")
                ) as scope:
                    self._timer_scope = scope
                    await anyio.sleep_forever()
                self._timer_scope = None
                events = proto.handle_timer(anyio.current_time())
                if any(isinstance(e, PeerTimedOut) for e in events):
                    logger.info(
                        "connection %s: client silent for %.1f s, dropping it",
                        self.connection_id,
                        proto.timeout,
                    )
                    result.append(ConnectionLostError("client timeout"))
                    break
                await self._flush()
            nursery.cancel_scope.cancel()

        async with anyio.create_task_group() as nursery:
            nursery.start_soon(reader)
            nursery.start_soon(timer)
        self._timer_scope = None
        return result[0] if result else None

    # --- incoming messages ---------------------------------------------------------------

    def _handle(self, events: list[Any]) -> bool:
        """Act on protocol events; False when the connection ended."""
        for event in events:
            if isinstance(event, Invocation):
                self._work_send.send_nowait(event)
            elif isinstance(event, StreamInvocation):
                self._spawn(self._run_stream, event)
            elif isinstance(event, CancelInvocation):
                scope = self._streams.pop(event.invocation_id, None)
                if scope is not None:
                    scope.cancel()
            elif isinstance(event, Acked):
                self._space.set()
            elif isinstance(event, ClientHandshaked):
                self._on_handshake()
            elif isinstance(event, CloseReceived):
                self._finalize(None)
                return False
            elif isinstance(event, Completion):
                logger.debug(
                    "ignoring client Completion %s (client results unsupported)",
                    event.invocation_id,
                )
            else:
                logger.debug("ignoring %s from the client", type(event).__name__)
        return True

    def _on_handshake(self) -> None:
        self._drop_after_flush = self.server.faults.drop_after_handshake
        self.started = True
        self.hub.connections[self.connection_id] = self
        nursery = self.server.nursery
        if nursery is None:
            raise RuntimeError("HubServer is not running: serve it with sim.app.serve()")
        nursery.start_soon(self._life)
        for callback in self.hub._on_connected:
            self._work_send.send_nowait(lambda cb=callback: cb(self))

    async def _life(self) -> None:
        """Owns the tasks that outlive a transport: the invocation worker and the streams."""
        async with anyio.create_task_group() as nursery:
            self._life_scope = nursery.cancel_scope
            self._life_nursery = nursery
            if self.closed:
                nursery.cancel_scope.cancel()
            nursery.start_soon(self._worker)
            early, self._early_spawns = self._early_spawns, []
            for fn, args in early:
                nursery.start_soon(fn, *args)

    def _spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Start ``fn`` in the connection's own nursery (queued until it exists)."""
        if self._life_nursery is None:
            self._early_spawns.append((fn, args))
        else:
            self._life_nursery.start_soon(fn, *args)

    async def _worker(self) -> None:
        async for item in self._work_recv:
            if callable(item):
                try:
                    await _maybe_await(item())
                except Exception:
                    logger.exception("hub on_connected callback failed")
                continue
            await self._invoke(item)

    async def _invoke(self, invocation: Invocation) -> None:
        target = invocation.target
        handler = self.hub.methods.get(target.lower())
        ctx = HubCallContext(self, self.hub, invocation.invocation_id)
        result: Any = None
        error: str | None = None
        if handler is None:
            error = _failed(target, "HubException: Method does not exist.")
        elif (arity := _arity_error(handler, invocation.arguments)) is not None:
            error = _failed(target, f"InvalidDataException: {arity}")
        else:
            try:
                result = await _maybe_await(handler(ctx, *invocation.arguments))
            except Exception as exc:
                error = self._error_text(target, exc)
        if self.server.faults.response_delay > 0:
            await anyio.sleep(self.server.faults.response_delay)
        if invocation.invocation_id is None:
            if error is not None:
                logger.info("fire-and-forget %r failed: %s", target, error)
            return
        completion = (
            Completion.with_error(invocation.invocation_id, error)
            if error is not None
            else Completion.with_result(invocation.invocation_id, result)
        )
        try:
            await self._send_message(completion)
        except SignalRError as exc:
            logger.debug("could not send the completion of %r: %s", target, exc)

    def _error_text(self, target: str, exc: Exception) -> str:
        base = f"An unexpected error occurred invoking '{target}' on the server."
        if isinstance(exc, HubMethodError):
            return f"{base} HubException: {exc}"
        logger.exception("hub method %r failed", target)
        if self.server.detailed_errors:
            return f"{base} {type(exc).__name__}: {exc}"
        return base

    async def _run_stream(self, invocation: StreamInvocation) -> None:
        invocation_id = invocation.invocation_id
        target = invocation.target
        handler = self.hub.streams.get(target.lower())
        ctx = HubCallContext(self, self.hub, invocation_id)
        error: str | None = None
        with anyio.CancelScope() as scope:
            self._streams[invocation_id] = scope
            if handler is None:
                error = _failed(target, "HubException: Method does not exist.")
            elif (arity := _arity_error(handler, invocation.arguments)) is not None:
                error = _failed(target, f"InvalidDataException: {arity}")
            else:
                agen = handler(ctx, *invocation.arguments)
                try:
                    async for item in agen:
                        await self._send_message(StreamItem(invocation_id, item))
                except SignalRError:
                    return
                except Exception as exc:
                    error = self._error_text(target, exc)
                finally:
                    with anyio.CancelScope(shield=True):
                        await agen.aclose()  # type: ignore[attr-defined]
        self._streams.pop(invocation_id, None)
        if scope.cancelled_caught:
            return  # cancelled by the client: it expects nothing more
        completion = (
            Completion.with_error(invocation_id, error)
            if error is not None
            else Completion(invocation_id)
        )
        try:
            await self._send_message(completion)
        except SignalRError:
            pass

    # --- the end -------------------------------------------------------------------------

    def _finalize(self, error: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        was_started = self.started
        self.proto.state = EndpointState.CLOSED
        self.server.unregister(self)
        self._space.set()
        self._work_send.close()
        if self._life_scope is not None:
            self._life_scope.cancel()
        self.drop()
        logger.info("connection %s closed%s", self.connection_id, f": {error}" if error else "")
        if was_started and self.hub._on_disconnected and self.server.nursery is not None:
            self.server.nursery.start_soon(self._run_disconnected, error)

    async def _run_disconnected(self, error: BaseException | None) -> None:
        for callback in self.hub._on_disconnected:
            try:
                await _maybe_await(callback(self, error))
            except Exception:
                logger.exception("hub on_disconnected callback failed")
