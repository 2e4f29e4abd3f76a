"""Events the session core emits, drained by the caller with ``Session.events()``.

Each event maps to one :class:`~sessionkit.MessageProcessor` method (see
``sessionkit._processor.dispatch``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from ._messages import Message, Request

__all__ = [
    "Event",
    "Outcome",
    "LoginAccepted",
    "LoginFailed",
    "ConnectionFailed",
    "MessageReceived",
    "RunChanged",
    "ResendCompleted",
    "ConnectionBusy",
    "ConnectionAvailable",
    "ExchangeOffline",
    "ExchangeOnline",
    "MessageFinished",
    "ProtocolError",
    "Closed",
    "Callback",
]

Callback = Callable[[Message, Message | None], Any]


class Outcome(enum.Enum):
    """The one final state every tracked message ends in."""

    #: S3: ACK and final response received
    COMPLETED = "completed"
    #: a trade request whose last action report shows size zero
    DONE = "done"
    #: the exchange refused it (error status in its ACK)
    REJECTED = "rejected"
    #: S1 exhausted: sent ``max_send_attempts`` times and never ACKed
    UNKNOWN = "unknown"
    #: an open trade request of a run the exchange has left (it restarted)
    CANCELLED_BY_RUN_CHANGE = "cancelled_by_run_change"
    #: never sent: the exchange never received it (the journal could not record it, and
    #: nothing reaches the transport before the journal holds it)
    NOT_SENT = "not_sent"


class Event:
    """Base class of session events."""

    __slots__ = ()


@attrs.frozen(slots=True)
class LoginAccepted(Event):
    event_id: int
    run_id: str | None


@attrs.frozen(slots=True)
class LoginFailed(Event):
    reason: str


@attrs.frozen(slots=True)
class ConnectionFailed(Event):
    reason: str


@attrs.frozen(slots=True)
class MessageReceived(Event):
    """An inbound message, with the previous message of the same MID and its callback."""

    msg: Message
    prev_msg: Message | None = None
    callback: Callback | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(slots=True)
class RunChanged(Event):
    run_id: str
    prev_run_id: str | None


@attrs.frozen(slots=True)
class ResendCompleted(Event):
    begin: int
    end: int


@attrs.frozen(slots=True)
class ConnectionBusy(Event):
    reason: str


@attrs.frozen(slots=True)
class ConnectionAvailable(Event):
    pass


@attrs.frozen(slots=True)
class ExchangeOffline(Event):
    """No message from the exchange for ``silence`` seconds, past its heartbeat interval."""

    silence: float


@attrs.frozen(slots=True)
class ExchangeOnline(Event):
    pass


@attrs.frozen(slots=True)
class MessageFinished(Event):
    """A tracked request reached its final state and is no longer tracked."""

    cid: str
    mid: int | None
    outcome: Outcome
    request: Request
    reason: str = ""
    callback: Callback | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(slots=True)
class ProtocolError(Event):
    """The exchange sent something wrong; the session went on (``fatal`` False) or failed."""

    error: Exception = attrs.field(eq=False)
    fatal: bool = False

    @property
    def message(self) -> str:
        return str(self.error)


@attrs.frozen(slots=True)
class Closed(Event):
    reason: str
