"""Errors the runtime raises (all derive from :class:`~sessionkit.SessionkitError`)."""

from __future__ import annotations

from .._errors import SessionkitError
from .._events import MessageFinished, MessageReceived

__all__ = ["SessionFailedError", "LoginFailedError", "ConnectionFailedError", "HandlerError",
           "TransportClosedError", "ConnectError"]


class TransportClosedError(SessionkitError):
    """A transport's connection closed or failed; ``reason`` says why (an adapter raises it;
    the runtime reports it as a lost connection, ``ConnectionFailed``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectError(SessionkitError):
    """One connection could not be made; ``reason`` says why (bad key, refused, timeout...).

    A connector raises it for one attempt; the runtime reports it (``on_connection_failed``)
    and reconnects, or ends with :class:`ConnectionFailedError` when no attempt is left."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionFailedError(SessionkitError):
    """The session could not be opened (or ended) for good; ``reason`` says why.

    Raised as it is (not a subclass) when something the session relies on failed inside
    its owner task: ``reason`` names it (``the journal failed: ...``, ``the transport
    failed: ...``, ``the connector failed: ...``) and ``__cause__`` is the exception.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoginFailedError(SessionFailedError):
    """The exchange refused the login (the ``LoginFailed`` event, raised)."""


class ConnectionFailedError(SessionFailedError):
    """No connection could be made or kept, and no (further) reconnect was allowed."""


class HandlerError(SessionkitError):
    """A processor method or callback raised while ``on_handler_error="stop"``.

    ``original`` is the exception the handler raised (also ``__cause__``), ``event`` the
    session event being handled and ``consumer`` what raised (``handle_status_message``,
    ``the callback of request c-1``...). That event still reached its other consumers;
    ``undelivered`` holds the events after it that no consumer was handed (without a
    journal they are lost; with one, a session opened on it again is handed them).
    """

    def __init__(self, original: BaseException, event: object, *,
                 consumer: str = "the processor") -> None:
        what = describe_event(event)
        super().__init__(f"{consumer} raised {type(original).__name__}: {original} "
                         f"while handling {what}; the session was stopped")
        self.original = original
        self.event = event
        self.consumer = consumer
        self.undelivered: tuple[object, ...] = ()
        self.__cause__ = original


def describe_event(event: object) -> str:
    """An event as a log line or an error names it: ``Status (cid c-1, event 5)``..."""
    if isinstance(event, str):
        return event
    if isinstance(event, MessageReceived):
        msg = event.msg
        cid = getattr(msg, "cid", None) or getattr(event.prev_msg, "cid", None)
        parts = [f"cid {cid}" if cid else "", f"event {msg.event_id}"
                 if msg.event_id is not None else ""]
        inner = ", ".join(p for p in parts if p)
        return f"{type(msg).__name__} ({inner})" if inner else type(msg).__name__
    if isinstance(event, MessageFinished):
        return f"MessageFinished ({event.cid} {event.outcome.value})"
    return type(event).__name__
