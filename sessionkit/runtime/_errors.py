"""Errors the trio runtime raises (all derive from :class:`~sessionkit.SessionkitError`)."""

from __future__ import annotations

from .._errors import SessionkitError

__all__ = ["SessionFailedError", "LoginFailedError", "ConnectionFailedError", "HandlerError"]


class SessionFailedError(SessionkitError):
    """The session could not be opened (or ended) for good; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoginFailedError(SessionFailedError):
    """The exchange refused the login (the ``LoginFailed`` event, raised)."""


class ConnectionFailedError(SessionFailedError):
    """No connection could be made or kept, and no (further) reconnect was allowed."""


class HandlerError(SessionkitError):
    """A processor method or callback raised while ``handler_errors="stop"``.

    ``original`` is the exception the handler raised (also ``__cause__``), ``event`` the
    session event being handled and ``consumer`` what raised (``handle_status_message``,
    ``the callback of request c-1``...). That event still reached its other consumers;
    ``undelivered`` holds the events after it that no consumer was handed (without a
    journal they are lost; with one, a session opened on it again is handed them).
    """

    def __init__(self, original: BaseException, event: object, *,
                 consumer: str = "the processor") -> None:
        what = event if isinstance(event, str) else type(event).__name__
        super().__init__(f"{consumer} raised {type(original).__name__}: {original} "
                         f"while handling {what}; the session was stopped")
        self.original = original
        self.event = event
        self.consumer = consumer
        self.undelivered: tuple[object, ...] = ()
        self.__cause__ = original
