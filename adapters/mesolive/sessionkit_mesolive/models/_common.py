"""Models shared by all three hubs: the response envelope, contracts, quotes and entities.

Attribute names are snake_case; the PascalCase wire names are derived by the converter in
:mod:`sessionkit_mesolive._converters`. Nothing in this module knows about JSON.

Conventions used in every model module:

* every class is ``attrs.frozen(kw_only=True)``;
* a field the docs mark *Nullable* or *not Required* has a default (``None``, ``0`` or an
  empty collection); the others are required;
* JSON arrays are tuples, JSON objects are dicts;
* open enums are annotated ``TheEnum | str`` (see :mod:`._enums`);
* ``JsonValue`` marks a raw JSON value the docs type as ``JsonElement`` (or a JSON-like dict).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import attrs

from ._enums import (
    AgentConnector,
    AgentStatus,
    BrokerType,
    IdempotencyOperation,
    IdempotencyRecordStatus,
    LivePositionState,
    MesoContractType,
    MesoOptionType,
    OrderState,
    OrderType,
    PreparationStatus,
    StatusCode,
    TimeInForce,
)

__all__ = [
    "JsonValue",
    "MesoLiveApiError",
    "MesoLiveApiResponse",
    "LiveUnderlying",
    "LiveContract",
    "LivePrices",
    "LiveGreeks",
    "LivePnL",
    "LegGroupQtys",
    "ConditionEvaluation",
    "LegGroupOrder",
    "OrderRejectionInfo",
    "LiveAccount",
    "LivePosition",
    "LiveLeg",
    "Order",
    "AgentInfo",
    "LiveStrategy",
    "LivePositionDetails",
    "IdempotencyRecord",
]

JsonValue = Any
"""A raw JSON value kept as decoded (dict, list, str, int, float, bool or None)."""

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class MesoLiveApiError:
    """Structured error detail of a non-Success response (read in full)."""

    code: str | None = None
    detail: str | None = None
    provider: str | None = None
    validation_errors: dict[str, tuple[str, ...]] | None = None


@attrs.frozen(kw_only=True)
class MesoLiveApiResponse(Generic[T]):
    """The envelope every Control Hub, Event Hub and Data Hub snapshot call returns.

    The model page was not available: the four fields are **inferred** from the
    ``Response*`` fields of :class:`IdempotencyRecord`.
    """

    status: StatusCode | str
    message: str | None = None
    data: T | None = None
    error: MesoLiveApiError | None = None


@attrs.frozen(kw_only=True)
class LiveUnderlying:
    """Underlying of a contract or an entry. Field table not found: **inferred** to carry the
    symbol (``SPX``, ``AAPL``)."""

    symbol: str


@attrs.frozen(kw_only=True)
class LiveContract:
    """Contract specification for options, futures, stocks and indices (read)."""

    contract_type: MesoContractType | str
    underlying: LiveUnderlying
    root: str | None = None
    option_type: MesoOptionType | str | None = None
    expiration: datetime | None = None
    strike: Decimal | None = None
    multiplier: Decimal | None = None


@attrs.frozen(kw_only=True)
class LivePrices:
    """Price snapshot with per-quote ages in milliseconds (read; every field nullable)."""

    snapshot_time: datetime | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    mark: Decimal | None = None
    bid_age_ms: int | None = None
    ask_age_ms: int | None = None
    last_age_ms: int | None = None
    mark_age_ms: int | None = None


@attrs.frozen(kw_only=True)
class LiveGreeks:
    """Greeks snapshot. Field table not found: the whole shape is **inferred**."""

    snapshot_time: datetime | None = None
    delta: Decimal | None = None
    gamma: Decimal | None = None
    theta: Decimal | None = None
    vega: Decimal | None = None
    implied_volatility: Decimal | None = None


@attrs.frozen(kw_only=True)
class LivePnL:
    """PnL snapshot: realized plus running PnL per quote basis (read; every field nullable).

    Total PnL is ``realized`` plus the running value at the chosen basis.
    """

    snapshot_time: datetime | None = None
    realized: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    mark: Decimal | None = None
    bid_age_ms: int | None = None
    ask_age_ms: int | None = None
    last_age_ms: int | None = None
    mark_age_ms: int | None = None


@attrs.frozen(kw_only=True)
class LegGroupQtys:
    """Quantities of one leg group. Field table not found: **inferred** as the number of combo
    units (``qty``) and each leg's signed quantity per unit (``leg_qtys``, by leg name)."""

    qty: Decimal
    leg_qtys: dict[str, Decimal] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConditionEvaluation:
    """One evaluated condition. Field table not found: **inferred** (name, statement, outcome)."""

    name: str | None = None
    statement: str | None = None
    result: bool | None = None
    error: str | None = None


@attrs.frozen(kw_only=True)
class LegGroupOrder:
    """Order parameters for one leg group. Field table not found: **inferred** from the Portal
    order ticket (type, time in force, prices) plus the leg names in the group."""

    order_type: OrderType | str
    time_in_force: TimeInForce | str = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    leg_names: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class OrderRejectionInfo:
    """Why an order was rejected. Field table not found: **inferred**."""

    code: str | None = None
    message: str | None = None


@attrs.frozen(kw_only=True)
class LiveAccount:
    """A brokerage account linked to the user (read in full)."""

    broker_account_id: str
    broker_type: BrokerType | str
    account_type: str
    currency: str
    is_paper_account: bool
    net_liquidation_value: Decimal | None = None
    maintenance_margin_req: Decimal | None = None
    cash: Decimal | None = None
    last_updated: datetime | None = None
    # Req=No, Null=No in the docs: the SDK model has defaults, the server always sends them.
    created_at: datetime | None = None
    active_positions: int = 0


@attrs.frozen(kw_only=True)
class LivePosition:
    """Position summary (read in full). ``GetPosition`` returns :class:`LivePositionDetails`."""

    id: int
    state: LivePositionState | str
    created_at: datetime
    name: str
    broker_account_id: str
    live_strategy_id: int
    strategy_name: str
    closed_at: datetime | None = None
    qty_multiplier: Decimal | None = None


@attrs.frozen(kw_only=True)
class LiveLeg:
    """One leg of a position (read in full).

    ``qty`` is signed (negative = short; ``0`` marks a marker leg). ``avg_entry_price``
    includes commission. The owner field is ``AccountId`` on the wire, not
    ``BrokerAccountId``. ``leg_group_id`` is ``0`` when ungrouped or unknown.
    """

    id: int
    name: str
    live_contract: LiveContract
    leg_group_id: int
    created_at: datetime
    live_position_id: int
    account_id: str
    underlying: str
    qty: Decimal
    avg_entry_price: Decimal
    closed_at: datetime | None = None
    user_set_realized_pnl: Decimal | None = None
    tracked_realized_pnl: Decimal | None = None


@attrs.frozen(kw_only=True)
class Order:
    """A live order as ``GetOrder``/``ListOrders`` return it (read in full).

    ``side`` is ``"B"`` or ``"S"`` (see :class:`Side`); ``qty`` and ``cum_qty`` are signed.
    ``filled_at`` is documented as non-nullable but is treated as nullable (**inferred**: an
    unfilled order has no fill time).
    """

    order_id: int
    created_at: datetime
    exec_plan_id: int
    broker_account_id: str
    leg_group_id: int
    state: OrderState | str
    side: str
    qty: Decimal
    cum_qty: Decimal
    order_type: OrderType | str
    time_in_force: TimeInForce | str
    last_updated: datetime
    filled_at: datetime | None = None
    avg_fill_price: Decimal | None = None
    last_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@attrs.frozen(kw_only=True)
class AgentInfo:
    """One connected provider/connector. Field table not found: **inferred**."""

    connector: AgentConnector | str
    status: AgentStatus | str
    last_snapshot_time: datetime | None = None


@attrs.frozen(kw_only=True)
class LiveStrategy:
    """A live strategy as the strategy methods return it. Model not found: **inferred**.

    ``definition`` is the MesoSim v3 strategy definition, kept as raw JSON.
    """

    id: int
    name: str
    definition: JsonValue = None
    active_on_accounts: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class LivePositionDetails:
    """The detailed position ``GetPosition`` returns. Model not found: **inferred** from the
    description "detailed view with legs, vars, pricing blocks"."""

    position: LivePosition
    legs: tuple[LiveLeg, ...] = ()
    vars: dict[str, Decimal] = attrs.field(factory=dict)
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None
    pnl: LivePnL | None = None


@attrs.frozen(kw_only=True)
class IdempotencyRecord:
    """What the server remembers about one idempotency key (read in full).

    The ``response_*`` fields capture the original call's envelope; ``response_data`` and
    ``job_result`` hold raw JSON (text and element respectively).
    """

    idempotency_key: str
    operation: IdempotencyOperation | str
    status: IdempotencyRecordStatus | str
    created_at: datetime
    updated_at: datetime
    request_hash: str | None = None
    live_exec_plan_id: int | None = None
    live_order_ids: tuple[int, ...] | None = None
    error_message: str | None = None
    job_id: str | None = None
    job_status: PreparationStatus | str | None = None
    job_result: JsonValue = None
    job_error_message: str | None = None
    response_status: StatusCode | str | None = None
    response_message: str | None = None
    response_error: MesoLiveApiError | None = None
    response_data: str | None = None
