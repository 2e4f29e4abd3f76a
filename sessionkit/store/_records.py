"""What a session journal holds, as frozen records (the store's read side)."""

from __future__ import annotations

import enum

import attrs

from .._messages import Request
from .._tracking import MessageState

__all__ = [
    "SessionKey",
    "Durability",
    "MessageRecord",
    "IntentRecord",
    "JobRecord",
    "RecoveryReport",
]


def _non_empty(inst: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"SessionKey.{attribute.name} must be a non-empty string, "
                         f"got {value!r}")


@attrs.frozen
class SessionKey:
    """One journal holds one session: an account's session of one trading day.

    >>> SessionKey("acct", "2026-05-04")
    SessionKey(account='acct', session_id='2026-05-04')
    """

    account: str = attrs.field(validator=_non_empty)
    #: the session's identity at the exchange, e.g. the trading day ``"2026-05-04"``
    session_id: str = attrs.field(validator=_non_empty)


class Durability(enum.Enum):
    """How hard a commit is (SQLite journals; an in-memory journal is never durable).

    ``SAFE``: every commit is fsynced before it returns (survives power loss).
    ``FAST``: a commit reaches the OS before it returns and the disk at the next
    checkpoint (survives the process being killed, not a power loss or an OS crash).
    """

    SAFE = "safe"
    FAST = "fast"


@attrs.frozen
class MessageRecord:
    """One outbound request not yet in a final state."""

    cid: str
    request: Request
    state: MessageState
    mid: int | None
    #: times the request was handed to a transport, over every process that sent it
    attempts: int
    #: the client id of the batch that carries it (None: sent on its own)
    parent: str | None
    #: the exchange run that ACKed it (None before its ACK)
    run_id: str | None
    #: submission order within the journal
    seq: int


@attrs.frozen
class IntentRecord:
    """An idempotency key: an operation the engine meant to perform once, and how it ended."""

    key: str
    operation: str
    payload_hash: str
    #: the client id of the request that carries it, when there is one
    cid: str | None
    #: None while the outcome is unknown
    outcome: str | None


@attrs.frozen
class JobRecord:
    """An asynchronous job started at the far side and not yet finished."""

    job_id: str
    kind: str


@attrs.frozen(kw_only=True)
class RecoveryReport:
    """What a session opened on an existing journal found there (``on_recovered``).

    ``resend`` are the requests never ACKed: they are sent again with their own
    client ids (the exchange de-duplicates them within a run). ``replay`` are
    the (cid, mid) of requests ACKed without their final response: the session
    asks for a ``MessageReplay`` of them. Events after ``last_event_id`` are
    replayed by the exchange and handed to the processor.
    """

    path: str | None
    account: str
    session_id: str
    #: how many processes opened this journal, this one included
    incarnation: int
    run_id: str | None
    #: the resume cursor: the last event id whose handling was committed
    last_event_id: int
    resend: tuple[str, ...] = ()
    replay: tuple[tuple[str, int], ...] = ()
    #: idempotency keys whose outcome is still unknown
    open_intents: tuple[str, ...] = ()
    #: asynchronous jobs not yet finished
    jobs: tuple[str, ...] = ()
    #: nothing was ever recorded: the session starts fresh (no handoff)
    fresh: bool = False
    #: set when the journal at this path was damaged and, as asked for
    #: (``if_damaged="start_fresh"``), moved aside for a new one: what was wrong and where
    #: the damaged files went. The requests it held in flight are not known to this session.
    damaged: str | None = None

    def summary(self) -> str:
        """One line for a log."""
        text = (f"journal incarnation {self.incarnation}: resume after event "
                f"{self.last_event_id} of run {self.run_id}, {len(self.resend)} to resend, "
                f"{len(self.replay)} to replay, {len(self.open_intents)} open intents, "
                f"{len(self.jobs)} jobs")
        if self.damaged is not None:
            text += f" (a new journal: the old one was damaged: {self.damaged})"
        return text
