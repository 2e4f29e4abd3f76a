"""Simulated execution of exec plans: paper fills, live orders, and their effect on positions.

* ``ApplyPaperFills`` (paper accounts only, **inferred** restriction) fills one leg group, or
  every group not yet executed, at once at the given prices (mid when none is given).
* ``SendOrder`` (live accounts only) submits one order for one leg group; the simulated broker
  fills Market and Limit orders ``fill_delay_s`` later (at the mids; a Limit order's average
  price is its limit) and leaves Stop/StopLimit orders working. ``ReplacesOrder`` cancels the
  working order it names and sends the new one in its place. ``CancelOrder`` cancels a working
  order; the group can then be executed again.

A leg group has at most one working-or-filled order: executing it again is refused, so an
intent can never be executed twice. A fill produces ``OnOrderUpdate`` -> ``OnLegUpdate`` (per
leg) -> ``OnPositionUpdate`` (``Created``, ``Adjusted`` or ``Closed``).

Sim conventions: an order's ``Qty`` is signed combo units, ``B``/positive when the group opens
any leg, ``S``/negative when it only closes legs.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import attrs
import msgspec

from .. import models as m
from .domain_events import EventLog
from .domain_idempotency import Outcome
from .domain_market import Market
from .domain_state import DomainState, ExecPlan, PendingFill, fail

__all__ = ["Execution"]

logger = logging.getLogger(__name__)

_FILLS_LATER = {str(m.OrderType.MARKET), str(m.OrderType.LIMIT)}
_KNOWN_TYPES = {str(t) for t in m.OrderType}


class Execution:
    """Paper fills, live orders and broker fills over the shared state."""

    def __init__(self, state: DomainState, events: EventLog, market: Market) -> None:
        self._st = state
        self._events = events
        self._market = market
        self._units_by_order: dict[int, Decimal] = {}
        """Combo units each order trades (the plan's multiplier, or the call's override)."""

    # -- checks ---------------------------------------------------------------------------

    def _plan_for(self, plan_id: int, account: m.LiveAccount) -> ExecPlan:
        plan = self._st.plan(plan_id)
        if plan.broker_account_id != account.broker_account_id:
            fail(m.StatusCode.BAD_REQUEST,
                 f"exec plan {plan_id} belongs to account {plan.broker_account_id!r}",
                 code="ExecPlanAccountMismatch", field="BrokerAccountId")
        return plan

    def _group(self, plan: ExecPlan, group_id: int) -> tuple[str, ...]:
        names = plan.groups.get(group_id)
        if names is None:
            fail(m.StatusCode.BAD_REQUEST,
                 f"exec plan {plan.id} has no leg group {group_id} (groups: {sorted(plan.groups)})",
                 code="LegGroupNotFound", field="LegGroupId")
        return names

    def _check_free(self, plan: ExecPlan, group_id: int) -> None:
        order_id = plan.orders.get(group_id)
        if order_id is not None:
            state = self._st.orders[order_id].state
            fail(m.StatusCode.BAD_REQUEST,
                 f"leg group {group_id} of exec plan {plan.id} is already executed by order "
                 f"{order_id} ({state})", code="LegGroupAlreadyExecuted", field="LegGroupId")

    def _check_legs_open(self, plan: ExecPlan, group_id: int) -> None:
        for name in plan.groups[group_id]:
            closes = plan.legs[name].closes_leg_id
            if closes is not None and self._st.legs[closes].closed_at is not None:
                fail(m.StatusCode.BAD_REQUEST,
                     f"leg {name!r} (id {closes}) is already closed; prepare again",
                     code="ExecPlanStale")
        if plan.position_id is not None and plan.kind != "Entry":
            self._st.open_position(plan.position_id)

    def _units(self, plan: ExecPlan, override: Decimal | None) -> Decimal:
        if not plan.scales_qty or override is None:
            return plan.qty_multiplier
        if not override > 0:
            fail(m.StatusCode.BAD_REQUEST, f"QtyMultiplier must be positive, got {override}",
                 code="ValidationFailed", field="QtyMultiplier")
        return override

    # -- paper ----------------------------------------------------------------------------

    def apply_paper_fills(self, a: m.ApplyPaperFillsArgs) -> Outcome:
        account = self._st.account(a.broker_account_id)
        if not account.is_paper_account:
            fail(m.StatusCode.BAD_REQUEST,
                 f"account {account.broker_account_id!r} is not a paper account; use SendOrder",
                 code="NotPaperAccount", field="BrokerAccountId")
        plan = self._plan_for(a.exec_plan_id, account)
        if a.leg_group_id is not None:
            self._group(plan, a.leg_group_id)
            groups = [a.leg_group_id]
            self._check_free(plan, a.leg_group_id)
        else:
            groups = [g for g in sorted(plan.groups) if g not in plan.orders]
        if not groups:
            fail(m.StatusCode.BAD_REQUEST, f"exec plan {plan.id} has nothing left to execute",
                 code="NothingToExecute")
        unknown = sorted(set(a.fill_prices) - set(plan.legs))
        if unknown:
            fail(m.StatusCode.BAD_REQUEST, f"FillPrices names unknown legs {unknown}",
                 code="ValidationFailed", field="FillPrices")
        for g in groups:
            self._check_legs_open(plan, g)
        units = self._units(plan, a.qty_multiplier)
        order_ids = []
        for g in groups:
            prices = {n: a.fill_prices.get(n, self._market.quote(plan.legs[n].contract).mark)
                      for n in plan.groups[g]}
            order = self._new_order(plan, g, units, m.OrderType.MARKET, m.TimeInForce.DAY)
            order_ids.append(order.order_id)
            self._fill(order.order_id, prices, None)
        plan = self._st.plans[plan.id]
        assert plan.position_id is not None
        return Outcome(
            result=m.ApplyPaperFillsResult(exec_plan_id=plan.id, position_id=plan.position_id,
                                           live_order_ids=tuple(order_ids)),
            live_exec_plan_id=plan.id, live_order_ids=tuple(order_ids))

    # -- live -----------------------------------------------------------------------------

    def send_order(self, a: m.SendOrderArgs) -> Outcome:
        account = self._st.account(a.broker_account_id)
        if account.is_paper_account:
            fail(m.StatusCode.BAD_REQUEST,
                 f"account {account.broker_account_id!r} is a paper account; use ApplyPaperFills",
                 code="PaperAccount", field="BrokerAccountId")
        plan = self._plan_for(a.exec_plan_id, account)
        names = self._group(plan, a.leg_group_id)
        lgo = a.leg_group_order
        if lgo.leg_names and set(lgo.leg_names) != set(names):
            fail(m.StatusCode.BAD_REQUEST,
                 f"LegGroupOrder.LegNames {sorted(lgo.leg_names)} do not match leg group "
                 f"{a.leg_group_id} {sorted(names)}", code="ValidationFailed",
                 field="LegGroupOrder.LegNames")
        order_type = str(lgo.order_type)
        if order_type not in _KNOWN_TYPES:
            fail(m.StatusCode.BAD_REQUEST, f"unsupported OrderType {order_type!r}",
                 code="ValidationFailed", field="LegGroupOrder.OrderType")
        if order_type in (m.OrderType.LIMIT, m.OrderType.STOP_LIMIT) and lgo.limit_price is None:
            fail(m.StatusCode.BAD_REQUEST, f"{order_type} orders need LimitPrice",
                 code="ValidationFailed", field="LegGroupOrder.LimitPrice")
        if order_type in (m.OrderType.STOP, m.OrderType.STOP_LIMIT) and lgo.stop_price is None:
            fail(m.StatusCode.BAD_REQUEST, f"{order_type} orders need StopPrice",
                 code="ValidationFailed", field="LegGroupOrder.StopPrice")
        replaced: tuple[int, ...] = ()
        if a.replaces_order is not None:
            old = self._st.order(a.replaces_order)
            if (old.exec_plan_id, old.leg_group_id) != (plan.id, a.leg_group_id) or not (
                    isinstance(old.state, m.OrderState) and old.state.is_working):
                fail(m.StatusCode.BAD_REQUEST,
                     f"order {old.order_id} ({old.state}) is not a working order of leg group "
                     f"{a.leg_group_id} of exec plan {plan.id}", code="CannotReplace",
                     field="ReplacesOrder")
            replaced = (old.order_id,)
        else:
            self._check_free(plan, a.leg_group_id)
        self._check_legs_open(plan, a.leg_group_id)
        units = self._units(plan, a.qty_multiplier)
        if replaced:
            self._cancel(replaced[0])
            plan = self._st.plans[plan.id]
        order = self._new_order(plan, a.leg_group_id, units, lgo.order_type, lgo.time_in_force,
                                lgo.limit_price, lgo.stop_price, m.OrderState.SUBMITTED)
        if order_type in _FILLS_LATER:
            self._st.pending_fills[order.order_id] = PendingFill(
                order_id=order.order_id, due=self._st.clock.now + self._st.config.fill_delay_s)
        return Outcome(result=m.SendOrderResult(live_order_ids=(order.order_id,)),
                       live_exec_plan_id=plan.id, live_order_ids=(order.order_id, *replaced))

    def cancel_order(self, a: m.CancelOrderArgs) -> Outcome:
        order = self._st.order(a.order_id)
        if a.broker_account_id is not None and a.broker_account_id != order.broker_account_id:
            fail(m.StatusCode.BAD_REQUEST,
                 f"order {order.order_id} belongs to account {order.broker_account_id!r}",
                 code="OrderAccountMismatch", field="BrokerAccountId")
        if not (isinstance(order.state, m.OrderState) and order.state.is_working):
            fail(m.StatusCode.BAD_REQUEST, f"order {order.order_id} is {order.state}; "
                 "only working orders can be cancelled", code="OrderNotWorking",
                 field="OrderId")
        order = self._cancel(order.order_id)
        return Outcome(result=m.CancelOrderResult(order_id=order.order_id, state=order.state),
                       live_exec_plan_id=order.exec_plan_id, live_order_ids=(order.order_id,))

    def _cancel(self, order_id: int) -> m.Order:
        self._st.pending_fills.pop(order_id, None)
        order = self._set_order(order_id, state=m.OrderState.CANCELLED)
        self._release(order)
        self._order_event(order)
        return order

    def advance(self) -> None:
        """Let the simulated broker fill (or reject) orders whose time has come."""
        now = self._st.clock.now
        for fill in sorted(self._st.pending_fills.values(), key=lambda f: (f.due, f.order_id)):
            if fill.due > now:
                continue
            del self._st.pending_fills[fill.order_id]
            order = self._st.orders[fill.order_id]
            plan = self._st.plans[order.exec_plan_id]
            reason = self._st.faults.order_rejections.pop(0) if self._st.faults.order_rejections \
                else None
            if reason is None:
                try:
                    self._check_legs_open(plan, order.leg_group_id)
                except Exception as exc:  # noqa: BLE001 - becomes the rejection text
                    reason = str(exc)
            if reason is not None:
                order = self._set_order(order.order_id, state=m.OrderState.REJECTED)
                self._release(order)
                self._order_event(order, rejection=m.OrderRejectionInfo(code="Rejected",
                                                                        message=reason))
                continue
            names = plan.groups[order.leg_group_id]
            prices = {n: self._market.quote(plan.legs[n].contract).mark for n in names}
            combo = order.limit_price if order.order_type == m.OrderType.LIMIT else None
            self._fill(order.order_id, prices, combo)

    # -- orders and fills -----------------------------------------------------------------

    def _new_order(self, plan: ExecPlan, group_id: int, units: Decimal, order_type: Any,
                   tif: Any, limit: Decimal | None = None, stop: Decimal | None = None,
                   state: m.OrderState = m.OrderState.SUBMITTED) -> m.Order:
        plan = self._st.plans[plan.id]  # the caller's copy may be stale
        names = plan.groups[group_id]
        opens = any(plan.legs[n].closes_leg_id is None for n in names)
        now = self._st.utc
        order = m.Order(
            order_id=self._st.ids.next("order", 5000), created_at=now, exec_plan_id=plan.id,
            broker_account_id=plan.broker_account_id, leg_group_id=group_id, state=state,
            side=str(m.Side.BUY if opens else m.Side.SELL), qty=units if opens else -units,
            cum_qty=Decimal(0), order_type=order_type, time_in_force=tif, last_updated=now,
            limit_price=limit, stop_price=stop)
        self._st.orders[order.order_id] = order
        self._st.order_strategy[order.order_id] = plan.strategy_id
        orders = dict(plan.orders)
        orders[group_id] = order.order_id
        self._st.plans[plan.id] = attrs.evolve(plan, orders=orders)
        self._units_by_order[order.order_id] = units
        self._order_event(order)
        return order

    def _release(self, order: m.Order) -> None:
        plan = self._st.plans[order.exec_plan_id]
        if plan.orders.get(order.leg_group_id) == order.order_id:
            orders = {g: o for g, o in plan.orders.items() if g != order.leg_group_id}
            self._st.plans[plan.id] = attrs.evolve(plan, orders=orders)

    def _set_order(self, order_id: int, **changes: Any) -> m.Order:
        order = msgspec.structs.replace(self._st.orders[order_id], last_updated=self._st.utc,
                                        **changes)
        self._st.orders[order_id] = order
        return order

    def _order_event(self, order: m.Order, *, fill_price: Decimal | None = None,
                     rejection: m.OrderRejectionInfo | None = None) -> None:
        strategy_id = self._st.order_strategy[order.order_id]
        strategy = self._st.strategies.get(strategy_id)
        self._events.emit(
            m.OrderUpdateEvent, order_id=order.order_id, strategy_id=strategy_id,
            strategy_name=strategy.name if strategy else "", state=order.state,
            broker_account_id=order.broker_account_id, exec_plan_id=order.exec_plan_id,
            leg_group_id=order.leg_group_id, filled_qty=abs(order.cum_qty),
            remaining_qty=abs(order.qty) - abs(order.cum_qty), fill_price=fill_price,
            avg_fill_price=order.avg_fill_price, rejection=rejection)

    def _fill(self, order_id: int, prices: dict[str, Decimal], combo: Decimal | None) -> None:
        order = self._st.orders[order_id]
        plan = self._st.plans[order.exec_plan_id]
        units = self._units_by_order[order_id]
        names = plan.groups[order.leg_group_id]
        if combo is None:
            combo = sum((prices[n] * plan.legs[n].qty_per_unit for n in names), Decimal(0))
        order = self._set_order(order_id, state=m.OrderState.FILLED, cum_qty=order.qty,
                                avg_fill_price=combo, last_fill_price=combo,
                                filled_at=self._st.utc)
        self._order_event(order, fill_price=combo)
        pos, created = self._position_for(plan, units)
        now = self._st.utc
        for name in names:
            pl = plan.legs[name]
            price = prices[name]
            if pl.closes_leg_id is not None:
                leg = self._st.legs[pl.closes_leg_id]
                mult = leg.live_contract.multiplier or Decimal(1)
                realized = (leg.tracked_realized_pnl or Decimal(0)) + (
                    price - leg.avg_entry_price) * leg.qty * mult
                leg = msgspec.structs.replace(leg, closed_at=now, tracked_realized_pnl=realized)
                leg_status, qty = m.LegStatus.CLOSED, Decimal(0)
            else:
                leg = m.LiveLeg(
                    id=self._st.ids.next("leg", 100), name=name, live_contract=pl.contract,
                    leg_group_id=order.leg_group_id, created_at=now, live_position_id=pos.id,
                    account_id=plan.broker_account_id, underlying=pl.contract.underlying.symbol,
                    qty=pl.qty_per_unit * units, avg_entry_price=price,
                    tracked_realized_pnl=Decimal(0))
                leg_status, qty = m.LegStatus.CREATED, leg.qty
            self._st.legs[leg.id] = leg
            self._events.emit(
                m.LegUpdateEvent, broker_account_id=pos.broker_account_id, position_id=pos.id,
                position_name=pos.name, strategy_id=pos.live_strategy_id,
                strategy_name=pos.strategy_name, leg_id=leg.id, leg_name=leg.name,
                contract=leg.live_contract, status=leg_status, qty=qty,
                realized_pnl=leg.tracked_realized_pnl or Decimal(0))
        realized = Decimal(0)
        for lg in self._st.legs.values():
            if lg.live_position_id == pos.id:
                realized += (lg.tracked_realized_pnl or 0) + (lg.user_set_realized_pnl or 0)
        if created:
            status = m.PositionStatus.CREATED
        elif not self._st.open_legs(pos.id):
            pos = msgspec.structs.replace(pos, state=m.LivePositionState.CLOSED, closed_at=now)
            self._st.positions[pos.id] = pos
            status = m.PositionStatus.CLOSED
        else:
            status = m.PositionStatus.ADJUSTED
        self._st.touch()
        self._events.emit(
            m.PositionUpdateEvent, position_id=pos.id, strategy_id=pos.live_strategy_id,
            strategy_name=pos.strategy_name, position_name=pos.name,
            broker_account_id=pos.broker_account_id, status=status, realized_pnl=realized)

    def _position_for(self, plan: ExecPlan, units: Decimal) -> tuple[m.LivePosition, bool]:
        if plan.position_id is not None:
            return self._st.positions[plan.position_id], False
        strategy = self._st.strategies.get(plan.strategy_id)
        pos = m.LivePosition(
            id=self._st.ids.next("position", 1), state=m.LivePositionState.OPEN,
            created_at=self._st.utc, name=plan.position_name,
            broker_account_id=plan.broker_account_id, live_strategy_id=plan.strategy_id,
            strategy_name=strategy.name if strategy else "", qty_multiplier=units)
        self._st.positions[pos.id] = pos
        self._st.position_vars[pos.id] = dict(plan.vars)
        self._st.plans[plan.id] = attrs.evolve(self._st.plans[plan.id], position_id=pos.id)
        return pos, True
