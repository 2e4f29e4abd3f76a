"""Consumers: level-triggered latest(), bounded change streams, coalesced Updated events."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkit.streaming import InvalidArgumentError, StreamingEngine, Updated


def test_slow_consumer_loses_old_ticks_never_the_latest_state(
    engine: StreamingEngine, live: Any
) -> None:
    live(engine, "q", {"Bid": 0}, change_queue=3)
    engine.drain_changes("q")  # the snapshot change
    for i in range(1, 11):
        engine.receive({"ReferenceId": "q", "Data": {"Bid": i}}, float(i))
    batch = engine.drain_changes("q")
    assert batch.dropped == 7
    assert [c.data for c in batch.changes] == [{"Bid": 8}, {"Bid": 9}, {"Bid": 10}]
    assert [c.state for c in batch.changes] == [{"Bid": 8}, {"Bid": 9}, {"Bid": 10}]
    assert [c.seq for c in batch.changes] == [9, 10, 11]
    assert batch.changes[-1].state == engine.latest("q") == {"Bid": 10}
    assert engine.info("q").changes_dropped == 7
    assert engine.statistics().changes_dropped == 7
    again = engine.drain_changes("q")
    assert again.changes == () and again.dropped == 0


def test_each_change_keeps_its_own_state(engine: StreamingEngine, live: Any) -> None:
    live(engine, "q", {"A": {"x": 0}, "B": 1}, change_queue=10)
    engine.receive(
        [{"ReferenceId": "q", "Data": {"A": {"x": 1}}}, {"ReferenceId": "q", "Data": {"B": 2}}], 1.0
    )
    snapshot, first, second = engine.drain_changes("q").changes
    assert snapshot.kind == "snapshot" and snapshot.state == {"A": {"x": 0}, "B": 1}
    assert first.kind == "update" and first.state == {"A": {"x": 1}, "B": 1}
    assert second.state == {"A": {"x": 1}, "B": 2}


def test_change_queue_must_be_asked_for(engine: StreamingEngine, live: Any) -> None:
    live(engine, "q", {})
    with pytest.raises(InvalidArgumentError, match="change_queue"):
        engine.drain_changes("q")


def test_updated_events_coalesce_until_drained(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"v": 0})
    live(engine, "b", {"v": 0})
    for i in range(100):
        engine.receive(
            [{"ReferenceId": "a", "Data": {"v": i}}, {"ReferenceId": "b", "Data": {"v": i}}],
            float(i),
        )
    assert engine.drain_events() == [Updated("a", "a", 100), Updated("b", "b", 100)]
    engine.receive({"ReferenceId": "a", "Data": {"v": 1}}, 200.0)
    assert engine.drain_events() == [Updated("a", "a", 1)]


def test_updated_does_not_coalesce_across_other_events(
    engine: StreamingEngine, live: Any, snap: Any
) -> None:
    live(engine, "a", {"v": 0})
    engine.receive({"ReferenceId": "a", "Data": {"v": 1}}, 1.0)
    engine.reset("a", 2.0)
    engine.receive_snapshot(snap("a-1", {"v": 5}), 3.0)
    engine.receive({"ReferenceId": "a-1", "Data": {"v": 6}}, 4.0)
    events = engine.drain_events()
    assert events[0] == Updated("a", "a", 1)
    assert events[-1] == Updated("a", "a-1", 1)
