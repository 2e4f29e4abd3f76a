"""The simulated MesoLive platform: every catalogue method as a plain Python method.

:class:`MesoLiveDomain` is sans-IO and deterministic: time moves only through
:meth:`~MesoLiveDomain.advance` and ids come from a seeded generator. Each hub method is a
method named like the SDK (``SendOrder`` -> :meth:`~MesoLiveDomain.send_order`) taking the
argument model and returning the result model, or raising
:class:`~sessionkit_mesolive._errors.MesoLiveApiException` with the status a server would
answer. :meth:`~MesoLiveDomain.call` dispatches by wire name through the catalogue.

A transport (the hub server) wires it up: it calls methods, sends
:meth:`~MesoLiveDomain.take_deliveries` as callbacks, polls streams, and calls ``advance``
on a timer. :class:`~.domain_state.CallTimedOutError` means "send no answer" (fault injection).

>>> from sessionkit_mesolive import models as m
>>> d = MesoLiveDomain.with_defaults(seed=1)
>>> d.get_account(m.GetAccountArgs(broker_account_id="ML1234")).is_paper_account
True
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec

from .. import models as m
from .._catalogue import METHODS, HubMethod
from .domain_events import Delivery, EventLog
from .domain_execution import Execution
from .domain_idempotency import IdempotencyTable
from .domain_jobs import ADJUSTMENT, ENTRY, EXIT, Preparation
from .domain_market import Market, StreamBatch
from .domain_state import (
    CallTimedOutError,
    Clock,
    DomainConfig,
    DomainState,
    Faults,
    Ids,
    fail,
    page,
    sorted_values,
)

__all__ = ["MesoLiveDomain", "DomainConfig", "Faults", "Delivery", "CallTimedOutError",
           "StreamBatch", "DEFAULT_START"]

logger = logging.getLogger(__name__)

DEFAULT_START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
"""Wall-clock time of ``now`` at construction unless told otherwise."""


class MesoLiveDomain:
    """In-memory MesoLive broker platform (one user)."""

    def __init__(self, *, config: DomainConfig | None = None, seed: int = 0, now: float = 0.0,
                 start: datetime = DEFAULT_START) -> None:
        self.state = DomainState(config=config or DomainConfig(), clock=Clock(start, now),
                                 ids=Ids(random.Random(seed)))
        self.events = EventLog(self.state)
        self.idempotency = IdempotencyTable(self.state)
        self.market = Market(self.state)
        self.preparation = Preparation(self.state, self.events, self.market, self.idempotency)
        self.execution = Execution(self.state, self.events, self.market)
        self._streams: dict[int, str] = {}

    @classmethod
    def with_defaults(cls, **kwargs: Any) -> MesoLiveDomain:
        """A platform with a paper account ``ML1234``, a live IBKR account ``U1234567``, a
        connected IBKR agent and strategy 1 (an SPX put spread) active on both accounts."""
        d = cls(**kwargs)
        d.add_account("ML1234", is_paper=True)
        d.add_account("U1234567", is_paper=False, broker_type=m.BrokerType.IBKR)
        d.set_agent_status(m.AgentConnector.IBKR, m.AgentStatus.CONNECTED, "connected")
        d.create_strategy(m.CreateStrategyArgs(
            name="SPX Put Spread", definition={"QtyMultiplier": 1},
            active_on_accounts=("ML1234", "U1234567")))
        return d

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def now(self) -> float:
        return self.state.clock.now

    @property
    def utc(self) -> datetime:
        return self.state.utc

    def advance(self, now: float) -> None:
        """Move time to ``now``: finish stalled calls, progress jobs, fill orders, feed streams."""
        self.state.clock.set(now)
        self.idempotency.advance()
        self.preparation.advance()
        self.execution.advance()
        self.market.advance()

    def call(self, method: str, args: Any, *, connection_id: str = "default") -> Any:
        """Run hub method ``method`` (wire name) with its argument model.

        Stream methods return a stream id to poll with :meth:`poll_stream`.
        """
        spec = METHODS.get(method)
        if spec is None:
            raise KeyError(f"unknown hub method {method!r}")
        if not isinstance(args, spec.args_type):
            raise TypeError(f"{method} takes {spec.args_type.__name__}, got {type(args).__name__}")
        fn = getattr(self, spec.python_name)
        if spec.name in ("SubscribeToStrategies", "UnsubscribeFromStrategies"):
            return fn(args, connection_id=connection_id)
        return fn(args)

    def take_deliveries(self) -> list[Delivery]:
        """Callbacks to send: ``(connection_id, target, payload)`` in order."""
        return self.events.take_deliveries()

    def connect(self, connection_id: str) -> list[Delivery]:
        """An Event Hub connection opened: its active signals/errors are queued (and returned)."""
        return self.events.connect(connection_id)

    def disconnect(self, connection_id: str) -> None:
        self.events.disconnect(connection_id)

    # -- set-up and scenario hooks ----------------------------------------------------------

    def add_account(self, broker_account_id: str, *, is_paper: bool,
                    broker_type: m.BrokerType | str = m.BrokerType.IBKR, currency: str = "USD",
                    account_type: str = "Individual",
                    net_liquidation_value: Decimal = Decimal("100000")) -> m.LiveAccount:
        account = m.LiveAccount(
            broker_account_id=broker_account_id, broker_type=broker_type,
            account_type=account_type, currency=currency, is_paper_account=is_paper,
            net_liquidation_value=net_liquidation_value, maintenance_margin_req=Decimal(0),
            cash=net_liquidation_value, last_updated=self.utc, created_at=self.utc)
        self.state.accounts[broker_account_id] = account
        return account

    def set_agent_status(self, connector: m.AgentConnector | str, status: m.AgentStatus | str,
                         message: str = "") -> m.AgentStatusEvent:
        """Change an agent's status and emit the agent-status event. Jobs fail without one."""
        self.state.agents[str(connector)] = m.AgentInfo(
            connector=connector, status=status,
            last_snapshot_time=self.utc if status == m.AgentStatus.CONNECTED else None)
        payload: m.AgentStatusEvent = self.events.emit(
            m.AgentStatusEvent, status=status, message=message, connector=connector)
        return payload

    def set_underlying_price(self, symbol: str, price: Decimal) -> None:
        self.market.set_price(symbol, price)

    def raise_entry_signal(self, strategy_id: int, broker_account_id: str,
                           state: m.SignalState = m.SignalState.ON,
                           result: m.EntrySignalsResult | None = None) -> m.EntrySignalEvent:
        strategy = self.state.strategy(strategy_id)
        event: m.EntrySignalEvent = self.events.emit(
            m.EntrySignalEvent, state=state, strategy_id=strategy.id, strategy_name=strategy.name,
            broker_account_id=broker_account_id, entry_signal_result=result)
        return event

    def raise_exit_signal(self, position_id: int,
                          state: m.SignalState = m.SignalState.ON) -> m.ExitSignalEvent:
        pos = self.state.position(position_id)
        event: m.ExitSignalEvent = self.events.emit(
            m.ExitSignalEvent, state=state, strategy_id=pos.live_strategy_id,
            strategy_name=pos.strategy_name, position_id=pos.id, position_name=pos.name,
            broker_account_id=pos.broker_account_id)
        return event

    def raise_adjustment_signal(self, position_id: int, condition: str,
                                state: m.SignalState = m.SignalState.ON,
                                time_ok: bool = True) -> m.AdjustmentSignalEvent:
        pos = self.state.position(position_id)
        event: m.AdjustmentSignalEvent = self.events.emit(
            m.AdjustmentSignalEvent, state=state, strategy_id=pos.live_strategy_id,
            strategy_name=pos.strategy_name, position_id=pos.id, position_name=pos.name,
            adjustment_time_ok=time_ok, broker_account_id=pos.broker_account_id,
            condition=m.ConditionEvaluation(name=condition, statement=condition, result=True))
        return event

    def raise_error(self, message: str, *, strategy_id: int | None = None,
                    position_id: int | None = None, error_id: UUID | None = None,
                    state: m.ErrorState = m.ErrorState.RAISED,
                    condition_type: m.ConditionType | None = None,
                    statement: str | None = None) -> m.ErrorEvent:
        """Raise (or clear, with ``state=Cleared`` and the same ``error_id``) an error."""
        pos = self.state.position(position_id) if position_id is not None else None
        if pos is not None:
            strategy_id = pos.live_strategy_id
        strategy = self.state.strategy(strategy_id) if strategy_id is not None else None
        event: m.ErrorEvent = self.events.emit(
            m.ErrorEvent, state=state, error_id=error_id or self.state.ids.uuid(),
            strategy_id=strategy_id, strategy_name=strategy.name if strategy else None,
            position_id=position_id, position_name=pos.name if pos else None,
            broker_account_id=pos.broker_account_id if pos else None, message=message,
            condition_type=condition_type, statement=statement)
        return event

    # -- Control Hub: idempotency, agents, accounts -----------------------------------------

    def get_idempotency_record(self, a: m.GetIdempotencyRecordArgs) -> m.IdempotencyRecord:
        return self.idempotency.get(a)

    def list_agents(self, a: m.ListAgentsArgs) -> tuple[m.AgentInfo, ...]:
        return tuple(sorted_values(self.state.agents))

    def _account_view(self, account: m.LiveAccount) -> m.LiveAccount:
        active = sum(1 for p in self.state.positions.values()
                     if p.broker_account_id == account.broker_account_id
                     and p.state == m.LivePositionState.OPEN)
        return msgspec.structs.replace(account, active_positions=active)

    def list_accounts(self, a: m.ListAccountsArgs) -> m.ListAccountsResult:
        items, token = page([self._account_view(x) for x in sorted_values(self.state.accounts)],
                            a.continuation_token, a.limit, self.state.config)
        return m.ListAccountsResult(accounts=items, continuation_token=token)

    def get_account(self, a: m.GetAccountArgs) -> m.LiveAccount:
        return self._account_view(self.state.account(a.broker_account_id))

    # -- Control Hub: strategies ---------------------------------------------------------------

    def _check_accounts(self, accounts: tuple[str, ...] | None) -> tuple[str, ...]:
        unknown = [x for x in accounts or () if x not in self.state.accounts]
        if unknown:
            fail(m.StatusCode.BAD_REQUEST, f"unknown accounts in ActiveOnAccounts: {unknown}",
                 code="AccountNotFound", field="ActiveOnAccounts")
        return tuple(accounts or ())

    @staticmethod
    def _check_definition(definition: Any) -> dict[str, Any]:
        if not isinstance(definition, dict):
            fail(m.StatusCode.BAD_REQUEST, "Definition must be a JSON object",
                 code="ValidationFailed", field="Definition")
        return definition

    def create_strategy(self, a: m.CreateStrategyArgs) -> m.LiveStrategy:
        if a.clone_strategy_id is not None:
            definition = self.state.strategy(a.clone_strategy_id).definition
        elif a.definition is not None:
            definition = self._check_definition(a.definition)
        elif a.backtest_id is not None:
            definition = {"BacktestId": a.backtest_id, "MesoSimInstance": a.meso_sim_instance}
        else:
            fail(m.StatusCode.BAD_REQUEST, "one of Definition, CloneStrategyId or BacktestId "
                 "is required", code="ValidationFailed", field="Definition")
        accounts = self._check_accounts(a.active_on_accounts)
        sid = self.state.ids.next("strategy")
        name = a.name or (definition.get("Name") if isinstance(definition, dict) else None)
        strategy = m.LiveStrategy(id=sid, name=str(name or f"Strategy {sid}"),
                                  definition=definition, active_on_accounts=accounts,
                                  created_at=self.utc, updated_at=self.utc)
        self.state.strategies[sid] = strategy
        return strategy

    def update_strategy(self, a: m.UpdateStrategyArgs) -> m.LiveStrategy:
        strategy = self.state.strategy(a.strategy_id)
        changes: dict[str, Any] = {"updated_at": self.utc}
        if a.definition is not None:
            changes["definition"] = self._check_definition(a.definition)
        if a.active_on_accounts is not None:
            changes["active_on_accounts"] = self._check_accounts(a.active_on_accounts)
        strategy = msgspec.structs.replace(strategy, **changes)
        self.state.strategies[strategy.id] = strategy
        return strategy

    def rename_strategy(self, a: m.RenameStrategyArgs) -> m.LiveStrategy:
        strategy = self.state.strategy(a.strategy_id)
        if not a.name.strip():
            fail(m.StatusCode.BAD_REQUEST, "Name must not be blank", code="ValidationFailed",
                 field="Name")
        strategy = msgspec.structs.replace(strategy, name=a.name, updated_at=self.utc)
        self.state.strategies[strategy.id] = strategy
        return strategy

    def delete_strategy(self, a: m.DeleteStrategyArgs) -> m.DeleteStrategyResult:
        self.state.strategy(a.strategy_id)
        if any(p.live_strategy_id == a.strategy_id and p.state == m.LivePositionState.OPEN
               for p in self.state.positions.values()):
            fail(m.StatusCode.BAD_REQUEST, f"strategy {a.strategy_id} has open positions",
                 code="StrategyHasOpenPositions")
        del self.state.strategies[a.strategy_id]
        return m.DeleteStrategyResult(strategy_id=a.strategy_id)

    def list_strategies(self, a: m.ListStrategiesArgs) -> m.ListStrategiesResult:
        wanted = set(a.active_on_accounts or ())
        found = [s for s in sorted_values(self.state.strategies)
                 if not wanted or wanted & set(s.active_on_accounts)]
        items, token = page(found, a.continuation_token, a.limit, self.state.config)
        return m.ListStrategiesResult(strategies=items, continuation_token=token)

    def get_strategy(self, a: m.GetStrategyArgs) -> m.LiveStrategy:
        return self.state.strategy(a.strategy_id)

    # -- Control Hub: positions, legs, orders ------------------------------------------------

    def list_positions(self, a: m.ListPositionsArgs) -> m.ListPositionsResult:
        plan_pos = None
        if a.live_exec_plan_id is not None:
            plan = self.state.plans.get(a.live_exec_plan_id)
            plan_pos = plan.position_id if plan else None
        found = [p for p in sorted_values(self.state.positions)
                 if (a.live_strategy_id is None or p.live_strategy_id == a.live_strategy_id)
                 and (a.broker_account_id is None or p.broker_account_id == a.broker_account_id)
                 and (a.live_exec_plan_id is None or p.id == plan_pos)]
        items, token = page(found, a.continuation_token, a.limit, self.state.config)
        return m.ListPositionsResult(positions=items, continuation_token=token)

    def get_position(self, a: m.GetPositionArgs) -> m.LivePositionDetails:
        pos = self.state.position(a.position_id)
        legs = [lg for lg in sorted_values(self.state.legs) if lg.live_position_id == pos.id]
        parts = self.market.leg_parts(legs)
        return m.LivePositionDetails(
            position=pos, legs=tuple(legs), vars=dict(self.state.position_vars.get(pos.id, {})),
            prices=self.market.prices_block(parts, "All"), greeks=self.market.greeks_block(parts),
            pnl=self.market.pnl_block(legs, "All"))

    def list_legs(self, a: m.ListLegsArgs) -> m.ListLegsResult:
        if a.position_id is not None:
            self.state.position(a.position_id)
        found = [lg for lg in sorted_values(self.state.legs)
                 if a.position_id is None or lg.live_position_id == a.position_id]
        items, token = page(found, a.continuation_token, a.limit, self.state.config)
        return m.ListLegsResult(legs=items, continuation_token=token)

    def get_leg(self, a: m.GetLegArgs) -> m.LiveLeg:
        return self.state.leg(a.leg_id)

    def get_legs(self, a: m.GetLegsArgs) -> tuple[m.LiveLeg, ...]:
        return tuple(self.state.leg(i) for i in a.leg_ids)

    def get_order(self, a: m.GetOrderArgs) -> m.Order:
        return self.state.order(a.order_id)

    def list_orders(self, a: m.ListOrdersArgs) -> tuple[m.Order, ...]:
        def plan_position(o: m.Order) -> int | None:
            return self.state.plans[o.exec_plan_id].position_id

        return tuple(o for o in sorted_values(self.state.orders)
                     if (a.broker_account_id is None or o.broker_account_id == a.broker_account_id)
                     and (a.exec_plan_id is None or o.exec_plan_id == a.exec_plan_id)
                     and (a.position_id is None or plan_position(o) == a.position_id))

    # -- Control Hub: preparation (idempotent starts and cancels) ----------------------------

    def start_prepare_position_entry(
            self, a: m.PreparePositionEntryArgs) -> m.StartPreparationResult:
        result: m.StartPreparationResult = self.idempotency.run(
            "StartPreparePositionEntry", a, lambda: self.preparation.start_entry(a))
        return result

    def get_prepare_position_entry_status(
            self, a: m.GetPreparePositionEntryStatusArgs) -> m.GetPreparePositionEntryStatusResult:
        result: m.GetPreparePositionEntryStatusResult = self.preparation.status(ENTRY, a.job_id)
        return result

    def cancel_prepare_position_entry(
            self, a: m.CancelPreparePositionEntryArgs) -> m.CancelPreparationResult:
        result: m.CancelPreparationResult = self.idempotency.run(
            "CancelPreparePositionEntry", a, lambda: self.preparation.cancel(ENTRY, a.job_id))
        return result

    def start_prepare_position_exit(self, a: m.PreparePositionExitArgs) -> m.StartPreparationResult:
        result: m.StartPreparationResult = self.idempotency.run(
            "StartPreparePositionExit", a, lambda: self.preparation.start_exit(a))
        return result

    def get_prepare_position_exit_status(
            self, a: m.GetPreparePositionExitStatusArgs) -> m.GetPreparePositionExitStatusResult:
        result: m.GetPreparePositionExitStatusResult = self.preparation.status(EXIT, a.job_id)
        return result

    def cancel_prepare_position_exit(
            self, a: m.CancelPreparePositionExitArgs) -> m.CancelPreparationResult:
        result: m.CancelPreparationResult = self.idempotency.run(
            "CancelPreparePositionExit", a, lambda: self.preparation.cancel(EXIT, a.job_id))
        return result

    def start_prepare_position_adjustment(
            self, a: m.PreparePositionAdjustmentArgs) -> m.StartPreparationResult:
        result: m.StartPreparationResult = self.idempotency.run(
            "StartPreparePositionAdjustment", a, lambda: self.preparation.start_adjustment(a))
        return result

    def get_prepare_position_adjustment_status(
            self, a: m.GetPreparePositionAdjustmentStatusArgs,
    ) -> m.GetPreparePositionAdjustmentStatusResult:
        result: m.GetPreparePositionAdjustmentStatusResult = self.preparation.status(
            ADJUSTMENT, a.job_id)
        return result

    def cancel_prepare_position_adjustment(
            self, a: m.CancelPreparePositionAdjustmentArgs) -> m.CancelPreparationResult:
        result: m.CancelPreparationResult = self.idempotency.run(
            "CancelPreparePositionAdjustment", a,
            lambda: self.preparation.cancel(ADJUSTMENT, a.job_id))
        return result

    # -- Control Hub: execution ----------------------------------------------------------------

    def send_order(self, a: m.SendOrderArgs) -> m.SendOrderResult:
        result: m.SendOrderResult = self.idempotency.run(
            "SendOrder", a, lambda: self.execution.send_order(a))
        return result

    def cancel_order(self, a: m.CancelOrderArgs) -> m.CancelOrderResult:
        result: m.CancelOrderResult = self.idempotency.run(
            "CancelOrder", a, lambda: self.execution.cancel_order(a))
        return result

    def apply_paper_fills(self, a: m.ApplyPaperFillsArgs) -> m.ApplyPaperFillsResult:
        result: m.ApplyPaperFillsResult = self.idempotency.run(
            "ApplyPaperFills", a, lambda: self.execution.apply_paper_fills(a))
        return result

    # -- Data Hub ------------------------------------------------------------------------------

    def get_position_snapshot(self, a: m.StreamPositionDataArgs) -> m.PositionDataEntry:
        return self.market.position_snapshot(a)

    def get_leg_snapshot(self, a: m.StreamLegDataArgs) -> m.LegDataEntry:
        return self.market.leg_snapshot(a)

    def get_legs_snapshot(self, a: m.StreamLegsDataArgs) -> m.LegsDataEntry:
        return self.market.legs_snapshot(a)

    def get_underlying_snapshot(self, a: m.StreamUnderlyingDataArgs) -> m.UnderlyingDataEntry:
        return self.market.underlying_snapshot(a)

    def get_contract_snapshot(self, a: m.StreamContractDataArgs) -> m.ContractDataEntry:
        return self.market.contract_snapshot(a)

    def get_combo_contracts_snapshot(
            self, a: m.StreamComboContractsDataArgs) -> m.ComboContractsDataEntry:
        return self.market.combo_snapshot(a)

    def _open_stream(self, spec: HubMethod, snapshot: Any) -> int:
        stream_id = self.state.ids.next("stream")
        self.market.open_stream(stream_id, spec.name, snapshot)
        self._streams[stream_id] = spec.name
        return stream_id

    def stream_position_data(self, a: m.StreamPositionDataArgs) -> int:
        """Open a position stream; returns the stream id for :meth:`poll_stream`."""
        return self._open_stream(METHODS["StreamPositionData"],
                                 lambda: self.market.position_snapshot(a))

    def stream_leg_data(self, a: m.StreamLegDataArgs) -> int:
        return self._open_stream(METHODS["StreamLegData"], lambda: self.market.leg_snapshot(a))

    def stream_legs_data(self, a: m.StreamLegsDataArgs) -> int:
        return self._open_stream(METHODS["StreamLegsData"], lambda: self.market.legs_snapshot(a))

    def stream_underlying_data(self, a: m.StreamUnderlyingDataArgs) -> int:
        return self._open_stream(METHODS["StreamUnderlyingData"],
                                 lambda: self.market.underlying_snapshot(a))

    def stream_contract_data(self, a: m.StreamContractDataArgs) -> int:
        return self._open_stream(METHODS["StreamContractData"],
                                 lambda: self.market.contract_snapshot(a))

    def stream_combo_contracts_data(self, a: m.StreamComboContractsDataArgs) -> int:
        return self._open_stream(METHODS["StreamComboContractsData"],
                                 lambda: self.market.combo_snapshot(a))

    def poll_stream(self, stream_id: int) -> StreamBatch:
        """Items produced since the last poll (oldest dropped if the reader fell behind)."""
        return self.market.take(stream_id)

    def close_stream(self, stream_id: int) -> None:
        """The client cancelled (CancelInvocation) or went away."""
        self._streams.pop(stream_id, None)
        self.market.close_stream(stream_id)

    # -- Event Hub -------------------------------------------------------------------------------

    def subscribe_to_strategies(self, a: m.SubscribeToStrategiesArgs, *,
                                connection_id: str = "default") -> m.SubscribeToStrategiesResult:
        return self.events.subscribe(a, connection_id)

    def unsubscribe_from_strategies(
            self, a: m.UnsubscribeFromStrategiesArgs, *,
            connection_id: str = "default") -> m.UnsubscribeFromStrategiesResult:
        return self.events.unsubscribe(a, connection_id)

    def get_latest_event_seq_id(self, a: m.GetLatestEventSeqIdArgs) -> m.GetLatestEventSeqIdResult:
        return self.events.latest()

    def get_events_since(self, a: m.GetEventsSinceArgs) -> m.GetEventsSinceResult:
        return self.events.since(a)
