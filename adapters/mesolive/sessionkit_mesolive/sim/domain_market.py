"""Simulated market data and the Data Hub: quotes, greeks, PnL, snapshots and streams.

Prices are a deterministic toy model (not a pricing library): an option is worth its
intrinsic value plus a bell-shaped time value from a fixed 20% volatility; bid/ask straddle
the mark. Quote ages are the time since the underlying's price last changed.

Streams copy the documented semantics: each stream has a bounded channel that drops the
*oldest* item when the reader falls behind, and market changes that fall within the coalesce
window produce one item (latest value wins). Provider-required endpoints (underlying,
contract, combo) refuse a null ``Provider``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs
import msgspec

from .. import models as m
from ..models import flag_names
from .domain_state import DomainState, fail

__all__ = ["Quote", "Market", "StreamBatch", "expiry"]

logger = logging.getLogger(__name__)

_CENT = Decimal("0.01")
_BASES = ("Bid", "Ask", "Last", "Mark")
_BLOCKS = ("Prices", "Greeks", "PnL")
_VOL = 0.20


@attrs.frozen
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    mark: Decimal
    age_ms: int
    delta: Decimal
    gamma: Decimal
    theta: Decimal
    vega: Decimal
    iv: Decimal | None

    def basis(self, name: str) -> Decimal:
        return {"Bid": self.bid, "Ask": self.ask, "Last": self.last, "Mark": self.mark}[name]


@attrs.frozen
class StreamBatch:
    """Items a stream produced since the last poll; ``error`` once the stream has failed."""

    items: tuple[Any, ...]
    dropped: int
    error: str | None = None


@attrs.define
class _Stream:
    method: str
    snapshot: Callable[[], Any]
    channel: deque[Any]
    seen_version: int = -1
    last_emit: float = -math.inf
    dropped: int = 0
    error: str | None = None


def _bases(fields: str | None) -> set[str]:
    names = flag_names(str(fields or "All"))
    return set(_BASES) if "All" in names else set(names & set(_BASES))


def _blocks(include: str | None) -> set[str]:
    names = flag_names(str(include or "None"))
    return set(_BLOCKS) if "All" in names else set(names & set(_BLOCKS))


def _q(x: float | Decimal, step: Decimal = _CENT) -> Decimal:
    return Decimal(str(x)).quantize(step, rounding=ROUND_HALF_UP)


class Market:
    """Prices, Data Hub snapshots and streams over the shared :class:`DomainState`."""

    def __init__(self, state: DomainState) -> None:
        self._state = state
        self._streams: dict[int, _Stream] = {}
        for symbol, price in state.config.underlying_prices.items():
            state.prices[symbol] = price
            state.price_updated[symbol] = state.clock.now

    # -- prices -------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        if not price > 0:
            raise ValueError(f"price of {symbol} must be positive, got {price}")
        self._state.prices[symbol] = price
        self._state.price_updated[symbol] = self._state.clock.now
        for agent in list(self._state.agents.values()):
            if agent.status == m.AgentStatus.CONNECTED:
                self._state.agents[str(agent.connector)] = msgspec.structs.replace(
                    agent, last_snapshot_time=self._state.utc)
        self._state.touch()

    def underlying(self, symbol: str) -> Decimal:
        price = self._state.prices.get(symbol)
        if price is None:
            fail(m.StatusCode.NOT_FOUND, f"no market data for underlying {symbol!r}",
                 code="UnderlyingNotFound")
        return price

    def strike_step(self, symbol: str) -> Decimal:
        return Decimal(5) if self.underlying(symbol) >= 1000 else Decimal(1)

    def quote(self, contract: m.LiveContract) -> Quote:
        symbol = contract.underlying.symbol
        spot = self.underlying(symbol)
        age = int((self._state.clock.now - self._state.price_updated.get(symbol, 0.0)) * 1000)
        kind = str(contract.contract_type)
        if kind not in (m.MesoContractType.OPTIONS, m.MesoContractType.FUTURES_OPTIONS):
            half = max(_CENT, _q(spot * Decimal("0.0001")))
            return Quote(spot - half, spot + half, spot, spot, age, Decimal(1), Decimal(0),
                         Decimal(0), Decimal(0), None)
        if contract.strike is None or contract.expiration is None:
            fail(m.StatusCode.BAD_REQUEST, "an option contract needs Strike and Expiration",
                 code="ValidationFailed", field="Contract")
        s, k = float(spot), float(contract.strike)
        days = max((contract.expiration - self._state.utc).total_seconds() / 86400.0, 0.01)
        std = s * _VOL * math.sqrt(days / 365.0)
        z = (s - k) / std
        time_value = 0.4 * std * math.exp(-0.5 * z * z)
        n = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
        is_call = str(contract.option_type) == m.MesoOptionType.CALL
        intrinsic = max(0.0, s - k) if is_call else max(0.0, k - s)
        mark = max(_CENT, _q(intrinsic + time_value))
        half = max(Decimal("0.05"), _q(mark * Decimal("0.01"), Decimal("0.05")))
        delta = n if is_call else n - 1.0
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return Quote(
            bid=max(Decimal(0), mark - half), ask=mark + half, last=mark, mark=mark, age_ms=age,
            delta=_q(delta, Decimal("0.0001")), gamma=_q(pdf / std, Decimal("0.000001")),
            theta=_q(-time_value / (2 * days), Decimal("0.0001")),
            vega=_q(time_value / _VOL / 100, Decimal("0.0001")), iv=Decimal("0.2"))

    # -- blocks -------------------------------------------------------------------------

    def prices_block(
        self, parts: Iterable[tuple[Quote, Decimal]], fields: str | None
    ) -> m.LivePrices:
        """Linear combination of quotes (``qty`` per quote) restricted to ``fields``."""
        parts = list(parts)
        bases = _bases(fields)
        # natural combo quote: buying the combo pays the ask of long legs and receives the bid
        # of short ones, so the combo bid stays below its ask
        values = {
            "Bid": sum((w * (q.bid if w > 0 else q.ask) for q, w in parts), Decimal(0)),
            "Ask": sum((w * (q.ask if w > 0 else q.bid) for q, w in parts), Decimal(0)),
            "Last": sum((w * q.last for q, w in parts), Decimal(0)),
            "Mark": sum((w * q.mark for q, w in parts), Decimal(0)),
        }
        age = max((q.age_ms for q, _ in parts), default=0)

        def pick(b: str) -> Decimal | None:
            return values[b] if b in bases else None

        def age_of(b: str) -> int | None:
            return age if b in bases else None

        return m.LivePrices(snapshot_time=self._state.utc, bid=pick("Bid"), ask=pick("Ask"),
                            last=pick("Last"), mark=pick("Mark"), bid_age_ms=age_of("Bid"),
                            ask_age_ms=age_of("Ask"), last_age_ms=age_of("Last"),
                            mark_age_ms=age_of("Mark"))

    def greeks_block(self, parts: Iterable[tuple[Quote, Decimal]]) -> m.LiveGreeks:
        parts = list(parts)
        ivs = [q.iv for q, _ in parts if q.iv is not None]
        return m.LiveGreeks(
            snapshot_time=self._state.utc,
            delta=sum((q.delta * w for q, w in parts), Decimal(0)),
            gamma=sum((q.gamma * w for q, w in parts), Decimal(0)),
            theta=sum((q.theta * w for q, w in parts), Decimal(0)),
            vega=sum((q.vega * w for q, w in parts), Decimal(0)),
            implied_volatility=ivs[0] if len(parts) == 1 and ivs else None)

    def pnl_block(self, legs: Iterable[m.LiveLeg], fields: str | None) -> m.LivePnL:
        bases = _bases(fields)
        realized = Decimal(0)
        running = dict.fromkeys(_BASES, Decimal(0))
        age = 0
        for leg in legs:
            realized += (leg.tracked_realized_pnl or 0) + (leg.user_set_realized_pnl or 0)
            if leg.closed_at is not None:
                continue
            q = self.quote(leg.live_contract)
            age = max(age, q.age_ms)
            mult = leg.live_contract.multiplier or Decimal(1)
            for b in _BASES:
                running[b] += (q.basis(b) - leg.avg_entry_price) * leg.qty * mult
        return m.LivePnL(
            snapshot_time=self._state.utc, realized=realized,
            bid=running["Bid"] if "Bid" in bases else None,
            ask=running["Ask"] if "Ask" in bases else None,
            last=running["Last"] if "Last" in bases else None,
            mark=running["Mark"] if "Mark" in bases else None,
            bid_age_ms=age if "Bid" in bases else None, ask_age_ms=age if "Ask" in bases else None,
            last_age_ms=age if "Last" in bases else None,
            mark_age_ms=age if "Mark" in bases else None)

    def leg_parts(self, legs: Iterable[m.LiveLeg]) -> list[tuple[Quote, Decimal]]:
        return [(self.quote(leg.live_contract), leg.qty) for leg in legs if leg.closed_at is None]

    # -- snapshots ------------------------------------------------------------------------

    def position_snapshot(self, a: m.StreamPositionDataArgs) -> m.PositionDataEntry:
        self._state.position(a.position_id)
        legs = [leg for leg in self._state.legs.values() if leg.live_position_id == a.position_id]
        open_legs = [leg for leg in legs if leg.closed_at is None]
        pos_b, leg_b, grp_b = _blocks(a.include_position), _blocks(a.include_legs), _blocks(
            a.include_leg_groups)
        groups: dict[int, list[m.LiveLeg]] = {}
        for leg in legs:
            groups.setdefault(leg.leg_group_id, []).append(leg)

        def per_leg(block: str, make: Callable[[m.LiveLeg], Any]) -> dict[int, Any] | None:
            return {leg.id: make(leg) for leg in (legs if block == "PnL" else open_legs)} \
                if block in leg_b else None

        def per_group(block: str, make: Callable[[list[m.LiveLeg]], Any]) -> dict[int, Any] | None:
            return {g: make(ls) for g, ls in sorted(groups.items())} if block in grp_b else None

        return m.PositionDataEntry(
            position_prices=self.prices_block(self.leg_parts(open_legs), a.price_fields)
            if "Prices" in pos_b else None,
            position_greeks=self.greeks_block(self.leg_parts(open_legs))
            if "Greeks" in pos_b else None,
            position_pnls=self.pnl_block(legs, a.pnl_fields) if "PnL" in pos_b else None,
            leg_prices=per_leg("Prices", lambda lg: self.prices_block(
                self.leg_parts([lg]), a.price_fields)),
            leg_greeks=per_leg("Greeks", lambda lg: self.greeks_block(self.leg_parts([lg]))),
            leg_pnls=per_leg("PnL", lambda lg: self.pnl_block([lg], a.pnl_fields)),
            leg_group_prices=per_group("Prices", lambda ls: self.prices_block(
                self.leg_parts(ls), a.price_fields)),
            leg_group_greeks=per_group("Greeks", lambda ls: self.greeks_block(self.leg_parts(ls))),
            leg_group_pnls=per_group("PnL", lambda ls: self.pnl_block(ls, a.pnl_fields)))

    def leg_snapshot(self, a: m.StreamLegDataArgs) -> m.LegDataEntry:
        leg = self._state.leg(a.leg_id)
        b = _blocks(a.include)
        return m.LegDataEntry(
            leg_id=leg.id,
            prices=self.prices_block(self._unit(leg), a.price_fields) if "Prices" in b else None,
            greeks=self.greeks_block(self._unit(leg)) if "Greeks" in b else None,
            pnls=self.pnl_block([leg], a.pnl_fields) if "PnL" in b else None)

    def legs_snapshot(self, a: m.StreamLegsDataArgs) -> m.LegsDataEntry:
        legs = [self._state.leg(i) for i in a.leg_ids]
        b = _blocks(a.include)
        return m.LegsDataEntry(
            leg_prices={lg.id: self.prices_block(self._unit(lg), a.price_fields) for lg in legs}
            if "Prices" in b else None,
            leg_greeks={lg.id: self.greeks_block(self._unit(lg)) for lg in legs}
            if "Greeks" in b else None,
            leg_pnls={lg.id: self.pnl_block([lg], a.pnl_fields) for lg in legs}
            if "PnL" in b else None)

    def _unit(self, leg: m.LiveLeg) -> list[tuple[Quote, Decimal]]:
        """Per-unit quote of one leg's contract (leg blocks are per contract)."""
        return [(self.quote(leg.live_contract), Decimal(1))]

    @staticmethod
    def _require_provider(provider: Any, method: str) -> None:
        if provider is None:
            fail(m.StatusCode.BAD_REQUEST, f"{method} requires an explicit Provider",
                 code="ProviderRequired", field="Provider")

    def underlying_snapshot(self, a: m.StreamUnderlyingDataArgs) -> m.UnderlyingDataEntry:
        self._require_provider(a.provider, "GetUnderlyingSnapshot")
        contract = m.LiveContract(contract_type=m.MesoContractType.INDEX, underlying=a.underlying)
        part = [(self.quote(contract), Decimal(1))]
        b = _blocks(a.include)
        return m.UnderlyingDataEntry(
            underlying=a.underlying,
            prices=self.prices_block(part, a.price_fields) if "Prices" in b else None,
            greeks=self.greeks_block(part) if "Greeks" in b else None)

    def contract_snapshot(self, a: m.StreamContractDataArgs) -> m.ContractDataEntry:
        self._require_provider(a.provider, "GetContractSnapshot")
        part = [(self.quote(a.contract), Decimal(1))]
        b = _blocks(a.include)
        return m.ContractDataEntry(
            contract=a.contract,
            prices=self.prices_block(part, a.price_fields) if "Prices" in b else None,
            greeks=self.greeks_block(part) if "Greeks" in b else None)

    def combo_snapshot(self, a: m.StreamComboContractsDataArgs) -> m.ComboContractsDataEntry:
        self._require_provider(a.provider, "GetComboContractsSnapshot")
        ratios = a.ratios if a.ratios is not None else (Decimal(1),) * len(a.contracts)
        if len(ratios) != len(a.contracts) or not a.contracts:
            fail(m.StatusCode.BAD_REQUEST, "Ratios must pair with a non-empty Contracts list",
                 code="ValidationFailed", field="Ratios")
        quotes = [self.quote(c) for c in a.contracts]
        parts = list(zip(quotes, ratios, strict=True))
        b = _blocks(a.include)
        return m.ComboContractsDataEntry(
            combo_prices=self.prices_block(parts, a.price_fields) if "Prices" in b else None,
            combo_greeks=self.greeks_block(parts) if "Greeks" in b else None,
            contract_prices=tuple(self.prices_block([(q, Decimal(1))], a.price_fields)
                                  for q in quotes) if "Prices" in b else None)

    # -- streams ------------------------------------------------------------------------

    def open_stream(self, stream_id: int, method: str, snapshot: Callable[[], Any]) -> Any:
        """Start a stream; the first item is computed now (errors refuse the stream)."""
        first = snapshot()
        ch: deque[Any] = deque(maxlen=self._state.config.stream_capacity)
        ch.append(first)
        self._streams[stream_id] = _Stream(method, snapshot, ch, self._state.market_version,
                                           self._state.clock.now)
        return first

    def close_stream(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)

    def take(self, stream_id: int) -> StreamBatch:
        s = self._streams.get(stream_id)
        if s is None:
            return StreamBatch((), 0, f"stream {stream_id} is not open")
        items, dropped = tuple(s.channel), s.dropped
        s.channel.clear()
        s.dropped = 0
        if s.error is not None:
            self._streams.pop(stream_id, None)
        return StreamBatch(items, dropped, s.error)

    def advance(self) -> None:
        now, version = self._state.clock.now, self._state.market_version
        window = self._state.config.stream_coalesce_s
        for s in self._streams.values():
            if s.error is not None or s.seen_version == version or now - s.last_emit < window:
                continue
            try:
                item = s.snapshot()
            except Exception as exc:  # the stream ends with an error Completion
                s.error = str(exc)
                continue
            if len(s.channel) == s.channel.maxlen:
                s.dropped += 1
            s.channel.append(item)
            s.seen_version, s.last_emit = version, now


def expiry(now: datetime, days: int) -> datetime:
    """Expiration ``days`` after ``now``'s date, at the 20:00 UTC close (sim convention)."""
    return (now + timedelta(days=days)).replace(hour=20, minute=0, second=0, microsecond=0)
