"""Event Hub models (``/hubs/event/v1``): subscribe/replay arguments and results, and the
payload of every server-to-client callback.

Every callback payload starts with the common header (:class:`EventHeader`): ``EventId``
(dedupe key), ``EventSeqId`` (replay cursor) and ``EventTime``. The docs mark the first two
"not required" (the SDK model has defaults); they are required here because replay and
dedupe depend on them and the server always sends them (**inferred**).

Read in full: the subscribe/unsubscribe and ``GetLatestEventSeqId`` models and the callback
payloads. ``GetEventsSince`` argument and result tables were cut off: :class:`GetEventsSinceArgs`,
:class:`GetEventsSinceResult` and :class:`EventRecord` are **inferred** shapes.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import msgspec
from msgspec.structs import force_setattr

from ._base import Model, Open, WireInt
from ._common import (
    ConditionEvaluation,
    JsonValue,
    LiveContract,
    OrderRejectionInfo,
)
from ._control import (
    PreparePositionAdjustmentResult,
    PreparePositionEntryResult,
    PreparePositionExitResult,
)
from ._enums import (
    AgentConnector,
    AgentStatus,
    ConditionType,
    ErrorState,
    LegStatus,
    OrderState,
    PositionStatus,
    SignalState,
)

__all__ = [
    "SubscribeToStrategiesArgs",
    "SubscribeToStrategiesResult",
    "UnsubscribeFromStrategiesArgs",
    "UnsubscribeFromStrategiesResult",
    "GetLatestEventSeqIdArgs",
    "GetLatestEventSeqIdResult",
    "GetEventsSinceArgs",
    "GetEventsSinceResult",
    "EventRecord",
    "EventHeader",
    "EntrySignalsResult",
    "ExitSignalsResult",
    "EntrySignalEvent",
    "ExitSignalEvent",
    "AdjustmentSignalEvent",
    "ErrorEvent",
    "OrderUpdateEvent",
    "PositionUpdateEvent",
    "LegUpdateEvent",
    "PositionEntryPreparationCompletedEvent",
    "PositionEntryPreparationFailedEvent",
    "PositionExitPreparationCompletedEvent",
    "PositionExitPreparationFailedEvent",
    "PositionAdjustmentPreparationCompletedEvent",
    "PositionAdjustmentPreparationFailedEvent",
    "AgentStatusEvent",
    "EventPayload",
]


# -- client -> server ----------------------------------------------------------------------


class SubscribeToStrategiesArgs(Model, frozen=True, kw_only=True):
    """``None`` subscribes to every strategy of the user; an empty tuple does nothing."""

    strategies: tuple[WireInt, ...] | None = None


class SubscribeToStrategiesResult(Model, frozen=True, kw_only=True):
    successful_strategies: tuple[WireInt, ...]
    failed_strategies: tuple[WireInt, ...]


class UnsubscribeFromStrategiesArgs(Model, frozen=True, kw_only=True):
    """``None`` unsubscribes from all; an empty tuple does nothing."""

    strategies: tuple[WireInt, ...] | None = None


class UnsubscribeFromStrategiesResult(Model, frozen=True, kw_only=True):
    successful_strategies: tuple[WireInt, ...]
    failed_strategies: tuple[WireInt, ...]


class GetLatestEventSeqIdArgs(Model, frozen=True, kw_only=True):
    """No fields (read)."""


class GetLatestEventSeqIdResult(Model, frozen=True, kw_only=True):
    latest_event_seq_id: WireInt
    snapshot_time: datetime


class GetEventsSinceArgs(Model, frozen=True, kw_only=True):
    """**Inferred** shape: events with ``EventSeqId`` strictly greater than ``event_seq_id``
    (an exclusive cursor: pass the last one you processed), at most ``max_events`` of them,
    optionally only for some strategies (events not tied to a strategy always match)."""

    event_seq_id: WireInt
    max_events: WireInt | None = None
    strategies: tuple[WireInt, ...] | None = None


# -- server -> client payloads -------------------------------------------------------------


class EventHeader(Model, frozen=True, kw_only=True):
    """The three fields every event payload starts with (read)."""

    event_id: UUID
    event_seq_id: WireInt
    event_time: datetime


class EntrySignalsResult(Model, frozen=True, kw_only=True):
    """Detailed entry-check results. Model not found: **inferred**."""

    entry_conditions: tuple[ConditionEvaluation, ...] = ()
    abort_conditions: tuple[ConditionEvaluation, ...] = ()
    entry_allowed: bool | None = None


class ExitSignalsResult(Model, frozen=True, kw_only=True):
    """Detailed exit-check results. Model not found: **inferred**."""

    exit_conditions: tuple[ConditionEvaluation, ...] = ()


class EntrySignalEvent(EventHeader, frozen=True, kw_only=True):
    """``OnEntrySignal``: entry signal for a strategy on an account."""

    state: Open[SignalState]
    strategy_id: WireInt
    strategy_name: str
    broker_account_id: str
    entry_signal_result: EntrySignalsResult | None = None


class ExitSignalEvent(EventHeader, frozen=True, kw_only=True):
    """``OnExitSignal``: exit signal for a position."""

    state: Open[SignalState]
    strategy_id: WireInt
    strategy_name: str
    position_id: WireInt
    position_name: str
    broker_account_id: str | None = None
    exit_signal_result: ExitSignalsResult | None = None


class AdjustmentSignalEvent(EventHeader, frozen=True, kw_only=True):
    """``OnAdjustmentSignal``: adjustment signal for a position. ``condition`` is what a client
    passes (as its name) to ``StartPreparePositionAdjustment``."""

    state: Open[SignalState]
    strategy_id: WireInt
    strategy_name: str
    position_id: WireInt
    position_name: str
    adjustment_time_ok: bool
    condition: ConditionEvaluation
    broker_account_id: str | None = None


class ErrorEvent(EventHeader, frozen=True, kw_only=True):
    """``OnError``: error raised or cleared for a strategy/position (all but ``state`` and
    ``error_id`` optional)."""

    state: Open[ErrorState]
    error_id: UUID
    strategy_id: WireInt | None = None
    strategy_name: str | None = None
    position_id: WireInt | None = None
    position_name: str | None = None
    broker_account_id: str | None = None
    message: str | None = None
    condition_type: Open[ConditionType] | None = None
    statement: str | None = None


class OrderUpdateEvent(EventHeader, frozen=True, kw_only=True):
    """``OnOrderUpdate``: order lifecycle update."""

    order_id: WireInt
    strategy_id: WireInt
    strategy_name: str
    state: Open[OrderState]
    broker_account_id: str | None = None
    exec_plan_id: WireInt | None = None
    leg_group_id: WireInt | None = None
    filled_qty: Decimal | None = None
    remaining_qty: Decimal | None = None
    fill_price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    rejection: OrderRejectionInfo | None = None


class PositionUpdateEvent(EventHeader, frozen=True, kw_only=True):
    """``OnPositionUpdate``: position lifecycle update."""

    position_id: WireInt
    strategy_id: WireInt
    strategy_name: str
    position_name: str
    broker_account_id: str
    status: Open[PositionStatus]
    realized_pnl: Decimal = Decimal(0)


class LegUpdateEvent(EventHeader, frozen=True, kw_only=True):
    """``OnLegUpdate``: leg lifecycle update."""

    broker_account_id: str
    position_id: WireInt
    position_name: str
    strategy_id: WireInt
    strategy_name: str
    leg_id: WireInt
    leg_name: str
    contract: LiveContract
    status: Open[LegStatus]
    qty: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)


class _PreparationEvent(EventHeader, frozen=True, kw_only=True):
    job_id: str
    strategy_id: WireInt
    strategy_name: str
    broker_account_id: str | None = None


class PositionEntryPreparationCompletedEvent(_PreparationEvent, frozen=True, kw_only=True):
    """``OnPositionEntryPreparationCompleted`` (callback name **inferred**)."""

    result: PreparePositionEntryResult


class PositionEntryPreparationFailedEvent(_PreparationEvent, frozen=True, kw_only=True):
    """``OnPositionEntryPreparationFailed`` (callback name **inferred**)."""

    error: str


class PositionExitPreparationCompletedEvent(_PreparationEvent, frozen=True, kw_only=True):
    """``OnPositionExitPreparationCompleted`` (callback name **inferred**)."""

    result: PreparePositionExitResult


class PositionExitPreparationFailedEvent(_PreparationEvent, frozen=True, kw_only=True):
    """``OnPositionExitPreparationFailed`` (callback name **inferred**)."""

    error: str


class PositionAdjustmentPreparationCompletedEvent(_PreparationEvent, frozen=True, kw_only=True):
    """``OnPositionAdjustmentPreparationCompleted`` (read)."""

    result: PreparePositionAdjustmentResult


class PositionAdjustmentPreparationFailedEvent(_PreparationEvent, frozen=True, kw_only=True):
    """``OnPositionAdjustmentPreparationFailed`` (read)."""

    error: str


class AgentStatusEvent(EventHeader, frozen=True, kw_only=True):
    """Agent status change (callback name **inferred**: ``OnAgentStatus``)."""

    status: Open[AgentStatus]
    message: str
    connector: Open[AgentConnector] | None = None


EventPayload = (
    EntrySignalEvent
    | ExitSignalEvent
    | AdjustmentSignalEvent
    | ErrorEvent
    | OrderUpdateEvent
    | PositionUpdateEvent
    | LegUpdateEvent
    | PositionEntryPreparationCompletedEvent
    | PositionEntryPreparationFailedEvent
    | PositionExitPreparationCompletedEvent
    | PositionExitPreparationFailedEvent
    | PositionAdjustmentPreparationCompletedEvent
    | PositionAdjustmentPreparationFailedEvent
    | AgentStatusEvent
)
"""Any callback payload."""


class EventRecord(Model, frozen=True, kw_only=True):
    """One stored event as replay returns it (**inferred**): the callback name it was (or would
    have been) delivered under, and its payload.

    A ``payload`` given as a JSON object is decoded into the callback's model when
    ``event_type`` is a known callback (when the record is decoded or made); the raw JSON is
    kept otherwise.
    """

    event_seq_id: WireInt
    event_type: str
    payload: EventPayload | JsonValue

    def __post_init__(self) -> None:
        payload = self.payload
        if type(payload) is dict:
            payload_type = _callback_payload_types().get(self.event_type)
            if payload_type is not None:
                force_setattr(self, "payload", msgspec.convert(payload, payload_type,
                                                               str_keys=True))


class GetEventsSinceResult(Model, frozen=True, kw_only=True):
    """One page of replay (**inferred**). ``last_event_seq_id`` is the cursor to pass next
    (the argument's cursor when the page is empty); loop while ``has_more``."""

    events: tuple[EventRecord, ...]
    has_more: bool
    last_event_seq_id: WireInt


@functools.cache
def _callback_payload_types() -> dict[str, type]:
    # the catalogue is the single table of callback names -> payload models
    from .._catalogue import CALLBACKS

    return {cb.name: cb.payload_type for cb in CALLBACKS.values()}
