"""Exceptions raised by the SignalR stack.

Two families, kept apart on purpose:

* :class:`SignalRError` and its subclasses: the transport, the negotiation, the handshake or the
  hub protocol failed. Retrying (or reconnecting) may help.
* :class:`HubError`: the hub method ran and reported an error (a Completion carrying ``error``).
  The connection is fine; retrying the same call usually gives the same answer.
"""

from __future__ import annotations

__all__ = [
    "SignalRError",
    "ProtocolError",
    "HandshakeError",
    "NegotiateError",
    "AuthenticationError",
    "TokenRefusedError",
    "ResumeRefusedError",
    "TransportError",
    "ConnectionLostError",
    "ConnectionClosedError",
    "HandlerBlockedError",
    "ServerTimeoutError",
    "BufferFullError",
    "HubError",
]


class SignalRError(Exception):
    """Base class of every transport, negotiation and protocol failure."""


class ProtocolError(SignalRError):
    """The far side sent bytes that are not valid hub protocol; the message says what was wrong."""


class HandshakeError(SignalRError):
    """The hub protocol handshake failed (refused by the far side, or malformed)."""


class NegotiateError(SignalRError):
    """The ``/negotiate`` request failed or its answer could not be used."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthenticationError(NegotiateError):
    """The server refused the bearer token (HTTP 401/403)."""


class TokenRefusedError(SignalRError):
    """The server no longer knows the connection token (stateful reconnect cannot resume)."""


class ResumeRefusedError(TokenRefusedError):
    """A stateful resume was refused without an HTTP 404: the server accepted the WebSocket and
    closed it before acknowledging the resume (its ``Sequence`` message). Treated like a 404:
    the connection is lost and a new one is negotiated."""


class TransportError(SignalRError):
    """The WebSocket could not be opened, or broke."""


class ConnectionLostError(SignalRError):
    """The connection went away before a call finished; the call's outcome is unknown."""


class HandlerBlockedError(ConnectionLostError):
    """A wait on the connection was ended to avoid a deadlock: the task that empties one of the
    connection's bounded inbound queues (the client-method handlers, or a stream's reader)
    waited for the connection itself while that queue was full, and the connection stops
    reading while a queue is full. The call's outcome is unknown (it may have run)."""


class ConnectionClosedError(SignalRError):
    """The connection is closed (by the caller, or by the server with a Close message)."""


class ServerTimeoutError(TransportError):
    """Nothing arrived from the server within the server timeout."""


class BufferFullError(SignalRError):
    """The stateful-reconnect replay buffer cannot take the message without exceeding its bound."""


class HubError(Exception):
    """The hub method failed: the server answered with a Completion carrying an error.

    ``method`` is the hub method invoked and ``message`` the server's error text.
    """

    def __init__(self, message: str, *, method: str | None = None) -> None:
        text = f"hub method {method!r} failed: {message}" if method else message
        super().__init__(text)
        self.message = message
        self.method = method
