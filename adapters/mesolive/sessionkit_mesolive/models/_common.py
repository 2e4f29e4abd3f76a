"""Models shared by all three hubs: the response envelope, contracts, quotes and entities.

Attribute names are snake_case; the PascalCase wire names are generated (see
:mod:`._base`), and :mod:`sessionkit_mesolive._converters` reads and writes the JSON.

Conventions used in every model module:

* every class is a :class:`~._base.Model` (a frozen msgspec Struct, keyword-only fields);
* a field the docs mark *Nullable* or *not Required* has a default (``None``, ``0`` or an
  empty collection); the others are required;
* JSON arrays are tuples, JSON objects are dicts;
* open enums are annotated ``Open[TheEnum]`` (``TheEnum | str``, see :mod:`._enums`);
* integers are ``WireInt`` (an ``int`` that may come as a decimal string);
* ``JsonValue`` marks a raw JSON value the docs type as ``JsonElement`` (or a JSON-like dict).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

from ._base import Model, Open, WireInt
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


class MesoLiveApiError(Model, frozen=True, kw_only=True):
    """Structured error detail of a non-Success response (read in full)."""

    code: str | None = None
    detail: str | None = None
    provider: str | None = None
    validation_errors: dict[str, tuple[str, ...]] | None = None


class MesoLiveApiResponse(Model, Generic[T], frozen=True, kw_only=True):
    """The envelope every Control Hub, Event Hub and Data Hub snapshot call returns.

    The model page was not available: the four fields are **inferred** from the
    ``Response*`` fields of :class:`IdempotencyRecord`.
    """

    status: Open[StatusCode]
    message: str | None = None
    data: T | None = None
    error: MesoLiveApiError | None = None


class LiveUnderlying(Model, frozen=True, kw_only=True):
    """Underlying of a contract or an entry. Field table not found: **inferred** to carry the
    symbol (``SPX``, ``AAPL``)."""

    symbol: str


class LiveContract(Model, frozen=True, kw_only=True):
    """Contract specification for options, futures, stocks and indices (read)."""

    contract_type: Open[MesoContractType]
    underlying: LiveUnderlying
    root: str | None = None
    option_type: Open[MesoOptionType] | None = None
    expiration: datetime | None = None
    strike: Decimal | None = None
    multiplier: Decimal | None = None


class LivePrices(Model, frozen=True, kw_only=True):
    """Price snapshot with per-quote ages in milliseconds (read; every field nullable)."""

    snapshot_time: datetime | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    mark: Decimal | None = None
    bid_age_ms: WireInt | None = None
    ask_age_ms: WireInt | None = None
    last_age_ms: WireInt | None = None
    mark_age_ms: WireInt | None = None


class LiveGreeks(Model, frozen=True, kw_only=True):
    """Greeks snapshot. Field table not found: the whole shape is **inferred**."""

    snapshot_time: datetime | None = None
    delta: Decimal | None = None
    gamma: Decimal | None = None
    theta: Decimal | None = None
    vega: Decimal | None = None
    implied_volatility: Decimal | None = None


class LivePnL(Model, frozen=True, kw_only=True):
    """PnL snapshot: realized plus running PnL per quote basis (read; every field nullable).

    Total PnL is ``realized`` plus the running value at the chosen basis.
    """

    snapshot_time: datetime | None = None
    realized: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    mark: Decimal | None = None
    bid_age_ms: WireInt | None = None
    ask_age_ms: WireInt | None = None
    last_age_ms: WireInt | None = None
    mark_age_ms: WireInt | None = None


class LegGroupQtys(Model, frozen=True, kw_only=True):
    """Quantities of one leg group. Field table not found: **inferred** as the number of combo
    units (``qty``) and each leg's signed quantity per unit (``leg_qtys``, by leg name)."""

    qty: Decimal
    leg_qtys: dict[str, Decimal] = msgspec.field(default_factory=dict)


class ConditionEvaluation(Model, frozen=True, kw_only=True):
    """One evaluated condition. Field table not found: **inferred** (name, statement, outcome)."""

    name: str | None = None
    statement: str | None = None
    result: bool | None = None
    error: str | None = None


class LegGroupOrder(Model, frozen=True, kw_only=True):
    """Order parameters for one leg group. Field table not found: **inferred** from the Portal
    order ticket (type, time in force, prices) plus the leg names in the group."""

    order_type: Open[OrderType]
    time_in_force: Open[TimeInForce] = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    leg_names: tuple[str, ...] = ()


class OrderRejectionInfo(Model, frozen=True, kw_only=True):
    """Why an order was rejected. Field table not found: **inferred**."""

    code: str | None = None
    message: str | None = None


class LiveAccount(Model, frozen=True, kw_only=True):
    """A brokerage account linked to the user (read in full)."""

    broker_account_id: str
    broker_type: Open[BrokerType]
    account_type: str
    currency: str
    is_paper_account: bool
    net_liquidation_value: Decimal | None = None
    maintenance_margin_req: Decimal | None = None
    cash: Decimal | None = None
    last_updated: datetime | None = None
    # Req=No, Null=No in the docs: the SDK model has defaults, the server always sends them.
    created_at: datetime | None = None
    active_positions: WireInt = 0


class LivePosition(Model, frozen=True, kw_only=True):
    """Position summary (read in full). ``GetPosition`` returns :class:`LivePositionDetails`."""

    id: WireInt
    state: Open[LivePositionState]
    created_at: datetime
    name: str
    broker_account_id: str
    live_strategy_id: WireInt
    strategy_name: str
    closed_at: datetime | None = None
    qty_multiplier: Decimal | None = None


class LiveLeg(Model, frozen=True, kw_only=True):
    """One leg of a position (read in full).

    ``qty`` is signed (negative = short; ``0`` marks a marker leg). ``avg_entry_price``
    includes commission. The owner field is ``AccountId`` on the wire, not
    ``BrokerAccountId``. ``leg_group_id`` is ``0`` when ungrouped or unknown.
    """

    id: WireInt
    name: str
    live_contract: LiveContract
    leg_group_id: WireInt
    created_at: datetime
    live_position_id: WireInt
    account_id: str
    underlying: str
    qty: Decimal
    avg_entry_price: Decimal
    closed_at: datetime | None = None
    user_set_realized_pnl: Decimal | None = None
    tracked_realized_pnl: Decimal | None = None


class Order(Model, frozen=True, kw_only=True):
    """A live order as ``GetOrder``/``ListOrders`` return it (read in full).

    ``side`` is ``"B"`` or ``"S"`` (see :class:`Side`); ``qty`` and ``cum_qty`` are signed.
    ``filled_at`` is documented as non-nullable but is treated as nullable (**inferred**: an
    unfilled order has no fill time).
    """

    order_id: WireInt
    created_at: datetime
    exec_plan_id: WireInt
    broker_account_id: str
    leg_group_id: WireInt
    state: Open[OrderState]
    side: str
    qty: Decimal
    cum_qty: Decimal
    order_type: Open[OrderType]
    time_in_force: Open[TimeInForce]
    last_updated: datetime
    filled_at: datetime | None = None
    avg_fill_price: Decimal | None = None
    last_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


class AgentInfo(Model, frozen=True, kw_only=True):
    """One connected provider/connector. Field table not found: **inferred**."""

    connector: Open[AgentConnector]
    status: Open[AgentStatus]
    last_snapshot_time: datetime | None = None


class LiveStrategy(Model, frozen=True, kw_only=True):
    """A live strategy as the strategy methods return it. Model not found: **inferred**.

    ``definition`` is the MesoSim v3 strategy definition, kept as raw JSON.
    """

    id: WireInt
    name: str
    definition: JsonValue = None
    active_on_accounts: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


class LivePositionDetails(Model, frozen=True, kw_only=True):
    """The detailed position ``GetPosition`` returns. Model not found: **inferred** from the
    description "detailed view with legs, vars, pricing blocks"."""

    position: LivePosition
    legs: tuple[LiveLeg, ...] = ()
    vars: dict[str, Decimal] = msgspec.field(default_factory=dict)
    prices: LivePrices | None = None
    greeks: LiveGreeks | None = None
    pnl: LivePnL | None = None


class IdempotencyRecord(Model, frozen=True, kw_only=True):
    """What the server remembers about one idempotency key (read in full).

    The ``response_*`` fields capture the original call's envelope; ``response_data`` and
    ``job_result`` hold raw JSON (text and element respectively).
    """

    idempotency_key: str
    operation: Open[IdempotencyOperation]
    status: Open[IdempotencyRecordStatus]
    created_at: datetime
    updated_at: datetime
    request_hash: str | None = None
    live_exec_plan_id: WireInt | None = None
    live_order_ids: tuple[WireInt, ...] | None = None
    error_message: str | None = None
    job_id: str | None = None
    job_status: Open[PreparationStatus] | None = None
    job_result: JsonValue = None
    job_error_message: str | None = None
    response_status: Open[StatusCode] | None = None
    response_message: str | None = None
    response_error: MesoLiveApiError | None = None
    response_data: str | None = None
