"""Control Hub argument and result models (``/hubs/control/v1``).

Read in full: :class:`PreparePositionEntryArgs`, :class:`SendOrderArgs`,
:class:`GetPreparePositionExitStatusResult` and the three ``PreparePosition*Result`` models.
Everything else was not available and is **inferred** from CLI options, examples and
descriptions; each class says so. See :mod:`._common` for the conventions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from ._base import Model, Open, WireInt
from ._common import (
    ConditionEvaluation,
    JsonValue,
    LegGroupOrder,
    LegGroupQtys,
    LiveAccount,
    LiveGreeks,
    LiveLeg,
    LivePosition,
    LivePrices,
    LiveStrategy,
    LiveUnderlying,
)
from ._enums import (
    DataProviderType,
    IdempotencyOperation,
    LiveLegSelectionConstraint,
    OrderState,
    PositionAdjustmentOperation,
    PreparationStatus,
)

__all__ = [
    "GetIdempotencyRecordArgs",
    "ListAgentsArgs",
    "ListAccountsArgs",
    "ListAccountsResult",
    "GetAccountArgs",
    "CreateStrategyArgs",
    "UpdateStrategyArgs",
    "RenameStrategyArgs",
    "DeleteStrategyArgs",
    "DeleteStrategyResult",
    "ListStrategiesArgs",
    "ListStrategiesResult",
    "GetStrategyArgs",
    "ListPositionsArgs",
    "ListPositionsResult",
    "GetPositionArgs",
    "ListLegsArgs",
    "ListLegsResult",
    "GetLegArgs",
    "GetLegsArgs",
    "PreparePositionEntryArgs",
    "PreparePositionExitArgs",
    "PreparePositionAdjustmentArgs",
    "StartPreparationResult",
    "GetPreparePositionEntryStatusArgs",
    "GetPreparePositionExitStatusArgs",
    "GetPreparePositionAdjustmentStatusArgs",
    "CancelPreparePositionEntryArgs",
    "CancelPreparePositionExitArgs",
    "CancelPreparePositionAdjustmentArgs",
    "CancelPreparationResult",
    "PreparePositionEntryResult",
    "PreparePositionExitResult",
    "PreparePositionAdjustmentResult",
    "GetPreparePositionEntryStatusResult",
    "GetPreparePositionExitStatusResult",
    "GetPreparePositionAdjustmentStatusResult",
    "SendOrderArgs",
    "SendOrderResult",
    "CancelOrderArgs",
    "CancelOrderResult",
    "ApplyPaperFillsArgs",
    "ApplyPaperFillsResult",
    "GetOrderArgs",
    "ListOrdersArgs",
]


# -- idempotency, agents, accounts ---------------------------------------------------------


class GetIdempotencyRecordArgs(Model, frozen=True, kw_only=True):
    """``IdempotencyKey`` read (from an example call).

    ``operation`` is **inferred** and optional: keys are scoped per operation, so it picks the
    record when one key was used for two operations (the newest record wins without it).
    """

    idempotency_key: str
    operation: Open[IdempotencyOperation] | None = None


class ListAgentsArgs(Model, frozen=True, kw_only=True):
    """No fields (**inferred**)."""


class ListAccountsArgs(Model, frozen=True, kw_only=True):
    """Paging: ``ContinuationToken`` read; ``Limit`` **inferred** (CLI ``--limit``)."""

    continuation_token: str | None = None
    limit: WireInt | None = None


class ListAccountsResult(Model, frozen=True, kw_only=True):
    """One page of accounts. Shape **inferred** (items + opaque continuation token)."""

    accounts: tuple[LiveAccount, ...] = ()
    continuation_token: str | None = None


class GetAccountArgs(Model, frozen=True, kw_only=True):
    """**Inferred** (CLI ``--account ML1234``)."""

    broker_account_id: str


# -- strategies ----------------------------------------------------------------------------


class CreateStrategyArgs(Model, frozen=True, kw_only=True):
    """**Inferred** from the SDK example's CLI options.

    ``definition`` is a MesoSim v3 strategy definition (JSON-like dict); ``clone_strategy_id``
    or ``backtest_id`` are alternative sources.
    """

    name: str | None = None
    definition: JsonValue = None
    clone_strategy_id: WireInt | None = None
    backtest_id: str | None = None
    meso_sim_instance: str | None = None
    active_on_accounts: tuple[str, ...] | None = None


class UpdateStrategyArgs(Model, frozen=True, kw_only=True):
    """**Inferred**: the strategy id plus a new definition (and optionally its accounts)."""

    strategy_id: WireInt
    definition: JsonValue = None
    active_on_accounts: tuple[str, ...] | None = None


class RenameStrategyArgs(Model, frozen=True, kw_only=True):
    """**Inferred**: the strategy id plus the new name."""

    strategy_id: WireInt
    name: str


class DeleteStrategyArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    strategy_id: WireInt


class DeleteStrategyResult(Model, frozen=True, kw_only=True):
    """Result not found: **inferred** as the deleted id."""

    strategy_id: WireInt


class ListStrategiesArgs(Model, frozen=True, kw_only=True):
    """Paging **inferred**; the ``ActiveOnAccounts`` filter name read (type inferred)."""

    continuation_token: str | None = None
    limit: WireInt | None = None
    active_on_accounts: tuple[str, ...] | None = None


class ListStrategiesResult(Model, frozen=True, kw_only=True):
    """One page of strategies (**inferred**)."""

    strategies: tuple[LiveStrategy, ...] = ()
    continuation_token: str | None = None


class GetStrategyArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    strategy_id: WireInt


# -- positions and legs --------------------------------------------------------------------


class ListPositionsArgs(Model, frozen=True, kw_only=True):
    """Filter names read (types inferred); paging **inferred**."""

    live_strategy_id: WireInt | None = None
    live_exec_plan_id: WireInt | None = None
    broker_account_id: str | None = None
    continuation_token: str | None = None
    limit: WireInt | None = None


class ListPositionsResult(Model, frozen=True, kw_only=True):
    """One page of positions (**inferred**)."""

    positions: tuple[LivePosition, ...] = ()
    continuation_token: str | None = None


class GetPositionArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    position_id: WireInt


class ListLegsArgs(Model, frozen=True, kw_only=True):
    """**Inferred**: optional position filter plus paging."""

    position_id: WireInt | None = None
    continuation_token: str | None = None
    limit: WireInt | None = None


class ListLegsResult(Model, frozen=True, kw_only=True):
    """One page of legs (**inferred**)."""

    legs: tuple[LiveLeg, ...] = ()
    continuation_token: str | None = None


class GetLegArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    leg_id: WireInt


class GetLegsArgs(Model, frozen=True, kw_only=True):
    """**Inferred** batch get."""

    leg_ids: tuple[WireInt, ...]


# -- preparation jobs ----------------------------------------------------------------------


class PreparePositionEntryArgs(Model, frozen=True, kw_only=True):
    """Arguments of ``StartPreparePositionEntry`` (read in full).

    ``data_provider`` is required-but-nullable on the wire: ``None`` means the server default.
    """

    idempotency_key: str
    position_name: str
    strategy_id: WireInt
    broker_account_id: str
    leg_selection_constraint: Open[LiveLegSelectionConstraint]
    underlying: LiveUnderlying
    data_provider: Open[DataProviderType] | None = None


class PreparePositionExitArgs(Model, frozen=True, kw_only=True):
    """**Inferred**: key, position and an optional provider override."""

    idempotency_key: str
    position_id: WireInt
    data_provider: Open[DataProviderType] | None = None


class PreparePositionAdjustmentArgs(Model, frozen=True, kw_only=True):
    """``Operation`` and ``Condition`` read; the other fields **inferred** (entry-args analogy)."""

    idempotency_key: str
    position_id: WireInt
    operation: Open[PositionAdjustmentOperation]
    condition: str
    leg_selection_constraint: Open[LiveLegSelectionConstraint] | None = None
    data_provider: Open[DataProviderType] | None = None


class StartPreparationResult(Model, frozen=True, kw_only=True):
    """What every ``StartPreparePosition*`` returns: the job id (read: "contains ``JobId``").
    The model name is ours."""

    job_id: str


class GetPreparePositionEntryStatusArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    job_id: str


class GetPreparePositionExitStatusArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    job_id: str


class GetPreparePositionAdjustmentStatusArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    job_id: str


class CancelPreparePositionEntryArgs(Model, frozen=True, kw_only=True):
    """**Inferred**: the job id plus the key (the method is documented idempotent)."""

    idempotency_key: str
    job_id: str


class CancelPreparePositionExitArgs(Model, frozen=True, kw_only=True):
    """**Inferred** (method name inferred too)."""

    idempotency_key: str
    job_id: str


class CancelPreparePositionAdjustmentArgs(Model, frozen=True, kw_only=True):
    """**Inferred** (method name inferred too)."""

    idempotency_key: str
    job_id: str


class CancelPreparationResult(Model, frozen=True, kw_only=True):
    """Result of a ``CancelPreparePosition*`` call. Not found: **inferred** as the job's status
    after the cancel request."""

    job_id: str
    status: Open[PreparationStatus]


class PreparePositionEntryResult(Model, frozen=True, kw_only=True):
    """What a completed entry preparation produced (read in full; every field required)."""

    exec_plan_id: WireInt
    position_name: str
    strategy_id: WireInt
    strategy_name: str
    broker_account_id: str
    selected_legs: dict[str, LiveLeg]
    leg_groups: dict[int, tuple[str, ...]]
    leg_group_qtys: dict[int, LegGroupQtys]
    abort_conditions: tuple[ConditionEvaluation, ...]
    entry_conditions: tuple[ConditionEvaluation, ...]
    entry_allowed: bool
    qty_multiplier: Decimal
    vars: dict[str, Decimal]
    leg_greeks: dict[str, LiveGreeks]
    leg_prices: dict[str, LivePrices]
    leg_group_greeks: dict[int, LiveGreeks]
    leg_group_prices: dict[int, LivePrices]
    position_greeks: LiveGreeks
    position_price: LivePrices
    underlying_price: LivePrices


class PreparePositionExitResult(Model, frozen=True, kw_only=True):
    """What a completed exit preparation produced (read in full; every field required)."""

    exec_plan_id: WireInt
    position_id: WireInt
    position_name: str
    strategy_id: WireInt
    strategy_name: str
    broker_account_id: str
    position_legs: dict[str, LiveLeg]
    leg_groups: dict[int, tuple[str, ...]]
    leg_group_qtys: dict[int, LegGroupQtys]
    vars: dict[str, Decimal]
    leg_greeks: dict[str, LiveGreeks]
    leg_prices: dict[str, LivePrices]
    leg_group_greeks: dict[int, LiveGreeks]
    leg_group_prices: dict[int, LivePrices]
    position_greeks: LiveGreeks
    position_price: LivePrices
    underlying_price: LivePrices


class PreparePositionAdjustmentResult(Model, frozen=True, kw_only=True):
    """What a completed adjustment preparation produced (read in full)."""

    exec_plan_id: WireInt
    operation: Open[PositionAdjustmentOperation]
    condition: str
    position_id: WireInt
    position_name: str
    strategy_id: WireInt
    strategy_name: str
    broker_account_id: str
    order_legs: dict[str, LiveLeg]
    leg_groups: dict[int, tuple[str, ...]]
    leg_group_qtys: dict[int, LegGroupQtys]
    vars: dict[str, Decimal]
    leg_greeks: dict[str, LiveGreeks]
    leg_prices: dict[str, LivePrices]
    leg_group_greeks: dict[int, LiveGreeks]
    leg_group_prices: dict[int, LivePrices]
    position_greeks: LiveGreeks
    position_price: LivePrices
    underlying_price: LivePrices
    qty_multiplier: Decimal | None = None
    abort_conditions: tuple[ConditionEvaluation, ...] | None = None
    adjustment_allowed: bool | None = None


class GetPreparePositionEntryStatusResult(Model, frozen=True, kw_only=True):
    """Job status poll result; **inferred** to mirror the exit version."""

    job_id: str
    status: Open[PreparationStatus]
    created_at: datetime
    updated_at: datetime
    result: PreparePositionEntryResult | None = None
    error: str | None = None


class GetPreparePositionExitStatusResult(Model, frozen=True, kw_only=True):
    """Job status poll result (read in full). ``result`` once Completed, ``error`` once Failed."""

    job_id: str
    status: Open[PreparationStatus]
    created_at: datetime
    updated_at: datetime
    result: PreparePositionExitResult | None = None
    error: str | None = None


class GetPreparePositionAdjustmentStatusResult(Model, frozen=True, kw_only=True):
    """Job status poll result; **inferred** to mirror the exit version."""

    job_id: str
    status: Open[PreparationStatus]
    created_at: datetime
    updated_at: datetime
    result: PreparePositionAdjustmentResult | None = None
    error: str | None = None


# -- execution -----------------------------------------------------------------------------


class SendOrderArgs(Model, frozen=True, kw_only=True):
    """Arguments of ``SendOrder`` (read in full). One call per leg group, live accounts only.

    ``replaces_order`` and ``qty_multiplier`` are required-but-nullable on the wire.
    """

    idempotency_key: str
    broker_account_id: str
    exec_plan_id: WireInt
    leg_group_id: WireInt
    leg_group_order: LegGroupOrder
    replaces_order: WireInt | None = None
    qty_multiplier: Decimal | None = None


class SendOrderResult(Model, frozen=True, kw_only=True):
    """Not found: **inferred** as the ids of the live order(s) created (the idempotency record's
    ``LiveOrderIds`` suggests the name)."""

    live_order_ids: tuple[WireInt, ...]


class CancelOrderArgs(Model, frozen=True, kw_only=True):
    """Model name and fields **inferred**."""

    idempotency_key: str
    order_id: WireInt
    broker_account_id: str | None = None


class CancelOrderResult(Model, frozen=True, kw_only=True):
    """Not found: **inferred** as the order id and its state after the request."""

    order_id: WireInt
    state: Open[OrderState]


class ApplyPaperFillsArgs(Model, frozen=True, kw_only=True):
    """Model name and fields **inferred**.

    ``leg_group_id`` of ``None`` fills every not-yet-executed group of the plan.
    ``fill_prices`` maps leg name to fill price; a leg without one fills at its mid.
    """

    idempotency_key: str
    broker_account_id: str
    exec_plan_id: WireInt
    leg_group_id: WireInt | None = None
    fill_prices: dict[str, Decimal] = msgspec.field(default_factory=dict)
    qty_multiplier: Decimal | None = None


class ApplyPaperFillsResult(Model, frozen=True, kw_only=True):
    """Not found: **inferred**: the plan, the position it touched, and the orders recorded."""

    exec_plan_id: WireInt
    position_id: WireInt
    live_order_ids: tuple[WireInt, ...]


class GetOrderArgs(Model, frozen=True, kw_only=True):
    """**Inferred**."""

    order_id: WireInt


class ListOrdersArgs(Model, frozen=True, kw_only=True):
    """**Inferred** filters."""

    broker_account_id: str | None = None
    exec_plan_id: WireInt | None = None
    position_id: WireInt | None = None
