"""The simulated Event Hub: sequence ids, replay from a cursor, routing and active state."""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest
from sessionkit_mesolive import models as m
from sessionkit_mesolive._errors import BadRequestError
from sessionkit_mesolive.sim.domain import MesoLiveDomain

PAPER = "ML1234"


def busy_domain(driver: Any) -> MesoLiveDomain:
    """A platform with a few dozen events: two positions, signals and an agent flap."""
    d: MesoLiveDomain = driver.d
    pos = driver.paper_position("a").position_id
    driver.paper_position("b")
    d.raise_exit_signal(pos)
    d.set_agent_status(m.AgentConnector.IBKR, m.AgentStatus.DISCONNECTED, "flap")
    d.set_agent_status(m.AgentConnector.IBKR, m.AgentStatus.CONNECTED, "back")
    return d


def replay(d: MesoLiveDomain, cursor: int, page: int, **kw: Any) -> list[m.EventRecord]:
    """Page through GetEventsSince the way the reference tells clients to."""
    out: list[m.EventRecord] = []
    while True:
        res = d.get_events_since(m.GetEventsSinceArgs(event_seq_id=cursor, max_events=page, **kw))
        out.extend(res.events)
        assert res.last_event_seq_id >= cursor
        cursor = res.last_event_seq_id
        if not res.has_more:
            return out


def test_sequence_ids_increase_strictly_with_gaps(driver: Any) -> None:
    d = busy_domain(driver)
    seqs = [ev.seq for ev in d.events.events()]
    assert len(seqs) > 12
    assert all(a < b for a, b in pairwise(seqs))
    assert any(b - a > 1 for a, b in pairwise(seqs)), "the default config leaves gaps"
    assert len({ev.payload.event_id for ev in d.events.events()}) == len(seqs)
    latest = d.get_latest_event_seq_id(m.GetLatestEventSeqIdArgs())
    assert latest.latest_event_seq_id == seqs[-1]
    assert latest.snapshot_time == d.utc


@pytest.mark.parametrize("page", [1, 3, 500])
def test_replay_from_a_cursor_returns_each_later_event_once(driver: Any, page: int) -> None:
    d = busy_domain(driver)
    seqs = [ev.seq for ev in d.events.events()]
    gap_cursor = next(a + 1 for a, b in pairwise(seqs) if b - a > 1)  # an id never used
    for cursor in (0, seqs[5], gap_cursor, seqs[-1]):
        got = replay(d, cursor, page)
        assert [r.event_seq_id for r in got] == [s for s in seqs if s > cursor]
        assert all(r.payload.event_seq_id == r.event_seq_id for r in got)
        assert all(r.event_type.startswith("On") for r in got)


def test_replay_strategy_filter_keeps_user_level_events(driver: Any) -> None:
    d = busy_domain(driver)
    other = d.create_strategy(m.CreateStrategyArgs(name="other", definition={}))
    assert replay(d, 0, 50, strategies=(other.id,)) == [
        r for r in replay(d, 0, 50) if isinstance(r.payload, m.AgentStatusEvent)]


def test_replay_arguments_are_validated(domain: MesoLiveDomain) -> None:
    with pytest.raises(BadRequestError, match="MaxEvents must be"):
        domain.get_events_since(m.GetEventsSinceArgs(event_seq_id=0, max_events=0))
    with pytest.raises(BadRequestError, match="EventSeqId must be"):
        domain.get_events_since(m.GetEventsSinceArgs(event_seq_id=-1))


def test_live_callbacks_follow_subscriptions(driver: Any) -> None:
    d: MesoLiveDomain = driver.d
    d.connect("all")
    d.connect("none")
    d.connect("one")
    other = d.create_strategy(m.CreateStrategyArgs(name="other", definition={}))
    assert d.subscribe_to_strategies(m.SubscribeToStrategiesArgs(strategies=None),
                                     connection_id="all").successful_strategies == (1, other.id)
    res = d.subscribe_to_strategies(m.SubscribeToStrategiesArgs(strategies=(other.id, 999)),
                                    connection_id="one")
    assert res.successful_strategies == (other.id,) and res.failed_strategies == (999,)
    assert d.subscribe_to_strategies(m.SubscribeToStrategiesArgs(strategies=()),
                                     connection_id="none").successful_strategies == ()
    d.take_deliveries()
    driver.paper_position("x")  # strategy 1 events
    d.set_agent_status(m.AgentConnector.IBKR, m.AgentStatus.CONNECTED, "ping")
    by_conn: dict[str, list[str]] = {}
    for delivery in d.take_deliveries():
        by_conn.setdefault(delivery.connection_id, []).append(delivery.target)
    assert "OnPositionUpdate" in by_conn["all"]
    assert by_conn["none"] == ["OnAgentStatus"] == by_conn["one"]
    d.unsubscribe_from_strategies(m.UnsubscribeFromStrategiesArgs(strategies=None),
                                  connection_id="all")
    d.raise_entry_signal(1, PAPER)
    assert d.take_deliveries() == []
    d.disconnect("one")
    d.set_agent_status(m.AgentConnector.IBKR, m.AgentStatus.CONNECTED, "ping")
    assert {x.connection_id for x in d.take_deliveries()} == {"all", "none"}


def test_active_state_is_pushed_on_connect_before_subscribing(driver: Any) -> None:
    d: MesoLiveDomain = driver.d
    pos = driver.paper_position("s").position_id
    entry = d.raise_entry_signal(1, PAPER)
    exit_on = d.raise_exit_signal(pos)
    error = d.raise_error("margin low", position_id=pos)
    d.raise_error("transient", strategy_id=1)
    cleared = d.raise_error("transient", strategy_id=1, state=m.ErrorState.CLEARED,
                            error_id=d.events.events()[-1].payload.error_id)
    assert cleared.state is m.ErrorState.CLEARED
    d.raise_exit_signal(pos, state=m.SignalState.OFF)
    pushed = d.connect("fresh")
    assert [p.payload for p in pushed] == [entry, error]
    assert exit_on not in [p.payload for p in pushed]
    assert d.take_deliveries() == pushed
    # the pushed items are the stored events: replay and push dedupe on EventId
    replayed = {r.payload.event_id for r in d.get_events_since(
        m.GetEventsSinceArgs(event_seq_id=0, max_events=500)).events}
    assert {p.payload.event_id for p in pushed} <= replayed


def test_duplicated_deliveries_share_the_event_id(driver: Any) -> None:
    d: MesoLiveDomain = driver.d
    d.connect("c")
    d.subscribe_to_strategies(m.SubscribeToStrategiesArgs(), connection_id="c")
    d.take_deliveries()
    d.faults.duplicate_next_events(2)
    d.raise_entry_signal(1, PAPER)
    d.raise_entry_signal(1, PAPER, state=m.SignalState.OFF)
    d.raise_entry_signal(1, PAPER)
    deliveries = d.take_deliveries()
    ids: list[UUID] = [x.payload.event_id for x in deliveries]
    assert len(ids) == 5 and len(set(ids)) == 3
    assert ids[0] == ids[1] and ids[2] == ids[3]
    seen: set[UUID] = set()
    unique = [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
    assert len(unique) == len(d.get_events_since(m.GetEventsSinceArgs(
        event_seq_id=deliveries[0].payload.event_seq_id - 1)).events)
