"""The reference protocol's message vocabulary (see ``docs/protocol.md``).

Every message is an ``attrs`` frozen class. Envelope fields shared by all
messages live on :class:`Message`; a class's wire ``type`` name is its
``TYPE`` class variable. Wire formats are not defined here: they are the
business of :mod:`sessionkit._codec`.

Client requests carry a client id ``cid`` (unique within the session, kept on
every resend so the exchange can de-duplicate); the exchange answers with a
:class:`Status` (the ACK) carrying the exchange-assigned message id ``mid``.

A message the client sends (every :class:`Request`, :class:`Login`,
:class:`EventReplay`) is checked when it is made: a field of the wrong type or out of
the protocol's range raises :class:`~sessionkit.InvalidRequestError` naming the class,
the field and the value (the rules: :mod:`sessionkit._rules`). Messages the exchange
sends are checked by the codec when a frame is decoded (an :data:`Id` field takes only
an id in ``0..2^63-1``), not when they are made, so that a test can build any of them.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs

from ._fastinit import compile_copier
from ._rules import (
    BATCH_LIMIT,
    CID,
    COUNT,
    FLAG,
    ID,
    RESUME,
    TEXT,
    TIMESTAMP,
    Id,
    Rule,
    check_fields,
    checked,
    compile_check,
    optional,
    tuple_of,
)

__all__ = [
    "Message",
    "RequestKind",
    "StatusCode",
    "Side",
    "Login",
    "LoginAck",
    "LoginReject",
    "Logout",
    "Heartbeat",
    "Status",
    "LimitOrder",
    "CancelOrder",
    "GetContracts",
    "GetBookState",
    "Batch",
    "BatchAck",
    "MessageReplay",
    "EventReplay",
    "ActionReport",
    "Contract",
    "ContractDetail",
    "BookTop",
    "BookOrder",
    "BookStateSnapshot",
    "ResendComplete",
    "Congestion",
    "UnknownMessage",
    "MESSAGE_TYPES",
    "Request",
]


class RequestKind(enum.Enum):
    """How a request's life ends (the LedgerX scenarios)."""

    #: final when its ACK arrives (e.g. a cancel): nothing else follows
    ACK_ONLY = "ack_only"
    #: final on the response marked final (S3): ACK, then one or more responses
    RESPONSE = "response"
    #: a trade request: final on an action report with remaining size zero
    TRADE = "trade"
    #: a batch container: final when its batch of ACKs arrives
    BATCH = "batch"


class StatusCode(enum.IntEnum):
    """Status codes carried by :class:`Status` (the ACK)."""

    OK = 200
    BAD_REQUEST = 400
    INSUFFICIENT_FUNDS = 402
    NOT_FOUND = 404
    DUPLICATE = 409
    BUSY = 429
    INTERNAL_ERROR = 500

    @property
    def is_success(self) -> bool:
        return self < 300


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


def _as_tuple(value: Any) -> Any:
    """A list given for a tuple field is taken as a tuple (anything else is left to the
    field's rule to refuse)."""
    return tuple(value) if type(value) is list else value


def _batchable(value: Any) -> bool:
    return isinstance(value, Request) and not isinstance(value, Batch)


_ACCOUNT = Rule("a non-empty string (of Unicode text)", f"{TEXT.test} and len({{v}}) > 0",
                TEXT.names)
_TOKEN = attrs.evolve(TEXT, secret=True)
_SIDE = Rule("'buy' or 'sell'", "isinstance({v}, str) and ({v} == 'buy' or {v} == 'sell')")
_PRICE = Rule("a price in cents: an integer in 1..2^63-1", COUNT.test)
_BATCHED = tuple_of(Rule("a request (not a Batch)", "batchable({v})",
                         {"batchable": _batchable}),
                    min_len=1, max_len="BATCH_LIMIT",
                    words=f"a tuple of 1 to {BATCH_LIMIT} requests, none a Batch")


@attrs.frozen(kw_only=True, slots=True)
class Message:
    """Envelope fields shared by every message.

    ``run_id`` identifies the exchange run that produced an inbound message;
    ``event_id`` is its position in the session's event stream (absent on
    session-level messages); ``ts`` is the sender's timestamp in nanoseconds;
    ``replay`` marks an event re-sent during a replay.
    """

    TYPE: ClassVar[str] = ""
    HANDLER: ClassVar[str] = "handle_unknown_message"
    run_id: str | None = checked(optional(TEXT), default=None)
    event_id: Id | None = checked(optional(ID), default=None)
    ts: int | None = checked(optional(TIMESTAMP), default=None)
    replay: bool = checked(FLAG, default=False)


@attrs.frozen(kw_only=True, slots=True)
class Request(Message):
    """A client request that the session tracks by ``cid`` until it is final.

    Checked when made (see the module's docstring): ``cid`` is None (the session gives
    one) or 1 to 128 printable characters.
    """

    KIND: ClassVar[RequestKind] = RequestKind.RESPONSE
    cid: str | None = checked(optional(CID), default=None)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # replaced by the class's compiled check (end of the module)


# --- session level ---------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class Login(Message):
    """Opens the session. ``resume_event_id``: 0 no replay, 1 replay all, N after N-1."""

    TYPE: ClassVar[str] = "login"
    account: str = checked(_ACCOUNT)
    token: str = checked(_TOKEN, default="", repr=False)
    resume_event_id: int = checked(RESUME, default=0)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # replaced by the class's compiled check (end of the module)


@attrs.frozen(kw_only=True, slots=True)
class LoginAck(Message):
    """Login accepted; ``last_event_id`` is the newest event id of the session so far."""

    TYPE: ClassVar[str] = "login_ack"
    HANDLER: ClassVar[str] = "handle_login_ack"
    last_event_id: Id = 0


@attrs.frozen(kw_only=True, slots=True)
class LoginReject(Message):
    TYPE: ClassVar[str] = "login_reject"
    HANDLER: ClassVar[str] = "handle_login_reject"
    reason: str


@attrs.frozen(kw_only=True, slots=True)
class Logout(Message):
    TYPE: ClassVar[str] = "logout"


@attrs.frozen(kw_only=True, slots=True)
class Heartbeat(Message):
    """Sent by both sides; the exchange's carries the interval to the next one."""

    TYPE: ClassVar[str] = "heartbeat"
    HANDLER: ClassVar[str] = "handle_heartbeat"
    interval_ms: int | None = None


@attrs.frozen(kw_only=True, slots=True)
class Congestion(Message):
    """The exchange's congestion signal: ``busy`` true enters the busy state."""

    TYPE: ClassVar[str] = "congestion"
    HANDLER: ClassVar[str] = "handle_congestion"
    busy: bool


@attrs.frozen(kw_only=True, slots=True)
class ResendComplete(Message):
    """A replay is over: events ``begin`` .. ``end`` were re-sent (empty when end < begin)."""

    TYPE: ClassVar[str] = "resend_complete"
    HANDLER: ClassVar[str] = "handle_resend_complete"
    begin: Id
    end: Id


@attrs.frozen(kw_only=True, slots=True)
class Status(Message):
    """The ACK: first answer to every request, carrying the exchange's ``mid``."""

    TYPE: ClassVar[str] = "status"
    HANDLER: ClassVar[str] = "handle_status_message"
    cid: str
    mid: Id | None = None
    status: int = StatusCode.OK
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status < 300


# --- requests --------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class LimitOrder(Request):
    TYPE: ClassVar[str] = "limit_order"
    KIND: ClassVar[RequestKind] = RequestKind.TRADE
    contract_id: Id = checked(ID)
    side: str = checked(_SIDE, default=Side.BUY.value)
    size: int = checked(COUNT)
    price_in_cents: int = checked(_PRICE)


@attrs.frozen(kw_only=True, slots=True)
class CancelOrder(Request):
    """Cancels the order whose MID is ``order_mid``; final on its ACK."""

    TYPE: ClassVar[str] = "cancel_order"
    KIND: ClassVar[RequestKind] = RequestKind.ACK_ONLY
    order_mid: Id = checked(ID)


@attrs.frozen(kw_only=True, slots=True)
class GetContracts(Request):
    TYPE: ClassVar[str] = "get_contracts"
    KIND: ClassVar[RequestKind] = RequestKind.RESPONSE
    all_contracts: bool = checked(FLAG, default=True)


@attrs.frozen(kw_only=True, slots=True)
class GetBookState(Request):
    TYPE: ClassVar[str] = "get_book_state"
    KIND: ClassVar[RequestKind] = RequestKind.RESPONSE
    contract_id: Id = checked(ID)


@attrs.frozen(kw_only=True, slots=True)
class MessageReplay(Request):
    """Asks the exchange to re-send the latest state of each of ``mids``."""

    TYPE: ClassVar[str] = "message_replay"
    KIND: ClassVar[RequestKind] = RequestKind.ACK_ONLY
    mids: tuple[Id, ...] = checked(tuple_of(ID), default=(), converter=_as_tuple)


@attrs.frozen(kw_only=True, slots=True)
class EventReplay(Message):
    """Asks the exchange to re-send events ``from_event_id`` .. ``to_event_id``."""

    TYPE: ClassVar[str] = "event_replay"
    from_event_id: Id = checked(ID)
    to_event_id: Id = checked(ID)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # replaced by the class's compiled check (end of the module)


@attrs.frozen(kw_only=True, slots=True)
class Batch(Request):
    """1 to 200 requests (none a batch), executed by the exchange in order."""

    TYPE: ClassVar[str] = "batch"
    HANDLER: ClassVar[str] = "handle_batch"
    KIND: ClassVar[RequestKind] = RequestKind.BATCH
    messages: tuple[Request, ...] = checked(_BATCHED, default=(), converter=_as_tuple)


# --- responses and events --------------------------------------------------


@attrs.frozen(kw_only=True, slots=True)
class BatchAck(Message):
    """The batch of per-message ACKs for the batch whose ``cid``/``mid`` it names."""

    TYPE: ClassVar[str] = "batch_ack"
    HANDLER: ClassVar[str] = "handle_batch_message"
    cid: str
    mid: Id | None = None
    messages: tuple[Status, ...] = ()


@attrs.frozen(kw_only=True, slots=True)
class ActionReport(Message):
    """A change to a resting order; ``size`` is what remains (zero: the order is done)."""

    TYPE: ClassVar[str] = "action_report"
    HANDLER: ClassVar[str] = "handle_action_report"
    mid: Id
    cid: str | None = None
    contract_id: Id
    status_type: str = "inserted"
    size: int
    filled_size: int = 0
    price_in_cents: int = 0


@attrs.frozen(kw_only=True, slots=True)
class Contract:
    contract_id: Id
    label: str
    tick_in_cents: int = 1


@attrs.frozen(kw_only=True, slots=True)
class ContractDetail(Message):
    """One contract answering :class:`GetContracts`; ``last`` marks the final one."""

    TYPE: ClassVar[str] = "contract_detail"
    HANDLER: ClassVar[str] = "handle_contract_detail"
    mid: Id | None = None
    #: the request's client id, echoed so a response can be matched when its ACK was lost
    cid: str | None = None
    contract: Contract | None = None
    last: bool = True


@attrs.frozen(kw_only=True, slots=True)
class BookTop(Message):
    TYPE: ClassVar[str] = "book_top"
    HANDLER: ClassVar[str] = "handle_book_top"
    contract_id: Id
    bid_in_cents: int | None = None
    ask_in_cents: int | None = None


@attrs.frozen(kw_only=True, slots=True)
class BookOrder:
    mid: Id
    side: str
    size: int
    price_in_cents: int


@attrs.frozen(kw_only=True, slots=True)
class BookStateSnapshot(Message):
    TYPE: ClassVar[str] = "book_state_snapshot"
    HANDLER: ClassVar[str] = "handle_book_state_snapshot"
    mid: Id | None = None
    cid: str | None = None
    contract_id: Id
    orders: tuple[BookOrder, ...] = ()


@attrs.frozen(kw_only=True, slots=True)
class UnknownMessage(Message):
    """A message of a type this version does not know; kept whole for the fallback handler."""

    TYPE: ClassVar[str] = "unknown"
    HANDLER: ClassVar[str] = "handle_unknown_message"
    type: str
    fields: dict[str, Any] = attrs.field(factory=dict, hash=False)


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Login, LoginAck, LoginReject, Logout, Heartbeat, Congestion, ResendComplete,
        Status, LimitOrder, CancelOrder, GetContracts, GetBookState, MessageReplay,
        EventReplay, Batch, BatchAck, ActionReport, ContractDetail, BookTop,
        BookStateSnapshot,
    )
}

for _cls in (*MESSAGE_TYPES.values(), Message, Request, UnknownMessage, Contract, BookOrder):
    attrs.resolve_types(_cls)
#: the messages the client sends, each checked when made by one compiled function
CHECKED_TYPES: tuple[type[Message], ...] = (
    Request, Login, EventReplay,
    *(c for c in MESSAGE_TYPES.values() if issubclass(c, Request)))
for _cls in CHECKED_TYPES:
    _cls.__attrs_post_init__ = compile_check(_cls)  # type: ignore[attr-defined]
del _cls

_CID_COPIERS: dict[type, Any] = {}


def with_cid(request: Request, cid: str) -> Request:
    """A copy of ``request`` with its client id set: ``attrs.evolve`` on the hot path.

    The copier of each class is compiled once (see :mod:`sessionkit._fastinit`), a
    fraction of the cost of the generic ``evolve`` for every submit.
    """
    cls = type(request)
    copier = _CID_COPIERS.get(cls)
    if copier is None:
        copier = _CID_COPIERS[cls] = compile_copier(cls, "cid")
    result: Request = copier(request, cid)
    return result
