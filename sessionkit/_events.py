"""Events the session core emits, drained by the caller with ``Session.events()``.

Each event maps to one :class:`~sessionkit.MessageProcessor` method (see
``sessionkit._processor.dispatch``). Events are frozen ``msgspec.Struct``s (made for
every answer, so they are cheap to make); a callback a message or a request carries, and
the exception of a :class:`ProtocolError`, are not part of the event's equality, hash or
repr.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec

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

#: a per-request callback: ``callback(msg, prev_msg)`` for each answer to the request (its
#: ACK, its responses), ``prev_msg`` being the previous message with the same MID (the
#: request itself for the first). What it returns is ignored.
Callback = Callable[[Message, Message | None], object]


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


class Event(msgspec.Struct, frozen=True):
    """Base class of session events."""


class LoginAccepted(Event, frozen=True):
    """The exchange accepted the login (``on_login_accepted``): ``event_id`` is its newest
    event id at login, ``run_id`` the run it is in (None if it names none)."""

    event_id: int
    run_id: str | None


class LoginFailed(Event, frozen=True):
    """The exchange refused the login, for ``reason`` (``on_login_failed``); the session is
    deactivated."""

    reason: str


class ConnectionFailed(Event, frozen=True):
    """The connection could not be made or was lost, for ``reason``
    (``on_connection_failed``); the session is deactivated."""

    reason: str


class MessageReceived(Event, frozen=True):
    """An inbound message, with the previous message of the same MID and its callback."""

    msg: Message
    prev_msg: Message | None = None
    callback: Callback | None = None

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self.msg == other.msg
                and self.prev_msg == other.prev_msg)

    def __hash__(self) -> int:
        return hash((self.msg, self.prev_msg))

    def __repr__(self) -> str:
        return f"MessageReceived(msg={self.msg!r}, prev_msg={self.prev_msg!r})"


class RunChanged(Event, frozen=True):
    """The exchange restarted: it is now in run ``run_id``, and the open orders of
    ``prev_run_id`` are reported cancelled (``handle_run_change``)."""

    run_id: str
    prev_run_id: str | None


class ResendCompleted(Event, frozen=True):
    """A replay of the events ``begin`` to ``end`` is over (``on_resend_complete``)."""

    begin: int
    end: int


class ConnectionBusy(Event, frozen=True):
    """Submits are being rejected, for ``reason`` (a full buffer, the exchange's congestion
    signal): slow down (``on_connection_busy``)."""

    reason: str


class ConnectionAvailable(Event, frozen=True):
    """The busy state cleared: submits are accepted again (``on_connection_available``)."""


class ExchangeOffline(Event, frozen=True):
    """No message from the exchange for ``silence`` seconds, past its heartbeat interval."""

    silence: float


class ExchangeOnline(Event, frozen=True):
    """Traffic from the exchange again after it was reported offline
    (``on_exchange_online``)."""


class MessageFinished(Event, frozen=True):
    """A tracked request reached its final state and is no longer tracked."""

    cid: str
    mid: int | None
    outcome: Outcome
    request: Request
    reason: str = ""
    callback: Callback | None = None

    def _key(self) -> tuple[object, ...]:
        return (self.cid, self.mid, self.outcome, self.request, self.reason)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"MessageFinished(cid={self.cid!r}, mid={self.mid!r}, outcome={self.outcome!r}, "
                f"request={self.request!r}, reason={self.reason!r})")


class ProtocolError(Event, frozen=True):
    """The exchange sent something wrong; the session went on (``fatal`` False) or failed."""

    error: Exception
    fatal: bool = False

    @property
    def message(self) -> str:
        return str(self.error)

    def __eq__(self, other: object) -> bool:  # errors are compared by neither
        return type(other) is type(self) and self.fatal == other.fatal

    def __hash__(self) -> int:
        return hash((type(self), self.fatal))


class Closed(Event, frozen=True):
    """The session closed after a logout or a local close, for ``reason``
    (``on_closed``)."""

    reason: str
