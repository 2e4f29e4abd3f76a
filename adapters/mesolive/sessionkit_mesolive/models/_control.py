"""Control Hub argument and result models (``/hubs/control/v1``).

Read in full: :class:`PreparePositionEntryArgs`, :class:`SendOrderArgs`,
:class:`GetPreparePositionExitStatusResult` and the three ``PreparePosition*Result`` models.
Everything else was not available and is **inferred** from CLI options, examples and
descriptions; each class says so. See :mod:`._common` for the conventions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

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


@attrs.frozen(kw_only=True)
class GetIdempotencyRecordArgs:
    """``IdempotencyKey`` read (from an example call).

    ``operation`` is **inferred** and optional: keys are scoped per operation, so it picks the
    record when one key was used for two operations (the newest record wins without it).
    """

    idempotency_key: str
    operation: IdempotencyOperation | str | None = None


@attrs.frozen(kw_only=True)
class ListAgentsArgs:
    """No fields (**inferred**)."""


@attrs.frozen(kw_only=True)
class ListAccountsArgs:
    """Paging: ``ContinuationToken`` read; ``Limit`` **inferred** (CLI ``--limit``)."""

    continuation_token: str | None = None
    limit: int | None = None


@attrs.frozen(kw_only=True)
class ListAccountsResult:
    """One page of accounts. Shape **inferred** (items + opaque continuation token)."""

    accounts: tuple[LiveAccount, ...] = ()
    continuation_token: str | None = None


@attrs.frozen(kw_only=True)
class GetAccountArgs:
    """**Inferred** (CLI ``--account ML1234``)."""

    broker_account_id: str


# -- strategies ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreateStrategyArgs:
    """**Inferred** from the SDK example's CLI options.

    ``definition`` is a MesoSim v3 strategy definition (JSON-like dict); ``clone_strategy_id``
    or ``backtest_id`` are alternative sources.
    """

    name: str | None = None
    definition: JsonValue = None
    clone_strategy_id: int | None = None
    backtest_id: str | None = None
    meso_sim_instance: str | None = None
    active_on_accounts: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class UpdateStrategyArgs:
    """**Inferred**: the strategy id plus a new definition (and optionally its accounts)."""

    strategy_id: int
    definition: JsonValue = None
    active_on_accounts: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class RenameStrategyArgs:
    """**Inferred**: the strategy id plus the new name."""

    strategy_id: int
    name: str


@attrs.frozen(kw_only=True)
class DeleteStrategyArgs:
    """**Inferred**."""

    strategy_id: int


@attrs.frozen(kw_only=True)
class DeleteStrategyResult:
    """Result not found: **inferred** as the deleted id."""

    strategy_id: int


@attrs.frozen(kw_only=True)
class ListStrategiesArgs:
    """Paging **inferred**; the ``ActiveOnAccounts`` filter name read (type inferred)."""

    continuation_token: str | None = None
    limit: int | None = None
    active_on_accounts: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class ListStrategiesResult:
    """One page of strategies (**inferred**)."""

    strategies: tuple[LiveStrategy, ...] = ()
    continuation_token: str | None = None


@attrs.frozen(kw_only=True)
class GetStrategyArgs:
    """**Inferred**."""

    strategy_id: int


# -- positions and legs --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ListPositionsArgs:
    """Filter names read (types inferred); paging **inferred**."""

    live_strategy_id: int | None = None
    live_exec_plan_id: int | None = None
    broker_account_id: str | None = None
    continuation_token: str | None = None
    limit: int | None = None


@attrs.frozen(kw_only=True)
class ListPositionsResult:
    """One page of positions (**inferred**)."""

    positions: tuple[LivePosition, ...] = ()
    continuation_token: str | None = None


@attrs.frozen(kw_only=True)
class GetPositionArgs:
    """**Inferred**."""

    position_id: int


@attrs.frozen(kw_only=True)
class ListLegsArgs:
    """**Inferred**: optional position filter plus paging."""

    position_id: int | None = None
    continuation_token: str | None = None
    limit: int | None = None


@attrs.frozen(kw_only=True)
class ListLegsResult:
    """One page of legs (**inferred**)."""

    legs: tuple[LiveLeg, ...] = ()
    continuation_token: str | None = None


@attrs.frozen(kw_only=True)
class GetLegArgs:
    """**Inferred**."""

    leg_id: int


@attrs.frozen(kw_only=True)
class GetLegsArgs:
    """**Inferred** batch get."""

    leg_ids: tuple[int, ...]


# -- preparation jobs ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PreparePositionEntryArgs:
    """Arguments of ``StartPreparePositionEntry`` (read in full).

    ``data_provider`` is required-but-nullable on the wire: ``None`` means the server default.
    """

    idempotency_key: str
    position_name: str
    strategy_id: int
    broker_account_id: str
    leg_selection_constraint: LiveLegSelectionConstraint | str
    underlying: LiveUnderlying
    data_provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class PreparePositionExitArgs:
    """**Inferred**: key, position and an optional provider override."""

    idempotency_key: str
    position_id: int
    data_provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class PreparePositionAdjustmentArgs:
    """``Operation`` and ``Condition`` read; the other fields **inferred** (entry-args analogy)."""

    idempotency_key: str
    position_id: int
    operation: PositionAdjustmentOperation | str
    condition: str
    leg_selection_constraint: LiveLegSelectionConstraint | str | None = None
    data_provider: DataProviderType | str | None = None


@attrs.frozen(kw_only=True)
class StartPreparationResult:
    """What every ``StartPreparePosition*`` returns: the job id (read: "contains ``JobId``").
    The model name is ours."""

    job_id: str


@attrs.frozen(kw_only=True)
class GetPreparePositionEntryStatusArgs:
    """**Inferred**."""

    job_id: str


@attrs.frozen(kw_only=True)
class GetPreparePositionExitStatusArgs:
    """**Inferred**."""

    job_id: str


@attrs.frozen(kw_only=True)
class GetPreparePositionAdjustmentStatusArgs:
    """**Inferred**."""

    job_id: str


@attrs.frozen(kw_only=True)
class CancelPreparePositionEntryArgs:
    """**Inferred**: the job id plus the key (the method is documented idempotent)."""

    idempotency_key: str
    job_id: str


@attrs.frozen(kw_only=True)
class CancelPreparePositionExitArgs:
    """**Inferred** (method name inferred too)."""

    idempotency_key: str
    job_id: str


@attrs.frozen(kw_only=True)
class CancelPreparePositionAdjustmentArgs:
    """**Inferred** (method name inferred too)."""

    idempotency_key: str
    job_id: str


@attrs.frozen(kw_only=True)
class CancelPreparationResult:
    """Result of a ``CancelPreparePosition*`` call. Not found: **inferred** as the job's status
    after the cancel request."""

    job_id: str
    status: PreparationStatus | str


@attrs.frozen(kw_only=True)
class PreparePositionEntryResult:
    """What a completed entry preparation produced (read in full; every field required)."""

    exec_plan_id: int
    position_name: str
    strategy_id: int
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


@attrs.frozen(kw_only=True)
class PreparePositionExitResult:
    """What a completed exit preparation produced (read in full; every field required)."""

    exec_plan_id: int
    position_id: int
    position_name: str
    strategy_id: int
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


@attrs.frozen(kw_only=True)
class PreparePositionAdjustmentResult:
    """What a completed adjustment preparation produced (read in full)."""

    exec_plan_id: int
    operation: PositionAdjustmentOperation | str
    condition: str
    position_id: int
    position_name: str
    strategy_id: int
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


@attrs.frozen(kw_only=True)
class GetPreparePositionEntryStatusResult:
    """Job status poll result; **inferred** to mirror the exit version."""

    job_id: str
    status: PreparationStatus | str
    created_at: datetime
    updated_at: datetime
    result: PreparePositionEntryResult | None = None
    error: str | None = None


@attrs.frozen(kw_only=True)
class GetPreparePositionExitStatusResult:
    """Job status poll result (read in full). ``result`` once Completed, ``error`` once Failed."""

    job_id: str
    status: PreparationStatus | str
    created_at: datetime
    updated_at: datetime
    result: PreparePositionExitResult | None = None
    error: str | None = None


@attrs.frozen(kw_only=True)
class GetPreparePositionAdjustmentStatusResult:
    """Job status poll result; **inferred** to mirror the exit version."""

    job_id: str
    status: PreparationStatus | str
    created_at: datetime
    updated_at: datetime
    result: PreparePositionAdjustmentResult | None = None
    error: str | None = None


# -- execution -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SendOrderArgs:
    """Arguments of ``SendOrder`` (read in full). One call per leg group, live accounts only.

    ``replaces_order`` and ``qty_multiplier`` are required-but-nullable on the wire.
    """

    idempotency_key: str
    broker_account_id: str
    exec_plan_id: int
    leg_group_id: int
    leg_group_order: LegGroupOrder
    replaces_order: int | None = None
    qty_multiplier: Decimal | None = None


@attrs.frozen(kw_only=True)
class SendOrderResult:
    """Not found: **inferred** as the ids of the live order(s) created (the idempotency record's
    ``LiveOrderIds`` suggests the name)."""

    live_order_ids: tuple[int, ...]


@attrs.frozen(kw_only=True)
class CancelOrderArgs:
    """Model name and fields **inferred**."""

    idempotency_key: str
    order_id: int
    broker_account_id: str | None = None


@attrs.frozen(kw_only=True)
class CancelOrderResult:
    """Not found: **inferred** as the order id and its state after the request."""

    order_id: int
    state: OrderState | str


@attrs.frozen(kw_only=True)
class ApplyPaperFillsArgs:
    """Model name and fields **inferred**.

    ``leg_group_id`` of ``None`` fills every not-yet-executed group of the plan.
    ``fill_prices`` maps leg name to fill price; a leg without one fills at its mid.
    """

    idempotency_key: str
    broker_account_id: str
    exec_plan_id: int
    leg_group_id: int | None = None
    fill_prices: dict[str, Decimal] = attrs.field(factory=dict)
    qty_multiplier: Decimal | None = None


@attrs.frozen(kw_only=True)
class ApplyPaperFillsResult:
    """Not found: **inferred**: the plan, the position it touched, and the orders recorded."""

    exec_plan_id: int
    position_id: int
    live_order_ids: tuple[int, ...]


@attrs.frozen(kw_only=True)
class GetOrderArgs:
    """**Inferred**."""

    order_id: int


@attrs.frozen(kw_only=True)
class ListOrdersArgs:
    """**Inferred** filters."""

    broker_account_id: str | None = None
    exec_plan_id: int | None = None
    position_id: int | None = None
