"""Errors raised by the streaming engine.

Only calls made by the local side raise. Whatever the far side sends (stream
messages, snapshot bodies) is reported as a :class:`~sessionkit.streaming.ProtocolError`
event instead, so a bad message never escapes from ``receive``.
"""

from __future__ import annotations

from .._errors import SessionkitError

__all__ = [
    "DuplicateSubscriptionError",
    "InvalidArgumentError",
    "InvalidIdError",
    "MergeError",
    "SessionDisconnectedError",
    "StreamingError",
    "UnknownSubscriptionError",
]


class StreamingError(SessionkitError):
    """Base class of every error the streaming package raises on purpose."""


class InvalidArgumentError(StreamingError, ValueError):
    """A call argument or configuration value is invalid.

    ``field`` names the argument, ``value`` holds what was given.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(f"invalid {field} {value!r}: {problem}")
        self.field = field
        self.value = value
        self.problem = problem


class InvalidIdError(InvalidArgumentError):
    """A context id or reference id breaks the id rules (charset, length, reserved names)."""


class DuplicateSubscriptionError(InvalidArgumentError):
    """The reference id is, or was, already used by a subscription of this engine."""


class UnknownSubscriptionError(StreamingError, KeyError):
    """No subscription of this engine has the given name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no subscription named {self.name!r} in this streaming engine"


class SessionDisconnectedError(StreamingError):
    """The server ended the streaming session with ``_disconnect``.

    Every later request would be refused (401) until the user authenticates again;
    create a new engine with a fresh context after logging in.
    """


class MergeError(StreamingError, ValueError):
    """A delta cannot be applied to the state; ``path`` names where (``$`` is the root)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"cannot apply delta at {path}: {problem}")
        self.path = path
        self.problem = problem
