"""How a :class:`~sessionkit.runtime.SessionClient` ends: the owner task's supervisor,
the error the client ends with, and the report of every request not final.

The client ends once, with one reason, in one of these ways: its connect loop returns
(closed, or failed for good: ``error`` is a :class:`SessionFailedError`), the caller
cancels it, a handler stops it (``on_handler_error="stop"``: a :class:`HandlerError`), or
something the owner task relies on fails (the journal, the transport, a bug: ``error`` is a
:class:`SessionFailedError` naming it, its ``__cause__`` the exception). The last two end
the block of ``open_session`` too, which raises the error: one exception, never a group.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from .._events import ConnectionFailed, MessageFinished, Outcome
from .._reconnect import ReconnectPolicy
from .._session import Session
from .._state import CLOSED_STATES, SessionState
from ._dispatch import STOPPED, Stop, crash_error
from ._errors import ConnectionFailedError, HandlerError, LoginFailedError, SessionFailedError
from ._util import StatsAccumulator

__all__ = ["Ending"]

logger = logging.getLogger("sessionkit.runtime._client")


class Ending:
    """The ending half of :class:`~sessionkit.runtime.SessionClient` (a mixin)."""

    _reconnect: ReconnectPolicy | None
    _attempt: int
    _cancel_reason: str
    _abort_reason: str | None
    _owner_scope: anyio.CancelScope | None
    _nursery_scope: anyio.CancelScope | None
    _handler_error: HandlerError | None
    _crashed: bool
    _failure_reported: bool
    _finished: bool
    _end_reason: str | None
    _session: Session
    _recorder: Any
    _stats: StatsAccumulator
    _done: anyio.Event
    _login_event: anyio.Event
    error: SessionFailedError | None

    if TYPE_CHECKING:  # provided by the other halves of the client
        def _bump(self) -> None: ...
        def _set_ended(self, failed: bool) -> None: ...
        def _dispatch_safely(self, events: list[Any]) -> None: ...
        def _report_withheld(self, stop: Stop) -> None: ...
        async def _connect_loop(self) -> str: ...

    def _give_up(self, kind: str, reason: str) -> SessionFailedError | None:
        """The error the client ends with after a connection (attempt) ended with
        ``kind``, ``reason``; None when the reconnect policy allows another attempt."""
        policy = self._reconnect
        if kind == "login_failed" and not (policy and policy.retry_login_rejected):
            return LoginFailedError(reason)
        if policy is None:
            return ConnectionFailedError(reason)
        if policy.max_attempts is not None and self._attempt + 1 > policy.max_attempts:
            return ConnectionFailedError(
                f"{reason}; gave up after {policy.max_attempts} reconnect attempts")
        return None

    async def _supervise(self) -> None:
        reason, unfinished = self._cancel_reason, self._cancel_reason
        try:
            with anyio.CancelScope() as scope:
                self._owner_scope = scope
                reason = await self._connect_loop()
                unfinished = (f"session failed: {reason}" if self.error is not None
                              else "session closed before the final response")
            if scope.cancelled_caught:
                reason = unfinished = self._abort_reason or self._cancel_reason
        except Stop as stop:
            self._handler_error = stop.error
            logger.error("%s", stop.error, exc_info=stop.error.original)
            self._report_withheld(stop)
            self._end(STOPPED, STOPPED)
            return
        except Exception as exc:  # noqa: BLE001 - the journal, the transport, a bug
            self.error = crash_error(exc)
            self._crashed = True
            cause = self.error.__cause__
            # a journal's error names the file and what to do: one line says it all; any
            # other failure (a bug of a transport, a codec, the runtime) gets its traceback
            logger.error("the session failed: %s", self.error.reason,
                         exc_info=None if _journal_error(cause) else cause)
            reason = f"session failed: {self.error.reason}"
            self._end(reason, reason)
            return
        except BaseException:
            reason = unfinished = self._cancel_reason
            self._finish(reason, unfinished)
            raise
        self._finish(reason, unfinished)

    def _end(self, reason: str, unfinished: str) -> None:
        """The owner task ends the client by itself (a stop, a crash): finish, and end the
        block of ``open_session`` (which raises the error)."""
        self._finish(reason, unfinished)
        if self._nursery_scope is not None:
            self._nursery_scope.cancel()

    def _finish(self, reason: str, unfinished: str) -> None:
        """The client ends: deactivate the session and report what is not final."""
        if self._finished:
            return
        self._finished = True
        self._end_reason = reason
        session = self._session
        idle = session.state is SessionState.IDLE
        if session.state not in CLOSED_STATES:
            session.connection_lost(reason, anyio.current_time())
        events = session.events()
        if idle and self._failure_reported:
            # no connection is open: the failure that ended the last one (or the last
            # connect) was reported when it happened; once is enough
            events = [e for e in events if type(e) is not ConnectionFailed]
        self._dispatch_safely(events)
        if self._recorder is not None:
            self._report_never_sent(session)
        else:
            tracked = session.handoff().tracked
            if tracked:
                self._stats.add_finished({Outcome.UNKNOWN.value: len(tracked)})
                self._dispatch_safely([
                    MessageFinished(t.request.cid or "", t.mid, Outcome.UNKNOWN, t.request,
                                    unfinished, t.callback) for t in tracked])
        failed = self.error is not None or self._handler_error is not None
        self._set_ended(failed)
        self._done.set()
        self._login_event.set()
        self._bump()

    def _report_never_sent(self, session: Session) -> None:
        """The client ends with a journal: commit what is pending; what the journal still
        does not hold then (a commit failed: a full disk) was never sent, and is reported
        once each, ``never sent``, and forgotten by the store (see ``Recorder.never_sent``).
        What it holds stays there for the next session on it."""
        recorder = self._recorder
        why = "a commit failed"
        try:
            recorder.commit()
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            error = self.error
            if error is not None and _journal_error(error.__cause__) and _journal_error(exc):
                # the journal's failure that ended the session, met again: said already
                logger.debug("the journal could not commit as the session ended: %s", why)
            elif _journal_error(exc):  # it names the file and the problem: one line
                logger.error("the journal could not commit as the session ended: %s", why)
            else:
                logger.exception("the journal could not commit as the session ended")
        try:
            never_sent = recorder.never_sent(session, why)
        except Exception:
            logger.exception("the journal could not say which requests it does not hold")
            return
        if never_sent:
            cids = [ev.cid for ev in never_sent]
            logger.warning("%d requests were never sent, as the journal could not record "
                           "them; each is reported NOT_SENT, 'never sent': %s%s", len(cids),
                           ", ".join(cids[:10]), " ..." if len(cids) > 10 else "")
            self._stats.add_finished({Outcome.UNKNOWN.value: len(never_sent)})
            self._dispatch_safely(list(never_sent))


def _journal_error(exc: BaseException | None) -> bool:
    """True for an error of the journal's own (it names the file and what is wrong)."""
    from ..store import JournalError

    return isinstance(exc, JournalError)
