"""A hypothesis state machine over the simulated platform.

Random interleavings of prepares, executions, cancels, retries with reused keys, lost answers,
stalls, failing jobs, signals and time. Checked after every step: no intent runs twice (per
idempotency key, per leg group, per closed leg), a reused key never executes again, and the
event log's sequence ids strictly increase with unique event ids, as a replaying client sees.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sessionkit_mesolive import models as m
from sessionkit_mesolive._errors import MesoLiveApiException
from sessionkit_mesolive.sim.domain import CallTimedOutError, DomainConfig, MesoLiveDomain

PAPER, LIVE = "ML1234", "U1234567"
KEYS = st.sampled_from([f"key{i}" for i in range(20)])
IDEMPOTENT = ("StartPreparePositionEntry", "StartPreparePositionExit", "SendOrder",
              "ApplyPaperFills", "CancelOrder", "CancelPreparePositionEntry")


class DomainMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.d = MesoLiveDomain.with_defaults(
            seed=3, config=DomainConfig(max_legs_per_group=1, seq_gap_probability=0.3,
                                        prepare_pending_s=0.1, prepare_running_s=0.4,
                                        fill_delay_s=0.3))
        self.t = 0.0
        self.sent: dict[tuple[str, str], Any] = {}
        self.cursor = 0
        self.replayed: list[int] = []

    # -- calling with the key bookkeeping ------------------------------------------------

    def call(self, method: str, args: Any) -> Any:
        key = (method, args.idempotency_key)
        prior = self.sent.get(key)
        self.sent.setdefault(key, args)
        try:
            result = self.d.call(method, args)
        except CallTimedOutError:
            assert prior is None, f"{key} was reused but ran again (timed out after effect)"
            return None
        except MesoLiveApiException as exc:
            if prior is not None:
                expected = {m.StatusCode.DUPLICATE_REQUEST, m.StatusCode.CONFLICT}
                if prior != args:
                    expected = {m.StatusCode.CONFLICT}
                assert exc.status in expected, (key, exc)
            return None
        assert prior is None, f"{key} was reused but executed again"
        return result

    # -- rules ---------------------------------------------------------------------------

    @rule(dt=st.floats(min_value=0.0, max_value=2.0))
    def advance(self, dt: float) -> None:
        self.t += dt
        self.d.advance(self.t)

    @rule(key=KEYS, account=st.sampled_from([PAPER, LIVE]))
    def start_entry(self, key: str, account: str) -> None:
        self.call("StartPreparePositionEntry", m.PreparePositionEntryArgs(
            idempotency_key=key, position_name=f"P-{key}", strategy_id=1,
            broker_account_id=account,
            leg_selection_constraint=m.LiveLegSelectionConstraint.FULLY_UNIQUE,
            underlying=m.LiveUnderlying(symbol="SPX")))

    @precondition(lambda self: any(p.state == m.LivePositionState.OPEN
                                   for p in self.d.state.positions.values()))
    @rule(key=KEYS, data=st.data())
    def start_exit(self, key: str, data: st.DataObject) -> None:
        pos = data.draw(st.sampled_from(sorted(self.d.state.positions)))
        self.call("StartPreparePositionExit",
                  m.PreparePositionExitArgs(idempotency_key=key, position_id=pos))

    @precondition(lambda self: bool(self.d.state.jobs))
    @rule(key=KEYS, data=st.data(), chance=st.integers(0, 3))
    def cancel_job(self, key: str, data: st.DataObject, chance: int) -> None:
        if chance < 3:  # cancel only now and then, or few jobs would ever complete
            return
        job = data.draw(st.sampled_from(sorted(self.d.state.jobs)))
        self.call("CancelPreparePositionEntry",
                  m.CancelPreparePositionEntryArgs(idempotency_key=key, job_id=job))

    @precondition(lambda self: bool(self.d.state.plans))
    @rule(key=KEYS, data=st.data(), whole_plan=st.booleans(),
          stop=st.booleans(), units=st.sampled_from([None, Decimal(2)]))
    def execute(self, key: str, data: st.DataObject, whole_plan: bool, stop: bool,
                units: Decimal | None) -> None:
        plan = self.d.state.plans[data.draw(st.sampled_from(sorted(self.d.state.plans)))]
        group = data.draw(st.sampled_from(sorted(plan.groups) or [1]))
        if plan.broker_account_id == PAPER:
            self.call("ApplyPaperFills", m.ApplyPaperFillsArgs(
                idempotency_key=key, broker_account_id=PAPER, exec_plan_id=plan.id,
                leg_group_id=None if whole_plan else group, qty_multiplier=units))
        else:
            order = m.LegGroupOrder(order_type=m.OrderType.STOP, stop_price=Decimal(1)) if stop \
                else m.LegGroupOrder(order_type=m.OrderType.MARKET)
            self.call("SendOrder", m.SendOrderArgs(
                idempotency_key=key, broker_account_id=LIVE, exec_plan_id=plan.id,
                leg_group_id=group, leg_group_order=order, qty_multiplier=units))

    @precondition(lambda self: bool(self.d.state.plans))
    @rule(key=KEYS)
    def execute_newest_plan(self, key: str) -> None:
        plan = self.d.state.plans[max(self.d.state.plans)]
        for group in sorted(plan.groups):
            if plan.broker_account_id == PAPER:
                self.call("ApplyPaperFills", m.ApplyPaperFillsArgs(
                    idempotency_key=f"{key}-{group}", broker_account_id=PAPER,
                    exec_plan_id=plan.id, leg_group_id=group))
            else:
                self.call("SendOrder", m.SendOrderArgs(
                    idempotency_key=f"{key}-{group}", broker_account_id=LIVE,
                    exec_plan_id=plan.id, leg_group_id=group,
                    leg_group_order=m.LegGroupOrder(order_type=m.OrderType.MARKET)))

    @precondition(lambda self: bool(self.d.state.orders))
    @rule(key=KEYS, data=st.data())
    def cancel_order(self, key: str, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(sorted(self.d.state.orders)))
        self.call("CancelOrder", m.CancelOrderArgs(idempotency_key=key, order_id=order))

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def retry_exactly(self, data: st.DataObject) -> None:
        method, key = data.draw(st.sampled_from(sorted(self.sent)))
        self.call(method, self.sent[method, key])

    @precondition(lambda self: not (self.d.faults.timeouts and any(self.d.faults.timeouts.values()))
                  and not self.d.faults.stalls)
    @rule(method=st.sampled_from(IDEMPOTENT), stall=st.booleans())
    def lose_next_answer(self, method: str, stall: bool) -> None:
        if stall:
            self.d.faults.stall_next(method, 1.5)
        else:
            self.d.faults.time_out_after_effect(method)

    @precondition(lambda self: not self.d.faults.failing_jobs)
    @rule(kind=st.sampled_from([None, "Entry", "Exit"]))
    def fail_next_job(self, kind: str | None) -> None:
        self.d.faults.fail_next_job(kind, "injected")

    @rule(on=st.booleans())
    def entry_signal(self, on: bool) -> None:
        self.d.raise_entry_signal(1, PAPER, m.SignalState.ON if on else m.SignalState.OFF)

    @rule(page=st.integers(min_value=1, max_value=4))
    def replay_page(self, page: int) -> None:
        res = self.d.get_events_since(m.GetEventsSinceArgs(event_seq_id=self.cursor,
                                                           max_events=page))
        seqs = [r.event_seq_id for r in res.events]
        assert all(s > self.cursor for s in seqs)
        assert seqs == sorted(set(seqs))
        self.replayed.extend(seqs)
        self.cursor = res.last_event_seq_id

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def each_key_executes_at_most_once(self) -> None:
        assert all(n == 1 for n in self.d.idempotency.executions.values())

    @invariant()
    def each_leg_group_and_leg_is_executed_at_most_once(self) -> None:
        st_ = self.d.state
        filled = [o for o in st_.orders.values() if o.state == m.OrderState.FILLED]
        per_group = Counter((o.exec_plan_id, o.leg_group_id) for o in filled)
        assert max(per_group.values(), default=0) <= 1
        closes = Counter(
            st_.plans[o.exec_plan_id].legs[n].closes_leg_id for o in filled
            for n in st_.plans[o.exec_plan_id].groups[o.leg_group_id]
            if st_.plans[o.exec_plan_id].legs[n].closes_leg_id is not None)
        assert max(closes.values(), default=0) <= 1
        working = Counter((o.exec_plan_id, o.leg_group_id) for o in st_.orders.values()
                          if isinstance(o.state, m.OrderState) and o.state.is_working)
        assert all(per_group[g] + working[g] <= 1 for g in working)

    @invariant()
    def positions_are_consistent(self) -> None:
        for pos in self.d.state.positions.values():
            has_open = bool(self.d.state.open_legs(pos.id))
            assert has_open == (pos.state == m.LivePositionState.OPEN)

    @invariant()
    def event_sequence_is_strictly_increasing(self) -> None:
        events = self.d.events.events()
        seqs = [e.seq for e in events]
        assert all(a < b for a, b in pairwise(seqs))
        assert len({e.payload.event_id for e in events}) == len(events)
        assert self.replayed == sorted(set(self.replayed))
        assert set(self.replayed) <= set(seqs)


DomainMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                           deadline=None)
TestDomainMachine = DomainMachine.TestCase
