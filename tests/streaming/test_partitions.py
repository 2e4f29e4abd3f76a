"""Partitioned updates: held until complete; broken sets reset the subscription."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkit.streaming import (
    ProtocolError,
    ResetReason,
    StreamingEngine,
    SubscriptionReset,
    Updated,
    join_updates,
)

SNAP = {"Data": [{"Id": 1, "V": 1}, {"Id": 2, "V": 2}], "MaxRows": 10}


def part(pn: Any, pc: Any, data: Any, ref: str = "a") -> dict[str, Any]:
    return {"ReferenceId": ref, "__pn": pn, "__pc": pc, "Data": data}


@pytest.fixture
def eng(engine: StreamingEngine, live: Any) -> StreamingEngine:
    live(engine, "a", SNAP, keys=("Id",))
    live(engine, "b", {"X": 0})
    return engine


def reset_reasons(engine: StreamingEngine) -> list[ResetReason]:
    return [e.reason for e in engine.drain_events() if isinstance(e, SubscriptionReset)]


def test_held_until_the_last_partition_with_other_messages_between(eng: StreamingEngine) -> None:
    eng.receive(part(0, 3, [{"Id": 1, "V": 10}]), 1.0)
    eng.receive(
        [
            {"ReferenceId": "b", "Data": {"X": 1}},
            {"ReferenceId": "_heartbeat", "Heartbeats": [{"OriginatingReferenceId": "a"}]},
        ],
        1.1,
    )
    eng.receive(part(1, 3, [{"Id": 2, "__meta_deleted": True}]), 1.2)
    assert eng.latest("a") == SNAP  # nothing half-applied
    assert eng.latest("b") == {"X": 1}
    eng.receive(part(2, 3, [{"Id": 3, "V": 3}]), 1.3)
    assert eng.latest("a") == {"Data": [{"Id": 1, "V": 10}, {"Id": 3, "V": 3}], "MaxRows": 10}
    events = eng.drain_events()
    assert Updated("a", "a", 1) in events
    assert eng.info("a").updates_applied == 1
    assert eng.statistics().partitions == 3


def test_single_partition_update(eng: StreamingEngine) -> None:
    eng.receive(part(0, 1, [{"Id": 1, "V": 5}]), 1.0)
    assert eng.latest("a")["Data"][0] == {"Id": 1, "V": 5}


def test_object_partitions_join_arrays_and_properties(eng: StreamingEngine) -> None:
    eng.receive(part(0, 2, {"MaxRows": 20, "Data": [{"Id": 1, "V": 7}]}), 1.0)
    eng.receive(part(1, 2, {"Data": [{"Id": 2, "V": 8}]}), 1.0)
    assert eng.latest("a") == {"Data": [{"Id": 1, "V": 7}, {"Id": 2, "V": 8}], "MaxRows": 20}


@pytest.mark.parametrize(
    ("sequence", "problem"),
    [
        ([(0, 3), (2, 3)], "partition 1 is missing"),
        ([(1, 3)], "without partition 0"),
        ([(0, 3), (0, 3)], "arrived twice"),
        ([(0, 3), (1, 3), (1, 3)], "arrived twice"),
        ([(0, 3), (1, 4)], "__pc 4"),
        ([(3, 3)], "outside 0..2"),
        ([(0, 0)], "at least 1"),
        ([("0", 2)], "__pn must be an integer"),
        ([(0, None)], "__pc must be an integer"),
        ([(True, 2)], "__pn must be an integer"),
    ],
)
def test_broken_partition_sets_reset_never_half_merge(
    eng: StreamingEngine, sequence: list[tuple[Any, Any]], problem: str
) -> None:
    for i, (pn, pc) in enumerate(sequence):
        eng.receive(part(pn, pc, [{"Id": 1, "V": 100 + i}]), 1.0)
    events = eng.drain_events()
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert len(errors) == 1 and problem in errors[0].message
    assert errors[0].subscription == "a"
    assert [e.reason for e in events if isinstance(e, SubscriptionReset)] == [
        ResetReason.PARTITION_ERROR
    ]
    assert eng.latest("a") == SNAP
    assert eng.info("a").reference_id == "a-1"


def test_unpartitioned_update_in_the_middle_of_a_set_resets(eng: StreamingEngine) -> None:
    eng.receive(part(0, 2, [{"Id": 1, "V": 9}]), 1.0)
    eng.receive({"ReferenceId": "a", "Data": [{"Id": 2, "V": 9}]}, 1.0)
    assert reset_reasons(eng) == [ResetReason.PARTITION_ERROR]
    assert eng.latest("a") == SNAP


def test_mixed_object_and_array_partitions_reset(eng: StreamingEngine) -> None:
    eng.receive(part(0, 2, [{"Id": 1}]), 1.0)
    eng.receive(part(1, 2, {"Data": []}), 1.0)
    assert reset_reasons(eng) == [ResetReason.PARTITION_ERROR]


def test_partition_without_data_resets(eng: StreamingEngine) -> None:
    eng.receive({"ReferenceId": "a", "__pn": 0, "__pc": 2}, 1.0)
    assert reset_reasons(eng) == [ResetReason.PARTITION_ERROR]


def test_partitions_before_the_snapshot_are_queued_whole(
    engine: StreamingEngine, snap: Any
) -> None:
    engine.subscribe("port/v1/positions", "a", keys=("Id",))
    engine.receive(part(0, 2, [{"Id": 1, "V": 5}]), 0.1)
    engine.receive(part(1, 2, [{"Id": 3, "V": 3}]), 0.2)
    assert engine.info("a").pending_deltas == 1
    engine.receive_snapshot(snap("a", SNAP), 0.3)
    assert engine.latest("a")["Data"] == [{"Id": 1, "V": 5}, {"Id": 2, "V": 2}, {"Id": 3, "V": 3}]


def test_a_reset_forgets_partial_partitions(eng: StreamingEngine, snap: Any) -> None:
    eng.receive(part(0, 2, [{"Id": 1, "V": 9}]), 1.0)
    eng.reset("a", 2.0)
    eng.receive(part(1, 2, [{"Id": 1, "V": 9}]), 2.1)  # the rest, for the old id: stale
    eng.receive_snapshot(snap("a-1", SNAP), 3.0)
    eng.receive(part(0, 1, [{"Id": 2, "V": 0}]), 3.1)  # old id again
    eng.receive(part(0, 1, [{"Id": 2, "V": 0}], ref="a-1"), 3.2)
    assert eng.latest("a")["Data"] == [{"Id": 1, "V": 1}, {"Id": 2, "V": 0}]
    assert eng.statistics().stale_messages == 2


def test_join_updates() -> None:
    assert join_updates([[1], [2, 3]]) == [1, 2, 3]
    assert join_updates([{"A": {"x": 1}, "L": [1]}, {"A": {"y": 2}, "L": [2], "B": 0}]) == {
        "A": {"x": 1, "y": 2},
        "L": [1, 2],
        "B": 0,
    }
