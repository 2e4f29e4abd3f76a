"""The reference protocol's message vocabulary (see ``docs/protocol.md``).

Every message is a frozen ``msgspec.Struct``. Envelope fields shared by all
messages live on :class:`Message`; a class's wire ``type`` name is its
``TYPE`` class variable, which is also its msgspec tag (the ``type`` key of
its frame: the messages form one tagged union). The frames themselves are the
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

The message classes are made without a cycle collector's header (``gc=False``): a
message holds only text, numbers and other messages, never a reference back (but an
:class:`UnknownMessage`, whose ``fields`` may hold anything). Measured: 120 bytes for a
``Status`` instead of 136, 16 fewer per request in flight (444 instead of 460), a decode
and a constructor about 8% faster (0.22 us instead of 0.24 for a ``status`` frame).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import msgspec

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
    Int,
    Rule,
    checked,
    compile_check,
    field_rules,
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
    """An order's side: ``"buy"`` or ``"sell"``."""

    BUY = "buy"
    SELL = "sell"


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


class MessageMeta(msgspec.StructMeta):
    """The metaclass of the messages: a class's msgspec tag is its ``TYPE`` (inherited when
    it declares none, as a subclass of a request keeps its wire type); a checked class (its
    ``CHECKED`` true) gets as ``__post_init__`` the compiled check of its fields' rules
    (:func:`sessionkit._rules.compile_check`), unless it declares one of its own. A subclass
    that adds no checked field runs its base's check."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                **kwargs: Any) -> MessageMeta:
        own = field_rules(namespace)
        rules: dict[str, Rule] = {}
        for base in reversed(bases):
            rules.update(getattr(base, "__rules__", {}))
        rules.update(own)
        namespace["__rules__"] = rules
        wire_type = namespace.get("TYPE") or next(
            (t for t in (getattr(b, "TYPE", "") for b in bases) if t), "")
        if wire_type and "tag" not in kwargs:
            kwargs["tag"] = wire_type
        is_checked = namespace.get("CHECKED", any(getattr(b, "CHECKED", False) for b in bases))
        compiled = (is_checked and "__post_init__" not in namespace
                    and ("CHECKED" in namespace or bool(own)))
        if compiled:
            namespace["__post_init__"] = compile_check(namespace.get("__qualname__", name),
                                                       rules)
        cls: MessageMeta = super().__new__(mcls, name, bases, namespace, **kwargs)
        if compiled:
            for field in cls.__struct_fields__:
                if field not in rules:
                    raise TypeError(f"{name}.{field} has no rule; a checked class gives each "
                                    f"field one (sessionkit._rules.checked)")
        return cls


class Message(msgspec.Struct, metaclass=MessageMeta, frozen=True, kw_only=True,
              tag_field="type", omit_defaults=True, gc=False):
    """Envelope fields shared by every message.

    ``run_id`` identifies the exchange run that produced an inbound message;
    ``event_id`` is its position in the session's event stream (absent on
    session-level messages); ``ts`` is the sender's timestamp in nanoseconds;
    ``replay`` marks an event re-sent during a replay.
    """

    TYPE: ClassVar[str] = ""
    HANDLER: ClassVar[str] = "handle_unknown_message"
    #: a message the client sends: checked when made (see the module's docstring)
    CHECKED: ClassVar[bool] = False
    run_id: str | None = checked(optional(TEXT), default=None)
    event_id: Id | None = checked(optional(ID), default=None)
    ts: Int | None = checked(optional(TIMESTAMP), default=None)
    replay: bool = checked(FLAG, default=False)


class Request(Message, frozen=True, kw_only=True):
    """A client request that the session tracks by ``cid`` until it is final.

    Checked when made (see the module's docstring): ``cid`` is None (the session gives
    one) or 1 to 128 printable characters.
    """

    KIND: ClassVar[RequestKind] = RequestKind.RESPONSE
    CHECKED: ClassVar[bool] = True
    cid: str | None = checked(optional(CID), default=None)


# --- session level ---------------------------------------------------------


class Login(Message, frozen=True, kw_only=True):
    """Opens the session. ``resume_event_id``: 0 no replay, 1 replay all, N after N-1."""

    TYPE: ClassVar[str] = "login"
    CHECKED: ClassVar[bool] = True
    account: str = checked(_ACCOUNT)
    token: str = checked(_TOKEN, default="")
    resume_event_id: int = checked(RESUME, default=0)

    def __repr__(self) -> str:  # the token is a secret: never in a repr
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__struct_fields__
                          if n != "token")
        return f"{type(self).__name__}({shown})"

    def __rich_repr__(self) -> Any:
        for n in self.__struct_fields__:
            if n != "token":
                yield n, getattr(self, n)


class LoginAck(Message, frozen=True, kw_only=True):
    """Login accepted; ``last_event_id`` is the newest event id of the session so far."""

    TYPE: ClassVar[str] = "login_ack"
    HANDLER: ClassVar[str] = "handle_login_ack"
    last_event_id: Id = 0


class LoginReject(Message, frozen=True, kw_only=True):
    """The exchange refused the login, saying ``reason`` (``handle_login_reject``)."""

    TYPE: ClassVar[str] = "login_reject"
    HANDLER: ClassVar[str] = "handle_login_reject"
    reason: str


class Logout(Message, frozen=True, kw_only=True):
    """The end of a session, either way: the client logs out, or the exchange ends it."""

    TYPE: ClassVar[str] = "logout"


class Heartbeat(Message, frozen=True, kw_only=True):
    """Sent by both sides; the exchange's carries the interval to the next one."""

    TYPE: ClassVar[str] = "heartbeat"
    HANDLER: ClassVar[str] = "handle_heartbeat"
    interval_ms: Int | None = None


class Congestion(Message, frozen=True, kw_only=True):
    """The exchange's congestion signal: ``busy`` true enters the busy state."""

    TYPE: ClassVar[str] = "congestion"
    HANDLER: ClassVar[str] = "handle_congestion"
    busy: bool


class ResendComplete(Message, frozen=True, kw_only=True):
    """A replay is over: events ``begin`` .. ``end`` were re-sent (empty when end < begin)."""

    TYPE: ClassVar[str] = "resend_complete"
    HANDLER: ClassVar[str] = "handle_resend_complete"
    begin: Id
    end: Id


class Status(Message, frozen=True, kw_only=True):
    """The ACK: first answer to every request, carrying the exchange's ``mid``."""

    TYPE: ClassVar[str] = "status"
    HANDLER: ClassVar[str] = "handle_status_message"
    cid: str
    mid: Id | None = None
    status: Int = StatusCode.OK
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status < 300


# --- requests --------------------------------------------------------------


class LimitOrder(Request, frozen=True, kw_only=True):
    """A limit order: ``size`` of ``contract_id`` at ``price_in_cents`` on ``side`` (a trade
    request: ACKed with a MID, then reported until its size is 0)."""

    TYPE: ClassVar[str] = "limit_order"
    KIND: ClassVar[RequestKind] = RequestKind.TRADE
    contract_id: Id = checked(ID)
    side: str = checked(_SIDE, default=Side.BUY.value)
    size: int = checked(COUNT)
    price_in_cents: int = checked(_PRICE)


class CancelOrder(Request, frozen=True, kw_only=True):
    """Cancels the order whose MID is ``order_mid``; final on its ACK."""

    TYPE: ClassVar[str] = "cancel_order"
    KIND: ClassVar[RequestKind] = RequestKind.ACK_ONLY
    order_mid: Id = checked(ID)


class GetContracts(Request, frozen=True, kw_only=True):
    """Ask for the exchange's contracts (answered by ``contracts``); ``all_contracts``
    False: the active ones only."""

    TYPE: ClassVar[str] = "get_contracts"
    KIND: ClassVar[RequestKind] = RequestKind.RESPONSE
    all_contracts: bool = checked(FLAG, default=True)


class GetBookState(Request, frozen=True, kw_only=True):
    """Ask for one contract's order book (answered by ``book_state_snapshot``)."""

    TYPE: ClassVar[str] = "get_book_state"
    KIND: ClassVar[RequestKind] = RequestKind.RESPONSE
    contract_id: Id = checked(ID)


class MessageReplay(Request, frozen=True, kw_only=True):
    """Asks the exchange to re-send the latest state of each of ``mids``."""

    TYPE: ClassVar[str] = "message_replay"
    KIND: ClassVar[RequestKind] = RequestKind.ACK_ONLY
    mids: tuple[Id, ...] = checked(tuple_of(ID), default=())


class EventReplay(Message, frozen=True, kw_only=True):
    """Asks the exchange to re-send events ``from_event_id`` .. ``to_event_id``."""

    TYPE: ClassVar[str] = "event_replay"
    CHECKED: ClassVar[bool] = True
    from_event_id: Id = checked(ID)
    to_event_id: Id = checked(ID)


#: what a batch's frame may hold (the codec decodes its items as one of these)
_Batched = LimitOrder | CancelOrder | GetContracts | GetBookState | MessageReplay


class Batch(Request, frozen=True, kw_only=True):
    """1 to 200 requests (none a batch), executed by the exchange in order."""

    TYPE: ClassVar[str] = "batch"
    HANDLER: ClassVar[str] = "handle_batch"
    KIND: ClassVar[RequestKind] = RequestKind.BATCH
    if TYPE_CHECKING:
        messages: tuple[Request, ...] = ()
    else:  # the requests the codec can decode (a batch may carry any request: its rule)
        messages: tuple[_Batched, ...] = checked(_BATCHED, default=())


# --- responses and events --------------------------------------------------


class BatchAck(Message, frozen=True, kw_only=True):
    """The batch of per-message ACKs for the batch whose ``cid``/``mid`` it names."""

    TYPE: ClassVar[str] = "batch_ack"
    HANDLER: ClassVar[str] = "handle_batch_message"
    cid: str
    mid: Id | None = None
    messages: tuple[Status, ...] = ()


class ActionReport(Message, frozen=True, kw_only=True):
    """A change to a resting order; ``size`` is what remains (zero: the order is done)."""

    TYPE: ClassVar[str] = "action_report"
    HANDLER: ClassVar[str] = "handle_action_report"
    mid: Id
    cid: str | None = None
    contract_id: Id
    status_type: str = "inserted"
    size: Int
    filled_size: Int = 0
    price_in_cents: Int = 0


class Contract(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One contract of a ``contracts`` answer: its id, label and price tick."""

    contract_id: Id
    label: str
    tick_in_cents: Int = 1


class ContractDetail(Message, frozen=True, kw_only=True):
    """One contract answering :class:`GetContracts`; ``last`` marks the final one."""

    TYPE: ClassVar[str] = "contract_detail"
    HANDLER: ClassVar[str] = "handle_contract_detail"
    mid: Id | None = None
    #: the request's client id, echoed so a response can be matched when its ACK was lost
    cid: str | None = None
    contract: Contract | None = None
    last: bool = True


class BookTop(Message, frozen=True, kw_only=True):
    """The best bid and offer of one contract (``handle_book_top``)."""

    TYPE: ClassVar[str] = "book_top"
    HANDLER: ClassVar[str] = "handle_book_top"
    contract_id: Id
    bid_in_cents: Int | None = None
    ask_in_cents: Int | None = None


class BookOrder(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One resting order of a ``book_state_snapshot``: its MID, side, size and price."""

    mid: Id
    side: str
    size: Int
    price_in_cents: Int


class BookStateSnapshot(Message, frozen=True, kw_only=True):
    """A contract's order book at one moment, answering ``get_book_state``
    (``handle_book_state_snapshot``)."""

    TYPE: ClassVar[str] = "book_state_snapshot"
    HANDLER: ClassVar[str] = "handle_book_state_snapshot"
    mid: Id | None = None
    cid: str | None = None
    contract_id: Id
    orders: tuple[BookOrder, ...] = ()


class UnknownMessage(Message, frozen=True, kw_only=True, tag=False, gc=True):
    """A message of a type this version does not know; kept whole for the fallback handler.

    Not a member of the tagged union (its ``type`` is a field): the codec makes it from the
    frame when the frame's type is none it knows, and writes it back as that frame.
    """

    TYPE: ClassVar[str] = "unknown"
    HANDLER: ClassVar[str] = "handle_unknown_message"
    type: str
    fields: dict[str, Any] = msgspec.field(default_factory=dict)

    def __hash__(self) -> int:  # the fields (a dict) are not hashed
        return hash((self.type, self.run_id, self.event_id, self.ts, self.replay))


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Login, LoginAck, LoginReject, Logout, Heartbeat, Congestion, ResendComplete,
        Status, LimitOrder, CancelOrder, GetContracts, GetBookState, MessageReplay,
        EventReplay, Batch, BatchAck, ActionReport, ContractDetail, BookTop,
        BookStateSnapshot,
    )
}

#: the messages the client sends, each checked when made by one compiled function
CHECKED_TYPES: tuple[type[Message], ...] = (
    Request, Login, EventReplay,
    *(c for c in MESSAGE_TYPES.values() if issubclass(c, Request)))
