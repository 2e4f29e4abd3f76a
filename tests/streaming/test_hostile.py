"""A hostile streaming server: data nested past any sane depth, absurd partition counts, floods
of events nobody drains, whole-state updates that must replace (not merge), and a caller's own
resync schedule that damping must not turn into a blackout. Each is refused or bounded with an
event that names the limit; nothing escapes ``receive`` as an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sessionkit.streaming import (
    DEFAULT_MAX_DEPTH,
    EventsDropped,
    MergeError,
    ProtocolError,
    ResetReason,
    StreamingEngine,
    SubscriptionReset,
    SubscriptionState,
    merge_delta,
)

S = SubscriptionState


def nested(depth: int) -> Any:
    """Valid JSON nested ``depth`` objects deep (built without recursion)."""
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def deep_json(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def events_of(engine: StreamingEngine, kind: type) -> list[Any]:
    return [e for e in engine.drain_events() if isinstance(e, kind)]


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH + 1, 900, 5000])
def test_deeply_nested_updates_are_refused_naming_the_depth_limit(
    engine: StreamingEngine, live: Any, depth: int
) -> None:
    live(engine, "a", {"x": 1})
    engine.receive([{"ReferenceId": "a", "Data": nested(depth)}], 1.0)  # decoded data
    events = engine.drain_events()
    [error] = [e for e in events if isinstance(e, ProtocolError)]
    assert f"nested deeper than {DEFAULT_MAX_DEPTH} levels (max_depth)" in error.message
    [reset] = [e for e in events if isinstance(e, SubscriptionReset)]
    assert reset.reason is ResetReason.MALFORMED_UPDATE
    assert engine.latest("a") == {"x": 1}  # the state is untouched


def test_deeply_nested_json_text_is_refused_too(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"x": 1})
    engine.receive('{"ReferenceId":"a","Data":' + deep_json(500) + "}", 1.0)
    [error] = events_of(engine, ProtocolError)
    assert "max_depth" in error.message
    engine.receive('{"ReferenceId":"a","Data":' + deep_json(5000) + "}", 1.0)  # the decoder's own
    [error] = events_of(engine, ProtocolError)
    assert "not valid JSON" in error.message


def test_a_deeply_nested_snapshot_fails_the_subscription_naming_the_limit(
    engine: StreamingEngine, snap: Any
) -> None:
    engine.subscribe("r/x", "a")
    engine.receive_snapshot(snap("a", nested(3000)), 0.0)
    events = engine.drain_events()
    assert any(isinstance(e, ProtocolError) and "max_depth" in e.message for e in events)
    assert engine.info("a").state is S.FAILED


def test_a_deep_non_object_message_is_reported_without_recursing(
    engine: StreamingEngine,
) -> None:
    deep_list: Any = []
    for _ in range(5000):
        deep_list = [deep_list]
    engine.receive([deep_list], 0.0)
    [error] = events_of(engine, ProtocolError)
    assert "stream message must be an object" in error.message


def test_the_depth_limit_is_configurable_and_exact(make_engine: Any, live: Any) -> None:
    engine = make_engine(max_depth=3)
    live(engine, "a", {})
    engine.receive({"ReferenceId": "a", "Data": nested(3)}, 1.0)
    assert engine.latest("a") == nested(3) and not events_of(engine, ProtocolError)
    engine.receive({"ReferenceId": "a", "Data": nested(4)}, 2.0)
    [error] = events_of(engine, ProtocolError)
    assert "nested deeper than 3 levels" in error.message
    with pytest.raises(MergeError, match="nested deeper than 2 levels"):
        merge_delta({}, nested(3), max_depth=2)


def test_an_absurd_partition_count_is_refused_naming_the_limit(
    make_engine: Any, live: Any
) -> None:
    engine = make_engine(max_partitions=10)
    live(engine, "a", {})
    engine.receive({"ReferenceId": "a", "__pn": 0, "__pc": 10**9, "Data": {"x": 1}}, 1.0)
    [error] = events_of(engine, ProtocolError)
    assert "__pc 1000000000 is more than the 10 partitions accepted (max_partitions)" in (
        error.message
    )


def test_undrained_events_are_bounded_and_the_drop_is_reported(make_engine: Any) -> None:
    engine = make_engine(max_events=50)
    engine.subscribe("r/x", "a")
    for i in range(1000):  # a flood of malformed messages nobody drains
        engine.receive([{"Data": 7}], float(i))
    events = engine.drain_events()
    assert len(events) <= 51
    assert isinstance(events[0], EventsDropped) and events[0].count > 0
    assert engine.statistics().events_dropped == events[0].count
    assert engine.statistics().protocol_errors == 1000  # every one was counted and reported
    assert not any(isinstance(e, EventsDropped) for e in engine.drain_events())


def test_whole_updates_replace_the_state(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"Legs": [{"Id": 1}, {"Id": 2}], "Mark": 1}, whole_updates=True)
    engine.receive({"ReferenceId": "a", "Data": {"Legs": [{"Id": 2}]}}, 1.0)
    assert engine.latest("a") == {"Legs": [{"Id": 2}]}  # the closed leg and Mark are gone
    merged = engine.subscribe("r/y", "b")
    assert engine.info(merged).state is S.PENDING
    with pytest.raises(ValueError, match="whole_updates"):
        engine.subscribe("r/z", "c", whole_updates="yes")  # type: ignore[arg-type]


def test_upstream_drops_are_reported_in_the_change_stream(
    engine: StreamingEngine, live: Any
) -> None:
    live(engine, "a", {}, change_queue=4, whole_updates=True)
    engine.dropped_upstream("a", 7)
    engine.receive({"ReferenceId": "a", "Data": {"v": 1}}, 1.0)
    batch = engine.drain_changes("a")
    assert batch.dropped == 7 and [c.kind for c in batch.changes] == ["snapshot", "update"]
    assert engine.info("a").changes_dropped == 7


def test_a_resync_schedule_of_the_callers_own_is_never_damped(
    engine: StreamingEngine, live: Any, snap: Any
) -> None:
    """Resyncs every 2 s: far more than damping allows (3 in 60 s), never deferred."""
    live(engine, "a", {"v": 0})
    for i in range(1, 20):
        now = 2.0 * i
        engine.reset("a", now, damped=False)
        [reset] = events_of(engine, SubscriptionReset)
        assert reset.resubscribe_at == now and engine.info("a").state is S.PENDING
        engine.receive_snapshot(snap(reset.new_reference_id, {"v": i}), now)
        assert engine.latest("a") == {"v": i}
    # and they do not count towards damping the server's own resets
    engine.reset("a", 41.0)
    [reset] = events_of(engine, SubscriptionReset)
    assert reset.resubscribe_at == 41.0


def test_json_depth_of_a_real_structure_is_far_below_the_limit() -> None:
    entry = {"Position": {"Legs": [{"Contract": {"Underlying": {"Symbol": "SPX"}}}]}}
    assert merge_delta({}, json.loads(json.dumps(entry))) == entry


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"ReferenceId": "_heartbeat", "Heartbeats": [{"OriginatingReferenceId": nested(3000)}]},
         "OriginatingReferenceId must be a string"),
        ({"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": nested(3000)},
         "TargetReferenceIds must be a list of strings"),
        ({"ReferenceId": "a", "__pn": nested(3000), "__pc": 2, "Data": {}},
         "__pn must be an integer"),
    ],
)
def test_deep_values_in_control_fields_are_named_not_an_internal_error(
    engine: StreamingEngine, live: Any, message: Any, problem: str
) -> None:
    live(engine, "a", {})
    engine.receive([message], 1.0)
    [error] = events_of(engine, ProtocolError)
    assert problem in error.message and "internal error" not in error.message
