"""Simulated preparation jobs: entry, exit and adjustment, and the exec plans they produce.

A ``StartPreparePosition*`` call checks what it can at once (account, strategy, position),
creates a job in ``Pending`` and returns its id. :meth:`Preparation.advance` moves jobs
``Pending -> Running -> Completed | Failed`` as time passes; completion builds the exec plan,
stores the result and emits ``OnPosition*PreparationCompleted`` (or ``...Failed``). Cancel is
best effort: a ``Pending``/``Running`` job becomes ``Cancelled``; a finished one refuses.

Leg selection uses a small simulator convention for the strategy definition (the real MesoSim
v3 format is far richer and not modelled)::

    {"Structure": {"Legs": [{"Name": "short_put", "Qty": -1, "OptionType": "Put",
                             "StrikeOffset": -100, "Dte": 30}]},
     "QtyMultiplier": 1, "Vars": {"Target": 0.5}, "EntryAllowed": true,
     "EntryConditions": ["..."], "AbortConditions": ["..."],
     "Adjustments": [{"Condition": "...", "Operation": "AddLegs", "Legs": [...],
                      "LegNames": [...], "Vars": {...}, "StrikeShift": -10}]}

Without ``Structure.Legs`` an entry is a put credit spread 2% / 4% below spot, 30 days out.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import attrs
import msgspec

from .. import models as m
from .._errors import MesoLiveApiException
from .domain_events import EventLog
from .domain_idempotency import IdempotencyTable, Outcome
from .domain_market import Market, expiry
from .domain_state import DomainState, ExecPlan, PlannedLeg, PrepJob, fail

__all__ = ["Preparation", "ENTRY", "EXIT", "ADJUSTMENT"]

logger = logging.getLogger(__name__)

ENTRY, EXIT, ADJUSTMENT = "Entry", "Exit", "Adjustment"

_DEFAULT_LEGS = (
    {"Name": "short_put", "Qty": -1, "OptionType": "Put", "StrikePct": -2, "Dte": 30},
    {"Name": "long_put", "Qty": 1, "OptionType": "Put", "StrikePct": -4, "Dte": 30},
)
_EVENTS = {
    (ENTRY, True): m.PositionEntryPreparationCompletedEvent,
    (ENTRY, False): m.PositionEntryPreparationFailedEvent,
    (EXIT, True): m.PositionExitPreparationCompletedEvent,
    (EXIT, False): m.PositionExitPreparationFailedEvent,
    (ADJUSTMENT, True): m.PositionAdjustmentPreparationCompletedEvent,
    (ADJUSTMENT, False): m.PositionAdjustmentPreparationFailedEvent,
}
_STATUS_RESULTS = {
    ENTRY: m.GetPreparePositionEntryStatusResult,
    EXIT: m.GetPreparePositionExitStatusResult,
    ADJUSTMENT: m.GetPreparePositionAdjustmentStatusResult,
}
_EXECUTABLE_OPS = {str(op) for op in m.PositionAdjustmentOperation}


def _dec(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{what} is not a number: {value!r}") from None


def _chunks(names: list[str], size: int) -> dict[int, tuple[str, ...]]:
    return {i // size + 1: tuple(names[i:i + size]) for i in range(0, len(names), size)}


class Preparation:
    """The three kinds of preparation job over the shared state."""

    def __init__(self, state: DomainState, events: EventLog, market: Market,
                 idem: IdempotencyTable) -> None:
        self._st = state
        self._events = events
        self._market = market
        self._idem = idem

    # -- starting -----------------------------------------------------------------------

    def start_entry(self, a: m.PreparePositionEntryArgs) -> Outcome:
        account = self._st.account(a.broker_account_id)
        strategy = self._st.strategy(a.strategy_id)
        active = strategy.active_on_accounts
        if active and account.broker_account_id not in active:
            fail(m.StatusCode.BAD_REQUEST,
                 f"strategy {strategy.id} is not active on account {account.broker_account_id!r}",
                 code="StrategyNotActiveOnAccount", field="BrokerAccountId")
        if not a.position_name.strip():
            fail(m.StatusCode.BAD_REQUEST, "PositionName must not be blank",
                 code="ValidationFailed", field="PositionName")
        return self._new_job(ENTRY, a, strategy, account.broker_account_id)

    def start_exit(self, a: m.PreparePositionExitArgs) -> Outcome:
        pos = self._st.open_position(a.position_id)
        return self._new_job(EXIT, a, self._st.strategy(pos.live_strategy_id),
                             pos.broker_account_id)

    def start_adjustment(self, a: m.PreparePositionAdjustmentArgs) -> Outcome:
        pos = self._st.open_position(a.position_id)
        if str(a.operation) not in _EXECUTABLE_OPS:
            fail(m.StatusCode.BAD_REQUEST,
                 f"adjustment operation {a.operation!r} is not supported",
                 code="UnsupportedOperation", field="Operation")
        if not a.condition.strip():
            fail(m.StatusCode.BAD_REQUEST, "Condition must not be blank",
                 code="ValidationFailed", field="Condition")
        return self._new_job(ADJUSTMENT, a, self._st.strategy(pos.live_strategy_id),
                             pos.broker_account_id)

    def _new_job(self, kind: str, args: Any, strategy: m.LiveStrategy, account: str) -> Outcome:
        job_id = f"job-{kind.lower()}-{self._st.ids.next('job'):05d}-{self._st.ids.uuid().hex[:8]}"
        now = self._st.clock.now
        self._st.jobs[job_id] = PrepJob(
            job_id=job_id, kind=kind, args=args, status=m.PreparationStatus.PENDING,
            created=now, updated=now, strategy_id=strategy.id, strategy_name=strategy.name,
            broker_account_id=account, fail_with=self._st.faults.take_job_failure(kind))
        return Outcome(result=m.StartPreparationResult(job_id=job_id), job_id=job_id)

    # -- polling and cancelling ---------------------------------------------------------

    def _job(self, kind: str, job_id: str) -> PrepJob:
        job = self._st.jobs.get(job_id)
        if job is None or job.kind != kind:
            fail(m.StatusCode.NOT_FOUND, f"no {kind.lower()} preparation job {job_id!r}",
                 code="JobNotFound", field="JobId")
        return job

    def status(self, kind: str, job_id: str) -> Any:
        job = self._job(kind, job_id)
        return _STATUS_RESULTS[kind](
            job_id=job.job_id, status=job.status, created_at=self._st.clock.at(job.created),
            updated_at=self._st.clock.at(job.updated), result=job.result, error=job.error)

    def cancel(self, kind: str, job_id: str) -> Outcome:
        job = self._job(kind, job_id)
        if job.status in (m.PreparationStatus.COMPLETED, m.PreparationStatus.FAILED):
            fail(m.StatusCode.BAD_REQUEST,
                 f"job {job_id} already finished ({job.status}); it cannot be cancelled",
                 code="JobAlreadyFinished", field="JobId")
        if job.status != m.PreparationStatus.CANCELLED:
            job = self._update(job, status=m.PreparationStatus.CANCELLED)
        return Outcome(result=m.CancelPreparationResult(job_id=job_id, status=job.status),
                       job_id=None)

    def _update(self, job: PrepJob, **changes: Any) -> PrepJob:
        job = attrs.evolve(job, updated=self._st.clock.now, **changes)
        self._st.jobs[job.job_id] = job
        self._idem.job_changed(job)
        return job

    # -- time -----------------------------------------------------------------------------

    def advance(self) -> None:
        cfg, now = self._st.config, self._st.clock.now
        for job in sorted(self._st.jobs.values(), key=lambda j: j.created):
            pending_done = now >= job.created + cfg.prepare_pending_s
            if job.status == m.PreparationStatus.PENDING and pending_done:
                job = self._update(job, status=m.PreparationStatus.RUNNING)
            if (job.status == m.PreparationStatus.RUNNING
                    and now >= job.created + cfg.prepare_pending_s + cfg.prepare_running_s):
                self._finish(job)

    def _finish(self, job: PrepJob) -> None:
        error = job.fail_with
        result: Any = None
        if error is None and not any(a.status == m.AgentStatus.CONNECTED
                                     for a in self._st.agents.values()):
            error = "no market data: no agent is connected"
        if error is None:
            try:
                result = {ENTRY: self._entry, EXIT: self._exit,
                          ADJUSTMENT: self._adjustment}[job.kind](job)
            except MesoLiveApiException as exc:
                error = exc.message or str(exc)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                error = f"invalid strategy definition: {exc}"
        if error is not None:
            job = self._update(job, status=m.PreparationStatus.FAILED, error=error)
            self._events.emit(_EVENTS[job.kind, False], job_id=job.job_id,
                              strategy_id=job.strategy_id, strategy_name=job.strategy_name,
                              broker_account_id=job.broker_account_id, error=error)
            logger.info("preparation %s failed: %s", job.job_id, error)
            return
        job = self._update(job, status=m.PreparationStatus.COMPLETED, result=result)
        self._events.emit(_EVENTS[job.kind, True], job_id=job.job_id,
                          strategy_id=job.strategy_id, strategy_name=job.strategy_name,
                          broker_account_id=job.broker_account_id, result=result)

    # -- building plans -------------------------------------------------------------------

    def _definition(self, strategy_id: int) -> dict[str, Any]:
        definition = self._st.strategy(strategy_id).definition
        return definition if isinstance(definition, dict) else {}

    def _contract(self, underlying: m.LiveUnderlying, spec: dict[str, Any]) -> m.LiveContract:
        spot = self._market.underlying(underlying.symbol)
        step = self._market.strike_step(underlying.symbol)
        if "Strike" in spec:
            strike = _dec(spec["Strike"], "Strike")
        else:
            target = spot * (1 + _dec(spec.get("StrikePct", 0), "StrikePct") / 100) \
                + _dec(spec.get("StrikeOffset", 0), "StrikeOffset")
            strike = (target / step).quantize(Decimal(1)) * step
        option_type = m.MesoOptionType(str(spec.get("OptionType", "Put")))
        return m.LiveContract(
            contract_type=m.MesoContractType.OPTIONS, underlying=underlying,
            root=underlying.symbol, option_type=option_type,
            expiration=expiry(self._st.utc, int(spec.get("Dte", 30))), strike=strike,
            multiplier=Decimal(100))

    def _unique(self, contract: m.LiveContract, taken: set[tuple[Any, ...]]) -> m.LiveContract:
        step = self._market.strike_step(contract.underlying.symbol)
        direction = -1 if contract.option_type == m.MesoOptionType.PUT else 1
        while (key := (contract.option_type, contract.expiration, contract.strike)) in taken:
            contract = msgspec.structs.replace(
                contract, strike=(contract.strike or 0) + direction * step)
        taken.add(key)
        return contract

    def _opening_legs(self, underlying: m.LiveUnderlying, specs: list[dict[str, Any]],
                      constraint: Any, account: str, existing: set[str]) -> dict[str, PlannedLeg]:
        taken: set[tuple[Any, ...]] = set()
        if constraint == m.LiveLegSelectionConstraint.FULLY_UNIQUE:
            taken = {(lg.live_contract.option_type, lg.live_contract.expiration,
                      lg.live_contract.strike) for lg in self._st.legs.values()
                     if lg.account_id == account and lg.closed_at is None}
        legs: dict[str, PlannedLeg] = {}
        for spec in specs:
            name = str(spec["Name"])
            while name in legs or name in existing:
                name += "_2"
            contract = self._contract(underlying, spec)
            if constraint in (m.LiveLegSelectionConstraint.FULLY_UNIQUE,
                              m.LiveLegSelectionConstraint.UNIQUE_IN_POSITION):
                contract = self._unique(contract, taken)
            legs[name] = PlannedLeg(name=name, contract=contract,
                                    qty_per_unit=_dec(spec["Qty"], f"Qty of leg {name}"))
        return legs

    def _proposed(self, plan: ExecPlan, name: str, position_id: int) -> m.LiveLeg:
        pl = plan.legs[name]
        if pl.closes_leg_id is not None:
            return self._st.legs[pl.closes_leg_id]
        group = next(g for g, names in plan.groups.items() if name in names)
        units = plan.qty_multiplier if plan.scales_qty else Decimal(1)
        return m.LiveLeg(
            id=0, name=name, live_contract=pl.contract, leg_group_id=group,
            created_at=self._st.utc, live_position_id=position_id,
            account_id=plan.broker_account_id, underlying=pl.contract.underlying.symbol,
            qty=pl.qty_per_unit * units, avg_entry_price=self._market.quote(pl.contract).mark)

    def _pricing(self, plan: ExecPlan, underlying: str,
                 position_legs: list[m.LiveLeg]) -> dict[str, Any]:
        """The price/greek blocks every prepare result carries."""
        mk = self._market
        units = plan.qty_multiplier if plan.scales_qty else Decimal(1)
        unit = {n: [(mk.quote(pl.contract), Decimal(1))] for n, pl in plan.legs.items()}
        group_parts = {g: [(mk.quote(plan.legs[n].contract), plan.legs[n].qty_per_unit)
                           for n in names] for g, names in plan.groups.items()}
        position_parts = mk.leg_parts(position_legs) or [
            (mk.quote(pl.contract), pl.qty_per_unit * units) for pl in plan.legs.values()]
        spot = m.LiveContract(contract_type=m.MesoContractType.INDEX,
                              underlying=m.LiveUnderlying(symbol=underlying))
        return dict(
            leg_greeks={n: mk.greeks_block(p) for n, p in unit.items()},
            leg_prices={n: mk.prices_block(p, "All") for n, p in unit.items()},
            leg_group_greeks={g: mk.greeks_block(p) for g, p in group_parts.items()},
            leg_group_prices={g: mk.prices_block(p, "All") for g, p in group_parts.items()},
            position_greeks=mk.greeks_block(position_parts),
            position_price=mk.prices_block(position_parts, "All"),
            underlying_price=mk.prices_block([(mk.quote(spot), Decimal(1))], "All"))

    def _qtys(self, plan: ExecPlan) -> dict[int, m.LegGroupQtys]:
        units = plan.qty_multiplier if plan.scales_qty else Decimal(1)
        return {g: m.LegGroupQtys(qty=units, leg_qtys={n: plan.legs[n].qty_per_unit for n in names})
                for g, names in plan.groups.items()}

    def _new_plan(self, **fields: Any) -> ExecPlan:
        plan = ExecPlan(id=self._st.ids.next("plan", 1000), **fields)
        self._st.plans[plan.id] = plan
        return plan

    def _entry(self, job: PrepJob) -> m.PreparePositionEntryResult:
        a: m.PreparePositionEntryArgs = job.args
        strategy = self._st.strategy(a.strategy_id)
        d = self._definition(a.strategy_id)
        specs = list((d.get("Structure") or {}).get("Legs") or _DEFAULT_LEGS)
        legs = self._opening_legs(a.underlying, specs, a.leg_selection_constraint,
                                  a.broker_account_id, set())
        multiplier = _dec(d.get("QtyMultiplier", 1), "QtyMultiplier")
        plan = self._new_plan(
            kind=ENTRY, broker_account_id=a.broker_account_id, strategy_id=strategy.id,
            position_name=a.position_name, legs=legs,
            groups=_chunks(list(legs), self._st.config.max_legs_per_group),
            qty_multiplier=multiplier, scales_qty=True,
            vars={str(k): _dec(v, f"Vars.{k}") for k, v in (d.get("Vars") or {}).items()})
        return m.PreparePositionEntryResult(
            exec_plan_id=plan.id, position_name=a.position_name, strategy_id=strategy.id,
            strategy_name=strategy.name, broker_account_id=a.broker_account_id,
            selected_legs={n: self._proposed(plan, n, 0) for n in legs},
            leg_groups=plan.groups, leg_group_qtys=self._qtys(plan),
            abort_conditions=tuple(m.ConditionEvaluation(name=str(s), statement=str(s),
                                                         result=False)
                                   for s in d.get("AbortConditions") or ()),
            entry_conditions=tuple(m.ConditionEvaluation(name=str(s), statement=str(s),
                                                         result=True)
                                   for s in d.get("EntryConditions") or ()),
            entry_allowed=d.get("EntryAllowed", True) is not False,
            qty_multiplier=multiplier, vars=plan.vars,
            **self._pricing(plan, a.underlying.symbol, []))

    def _closing(self, legs: list[m.LiveLeg]) -> dict[str, PlannedLeg]:
        return {lg.name: PlannedLeg(name=lg.name, contract=lg.live_contract, qty_per_unit=-lg.qty,
                                    closes_leg_id=lg.id) for lg in legs}

    def _exit(self, job: PrepJob) -> m.PreparePositionExitResult:
        a: m.PreparePositionExitArgs = job.args
        pos = self._st.open_position(a.position_id)
        open_legs = sorted(self._st.open_legs(pos.id), key=lambda lg: lg.id)
        legs = self._closing(open_legs)
        plan = self._new_plan(
            kind=EXIT, broker_account_id=pos.broker_account_id, strategy_id=pos.live_strategy_id,
            position_name=pos.name, legs=legs,
            groups=_chunks(list(legs), self._st.config.max_legs_per_group),
            qty_multiplier=Decimal(1), scales_qty=False, position_id=pos.id,
            vars=dict(self._st.position_vars.get(pos.id, {})))
        return m.PreparePositionExitResult(
            exec_plan_id=plan.id, position_id=pos.id, position_name=pos.name,
            strategy_id=pos.live_strategy_id, strategy_name=pos.strategy_name,
            broker_account_id=pos.broker_account_id,
            position_legs={lg.name: lg for lg in open_legs}, leg_groups=plan.groups,
            leg_group_qtys=self._qtys(plan), vars=plan.vars,
            **self._pricing(plan, open_legs[0].underlying if open_legs else "SPX", open_legs))

    def _adjustment(self, job: PrepJob) -> m.PreparePositionAdjustmentResult:
        a: m.PreparePositionAdjustmentArgs = job.args
        pos = self._st.open_position(a.position_id)
        open_legs = sorted(self._st.open_legs(pos.id), key=lambda lg: lg.id)
        if not open_legs:
            fail(m.StatusCode.BAD_REQUEST, f"position {pos.id} has no open legs")
        d = self._definition(pos.live_strategy_id)
        spec: dict[str, Any] = next(
            (s for s in d.get("Adjustments") or () if s.get("Condition") == a.condition
             and s.get("Operation", str(a.operation)) == str(a.operation)), {})
        op = str(a.operation)
        underlying = m.LiveUnderlying(symbol=open_legs[0].underlying)
        by_name = {lg.name: lg for lg in open_legs}
        all_names = {lg.name for lg in self._st.legs.values() if lg.live_position_id == pos.id}
        new_vars = dict(self._st.position_vars.get(pos.id, {}))
        legs: dict[str, PlannedLeg] = {}
        scales, multiplier = False, Decimal(1)
        if op == m.PositionAdjustmentOperation.UPDATE_VARS:
            updates = spec.get("Vars") or {"AdjustmentCount": new_vars.get(
                "AdjustmentCount", Decimal(0)) + 1}
            new_vars.update({str(k): _dec(v, f"Vars.{k}") for k, v in updates.items()})
        elif op == m.PositionAdjustmentOperation.ADD_LEGS:
            specs = spec.get("Legs") or [{"Name": "hedge", "Qty": 1, "OptionType": "Put",
                                          "StrikePct": -10, "Dte": 30}]
            legs = self._opening_legs(underlying, specs, a.leg_selection_constraint,
                                      pos.broker_account_id, all_names)
            scales, multiplier = True, pos.qty_multiplier or Decimal(1)
        elif op == m.PositionAdjustmentOperation.REMOVE_LEGS:
            names = spec.get("LegNames") or [open_legs[-1].name]
            legs = self._closing([self._named(by_name, n, pos.id) for n in names])
        else:  # MoveLeg: close one leg, open the same option further out of the money
            old = self._named(by_name, (spec.get("LegNames") or [open_legs[0].name])[0], pos.id)
            step = self._market.strike_step(old.underlying)
            shift = _dec(spec["StrikeShift"], "StrikeShift") if "StrikeShift" in spec else (
                -2 * step if old.live_contract.option_type == m.MesoOptionType.PUT else 2 * step)
            new_name = old.name + "_moved"
            while new_name in all_names:
                new_name += "_2"
            legs = self._closing([old])
            moved = msgspec.structs.replace(
                old.live_contract, strike=(old.live_contract.strike or 0) + shift)
            legs[new_name] = PlannedLeg(name=new_name, qty_per_unit=old.qty, contract=moved)
        plan = self._new_plan(
            kind=ADJUSTMENT, operation=op, broker_account_id=pos.broker_account_id,
            strategy_id=pos.live_strategy_id, position_name=pos.name, legs=legs,
            groups=_chunks(list(legs), self._st.config.max_legs_per_group),
            qty_multiplier=multiplier, scales_qty=scales, position_id=pos.id, vars=new_vars)
        if op == m.PositionAdjustmentOperation.UPDATE_VARS:
            # applied on the server, no orders (read)
            self._st.position_vars[pos.id] = new_vars
            self._events.emit(m.PositionUpdateEvent, position_id=pos.id,
                              strategy_id=pos.live_strategy_id, strategy_name=pos.strategy_name,
                              position_name=pos.name, broker_account_id=pos.broker_account_id,
                              status=m.PositionStatus.ADJUSTED,
                              realized_pnl=self._realized(pos.id))
        return m.PreparePositionAdjustmentResult(
            exec_plan_id=plan.id, operation=a.operation, condition=a.condition,
            position_id=pos.id, position_name=pos.name, strategy_id=pos.live_strategy_id,
            strategy_name=pos.strategy_name, broker_account_id=pos.broker_account_id,
            order_legs={n: self._proposed(plan, n, pos.id) for n in legs},
            leg_groups=plan.groups, leg_group_qtys=self._qtys(plan), vars=new_vars,
            qty_multiplier=multiplier if scales else None, adjustment_allowed=True,
            **self._pricing(plan, underlying.symbol, open_legs))

    def _named(self, by_name: dict[str, m.LiveLeg], name: str, position_id: int) -> m.LiveLeg:
        if name not in by_name:
            fail(m.StatusCode.BAD_REQUEST, f"position {position_id} has no open leg {name!r}")
        return by_name[name]

    def _realized(self, position_id: int) -> Decimal:
        total = Decimal(0)
        for lg in self._st.legs.values():
            if lg.live_position_id == position_id:
                total += (lg.tracked_realized_pnl or 0) + (lg.user_set_realized_pnl or 0)
        return total
