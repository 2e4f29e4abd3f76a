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

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

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


@attrs.frozen(kw_only=True)
class SubscribeToStrategiesArgs:
    """``None`` subscribes to every strategy of the user; an empty tuple does nothing."""

    strategies: tuple[int, ...] | None = None


@attrs.frozen(kw_only=True)
class SubscribeToStrategiesResult:
    successful_strategies: tuple[int, ...]
    failed_strategies: tuple[int, ...]


@attrs.frozen(kw_only=True)
class UnsubscribeFromStrategiesArgs:
    """``None`` unsubscribes from all; an empty tuple does nothing."""

    strategies: tuple[int, ...] | None = None


@attrs.frozen(kw_only=True)
class UnsubscribeFromStrategiesResult:
    successful_strategies: tuple[int, ...]
    failed_strategies: tuple[int, ...]


@attrs.frozen(kw_only=True)
class GetLatestEventSeqIdArgs:
    """No fields (read)."""


@attrs.frozen(kw_only=True)
class GetLatestEventSeqIdResult:
    latest_event_seq_id: int
    snapshot_time: datetime


@attrs.frozen(kw_only=True)
class GetEventsSinceArgs:
    """**Inferred** shape: events with ``EventSeqId`` strictly greater than ``event_seq_id``
    (an exclusive cursor: pass the last one you processed), at most ``max_events`` of them,
    optionally only for some strategies (events not tied to a strategy always match)."""

    event_seq_id: int
    max_events: int | None = None
    strategies: tuple[int, ...] | None = None


@attrs.frozen(kw_only=True)
class EventRecord:
    """One stored event as replay returns it (**inferred**): the callback name it was (or would
    have been) delivered under, and its payload.

    The converter decodes ``payload`` into the callback's model when ``event_type`` is a known
    callback, and keeps the raw JSON otherwise.
    """

    event_seq_id: int
    event_type: str
    payload: EventPayload | JsonValue


@attrs.frozen(kw_only=True)
class GetEventsSinceResult:
    """One page of replay (**inferred**). ``last_event_seq_id`` is the cursor to pass next
    (the argument's cursor when the page is empty); loop while ``has_more``."""

    events: tuple[EventRecord, ...]
    has_more: bool
    last_event_seq_id: int


# -- server -> client payloads -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EventHeader:
    """The three fields every event payload starts with (read)."""

    event_id: UUID
    event_seq_id: int
    event_time: datetime


@attrs.frozen(kw_only=True)
class EntrySignalsResult:
    """Detailed entry-check results. Model not found: **inferred**."""

    entry_conditions: tuple[ConditionEvaluation, ...] = ()
    abort_conditions: tuple[ConditionEvaluation, ...] = ()
    entry_allowed: bool | None = None


@attrs.frozen(kw_only=True)
class ExitSignalsResult:
    """Detailed exit-check results. Model not found: **inferred**."""

    exit_conditions: tuple[ConditionEvaluation, ...] = ()


@attrs.frozen(kw_only=True)
class EntrySignalEvent(EventHeader):
    """``OnEntrySignal``: entry signal for a strategy on an account."""

    state: SignalState | str
    strategy_id: int
    strategy_name: str
    broker_account_id: str
    entry_signal_result: EntrySignalsResult | None = None


@attrs.frozen(kw_only=True)
class ExitSignalEvent(EventHeader):
    """``OnExitSignal``: exit signal for a position."""

    state: SignalState | str
    strategy_id: int
    strategy_name: str
    position_id: int
    position_name: str
    broker_account_id: str | None = None
    exit_signal_result: ExitSignalsResult | None = None


@attrs.frozen(kw_only=True)
class AdjustmentSignalEvent(EventHeader):
    """``OnAdjustmentSignal``: adjustment signal for a position. ``condition`` is what a client
    passes (as its name) to ``StartPreparePositionAdjustment``."""

    state: SignalState | str
    strategy_id: int
    strategy_name: str
    position_id: int
    position_name: str
    adjustment_time_ok: bool
    condition: ConditionEvaluation
    broker_account_id: str | None = None


@attrs.frozen(kw_only=True)
class ErrorEvent(EventHeader):
    """``OnError``: error raised or cleared for a strategy/position (all but ``state`` and
    ``error_id`` optional)."""

    state: ErrorState | str
    error_id: UUID
    strategy_id: int | None = None
    strategy_name: str | None = None
    position_id: int | None = None
    position_name: str | None = None
    broker_account_id: str | None = None
    message: str | None = None
    condition_type: ConditionType | str | None = None
    statement: str | None = None


@attrs.frozen(kw_only=True)
class OrderUpdateEvent(EventHeader):
    """``OnOrderUpdate``: order lifecycle update."""

    order_id: int
    strategy_id: int
    strategy_name: str
    state: OrderState | str
    broker_account_id: str | None = None
    exec_plan_id: int | None = None
    leg_group_id: int | None = None
    filled_qty: Decimal | None = None
    remaining_qty: Decimal | None = None
    fill_price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    rejection: OrderRejectionInfo | None = None


@attrs.frozen(kw_only=True)
class PositionUpdateEvent(EventHeader):
    """``OnPositionUpdate``: position lifecycle update."""

    position_id: int
    strategy_id: int
    strategy_name: str
    position_name: str
    broker_account_id: str
    status: PositionStatus | str
    realized_pnl: Decimal = Decimal(0)


@attrs.frozen(kw_only=True)
class LegUpdateEvent(EventHeader):
    """``OnLegUpdate``: leg lifecycle update."""

    broker_account_id: str
    position_id: int
    position_name: str
    strategy_id: int
    strategy_name: str
    leg_id: int
    leg_name: str
    contract: LiveContract
    status: LegStatus | str
    qty: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)


@attrs.frozen(kw_only=True)
class _PreparationEvent(EventHeader):
    job_id: str
    strategy_id: int
    strategy_name: str
    broker_account_id: str | None = None


@attrs.frozen(kw_only=True)
class PositionEntryPreparationCompletedEvent(_PreparationEvent):
    """``OnPositionEntryPreparationCompleted`` (callback name **inferred**)."""

    result: PreparePositionEntryResult


@attrs.frozen(kw_only=True)
class PositionEntryPreparationFailedEvent(_PreparationEvent):
    """``OnPositionEntryPreparationFailed`` (callback name **inferred**)."""

    error: str


@attrs.frozen(kw_only=True)
class PositionExitPreparationCompletedEvent(_PreparationEvent):
    """``OnPositionExitPreparationCompleted`` (callback name **inferred**)."""

    result: PreparePositionExitResult


@attrs.frozen(kw_only=True)
class PositionExitPreparationFailedEvent(_PreparationEvent):
    """``OnPositionExitPreparationFailed`` (callback name **inferred**)."""

    error: str


@attrs.frozen(kw_only=True)
class PositionAdjustmentPreparationCompletedEvent(_PreparationEvent):
    """``OnPositionAdjustmentPreparationCompleted`` (read)."""

    result: PreparePositionAdjustmentResult


@attrs.frozen(kw_only=True)
class PositionAdjustmentPreparationFailedEvent(_PreparationEvent):
    """``OnPositionAdjustmentPreparationFailed`` (read)."""

    error: str


@attrs.frozen(kw_only=True)
class AgentStatusEvent(EventHeader):
    """Agent status change (callback name **inferred**: ``OnAgentStatus``)."""

    status: AgentStatus | str
    message: str
    connector: AgentConnector | str | None = None


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
