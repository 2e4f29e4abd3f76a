"""The runtime (asyncio or trio, on AnyIO): one owner task per connection drives a sans-IO
:class:`~sessionkit.Session`.

The owner task does all transport I/O. Each turn it reads every frame ready
(one ``receive_frames`` call), feeds them to the session, sends what the
session produced in one ``send_frames`` call, and hands the session's events
to the processor in order; then it waits for new frames, the session's next
deadline (a cancel scope deadline) or a wake-up from a submit (the submit
cancels that wait). Nothing in this loop checkpoints per message.

User tasks submit straight into the core (same thread, no lock). While the
owner is parked, a submit sends its frame itself when the transport can send
without waiting (:class:`~sessionkit.runtime.NonBlockingTransport`), and wakes
the owner only for what it cannot do at once. When the connection drops and a
:class:`ReconnectPolicy` is given, a supervisor loop (the same task) builds
the next session from the last one's :class:`~sessionkit.Handoff`, so submits
made during the outage queue there, and logs in again resuming after the
last event delivered.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

from .._codec import Codec
from .._errors import ConfigTypeError, LocalProtocolError, SessionBusyError, SessionClosedError
from .._events import (
    Callback,
    Closed,
    ConnectionFailed,
    ExchangeOffline,
    LoginAccepted,
    LoginFailed,
)
from .._messages import Message, Request
from .._processor import MessageProcessor
from .._session import BatchTicket, Handoff, Session
from .._state import CLOSED_STATES, SessionState
from .._stats import SessionStatistics
from ._dispatch import Crash, EventDispatcher, Stop
from ._ending import Ending
from ._errors import ConnectionFailedError, HandlerError, SessionFailedError
from ._options import (
    SessionOptions,
    check_connector,
    check_frame_limit,
    check_processor,
    positive_or_none,
)
from ._transport import (
    ConnectError,
    Connector,
    NonBlockingTransport,
    Transport,
    TransportClosedError,
)
from ._util import Signal, StatsAccumulator, collapse, reraise

__all__ = ["ClientState", "SessionClient"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSPORT_CLOSE_TIMEOUT = 1.0


class ClientState(enum.Enum):
    """Where a :class:`SessionClient` is in its life (the core session has its own state)."""

    #: opening the first connection and logging in
    CONNECTING = "connecting"
    #: logged in: requests flow
    ACTIVE = "active"
    #: the connection dropped; a new one is being opened (submits queue)
    RECONNECTING = "reconnecting"
    #: ``aclose()`` was called: logging out
    CLOSING = "closing"
    #: closed by the local side (or cancelled)
    CLOSED = "closed"
    #: ended by a failure: login refused, connection lost for good, handler error
    FAILED = "failed"


class SessionClient(EventDispatcher, Ending):
    """A live session with an exchange, kept up by a task of the event loop (asyncio or
    trio). Made by :func:`open_session` (or a :class:`Context`) from a
    :class:`SessionOptions`."""

    def __init__(self, connector: Connector, processor: MessageProcessor,
                 options: SessionOptions) -> None:
        check_connector(connector)
        check_processor(processor)
        if not isinstance(options, SessionOptions):
            raise ConfigTypeError(f"options must be a SessionOptions, got "
                                  f"{type(options).__name__}")
        check_frame_limit(connector, options.codec)
        #: the options the client was made with
        self.options = options
        account, store, resume_event_id = options.account, options.store, options.resume_event_id
        self._connector = connector
        self._processor = processor
        self._account, self._token = account, options.token
        self._config = options.config
        self._codec: Codec = options.codec
        self._reconnect = options.reconnect
        self._stop_on_error = options.on_handler_error == "stop"
        self._login_timeout = options.login_timeout
        self._submit_timeout = float(options.submit_timeout)
        self._close_timeout = float(options.close_timeout)
        self._recorder: Any = None
        handoff: Handoff | None = None
        if store is not None:
            from ..store import Recorder

            self._recorder = Recorder(store, account=account, config=self._config)
            handoff = self._recorder.handoff(self._config.cid_prefix)
        self._bind_handlers(processor)
        self._session = self._new_session(handoff)
        self._recovered = handoff is not None
        self._first_resume = (resume_event_id if resume_event_id is not None
                              else None if handoff is not None else 0)
        self._state = ClientState.CONNECTING
        self._stats = StatsAccumulator()
        self._ever_logged_in = False
        self._attempt = 0
        self._closing = False
        self._finished = False
        self._end_kind: str | None = None
        self._end_reason: str | None = None
        self._offline: str | None = None
        self._abort_reason: str | None = None
        self._cancel_reason = "session cancelled"
        #: why the client ended for good (SessionFailedError) or None
        self.error: SessionFailedError | None = None
        #: the owner task failed (the journal, the transport...): open_session raises error
        self._crashed = False
        #: the failure that ended the last connection (attempt) was reported to the processor
        self._failure_reported = False
        self._handler_error: HandlerError | None = None
        #: the cancel scope of the owner's wait while it is parked (None otherwise)
        self._wait_scope: anyio.CancelScope | None = None
        #: the transport's send_frames_nowait while the owner is parked (None otherwise)
        self._send_now: Callable[[list[bytes]], int] | None = None
        #: frames a submit could not send at once: the owner sends them first
        self._unsent: list[bytes] = []
        #: what ends the session, met by a submitting task (a transport or codec that
        #: failed in its send): the owner raises it
        self._stopped: Crash | None = None
        cfg = self._config
        self._first_wait = min(cfg.ack_timeout, cfg.ack_timeout_max)
        self._owner_scope: anyio.CancelScope | None = None
        self._backoff_scope: anyio.CancelScope | None = None
        self._nursery_scope: anyio.CancelScope | None = None
        self._changed = Signal()
        self._progress = 0
        self._login_event = anyio.Event()
        self._done = anyio.Event()
        #: connections opened so far
        self.connections = 0
        #: reconnect attempts made so far
        self.reconnects = 0
        #: exceptions processor methods raised (logged under ``on_handler_error="log"``)
        self.handler_errors = 0
        self._hooks: dict[type, Callable[[Any], None]] = {
            LoginAccepted: self._on_login, LoginFailed: self._on_login_failed,
            ConnectionFailed: self._on_failed, Closed: self._on_closed,
            ExchangeOffline: self._on_offline,
        }

    # -- views ------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The current core session (a new one after each reconnect)."""
        return self._session

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def close_reason(self) -> str | None:
        """Why the client ended (None while it runs)."""
        return self._end_reason if self._finished else None

    def statistics(self) -> SessionStatistics:
        """The current session's statistics, its counters summed over every reconnect."""
        return self._stats.total(self._session.statistics())

    def handoff(self) -> Handoff:
        """The current session's handoff (what a new session needs to go on)."""
        return self._session.handoff()

    @property
    def has_logged_in(self) -> bool:
        """True once a login was accepted, on this connection or an earlier one."""
        return self._ever_logged_in

    async def wait_closed(self) -> None:
        """Wait until the client ended (closed, failed or cancelled)."""
        await self._done.wait()

    # -- submitting -----------------------------------------------------------------------

    def _open_session(self) -> Session:
        if self._finished:
            raise SessionClosedError(self._end_reason or self._state.value)
        session = self._session
        if session.state in CLOSED_STATES and self._will_reconnect():
            # the connection just dropped and the owner task has not yet built the
            # next session: build it now, so this submit queues there (not lost)
            self._replace_session()
            session = self._session
        return session

    def _will_reconnect(self) -> bool:
        policy = self._reconnect
        return (policy is not None and not self._closing
                and (self._end_kind != "login_failed" or policy.retry_login_rejected)
                and (policy.max_attempts is None or self._attempt < policy.max_attempts))

    def _wake(self) -> None:
        """Wake the parked owner (cancel its wait). The scope is forgotten at once, so a
        cancelled wait is told from a live one without asking the scope (trio's
        ``cancel_called`` reads the clock)."""
        scope = self._wait_scope
        if scope is not None:
            self._wait_scope = None
            scope.cancel()

    def submit_nowait(self, request: Request, callback: Callback | None = None) -> str:
        """Submit now or raise :class:`~sessionkit.SessionBusyError` at once; returns the cid.

        Never a checkpoint, and never runs a handler (the answers are the owner task's to
        hand to the processor)."""
        session = self._open_session()
        recorder = self._recorder
        if recorder is not None:
            # what the journal refuses raises here: the session never takes it (nothing
            # is tracked, nothing sent); see Recorder.check / submitted
            recorder.check(request)
        now = anyio.current_time()
        try:
            cid = session.submit(request, now, callback=callback)
            if recorder is not None:
                recorder.submitted(request, cid)
        finally:
            self._flush(session, now)
        return cid

    def _flush(self, session: Session, now: float) -> None:
        """After a submit: with the owner parked, send what the session queued at once from
        this task (the transport's ``send_frames_nowait``), or wake the owner for what
        cannot be done here (frames the transport cannot take now, events to hand to the
        processor, a failure). The owner, when not parked, sends on its next pass.

        Sending here rather than waking the owner to send saves 57% of the CPU per order
        of a loop of ``await submit()`` (tools/bench_zmq.py --quick, medians of 3 runs:
        33 against 78 us plain)."""
        scope = self._wait_scope
        if scope is None:
            return
        send_now = self._send_now
        if send_now is not None and not session.has_events:
            frames: list[bytes] = []
            sent = 0
            try:
                frames = self._frames(session)
                if frames:
                    sent = send_now(frames)
            except TransportClosedError:
                pass  # the owner learns of it on its next send or receive
            except Crash as crash:  # the codec failed: the owner ends the session with it
                self._stopped = crash
            except Exception as exc:  # a bug of the transport: likewise
                self._stopped, frames = Crash("the transport", exc), []
            if sent == len(frames) and self._stopped is None:
                # the request's ACK timer may fall before the deadline the owner waits for
                deadline = now + self._first_wait
                if deadline < scope.deadline:
                    scope.deadline = deadline
                return
            self._unsent += frames[sent:]
        self._wake()

    def submit_batch_nowait(self, requests: Sequence[Request],
                            callbacks: Sequence[Callback | None] | None = None,
                            ) -> list[BatchTicket]:
        """Submit batches of at most ``config.batch_limit`` now, or raise SessionBusyError."""
        session = self._open_session()
        requests = list(requests)
        recorder = self._recorder
        if recorder is not None:
            recorder.check_batch(requests)  # as in submit_nowait: refused before it is taken
        now = anyio.current_time()
        try:
            tickets = session.submit_batch(requests, now, callbacks=callbacks)
            if recorder is not None:
                recorder.submitted_batch(requests, tickets)
        finally:
            self._flush(session, now)
        return tickets

    async def _when_not_busy(self, attempt: Callable[[], T], timeout: float | None,
                             need: int = 1) -> T:
        """Run ``attempt`` (a nowait submit); while it raises SessionBusyError, wait and retry.

        A retry comes only after progress (frames in or out, a timer, a new
        session), not on every busy/available flip: a request that needs more
        room than the low-water mark frees would otherwise spin. What can never
        fit (more requests than ``max_in_flight``) raises at once.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        positive_or_none("timeout", timeout, allow_zero=True)
        deadline = anyio.current_time() + (self._submit_timeout if timeout is None else timeout)
        waited = False
        while True:
            seen = self._progress
            try:
                result = attempt()
            except SessionBusyError:
                if need > self._config.max_in_flight or anyio.current_time() >= deadline:
                    raise
            else:
                if not waited:  # a checkpoint, as trio's own send: see submit
                    await anyio.lowlevel.cancel_shielded_checkpoint()
                return result
            waited = True
            with anyio.CancelScope(deadline=deadline):
                while self._progress == seen:
                    await self._changed.wait()

    def _bump(self) -> None:
        """Something that may free room happened: let waiting submits retry."""
        self._progress += 1
        self._changed.fire()

    async def submit(self, request: Request, callback: Callback | None = None, *,
                     timeout: float | None = None) -> str:
        """Submit one request; while the session is busy, wait (at most ``timeout``).

        ``timeout`` defaults to ``submit_timeout`` of :func:`open_session`; past
        it the :class:`~sessionkit.SessionBusyError` is raised.

        A checkpoint, as trio's own ``MemorySendChannel.send`` is: a cancellation point
        before the request is taken (a cancelled call submits nothing), then a schedule
        point once it is taken (shielded: a request submitted is never lost to a
        cancellation, the call returns its cid). So a loop of ``await submit()`` lets other
        tasks, and the owner task, run between its requests; :meth:`submit_nowait`, which
        never yields, is the way to submit many at once. While the owner task is parked
        and the transport can send without waiting, the request's frame is sent from this
        task before the call yields.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        if timeout is None:
            try:  # the common case first: room in the window
                cid = self.submit_nowait(request, callback)
            except SessionBusyError:
                pass
            else:
                # The schedule point costs a loop of submits over ZeroMQ 17 to 18 us of CPU
                # per order (tools/bench_zmq.py --quick, medians of 6 runs: 37.4 against
                # 20.6 us plain, 40.0 against 21.7 CURVE; floor_cpu_ratio 5.75 against
                # 3.26): the owner then wakes for the answers every few orders, not once a
                # window. A raw trio + pyzmq loop pays about as much for it
                # (tools/bench_checkpoint.py: 4 to 13 us per order).
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return cid
        return await self._when_not_busy(lambda: self.submit_nowait(request, callback), timeout)

    async def submit_batch(self, requests: Sequence[Request],
                           callbacks: Sequence[Callback | None] | None = None, *,
                           timeout: float | None = None) -> list[BatchTicket]:
        """Like :meth:`submit_batch_nowait`, waiting (bounded) while busy."""
        requests = list(requests)
        return await self._when_not_busy(
            lambda: self.submit_batch_nowait(requests, callbacks), timeout, len(requests))

    async def request_message_replay(self) -> str | None:
        """Ask for what was ACKed without a final response (S2); None when nothing is."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        return self.request_message_replay_nowait()

    def request_message_replay_nowait(self) -> str | None:
        """:meth:`request_message_replay` without its checkpoint (never a checkpoint, as
        :meth:`submit_nowait`)."""
        session = self._open_session()
        try:
            return session.request_message_replay(anyio.current_time())
        finally:
            self._wake()

    async def aclose(self, timeout: float | None = None) -> None:
        """Log out and wait for the connection to close; past ``timeout`` abort it.

        As trio's ``AsyncResource.aclose``: idempotent, and leaving ``open_session``'s
        block calls it.

        ``timeout`` None (the default) is ``close_timeout`` of :func:`open_session`, as
        ``submit(timeout=None)`` is its ``submit_timeout``; infinity waits as long as it
        takes. A NaN or negative one raises :class:`~sessionkit.ConfigError`.
        """
        positive_or_none("timeout", timeout, allow_zero=True)
        if timeout is None:
            timeout = self._close_timeout
        if self._done.is_set():
            await anyio.lowlevel.checkpoint()
            return
        if not self._closing:
            self._closing = True
            self._state = ClientState.CLOSING
            session = self._session
            if session.state not in CLOSED_STATES and session.state is not SessionState.CLOSING:
                session.close(anyio.current_time())
            self._wake()
            if self._backoff_scope is not None:
                self._backoff_scope.cancel()
        with anyio.move_on_after(timeout):
            await self._done.wait()
        if not self._done.is_set():
            self._abort_reason = (f"the connection was not closed within {timeout} s of the "
                                  f"logout; aborted")
            if self._owner_scope is not None:
                self._owner_scope.cancel()
            await self._done.wait()

    async def close(self, timeout: float | None = None) -> None:
        """The same as :meth:`aclose` (the name before 0.2; kept as an alias)."""
        await self.aclose(timeout)

    # -- hooks on the session's events ------------------------------------------------------

    def _on_login(self, ev: LoginAccepted) -> None:
        self._state = ClientState.CLOSING if self._closing else ClientState.ACTIVE
        if self._attempt:
            attempt, self._attempt = self._attempt, 0
            self._call("on_reconnected", attempt, defer=True)
        self._ever_logged_in = True
        self._login_event.set()
        self._bump()

    def _on_login_failed(self, ev: LoginFailed) -> None:
        self._end_kind, self._end_reason = "login_failed", f"login failed: {ev.reason}"

    def _on_failed(self, ev: ConnectionFailed) -> None:
        self._end_kind, self._end_reason = "failed", ev.reason
        self._failure_reported = True

    def _set_ended(self, failed: bool) -> None:
        self._state = ClientState.FAILED if failed else ClientState.CLOSED

    def _on_closed(self, ev: Closed) -> None:
        self._end_kind, self._end_reason = "closed", ev.reason

    def _on_offline(self, ev: ExchangeOffline) -> None:
        if self._reconnect is not None and self._reconnect.reconnect_on_offline:
            self._offline = f"exchange offline: nothing received for {ev.silence:.3f} s"

    # -- the owner task ----------------------------------------------------------------------------

    def _frames(self, session: Session) -> list[bytes]:
        msgs = session.messages_to_send()
        if not msgs:
            return []
        if self._recorder is not None:
            try:
                self._recorder.before_send(msgs)
            except Exception as exc:
                raise Crash("the journal", exc) from exc
        encode = self._codec.encode
        try:
            return [encode(m) for m in msgs]
        except LocalProtocolError:
            return self._encode_each(msgs)
        except Exception as exc:
            raise Crash("the codec", exc) from exc

    def _encode_each(self, msgs: list[Message]) -> list[bytes]:
        out = []
        for m in msgs:
            try:
                out.append(self._codec.encode(m))
            except LocalProtocolError as err:
                logger.error("not sent (the session resends it until max_send_attempts, then "
                             "reports it unknown): %s", err)
            except Exception as exc:
                raise Crash("the codec", exc) from exc
        return out

    async def _run_connection(self, transport: Transport, session: Session) -> tuple[str, str]:
        """Log in and run one connection; returns (how it ended, why)."""
        self._end_kind = self._end_reason = None
        self._offline = None
        resume = None if self._ever_logged_in else self._first_resume
        session.login(anyio.current_time(), account=self._account, token=self._token,
                      resume_event_id=resume)
        current_time = anyio.current_time
        self._unsent = []
        # with a journal the owner sends every frame: it journals a burst in one commit first
        send_now = (transport.send_frames_nowait if self._recorder is None
                    and isinstance(transport, NonBlockingTransport) else None)
        try:
            while True:
                while True:
                    out = self._frames(session)
                    if self._unsent:
                        out = self._unsent + out
                        self._unsent = []
                    if out:
                        try:
                            await transport.send_frames(out)
                        except TransportClosedError:
                            raise
                        except Exception as exc:
                            raise Crash("the transport", exc) from exc
                        self._bump()
                    events = session.events()
                    if events:
                        self._dispatch(events)
                    elif not out:
                        break
                if self._offline is not None and session.state not in CLOSED_STATES:
                    session.connection_lost(self._offline, current_time())
                    self._dispatch(session.events())
                if session.state in CLOSED_STATES:
                    break
                deadline = session.next_deadline()
                frames = None
                with anyio.CancelScope(deadline=math.inf if deadline is None else deadline
                                       ) as scope:
                    self._wait_scope = scope
                    self._send_now = send_now
                    try:
                        frames = await transport.receive_frames()
                    except TransportClosedError:
                        raise
                    except Exception as exc:
                        raise Crash("the transport", exc) from exc
                    # still inside the scope (nothing in _woke awaits): the scope's exit
                    # is not between the frames' arrival and their handlers
                    now = self._woke(session, frames)
                if frames is None:  # the wait was cut short: a wake-up or the deadline
                    now = self._woke(session, [])
                timer = deadline is not None and now >= deadline
                if timer and session.state not in CLOSED_STATES:
                    session.handle_timer(now)
                if frames or timer:
                    self._bump()
        except TransportClosedError as exc:
            self._wait_scope = None
            if session.state not in CLOSED_STATES:
                session.connection_lost(exc.reason, current_time())
            self._dispatch(session.events())
        finally:
            self._wait_scope = self._send_now = None
            self._unsent = []  # lost with the connection, as frames in flight are
            await self._close_transport(transport)
        return self._end_kind or "failed", self._end_reason or "connection ended"

    def _woke(self, session: Session, frames: list[bytes]) -> float:
        """The owner's wait ended: feed what came. Returns the time it was fed at."""
        self._wait_scope = self._send_now = None
        if self._stopped is not None:  # a submit met what ends the session
            stop, self._stopped = self._stopped, None
            raise stop
        now = anyio.current_time()
        if frames:
            self._feed(session, frames, now)
        return now

    def _feed(self, session: Session, frames: list[bytes], now: float) -> None:
        """Feed frames to the session, each one's events handed to the processor before the
        next is decoded (an ACK reaches its handler without waiting for the decode of what
        came with it). With a journal, all are fed first: the owner then hands their events
        in one batch, journalled in one commit. A handler's stop raises :class:`Stop` once
        every frame is fed, with what the session reported since."""
        if self._recorder is not None:
            try:
                session.receive_frames(frames, now)
            except SessionClosedError:
                pass  # a frame failed the session; the rest are moot
            return
        receive = session.receive_data
        i = 0
        try:
            for i, frame in enumerate(frames):  # noqa: B007 - i is read on a stop
                receive(frame, now)
                if session.has_events:
                    self._dispatch(session.events())
        except SessionClosedError:
            pass  # a frame failed the session; the rest are moot
        except Stop as stop:
            try:
                for frame in frames[i + 1:]:
                    receive(frame, now)
            except SessionClosedError:
                pass
            stop.rest = stop.rest + session.events()
            raise

    async def _close_transport(self, transport: Transport) -> None:
        with anyio.CancelScope(shield=True,
                               deadline=anyio.current_time() + _TRANSPORT_CLOSE_TIMEOUT):
            try:
                await transport.aclose()
            except Exception:
                logger.exception("closing the transport failed")

    def _replace_session(self) -> None:
        """The next session, built from the current one's handoff (the owner's local
        reference to the old session still drains that session's last events)."""
        old = self._session
        if old.state is SessionState.IDLE:
            return
        if old.state not in CLOSED_STATES:
            old.connection_lost("replaced by a new connection", anyio.current_time())
            self._dispatch(old.events())
        self._stats.add(old.statistics())
        self._session = self._new_session(old.handoff())
        self._bump()

    async def _connect_loop(self) -> str:
        policy = self._reconnect
        if self._recovered:
            from ..store import notify_recovered

            try:
                notify_recovered(self._processor, self._recorder.report)
            except Exception as exc:
                self._handler_failed(exc, "on_recovered", "on_recovered")
                self._stop_if_failed([])
        while True:
            if self._closing:
                return "closed by the local side"
            self._failure_reported = False
            if self._recorder is not None:
                try:  # a woken owner whose lease moved on does not connect (and push the
                    self._recorder.check_lease()  # new owner's connection off)
                except Exception as exc:
                    raise Crash("the journal", exc) from exc
            try:
                transport = await self._connector.connect()
            except (ConnectError, TransportClosedError) as exc:
                kind, reason = "connect", f"connect failed: {exc.reason}"
                error = self._give_up(kind, reason)
                # one report per failure: the last one says that it is the last
                self._end_reason = error.reason if error is not None else reason
                self._failure_reported = True
                self._call("on_connection_failed", self._end_reason)
            except Exception as exc:
                raise Crash("the connector", exc) from exc
            else:
                self.connections += 1
                if self._closing:
                    await self._close_transport(transport)
                    return "closed by the local side"
                kind, reason = await self._run_connection(transport, self._session)
                error = self._give_up(kind, reason)
            if kind == "closed" or self._closing:
                return reason
            if error is not None:
                self.error = error
                return error.reason
            assert policy is not None  # _give_up ends the client without one
            self._attempt += 1
            delay = policy.delay(self._attempt)
            self.reconnects += 1
            self._state = (ClientState.RECONNECTING if self._ever_logged_in
                           else ClientState.CONNECTING)
            self._replace_session()
            logger.info("reconnecting in %.3f s (attempt %d): %s", delay, self._attempt, reason)
            self._call("on_reconnecting", self._attempt, delay, reason)
            with anyio.CancelScope() as self._backoff_scope:
                await anyio.sleep(delay)
            self._backoff_scope = None

    async def wait_login(self) -> None:
        """Wait for the first login, bounded by ``login_timeout``; raises what
        :func:`open_session` raises when it cannot be made (open_session and ``Context``
        wait with it)."""
        limit = self._login_timeout
        with anyio.move_on_after(math.inf if limit is None else limit):
            await self._login_event.wait()
        if self._ever_logged_in:
            return
        if not self._finished:
            self._cancel_reason = f"not logged in within {limit} s"
            raise ConnectionFailedError(self._cancel_reason)
        if self._handler_error is not None:
            raise self._handler_error
        raise self.error or ConnectionFailedError(self._end_reason or "session ended")

    @asynccontextmanager
    async def running(self, *, wait_login: bool) -> AsyncIterator[SessionClient]:
        """Run the owner task around a block, after the first login if ``wait_login``:
        what :func:`open_session` and ``Context`` do with a client (see there)."""
        try:
            async with anyio.create_task_group() as tasks:
                self._nursery_scope = tasks.cancel_scope
                tasks.start_soon(self._supervise)
                if wait_login:
                    await self.wait_login()
                yield self
                await self.aclose(self._close_timeout)
        except BaseExceptionGroup as group:
            reraise(collapse(group))
        if self._handler_error is not None:
            raise self._handler_error
        if self._crashed and self.error is not None:
            raise self.error
