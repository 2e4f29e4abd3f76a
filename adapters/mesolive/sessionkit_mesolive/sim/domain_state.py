"""Shared state of the simulated MesoLive platform: configuration, clock, ids, internal records.

Sans-IO and deterministic: time only moves when the caller says so (:meth:`Clock.set`), and
every id or random choice comes from a :class:`random.Random` seeded by the caller.

The internal records here (:class:`ExecPlan`, :class:`PrepJob`, ...) are the simulator's own
bookkeeping, not wire models; they are frozen and replaced with :func:`attrs.evolve`.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

import attrs

from .. import models as m
from .._errors import api_exception

__all__ = [
    "DomainConfig",
    "Faults",
    "Clock",
    "Ids",
    "PlannedLeg",
    "ExecPlan",
    "PrepJob",
    "PendingFill",
    "DomainState",
    "CallTimedOutError",
    "fail",
    "page",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class DomainConfig:
    """Tunable behaviour of the simulated platform (all durations in seconds)."""

    prepare_pending_s: float = 0.2
    """How long a new preparation job stays Pending before it runs."""
    prepare_running_s: float = 1.0
    """How long a Running job takes to finish."""
    fill_delay_s: float = 0.5
    """How long a live broker takes to fill a Market/Limit order sent with ``SendOrder``."""
    max_legs_per_group: int = 4
    """Leg groups are chunks of at most this many legs (brokers limit combo sizes)."""
    seq_gap_probability: float = 0.25
    """Chance that an event skips one to three sequence ids (other users' events)."""
    max_page_size: int = 500
    default_page_size: int = 50
    stream_capacity: int = 8
    """Bounded stream channel; the oldest item is dropped when a slow reader falls behind."""
    stream_coalesce_s: float = 0.1
    """Market changes within this window are merged into one stream item."""
    underlying_prices: dict[str, Decimal] = attrs.field(factory=lambda: {
        "SPX": Decimal("5000"), "SPY": Decimal("500"), "QQQ": Decimal("440"),
        "AAPL": Decimal("200")})


@attrs.define
class Faults:
    """Fault knobs for recovery tests. Each knob is consumed when it fires."""

    duplicate_deliveries: int = 0
    """The next N callbacks are delivered twice (same ``EventId``)."""
    failing_jobs: list[tuple[str | None, str]] = attrs.field(factory=list)
    """``(kind or None, error)``: the next job of that kind (any kind for ``None``) fails."""
    timeouts: dict[str, int] = attrs.field(factory=dict)
    """Method name -> count: the call takes effect, then its answer is lost."""
    stalls: dict[str, float] = attrs.field(factory=dict)
    """Method name -> seconds: the next call stays Processing that long, its answer is lost."""
    order_rejections: list[str] = attrs.field(factory=list)
    """The next live orders are rejected by the broker with these reasons."""
    corrupt_deliveries: int = 0
    """The next N callbacks go out with a payload that does not decode (``EventId`` not a
    UUID)."""
    corrupted: set[int] = attrs.field(factory=set)
    """``EventSeqId`` of the events whose callbacks were corrupted."""
    corrupt_in_history: bool = False
    """Replay (``GetEventsSince``) returns the corrupted events corrupted too."""
    hide_events: int = 0
    """The next N events are sent live but left out of replay (``GetEventsSince``)."""
    hidden: set[int] = attrs.field(factory=set)
    """``EventSeqId`` of the events replay leaves out (clear it to have them replayed)."""

    def duplicate_next_events(self, count: int = 1) -> None:
        self.duplicate_deliveries += count

    def corrupt_next_events(self, count: int = 1, *, in_history: bool = False) -> None:
        """The next ``count`` callbacks carry a payload that does not decode; with
        ``in_history`` their records in replay do too (else replay has them intact)."""
        self.corrupt_deliveries += count
        self.corrupt_in_history = self.corrupt_in_history or in_history

    def hide_next_events(self, count: int = 1) -> None:
        """A server whose history lacks what it sent: the next ``count`` events are delivered
        live as usual but ``GetEventsSince`` leaves them out (until :attr:`hidden` is
        cleared)."""
        self.hide_events += count

    def fail_next_job(self, kind: str | None = None, error: str = "simulated failure") -> None:
        """Make the next preparation job of ``kind`` (Entry/Exit/Adjustment, or any) fail."""
        self.failing_jobs.append((kind, error))

    def time_out_after_effect(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect, then raise
        :class:`CallTimedOutError`."""
        self.timeouts[method] = self.timeouts.get(method, 0) + times

    def stall_next(self, method: str, seconds: float) -> None:
        """The next idempotent call of ``method`` stays Processing for ``seconds`` (then takes
        effect on :meth:`MesoLiveDomain.advance`) and raises :class:`CallTimedOutError` now."""
        self.stalls[method] = seconds

    def reject_next_order(self, reason: str = "simulated broker rejection") -> None:
        self.order_rejections.append(reason)

    def take_timeout(self, method: str) -> bool:
        left = self.timeouts.get(method, 0)
        if left <= 0:
            return False
        self.timeouts[method] = left - 1
        return True

    def take_job_failure(self, kind: str) -> str | None:
        for i, (k, error) in enumerate(self.failing_jobs):
            if k is None or k == kind:
                del self.failing_jobs[i]
                return error
        return None


class CallTimedOutError(Exception):
    """The call's answer is lost (fault injection): the transport must not reply.

    The effect may or may not have happened; the client has to recover through
    ``GetIdempotencyRecord`` and event replay, as the reference describes.
    """

    def __init__(self, method: str) -> None:
        super().__init__(f"{method}: answer lost (simulated timeout)")
        self.method = method


class Clock:
    """Maps the caller's ``now`` (seconds, any monotonic origin) to UTC wall time."""

    def __init__(self, start: datetime, now: float) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        self._start = start.astimezone(UTC)
        self._origin = now
        self.now = now

    def set(self, now: float) -> None:
        if now < self.now:
            raise ValueError(f"time went backwards: {now} < {self.now}")
        self.now = now

    @property
    def utc(self) -> datetime:
        return self._start + timedelta(seconds=self.now - self._origin)

    def at(self, now: float) -> datetime:
        return self._start + timedelta(seconds=now - self._origin)


class Ids:
    """Seeded id source: counters for integer ids, UUIDs from the seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._next: dict[str, int] = {}

    def next(self, kind: str, start: int = 1) -> int:
        value = self._next.get(kind, start)
        self._next[kind] = value + 1
        return value

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


@attrs.frozen(kw_only=True)
class PlannedLeg:
    """One leg of an exec plan: a new contract to open, or an existing leg to close."""

    name: str
    contract: m.LiveContract
    qty_per_unit: Decimal
    """Signed quantity per combo unit (opening legs), or the signed quantity to trade."""
    closes_leg_id: int | None = None


@attrs.frozen(kw_only=True)
class ExecPlan:
    """What a completed preparation produced; executed group by group."""

    id: int
    kind: str  # "Entry" | "Exit" | "Adjustment"
    broker_account_id: str
    strategy_id: int
    position_name: str
    legs: dict[str, PlannedLeg]
    groups: dict[int, tuple[str, ...]]
    qty_multiplier: Decimal
    scales_qty: bool
    """Entry-style plans scale leg quantities by the multiplier; exits do not."""
    position_id: int | None = None
    operation: str | None = None
    vars: dict[str, Decimal] = attrs.field(factory=dict)
    orders: dict[int, int] = attrs.field(factory=dict)
    """Leg group id -> the working or filled order executing it."""


@attrs.frozen(kw_only=True)
class PrepJob:
    """An async preparation job (entry, exit or adjustment)."""

    job_id: str
    kind: str  # "Entry" | "Exit" | "Adjustment"
    args: Any
    status: m.PreparationStatus
    created: float
    updated: float
    strategy_id: int
    strategy_name: str
    broker_account_id: str
    result: Any = None
    error: str | None = None
    fail_with: str | None = None
    """Fault injection: the job fails with this error when it would finish."""


@attrs.frozen(kw_only=True)
class PendingFill:
    """A live order the simulated broker will fill (or reject) at ``due``."""

    order_id: int
    due: float


@attrs.define
class DomainState:
    """Everything the simulated platform knows. Components share one instance."""

    config: DomainConfig
    clock: Clock
    ids: Ids
    faults: Faults = attrs.field(factory=Faults)
    accounts: dict[str, m.LiveAccount] = attrs.field(factory=dict)
    strategies: dict[int, m.LiveStrategy] = attrs.field(factory=dict)
    positions: dict[int, m.LivePosition] = attrs.field(factory=dict)
    position_vars: dict[int, dict[str, Decimal]] = attrs.field(factory=dict)
    legs: dict[int, m.LiveLeg] = attrs.field(factory=dict)
    orders: dict[int, m.Order] = attrs.field(factory=dict)
    order_strategy: dict[int, int] = attrs.field(factory=dict)
    plans: dict[int, ExecPlan] = attrs.field(factory=dict)
    jobs: dict[str, PrepJob] = attrs.field(factory=dict)
    pending_fills: dict[int, PendingFill] = attrs.field(factory=dict)
    agents: dict[str, m.AgentInfo] = attrs.field(factory=dict)
    prices: dict[str, Decimal] = attrs.field(factory=dict)
    price_updated: dict[str, float] = attrs.field(factory=dict)
    market_version: int = 0
    """Bumped whenever prices or positions change (drives stream items)."""

    @property
    def utc(self) -> datetime:
        return self.clock.utc

    def strategy(self, strategy_id: int) -> m.LiveStrategy:
        found = self.strategies.get(strategy_id)
        if found is None:
            fail(m.StatusCode.NOT_FOUND, f"strategy {strategy_id} not found",
                 code="StrategyNotFound")
        return found

    def account(self, broker_account_id: str) -> m.LiveAccount:
        found = self.accounts.get(broker_account_id)
        if found is None:
            fail(m.StatusCode.NOT_FOUND, f"account {broker_account_id!r} not found",
                 code="AccountNotFound")
        return found

    def position(self, position_id: int) -> m.LivePosition:
        found = self.positions.get(position_id)
        if found is None:
            fail(m.StatusCode.NOT_FOUND, f"position {position_id} not found",
                 code="PositionNotFound")
        return found

    def open_position(self, position_id: int) -> m.LivePosition:
        pos = self.position(position_id)
        if pos.state == m.LivePositionState.CLOSED:
            fail(m.StatusCode.BAD_REQUEST, f"position {position_id} is closed",
                 code="PositionClosed")
        return pos

    def leg(self, leg_id: int) -> m.LiveLeg:
        found = self.legs.get(leg_id)
        if found is None:
            fail(m.StatusCode.NOT_FOUND, f"leg {leg_id} not found", code="LegNotFound")
        return found

    def order(self, order_id: int) -> m.Order:
        found = self.orders.get(order_id)
        if found is None:
            fail(m.StatusCode.NOT_FOUND, f"order {order_id} not found", code="OrderNotFound")
        return found

    def plan(self, plan_id: int) -> ExecPlan:
        found = self.plans.get(plan_id)
        if found is None:
            fail(m.StatusCode.NOT_FOUND, f"exec plan {plan_id} not found",
                 code="ExecPlanNotFound")
        return found

    def open_legs(self, position_id: int) -> list[m.LiveLeg]:
        return [leg for leg in self.legs.values()
                if leg.live_position_id == position_id and leg.closed_at is None]

    def touch(self) -> None:
        self.market_version += 1


def fail(
    status: m.StatusCode,
    message: str,
    *,
    code: str | None = None,
    field: str | None = None,
) -> NoReturn:
    """Raise the API error a real server would answer with."""
    error = m.MesoLiveApiError(
        code=code, detail=message,
        validation_errors={field: (message,)} if field else None)
    raise api_exception(status, message, error)


def page(
    items: Sequence[T],
    token: str | None,
    limit: int | None,
    config: DomainConfig,
) -> tuple[tuple[T, ...], str | None]:
    """One page of ``items`` and the token for the next (opaque to clients: ``o<offset>``)."""
    if limit is None:
        limit = config.default_page_size
    if limit <= 0 or limit > config.max_page_size:
        fail(m.StatusCode.BAD_REQUEST, f"Limit must be 1..{config.max_page_size}, got {limit}",
             code="ValidationFailed", field="Limit")
    offset = 0
    if token is not None:
        if not (token.startswith("o") and token[1:].isdigit()):
            fail(m.StatusCode.BAD_REQUEST, f"unknown ContinuationToken {token!r}",
                 code="ValidationFailed", field="ContinuationToken")
        offset = int(token[1:])
    chunk = tuple(items[offset:offset + limit])
    nxt = f"o{offset + limit}" if offset + limit < len(items) else None
    return chunk, nxt


def sorted_values(mapping: dict[Any, T], keys: Iterable[Any] | None = None) -> list[T]:
    """Values in key order (deterministic listings)."""
    return [mapping[k] for k in sorted(mapping if keys is None else keys)]
