"""The trio runtime: one owner task per connection drives a sans-IO :class:`~sessionkit.Session`.

The owner task does all transport I/O. Each turn it reads every frame ready
(one ``receive_frames`` call), feeds them to the session, sends what the
session produced in one ``send_frames`` call, and hands the session's events
to the processor in order; then it waits for new frames, the session's next
deadline (a cancel scope deadline) or a wake-up from a submit (the submit
cancels that wait). Nothing in this loop checkpoints per message.

User tasks submit straight into the core (same thread, no lock) and wake
the owner task to flush, or, for the first request of a burst while the owner
is parked, send it themselves (``_fastpath.py``). When the connection drops and a
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
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from .._codec import Codec, JsonCodec
from .._config import SessionConfig
from .._errors import LocalProtocolError, SessionBusy, SessionClosed
from .._events import (
    Callback,
    Closed,
    ConnectionFailed,
    ExchangeOffline,
    LoginAccepted,
    LoginFailed,
)
from .._messages import Message, Request
from .._session import BatchTicket, Handoff, Session
from .._state import CLOSED_STATES, SessionState
from .._stats import SessionStatistics
from ._dispatch import EventDispatcher, _Crash
from ._ending import Ending
from ._errors import ConnectionFailedError, HandlerError, SessionFailedError
from ._fastpath import FastPath
from ._options import check_options, positive_or_none
from ._reconnect import ReconnectPolicy
from ._transport import ConnectFailed, Connector, Transport, TransportClosed
from ._util import StatsAccumulator, collapse, reraise

if TYPE_CHECKING:
    from ..store import SessionStore

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
    #: ``close()`` was called: logging out
    CLOSING = "closing"
    #: closed by the local side (or cancelled)
    CLOSED = "closed"
    #: ended by a failure: login refused, connection lost for good, handler error
    FAILED = "failed"


class SessionClient(EventDispatcher, FastPath, Ending):
    """A live session with an exchange, kept up by a trio task. Made by :func:`open_session`."""

    def __init__(self, connector: Connector, processor: Any, *, account: str, token: str = "",
                 config: SessionConfig | None = None, codec: Codec | None = None,
                 reconnect: ReconnectPolicy | None = None, handler_errors: str = "log",
                 resume_event_id: int | None = None, login_timeout: float | None = None,
                 store: SessionStore | None = None, submit_timeout: float = 5.0,
                 close_timeout: float = 5.0) -> None:
        check_options(connector, processor, account=account, token=token, config=config,
                      codec=codec, reconnect=reconnect, handler_errors=handler_errors,
                      resume_event_id=resume_event_id, login_timeout=login_timeout,
                      store=store, submit_timeout=submit_timeout, close_timeout=close_timeout)
        self._connector = connector
        self._processor = processor
        self._account, self._token = account, token
        self._config = config or SessionConfig()
        self._codec: Codec = codec or JsonCodec()
        self._reconnect = reconnect
        self._stop_on_error = handler_errors == "stop"
        self._login_timeout = login_timeout
        self._submit_timeout = float(submit_timeout)
        self._close_timeout = float(close_timeout)
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
        self._wait_scope: trio.CancelScope | None = None
        #: trio.current_time, or the running clock's own method (two calls fewer)
        self._clock: Callable[[], float] = trio.current_time
        self._init_fast_path()
        cfg = self._config
        self._first_wait = min(cfg.ack_timeout, cfg.ack_timeout_max)
        self._owner_scope: trio.CancelScope | None = None
        self._backoff_scope: trio.CancelScope | None = None
        self._nursery_scope: trio.CancelScope | None = None
        self._changed = trio.lowlevel.ParkingLot()
        self._progress = 0
        self._login_event = trio.Event()
        self._done = trio.Event()
        #: connections opened so far
        self.connections = 0
        #: reconnect attempts made so far
        self.reconnects = 0
        #: exceptions processor methods raised (logged under ``handler_errors="log"``)
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

    async def wait_closed(self) -> None:
        """Wait until the client ended (closed, failed or cancelled)."""
        await self._done.wait()

    # -- submitting -----------------------------------------------------------------------

    def _open_session(self) -> Session:
        if self._finished:
            raise SessionClosed(self._end_reason or self._state.value)
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
        self._cancel_wait()

    def submit_nowait(self, request: Request, callback: Callback | None = None) -> str:
        """Submit now or raise :class:`~sessionkit.SessionBusy` at once; returns the cid."""
        return self._submit_now(request, callback, False)

    def _submit_now(self, request: Request, callback: Callback | None, reading: bool) -> str:
        session = self._open_session()
        recorder = self._recorder
        if recorder is not None:
            # what the journal refuses raises here: the session never takes it (nothing
            # is tracked, nothing sent); see Recorder.check / submitted
            recorder.check(request)
        now = self._clock()
        if self._wait_scope is not None and self._send_now is not None and not self._unsent:
            sent = self._send_at_once(session, request, callback, now, reading)
            if sent is not None:
                return sent
        try:
            cid = session.submit(request, now, callback=callback)
            if recorder is not None:
                recorder.submitted(request, cid)
        finally:
            self._flush(session, now, reading=reading)
        return cid

    def submit_batch_nowait(self, requests: Sequence[Request],
                            callbacks: Sequence[Callback | None] | None = None,
                            ) -> list[BatchTicket]:
        """Submit batches of at most ``config.batch_limit`` now, or raise SessionBusy."""
        session = self._open_session()
        requests = list(requests)
        recorder = self._recorder
        if recorder is not None:
            recorder.check_batch(requests)  # as in _submit_now: refused before it is taken
        now = trio.current_time()
        try:
            tickets = session.submit_batch(requests, now, callbacks=callbacks)
            if recorder is not None:
                recorder.submitted_batch(requests, tickets)
        finally:
            self._flush(session, now)
        return tickets

    async def _when_not_busy(self, attempt: Callable[[], T], timeout: float | None,
                             need: int = 1) -> T:
        """Run ``attempt`` (a nowait submit); while it raises SessionBusy, wait and retry.

        A retry comes only after progress (frames in or out, a timer, a new
        session), not on every busy/available flip: a request that needs more
        room than the low-water mark frees would otherwise spin. What can never
        fit (more requests than ``max_in_flight``) raises at once.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        positive_or_none("timeout", timeout, allow_zero=True)
        deadline = trio.current_time() + (self._submit_timeout if timeout is None else timeout)
        while True:
            seen = self._progress
            try:
                return attempt()
            except SessionBusy:
                if need > self._config.max_in_flight or trio.current_time() >= deadline:
                    raise
            with trio.move_on_at(deadline):
                while self._progress == seen:
                    await self._changed.park()

    def _bump(self) -> None:
        """Something that may free room happened: let waiting submits retry."""
        self._progress += 1
        self._changed.unpark_all()

    async def submit(self, request: Request, callback: Callback | None = None, *,
                     timeout: float | None = None) -> str:
        """Submit one request; while the session is busy, wait (at most ``timeout``).

        ``timeout`` defaults to ``submit_timeout`` of :func:`open_session`; past
        it the :class:`~sessionkit.SessionBusy` is raised. When the session is
        not busy this does not yield to other tasks (it is a cancellation point,
        not a schedule point). A lone request is sent at once from this task, and
        answers already there are handed to the processor before this returns, as
        if the owner task had run during the await (see ``_fastpath.py``);
        :meth:`submit_nowait` never runs a handler.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if timeout is None:
            try:  # the common case first: room in the window
                cid = self._submit_now(request, callback, True)
            except SessionBusy:
                pass
            else:
                if self._sent_now:
                    self._read_now()
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
        await trio.lowlevel.checkpoint_if_cancelled()
        session = self._open_session()
        try:
            return session.request_message_replay(trio.current_time())
        finally:
            self._wake()

    async def close(self, timeout: float | None = None) -> None:
        """Log out and wait for the connection to close; past ``timeout`` abort it.

        ``timeout`` None (the default) is ``close_timeout`` of :func:`open_session`, as
        ``submit(timeout=None)`` is its ``submit_timeout``; infinity waits as long as it
        takes. A NaN or negative one raises :class:`~sessionkit.ConfigError`.
        """
        positive_or_none("timeout", timeout, allow_zero=True)
        if timeout is None:
            timeout = self._close_timeout
        if self._done.is_set():
            await trio.lowlevel.checkpoint()
            return
        if not self._closing:
            self._closing = True
            self._state = ClientState.CLOSING
            session = self._session
            if session.state not in CLOSED_STATES and session.state is not SessionState.CLOSING:
                session.close(trio.current_time())
            self._wake()
            if self._backoff_scope is not None:
                self._backoff_scope.cancel()
        with trio.move_on_after(timeout):
            await self._done.wait()
        if not self._done.is_set():
            self._abort_reason = (f"the connection was not closed within {timeout} s of the "
                                  f"logout; aborted")
            if self._owner_scope is not None:
                self._owner_scope.cancel()
            await self._done.wait()

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
                raise _Crash("the journal", exc) from exc
        encode = self._codec.encode
        try:
            return [encode(m) for m in msgs]
        except LocalProtocolError:
            return self._encode_each(msgs)
        except Exception as exc:
            raise _Crash("the codec", exc) from exc

    def _encode_each(self, msgs: list[Message]) -> list[bytes]:
        out = []
        for m in msgs:
            try:
                out.append(self._codec.encode(m))
            except LocalProtocolError as err:
                logger.error("not sent (the session resends it until max_send_attempts, then "
                             "reports it unknown): %s", err)
            except Exception as exc:
                raise _Crash("the codec", exc) from exc
        return out

    async def _run_connection(self, transport: Transport, session: Session) -> tuple[str, str]:
        """Log in and run one connection; returns (how it ended, why)."""
        self._end_kind = self._end_reason = None
        self._offline = None
        resume = None if self._ever_logged_in else self._first_resume
        session.login(trio.current_time(), account=self._account, token=self._token,
                      resume_event_id=resume)
        current_time = trio.current_time
        self._unsent = []
        send_now = (getattr(transport, "send_frames_nowait", None) if self._recorder is None
                    else None)
        read_more = getattr(transport, "receive_frames_nowait", None)
        self._receive_now = read_more if send_now is not None else None
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
                        except TransportClosed:
                            raise
                        except Exception as exc:
                            raise _Crash("the transport", exc) from exc
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
                with trio.CancelScope(deadline=math.inf if deadline is None else deadline
                                      ) as scope:
                    self._wait_scope = scope
                    self._send_now = send_now
                    self._burst = None
                    try:
                        frames = await transport.receive_frames()
                    except TransportClosed:
                        raise
                    except Exception as exc:
                        raise _Crash("the transport", exc) from exc
                    # still inside the scope (nothing in _woke awaits): the scope's exit
                    # is not between the frames' arrival and their handlers
                    now = self._woke(session, frames, read_more)
                if frames is None:  # the wait was cut short: a wake-up or the deadline
                    now = self._woke(session, [], None)
                timer = deadline is not None and now >= deadline
                if timer and session.state not in CLOSED_STATES:
                    session.handle_timer(now)
                if frames or timer:
                    self._bump()
        except TransportClosed as exc:
            self._wait_scope = None
            if session.state not in CLOSED_STATES:
                session.connection_lost(exc.reason, current_time())
            self._dispatch(session.events())
        finally:
            self._wait_scope = None
            self._send_now = self._receive_now = None
            self._unsent = []  # lost with the connection, as frames in flight are
            await self._close_transport(transport)
        return self._end_kind or "failed", self._end_reason or "connection ended"

    async def _close_transport(self, transport: Transport) -> None:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + _TRANSPORT_CLOSE_TIMEOUT
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
            old.connection_lost("replaced by a new connection", trio.current_time())
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
                    raise _Crash("the journal", exc) from exc
            try:
                transport = await self._connector.connect()
            except (ConnectFailed, TransportClosed) as exc:
                kind, reason = "connect", f"connect failed: {exc.reason}"
                error = self._give_up(kind, reason)
                # one report per failure: the last one says that it is the last
                self._end_reason = error.reason if error is not None else reason
                self._failure_reported = True
                self._call("on_connection_failed", self._end_reason)
            except Exception as exc:
                raise _Crash("the connector", exc) from exc
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
            with trio.CancelScope() as self._backoff_scope:
                await trio.sleep(delay)
            self._backoff_scope = None

    async def _wait_login(self) -> None:
        limit = self._login_timeout
        with trio.move_on_after(math.inf if limit is None else limit):
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
    async def _running(self, *, wait_login: bool) -> AsyncIterator[SessionClient]:
        """Run the owner task around a block (see :func:`open_session`)."""
        self._clock = trio.lowlevel.current_clock().current_time
        try:
            async with trio.open_nursery() as nursery:
                self._nursery_scope = nursery.cancel_scope
                nursery.start_soon(self._supervise)
                if wait_login:
                    await self._wait_login()
                yield self
                await self.close(self._close_timeout)
        except BaseExceptionGroup as group:
            reraise(collapse(group))
        if self._handler_error is not None:
            raise self._handler_error
        if self._crashed and self.error is not None:
            raise self.error
