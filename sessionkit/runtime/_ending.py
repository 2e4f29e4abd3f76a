"""How a :class:`~sessionkit.runtime.SessionClient` ends: the owner task's supervisor,
the error the client ends with, and the report of every request not final.

The client ends once, with one reason, in one of these ways: its connect loop returns
(closed, or failed for good: ``error`` is a :class:`SessionFailedError`), the caller
cancels it, a handler stops it (``handler_errors="stop"``: a :class:`HandlerError`), or
something the owner task relies on fails (the journal, the transport, a bug: ``error`` is a
:class:`SessionFailedError` naming it, its ``__cause__`` the exception). The last two end
the block of ``open_session`` too, which raises the error: one exception, never a group.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from .._events import ConnectionFailed, MessageFinished, Outcome
from .._session import Session
from .._state import CLOSED_STATES, SessionState
from ._dispatch import STOPPED, _Stop, crash_error
from ._errors import ConnectionFailedError, HandlerError, LoginFailedError, SessionFailedError
from ._reconnect import ReconnectPolicy
from ._util import StatsAccumulator

__all__ = ["Ending"]

logger = logging.getLogger("sessionkit.runtime._client")


class Ending:
    """The ending half of :class:`~sessionkit.runtime.SessionClient` (a mixin)."""

    _reconnect: ReconnectPolicy | None
    _attempt: int
    _cancel_reason: str
    _abort_reason: str | None
    _owner_scope: trio.CancelScope | None
    _nursery_scope: trio.CancelScope | None
    _handler_error: HandlerError | None
    _crashed: bool
    _failure_reported: bool
    _finished: bool
    _end_reason: str | None
    _session: Session
    _recorder: Any
    _stats: StatsAccumulator
    _done: trio.Event
    _login_event: trio.Event
    error: SessionFailedError | None

    if TYPE_CHECKING:  # provided by the other halves of the client
        def _bump(self) -> None: ...
        def _set_ended(self, failed: bool) -> None: ...
        def _dispatch_safely(self, events: list[Any]) -> None: ...
        def _report_withheld(self, stop: _Stop) -> None: ...
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
            with trio.CancelScope() as scope:
                self._owner_scope = scope
                reason = await self._connect_loop()
                unfinished = (f"session failed: {reason}" if self.error is not None
                              else "session closed before the final response")
            if scope.cancelled_caught:
                reason = unfinished = self._abort_reason or self._cancel_reason
        except _Stop as stop:
            self._handler_error = stop.error
            logger.error("%s", stop.error, exc_info=stop.error.original)
            self._report_withheld(stop)
            self._end(STOPPED, STOPPED)
            return
        except Exception as exc:  # noqa: BLE001 - the journal, the transport, a bug
            self.error = crash_error(exc)
            self._crashed = True
            logger.error("the session failed: %s", self.error.reason,
                         exc_info=self.error.__cause__)
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
            session.connection_lost(reason, trio.current_time())
        events = session.events()
        if idle and self._failure_reported:
            # no connection is open: the failure that ended the last one (or the last
            # connect) was reported when it happened; once is enough
            events = [e for e in events if type(e) is not ConnectionFailed]
        self._dispatch_safely(events)
        if self._recorder is not None:
            try:
                self._recorder.commit()
            except Exception:
                logger.exception("the store failed to commit as the session ended")
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
