"""MesoLive enums, all of them *open*.

The MesoLive docs call their enums open: a server may add members at any time, and a client
must accept and pass through values it does not know. Every enum here is an
:class:`OpenEnum` (a :class:`enum.StrEnum`), and every model field typed with one is annotated
``TheEnum | str``: a known wire value decodes to the member, an unknown one stays the raw
string. Because members *are* strings, ``value == StatusCode.SUCCESS`` works for both, and
encoding gives back exactly the text that came in.

Which members were read in the docs and which are guesses is noted per enum. Guessed members
exist so the simulator has something to emit; an unknown real-world spelling still decodes
(as a raw string) rather than failing.

>>> from sessionkit_mesolive.models import StatusCode  # (sessionkit has its own StatusCode)
>>> open_enum(StatusCode, "Conflict") is StatusCode.CONFLICT
True
>>> open_enum(StatusCode, "SomethingNew")
'SomethingNew'
>>> flags(LiveDataInclude.PRICES, LiveDataInclude.GREEKS)
'Prices, Greeks'
>>> sorted(flag_names("Prices, Greeks"))
['Greeks', 'Prices']
"""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = [
    "OpenEnum",
    "open_enum",
    "is_known",
    "flags",
    "flag_names",
    "StatusCode",
    "PreparationStatus",
    "IdempotencyRecordStatus",
    "IdempotencyOperation",
    "PositionStatus",
    "SignalState",
    "ErrorState",
    "ConditionType",
    "OrderState",
    "OrderType",
    "TimeInForce",
    "LegStatus",
    "LivePositionState",
    "PositionAdjustmentOperation",
    "LiveDataInclude",
    "LiveQuoteFields",
    "DataProviderType",
    "LiveLegSelectionConstraint",
    "MesoContractType",
    "MesoOptionType",
    "BrokerType",
    "AgentStatus",
    "AgentConnector",
    "Side",
]

E = TypeVar("E", bound="OpenEnum")


class OpenEnum(enum.StrEnum):
    """Base of every MesoLive enum: members are their own wire text."""

    @classmethod
    def parse(cls: type[E], raw: str) -> E | str:
        """The member whose value is ``raw``, or ``raw`` itself when there is none."""
        return open_enum(cls, raw)


def open_enum(enum_type: type[E], raw: str) -> E | str:
    """Decode ``raw`` into ``enum_type``: the member when known, else the raw string.

    Never raises for an unknown value; that is the point of an open enum.
    """
    try:
        return enum_type(raw)
    except ValueError:
        return raw


def is_known(value: str, enum_type: type[OpenEnum]) -> bool:
    """Whether ``value`` is a member (or the text of a member) of ``enum_type``."""
    return value in enum_type._value2member_map_


def flags(*members: str) -> str:
    """Combine flag members the way .NET writes a ``[Flags]`` enum by name (``"A, B"``).

    That .NET spelling is an assumption (**inferred**); a single member is just its name.
    """
    return ", ".join(dict.fromkeys(str(m) for m in members))


def flag_names(value: str) -> frozenset[str]:
    """Split a combined flag value (``"Prices, Greeks"``) into its member names."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


class StatusCode(OpenEnum):
    """``MesoLiveApiResponse.Status``.

    Read: ``Success``, ``DuplicateRequest``, ``Conflict``. The rest of the table was not
    available; the other members are **inferred** names for the kinds of failure the docs
    imply (not found, validation, auth, server and provider errors).
    """

    SUCCESS = "Success"
    DUPLICATE_REQUEST = "DuplicateRequest"
    CONFLICT = "Conflict"
    # inferred names
    BAD_REQUEST = "BadRequest"
    NOT_FOUND = "NotFound"
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    PROVIDER_ERROR = "ProviderError"
    INTERNAL_ERROR = "InternalError"


class PreparationStatus(OpenEnum):
    """State of an async preparation job. ``Completed``/``Failed`` read; the rest inferred
    (the SDK core-concepts page lists all five)."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def is_final(self) -> bool:
        return self in (PreparationStatus.COMPLETED, PreparationStatus.FAILED,
                        PreparationStatus.CANCELLED)


class IdempotencyRecordStatus(OpenEnum):
    """Processing state of an idempotency record (read)."""

    PROCESSING = "Processing"
    COMPLETED = "Completed"
    FAILED = "Failed"


class IdempotencyOperation(OpenEnum):
    """Which operation a key belongs to. Table not found: **inferred** one per idempotent method."""

    START_PREPARE_POSITION_ENTRY = "StartPreparePositionEntry"
    CANCEL_PREPARE_POSITION_ENTRY = "CancelPreparePositionEntry"
    START_PREPARE_POSITION_EXIT = "StartPreparePositionExit"
    CANCEL_PREPARE_POSITION_EXIT = "CancelPreparePositionExit"
    START_PREPARE_POSITION_ADJUSTMENT = "StartPreparePositionAdjustment"
    CANCEL_PREPARE_POSITION_ADJUSTMENT = "CancelPreparePositionAdjustment"
    SEND_ORDER = "SendOrder"
    CANCEL_ORDER = "CancelOrder"
    APPLY_PAPER_FILLS = "ApplyPaperFills"


class PositionStatus(OpenEnum):
    """Position lifecycle transition carried by ``PositionUpdateEvent`` (read)."""

    CREATED = "Created"
    CLOSED = "Closed"
    ADJUSTED = "Adjusted"
    REALIZED_PNL_CHANGED = "RealizedPnLChanged"


class SignalState(OpenEnum):
    """Signal on/off (read)."""

    ON = "On"
    OFF = "Off"


class ErrorState(OpenEnum):
    """Error state transition. Table not found: **inferred** raised/cleared."""

    RAISED = "Raised"
    CLEARED = "Cleared"


class ConditionType(OpenEnum):
    """Kind of condition behind an error. Table not found: **inferred**."""

    ENTRY = "Entry"
    EXIT = "Exit"
    ADJUSTMENT = "Adjustment"
    ABORT = "Abort"


class OrderState(OpenEnum):
    """Live order state. Table not found: **inferred** names (broker-style lifecycle)."""

    PENDING_SUBMIT = "PendingSubmit"
    SUBMITTED = "Submitted"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"

    @property
    def is_working(self) -> bool:
        return self in (OrderState.PENDING_SUBMIT, OrderState.SUBMITTED,
                        OrderState.PARTIALLY_FILLED)


class OrderType(OpenEnum):
    """Order type (Portal order ticket; enum spelling **inferred**)."""

    MARKET = "Market"
    LIMIT = "Limit"
    STOP = "Stop"
    STOP_LIMIT = "StopLimit"


class TimeInForce(OpenEnum):
    """Time in force. The Portal shows DAY/GTC; the API spelling is **inferred** (.NET style)."""

    DAY = "Day"
    GTC = "Gtc"


class LegStatus(OpenEnum):
    """Leg lifecycle transition on ``LegUpdateEvent``. Table not found: **inferred**."""

    CREATED = "Created"
    UPDATED = "Updated"
    CLOSED = "Closed"


class LivePositionState(OpenEnum):
    """``LivePosition.State``. Table not found: **inferred**."""

    OPEN = "Open"
    CLOSED = "Closed"


class PositionAdjustmentOperation(OpenEnum):
    """Adjustment kind (read; the docs say "common values include", so there may be more)."""

    ADD_LEGS = "AddLegs"
    REMOVE_LEGS = "RemoveLegs"
    MOVE_LEG = "MoveLeg"
    UPDATE_VARS = "UpdateVars"


class LiveDataInclude(OpenEnum):
    """Which blocks a Data Hub call computes (read); flags semantics and ``None`` **inferred**.

    Combine with :func:`flags`.
    """

    NONE = "None"
    PRICES = "Prices"
    GREEKS = "Greeks"
    PNL = "PnL"
    ALL = "All"


class LiveQuoteFields(OpenEnum):
    """Which quote bases a block carries (read); flags semantics **inferred**."""

    BID = "Bid"
    ASK = "Ask"
    LAST = "Last"
    MARK = "Mark"
    ALL = "All"


class DataProviderType(OpenEnum):
    """Market-data provider. Table not found: **inferred** from the Portal's broker list."""

    IBKR = "Ibkr"
    TASTY_TRADE = "TastyTrade"


class LiveLegSelectionConstraint(OpenEnum):
    """Leg uniqueness rule (Portal/MesoSim names; whether the API matches is **inferred**)."""

    NONE = "None"
    FULLY_UNIQUE = "FullyUnique"
    UNIQUE_IN_POSITION = "UniqueInPosition"


class MesoContractType(OpenEnum):
    """Contract kind (read)."""

    STOCK = "Stock"
    INDEX = "Index"
    OPTIONS = "Options"
    FUTURES = "Futures"
    FUTURES_OPTIONS = "FuturesOptions"


class MesoOptionType(OpenEnum):
    """Call/Put (read)."""

    CALL = "Call"
    PUT = "Put"


class BrokerType(OpenEnum):
    """Broker behind an account. Table not found: names **inferred** from the Portal manual."""

    IBKR = "Ibkr"
    TASTY_TRADE = "TastyTrade"
    SCHWAB = "Schwab"


class AgentStatus(OpenEnum):
    """Agent connectivity. Table not found: **inferred**."""

    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"


class AgentConnector(OpenEnum):
    """Which connector an agent runs. Table not found: **inferred**."""

    IBKR = "Ibkr"
    TASTY_TRADE = "TastyTrade"


class Side(OpenEnum):
    """``Order.Side`` is a plain string on the wire; these are the two documented values."""

    BUY = "B"
    SELL = "S"
