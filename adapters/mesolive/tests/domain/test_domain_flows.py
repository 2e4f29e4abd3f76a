"""The simulated platform's prepare -> execute flows, jobs, orders and Data Hub."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sessionkit_mesolive import models as m
from sessionkit_mesolive._catalogue import METHODS
from sessionkit_mesolive._errors import BadRequestError, NotFoundError
from sessionkit_mesolive.sim.domain import DomainConfig, MesoLiveDomain

PAPER, LIVE = "ML1234", "U1234567"


def targets(domain: MesoLiveDomain, since: int = 0) -> list[str]:
    return [e.event_type for e in domain.get_events_since(
        m.GetEventsSinceArgs(event_seq_id=since, max_events=500)).events]


def test_every_catalogue_method_has_a_domain_method(domain: MesoLiveDomain) -> None:
    for spec in METHODS.values():
        assert callable(getattr(domain, spec.python_name)), spec.name


def test_paper_entry_then_exit(driver: Any) -> None:
    d = driver.d
    start = d.get_latest_event_seq_id(m.GetLatestEventSeqIdArgs()).latest_event_seq_id
    job = d.start_prepare_position_entry(driver.entry_args("prep_entry_1"))
    status = d.get_prepare_position_entry_status(m.GetPreparePositionEntryStatusArgs(
        job_id=job.job_id))
    assert status.status is m.PreparationStatus.PENDING and status.result is None
    driver.tick(0.5)
    assert d.get_prepare_position_entry_status(m.GetPreparePositionEntryStatusArgs(
        job_id=job.job_id)).status is m.PreparationStatus.RUNNING
    driver.settle()
    done = d.get_prepare_position_entry_status(m.GetPreparePositionEntryStatusArgs(
        job_id=job.job_id))
    assert done.status is m.PreparationStatus.COMPLETED and done.error is None
    result = done.result
    assert result is not None and result.entry_allowed
    assert set(result.selected_legs) == {"short_put", "long_put"}
    assert result.leg_groups == {1: ("short_put", "long_put")}
    assert result.selected_legs["short_put"].qty == Decimal(-1)
    assert targets(d, start) == ["OnPositionEntryPreparationCompleted"]

    mark = d.events.last_seq
    fills = d.apply_paper_fills(m.ApplyPaperFillsArgs(
        idempotency_key="paper_entry_1", broker_account_id=PAPER,
        exec_plan_id=result.exec_plan_id, fill_prices={"short_put": Decimal("12.40")}))
    assert targets(d, mark) == ["OnOrderUpdate", "OnOrderUpdate", "OnLegUpdate", "OnLegUpdate",
                                "OnPositionUpdate"]
    details = d.get_position(m.GetPositionArgs(position_id=fills.position_id))
    assert details.position.state is m.LivePositionState.OPEN
    assert details.position.name == "P prep_entry_1"
    short = next(lg for lg in details.legs if lg.name == "short_put")
    assert short.avg_entry_price == Decimal("12.40") and short.qty == Decimal(-1)
    assert d.get_account(m.GetAccountArgs(broker_account_id=PAPER)).active_positions == 1
    order = d.get_order(m.GetOrderArgs(order_id=fills.live_order_ids[0]))
    assert order.state is m.OrderState.FILLED and order.side == "B"

    exit_job = d.start_prepare_position_exit(m.PreparePositionExitArgs(
        idempotency_key="prep_exit_1", position_id=fills.position_id))
    driver.settle()
    exit_status = d.get_prepare_position_exit_status(
        m.GetPreparePositionExitStatusArgs(job_id=exit_job.job_id))
    assert exit_status.result is not None
    assert exit_status.result.leg_group_qtys[1].leg_qtys == {"short_put": Decimal(1),
                                                             "long_put": Decimal(-1)}
    d.apply_paper_fills(m.ApplyPaperFillsArgs(
        idempotency_key="paper_exit_1", broker_account_id=PAPER,
        exec_plan_id=exit_status.result.exec_plan_id,
        fill_prices={"short_put": Decimal("2.40"), "long_put": Decimal("0.50")}))
    closed = d.get_position(m.GetPositionArgs(position_id=fills.position_id))
    assert closed.position.state is m.LivePositionState.CLOSED
    assert closed.position.closed_at is not None
    assert all(lg.closed_at is not None for lg in closed.legs)
    short = next(lg for lg in closed.legs if lg.name == "short_put")
    assert short.tracked_realized_pnl == Decimal("1000.00")  # (2.40 - 12.40) * -1 * 100
    last = d.get_events_since(m.GetEventsSinceArgs(event_seq_id=0, max_events=500)).events[-1]
    assert isinstance(last.payload, m.PositionUpdateEvent)
    assert last.payload.status is m.PositionStatus.CLOSED
    with pytest.raises(BadRequestError, match="is closed"):
        d.start_prepare_position_exit(m.PreparePositionExitArgs(
            idempotency_key="prep_exit_2", position_id=fills.position_id))


def test_live_entry_sends_one_order_per_leg_group(make_driver: Any) -> None:
    driver = make_driver(max_legs_per_group=1)
    d = driver.d
    status = driver.prepare_entry("prep_entry_live", LIVE)
    assert status.result is not None
    plan = status.result.exec_plan_id
    assert status.result.leg_groups == {1: ("short_put",), 2: ("long_put",)}
    with pytest.raises(BadRequestError, match="not a paper account"):
        d.apply_paper_fills(m.ApplyPaperFillsArgs(idempotency_key="paper_x",
                                                  broker_account_id=LIVE, exec_plan_id=plan))
    first = driver.send_group("send_order_g1", plan, 1, leg_names=("short_put",))
    second = driver.send_group("send_order_g2", plan, 2, order_type=m.OrderType.LIMIT,
                               limit_price=Decimal("1.10"))
    for oid in (*first.live_order_ids, *second.live_order_ids):
        assert d.get_order(m.GetOrderArgs(order_id=oid)).state is m.OrderState.SUBMITTED
    assert d.list_positions(m.ListPositionsArgs(broker_account_id=LIVE)).positions == ()
    driver.tick(1.0)
    orders = d.list_orders(m.ListOrdersArgs(exec_plan_id=plan))
    assert [o.state for o in orders] == [m.OrderState.FILLED, m.OrderState.FILLED]
    assert orders[1].avg_fill_price == Decimal("1.10")
    (pos,) = d.list_positions(m.ListPositionsArgs(live_exec_plan_id=plan)).positions
    assert {lg.name for lg in d.list_legs(m.ListLegsArgs(position_id=pos.id)).legs} == {
        "short_put", "long_put"}
    with pytest.raises(BadRequestError, match="already executed"):
        driver.send_group("send_order_g1_again", plan, 1)


def test_send_order_rules(driver: Any) -> None:
    d = driver.d
    status = driver.prepare_entry("prep_entry_rules", LIVE)
    assert status.result is not None
    plan = status.result.exec_plan_id
    with pytest.raises(BadRequestError, match="paper account; use ApplyPaperFills"):
        driver.send_group("so_paper", plan, 1, account=PAPER)
    with pytest.raises(BadRequestError, match="no leg group 9"):
        driver.send_group("so_group", plan, 9)
    with pytest.raises(BadRequestError, match="need LimitPrice"):
        driver.send_group("so_limit", plan, 1, order_type=m.OrderType.LIMIT)
    with pytest.raises(BadRequestError, match="do not match"):
        driver.send_group("so_names", plan, 1, leg_names=("nope",))
    with pytest.raises(NotFoundError):
        driver.send_group("so_plan", 424242, 1)
    # a stop order stays working: replace it, then cancel the replacement, then resend
    stop = driver.send_group("so_stop", plan, 1, order_type=m.OrderType.STOP,
                             stop_price=Decimal("3"))
    replaced = d.send_order(m.SendOrderArgs(
        idempotency_key="so_replace", broker_account_id=LIVE, exec_plan_id=plan, leg_group_id=1,
        replaces_order=stop.live_order_ids[0], leg_group_order=m.LegGroupOrder(
            order_type=m.OrderType.STOP, stop_price=Decimal("2.5"))))
    assert d.get_order(m.GetOrderArgs(order_id=stop.live_order_ids[0])).state \
        is m.OrderState.CANCELLED
    cancelled = d.cancel_order(m.CancelOrderArgs(idempotency_key="cancel_order_1",
                                                 order_id=replaced.live_order_ids[0]))
    assert cancelled.state is m.OrderState.CANCELLED
    with pytest.raises(BadRequestError, match="only working orders"):
        d.cancel_order(m.CancelOrderArgs(idempotency_key="cancel_order_2",
                                         order_id=replaced.live_order_ids[0]))
    again = driver.send_group("so_market", plan, 1)
    driver.tick(1.0)
    assert d.get_order(m.GetOrderArgs(order_id=again.live_order_ids[0])).state \
        is m.OrderState.FILLED


def test_qty_multiplier_scales_entry_legs(driver: Any) -> None:
    status = driver.prepare_entry("prep_entry_qty", PAPER)
    assert status.result is not None and status.result.qty_multiplier == Decimal(1)
    fills = driver.d.apply_paper_fills(m.ApplyPaperFillsArgs(
        idempotency_key="paper_qty", broker_account_id=PAPER,
        exec_plan_id=status.result.exec_plan_id, qty_multiplier=Decimal(3)))
    legs = driver.d.list_legs(m.ListLegsArgs(position_id=fills.position_id)).legs
    assert sorted(lg.qty for lg in legs) == [Decimal(-3), Decimal(3)]


def test_broker_rejection_frees_the_group(driver: Any) -> None:
    d = driver.d
    status = driver.prepare_entry("prep_entry_rej", LIVE)
    assert status.result is not None
    d.faults.reject_next_order("margin")
    sent = driver.send_group("so_rej", status.result.exec_plan_id, 1)
    driver.tick(1.0)
    order = d.get_order(m.GetOrderArgs(order_id=sent.live_order_ids[0]))
    assert order.state is m.OrderState.REJECTED
    rejected = [e.payload for e in d.get_events_since(m.GetEventsSinceArgs(
        event_seq_id=0, max_events=500)).events if isinstance(e.payload, m.OrderUpdateEvent)][-1]
    assert rejected.rejection == m.OrderRejectionInfo(code="Rejected", message="margin")
    driver.send_group("so_rej_retry", status.result.exec_plan_id, 1)
    driver.tick(1.0)
    assert len(d.list_positions(m.ListPositionsArgs(broker_account_id=LIVE)).positions) == 1


def test_job_fails_by_fault_and_without_agent(driver: Any) -> None:
    d = driver.d
    d.faults.fail_next_job("Entry", "no quotes for SPX")
    failed = driver.prepare_entry("prep_entry_fail")
    assert failed.status is m.PreparationStatus.FAILED
    assert failed.error == "no quotes for SPX" and failed.result is None
    event = d.get_events_since(m.GetEventsSinceArgs(event_seq_id=0, max_events=500)).events[-1]
    assert event.event_type == "OnPositionEntryPreparationFailed"
    assert isinstance(event.payload, m.PositionEntryPreparationFailedEvent)
    assert event.payload.job_id == failed.job_id and event.payload.error == "no quotes for SPX"
    d.set_agent_status(m.AgentConnector.IBKR, m.AgentStatus.DISCONNECTED, "TWS closed")
    assert driver.prepare_entry("prep_entry_offline").error == \
        "no market data: no agent is connected"
    assert not d.state.plans


def test_cancel_is_best_effort(driver: Any) -> None:
    d = driver.d
    job = d.start_prepare_position_entry(driver.entry_args("prep_entry_c"))
    cancelled = d.cancel_prepare_position_entry(m.CancelPreparePositionEntryArgs(
        idempotency_key="cancel_prep_c", job_id=job.job_id))
    assert cancelled.status is m.PreparationStatus.CANCELLED
    driver.settle()
    status = d.get_prepare_position_entry_status(m.GetPreparePositionEntryStatusArgs(
        job_id=job.job_id))
    assert status.status is m.PreparationStatus.CANCELLED and status.result is None
    assert "OnPositionEntryPreparationCompleted" not in targets(d)
    again = d.cancel_prepare_position_entry(m.CancelPreparePositionEntryArgs(
        idempotency_key="cancel_prep_c2", job_id=job.job_id))
    assert again.status is m.PreparationStatus.CANCELLED

    done = driver.prepare_entry("prep_entry_done")
    with pytest.raises(BadRequestError, match="already finished"):
        d.cancel_prepare_position_entry(m.CancelPreparePositionEntryArgs(
            idempotency_key="cancel_prep_done", job_id=done.job_id))
    with pytest.raises(NotFoundError, match="no exit preparation job"):
        d.cancel_prepare_position_exit(m.CancelPreparePositionExitArgs(
            idempotency_key="cancel_prep_kind", job_id=done.job_id))


@pytest.mark.parametrize(("operation", "leg_names"), [
    (m.PositionAdjustmentOperation.ADD_LEGS, {"short_put", "long_put", "hedge"}),
    (m.PositionAdjustmentOperation.REMOVE_LEGS, {"short_put"}),
    (m.PositionAdjustmentOperation.MOVE_LEG, {"long_put", "short_put_moved"}),
])
def test_adjustments_execute_through_paper_fills(driver: Any, operation: str,
                                                 leg_names: set[str]) -> None:
    d = driver.d
    pos = driver.paper_position("adj").position_id
    job = d.start_prepare_position_adjustment(m.PreparePositionAdjustmentArgs(
        idempotency_key="prep_adj", position_id=pos, operation=operation, condition="delta>0.3"))
    driver.settle()
    status = d.get_prepare_position_adjustment_status(
        m.GetPreparePositionAdjustmentStatusArgs(job_id=job.job_id))
    assert status.result is not None and status.result.adjustment_allowed
    d.apply_paper_fills(m.ApplyPaperFillsArgs(idempotency_key="paper_adj",
                                              broker_account_id=PAPER,
                                              exec_plan_id=status.result.exec_plan_id))
    open_legs = {lg.name for lg in d.list_legs(m.ListLegsArgs(position_id=pos)).legs
                 if lg.closed_at is None}
    assert open_legs == leg_names
    update = d.get_events_since(m.GetEventsSinceArgs(event_seq_id=0, max_events=500)).events[-1]
    assert isinstance(update.payload, m.PositionUpdateEvent)
    assert update.payload.status is m.PositionStatus.ADJUSTED


def test_update_vars_is_applied_without_orders(driver: Any) -> None:
    d = driver.d
    pos = driver.paper_position("vars").position_id
    job = d.start_prepare_position_adjustment(m.PreparePositionAdjustmentArgs(
        idempotency_key="prep_vars", position_id=pos,
        operation=m.PositionAdjustmentOperation.UPDATE_VARS, condition="roll"))
    driver.settle()
    result = d.get_prepare_position_adjustment_status(
        m.GetPreparePositionAdjustmentStatusArgs(job_id=job.job_id)).result
    assert result is not None and result.leg_groups == {} and result.order_legs == {}
    assert d.get_position(m.GetPositionArgs(position_id=pos)).vars == {
        "AdjustmentCount": Decimal(1)}
    with pytest.raises(BadRequestError, match="nothing left to execute"):
        d.apply_paper_fills(m.ApplyPaperFillsArgs(idempotency_key="paper_vars",
                                                  broker_account_id=PAPER,
                                                  exec_plan_id=result.exec_plan_id))


def test_strategy_and_account_reads(domain: MesoLiveDomain) -> None:
    created = [domain.create_strategy(m.CreateStrategyArgs(
        name=f"S{i}", definition={}, active_on_accounts=(PAPER,))) for i in range(3)]
    page1 = domain.list_strategies(m.ListStrategiesArgs(limit=2))
    page2 = domain.list_strategies(m.ListStrategiesArgs(
        limit=2, continuation_token=page1.continuation_token))
    assert [s.id for s in page1.strategies + page2.strategies] == [1, *(s.id for s in created)]
    assert page2.continuation_token is None
    renamed = domain.rename_strategy(m.RenameStrategyArgs(strategy_id=created[0].id, name="R"))
    assert domain.get_strategy(m.GetStrategyArgs(strategy_id=renamed.id)).name == "R"
    clone = domain.create_strategy(m.CreateStrategyArgs(clone_strategy_id=created[0].id))
    assert clone.definition == {}
    domain.delete_strategy(m.DeleteStrategyArgs(strategy_id=clone.id))
    with pytest.raises(NotFoundError):
        domain.get_strategy(m.GetStrategyArgs(strategy_id=clone.id))
    with pytest.raises(BadRequestError, match="unknown accounts"):
        domain.create_strategy(m.CreateStrategyArgs(definition={}, active_on_accounts=("X",)))
    with pytest.raises(BadRequestError, match="ContinuationToken"):
        domain.list_accounts(m.ListAccountsArgs(continuation_token="garbage"))
    accounts = domain.list_accounts(m.ListAccountsArgs(limit=1))
    assert len(accounts.accounts) == 1 and accounts.continuation_token is not None
    assert domain.list_agents(m.ListAgentsArgs())[0].status is m.AgentStatus.CONNECTED


# -- Data Hub -------------------------------------------------------------------------------


def test_position_snapshot_blocks_follow_include(driver: Any) -> None:
    pos = driver.paper_position("snap").position_id
    legs = driver.d.list_legs(m.ListLegsArgs(position_id=pos)).legs
    entry = driver.d.get_position_snapshot(m.StreamPositionDataArgs(
        position_id=pos, include_position=m.flags(m.LiveDataInclude.PRICES, m.LiveDataInclude.PNL),
        include_legs=m.LiveDataInclude.GREEKS, include_leg_groups=m.LiveDataInclude.NONE,
        price_fields=m.LiveQuoteFields.MARK))
    assert entry.position_prices is not None and entry.position_greeks is None
    assert entry.position_prices.mark is not None and entry.position_prices.bid is None
    assert entry.position_pnls is not None and entry.leg_prices is None
    assert entry.leg_greeks is not None and set(entry.leg_greeks) == {lg.id for lg in legs}
    assert entry.leg_group_prices is None


def test_provider_required_endpoints(domain: MesoLiveDomain) -> None:
    args = m.StreamUnderlyingDataArgs(underlying=m.LiveUnderlying(symbol="SPX"))
    with pytest.raises(BadRequestError, match="requires an explicit Provider"):
        domain.get_underlying_snapshot(args)
    with pytest.raises(BadRequestError, match="requires an explicit Provider"):
        domain.stream_underlying_data(args)
    ok = domain.get_underlying_snapshot(m.StreamUnderlyingDataArgs(
        underlying=m.LiveUnderlying(symbol="SPX"), provider=m.DataProviderType.IBKR))
    assert ok.prices is not None and ok.prices.mark == Decimal(5000)


def test_streams_coalesce_and_drop_oldest() -> None:
    d = MesoLiveDomain.with_defaults(config=DomainConfig(stream_capacity=2,
                                                         stream_coalesce_s=0.5))
    sid = d.stream_underlying_data(m.StreamUnderlyingDataArgs(
        underlying=m.LiveUnderlying(symbol="SPX"), provider=m.DataProviderType.IBKR,
        include=m.LiveDataInclude.PRICES, price_fields=m.LiveQuoteFields.MARK))
    first = d.poll_stream(sid)
    assert [i.prices.mark for i in first.items] == [Decimal(5000)]
    # three ticks inside one window -> one item with the latest value
    for i, price in enumerate(("5001", "5002", "5003")):
        d.set_underlying_price("SPX", Decimal(price))
        d.advance(0.1 * (i + 1))
    d.advance(0.6)
    assert [i.prices.mark for i in d.poll_stream(sid).items] == [Decimal(5003)]
    # a slow reader: four windows, capacity two -> the two newest survive
    for i in range(4):
        d.set_underlying_price("SPX", Decimal(5010 + i))
        d.advance(1.5 + i)
    batch = d.poll_stream(sid)
    assert [i.prices.mark for i in batch.items] == [Decimal(5012), Decimal(5013)]
    assert batch.dropped == 2
    d.close_stream(sid)
    assert d.poll_stream(sid).error is not None
