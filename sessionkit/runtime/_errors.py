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

    ``original`` is the exception the handler raised (also ``__cause__``) and
    ``event`` the session event being handled.
    """

    def __init__(self, original: BaseException, event: object) -> None:
        super().__init__(f"the processor raised {type(original).__name__}: {original} "
                         f"while handling {type(event).__name__}; the session was stopped")
        self.original = original
        self.event = event
        self.__cause__ = original
