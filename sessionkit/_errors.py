"""The error hierarchy of sessionkit.

Modelled on h11: errors caused by the local side's misuse are kept apart from
errors caused by what the far side sent, so that an engine can tell a bug in
its own code from a misbehaving exchange.
"""

from __future__ import annotations

__all__ = [
    "SessionkitError",
    "ConfigError",
    "ConfigTypeError",
    "LocalProtocolError",
    "InvalidRequestError",
    "RemoteProtocolError",
    "DecodeError",
    "SessionBusyError",
    "SessionClosedError",
]


class SessionkitError(Exception):
    """Base class of every error sessionkit raises on purpose."""


class ConfigError(SessionkitError, ValueError):
    """A configuration value is invalid; the message names the setting and the value."""


class ConfigTypeError(ConfigError, TypeError):
    """An option is not of the kind it must be (a processor class where an instance is wanted,
    an object with none of a processor's methods); the message names the option and what was
    passed. A :class:`ConfigError` and a ``TypeError``."""


class LocalProtocolError(SessionkitError):
    """The caller asked for something the protocol or the session state does not allow."""


class InvalidRequestError(LocalProtocolError, ValueError):
    """A message the client sends was made with a field the protocol does not allow.

    Raised where the message is made (its constructor, ``msgspec.structs.replace``, a
    decode), so an invalid request never reaches ``submit`` nor the wire: a wrong type
    (``size="1"``, ``size=True``, ``price_in_cents=None``) as well as a value out of the
    protocol's range (see ``docs/protocol.md``). A :class:`LocalProtocolError` and a ``ValueError``.
    ``type_name`` is the message class's name, ``field`` the field's name (an item of a
    tuple field adds its index: ``"mids[2]"``), ``value`` the value refused.
    """

    def __init__(self, message: str, *, type_name: str = "", field: str = "",
                 value: object = None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.field = field
        self.value = value


class RemoteProtocolError(SessionkitError):
    """The far side sent something the protocol does not allow.

    ``offending`` is what it sent: the decoded message, or the raw frame (``bytes``) when
    it did not decode; None when the violation is an absence (a replay that never ended).
    """

    def __init__(self, message: str, *, offending: object = None) -> None:
        super().__init__(message)
        self.offending = offending


class DecodeError(RemoteProtocolError):
    """A frame could not be decoded into a protocol message.

    ``field`` is a dotted path to the offending field (``""`` for the frame as a whole).
    """

    def __init__(self, message: str, *, field: str = "", type_name: str | None = None,
                 offending: object = None) -> None:
        super().__init__(message, offending=offending)
        self.field = field
        self.type_name = type_name


class SessionBusyError(SessionkitError):
    """A submit was rejected synchronously because a bound is reached.

    ``reason`` is one of ``"window"`` (too many unacknowledged messages),
    ``"send_buffer"`` (too many frames not yet written) or ``"congestion"``
    (the exchange signalled congestion). Nothing was queued.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"session busy ({reason}): {detail}")
        self.reason = reason


class SessionClosedError(SessionkitError):
    """The session is deactivated (closed or failed); open a new session to go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"session is closed: {reason}")
        self.reason = reason
