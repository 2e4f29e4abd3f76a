"""Inactivity timeout and reset-storm damping, driven by next_deadline()/handle_timer(now)."""

from __future__ import annotations

from typing import Any

from sessionkit.streaming import (
    ProtocolError,
    ResetReason,
    StreamingEngine,
    SubscribeRequest,
    SubscriptionReset,
    SubscriptionState,
    UnsubscribeRequest,
)

S = SubscriptionState


def resets(engine: StreamingEngine) -> list[SubscriptionReset]:
    return [e for e in engine.drain_events() if isinstance(e, SubscriptionReset)]


def test_inactivity_resets_with_a_new_reference_id(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"v": 1}, timeout=30, now=100.0)
    assert engine.next_deadline() == 130.0
    engine.handle_timer(129.9)
    assert engine.info("a").reference_id == "a"
    engine.handle_timer(130.0)
    [ev] = resets(engine)
    assert (ev.old_reference_id, ev.new_reference_id, ev.reason) == (
        "a",
        "a-1",
        ResetReason.INACTIVITY,
    )
    assert "InactivityTimeout 30 s" in ev.detail
    assert engine.drain_requests() == [
        UnsubscribeRequest("trade/v1/infoprices", "ctx1", "a"),
        SubscribeRequest("trade/v1/infoprices", "ctx1", "a-1", replaces="a"),
    ]
    assert engine.info("a").state is S.PENDING
    assert engine.next_deadline() is None  # nothing timed until the new snapshot


def test_data_and_heartbeats_keep_it_alive(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {}, timeout=10, now=0.0)
    engine.receive({"ReferenceId": "a", "Data": {"x": 1}}, 8.0)
    assert engine.next_deadline() == 18.0
    engine.receive(
        {
            "ReferenceId": "_heartbeat",
            "Heartbeats": [{"OriginatingReferenceId": "a", "Reason": "NoNewData"}],
        },
        15.0,
    )
    assert engine.next_deadline() == 25.0
    engine.handle_timer(24.0)
    assert resets(engine) == []


def test_temporarily_disabled_is_still_watched(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {}, timeout=10)
    engine.receive(
        {
            "ReferenceId": "_heartbeat",
            "Heartbeats": [
                {"OriginatingReferenceId": "a", "Reason": "SubscriptionTemporarilyDisabled"}
            ],
        },
        1.0,
    )
    assert engine.next_deadline() == 11.0
    engine.handle_timer(11.0)
    assert [e.reason for e in resets(engine)] == [ResetReason.INACTIVITY]


def test_permanently_disabled_is_never_reset_for_silence(
    engine: StreamingEngine, live: Any
) -> None:
    live(engine, "a", {}, timeout=10)
    engine.receive(
        {
            "ReferenceId": "_heartbeat",
            "Heartbeats": [
                {"OriginatingReferenceId": "a", "Reason": "SubscriptionPermanentlyDisabled"}
            ],
        },
        1.0,
    )
    assert engine.next_deadline() is None
    engine.handle_timer(10_000.0)
    assert resets(engine) == [] and engine.info("a").reference_id == "a"
    engine.reset("a", 10_001.0)  # the caller may still insist
    assert engine.info("a").reference_id == "a-1"


def test_zero_or_absent_inactivity_timeout_means_no_watch(
    engine: StreamingEngine, live: Any
) -> None:
    live(engine, "a", {}, timeout=0)
    live(engine, "b", {}, timeout=None)
    assert engine.next_deadline() is None


def test_pending_subscriptions_have_no_deadline(engine: StreamingEngine) -> None:
    engine.subscribe("r", "a")
    assert engine.next_deadline() is None


def test_reset_storm_is_damped_3_in_60s_then_30s(
    engine: StreamingEngine, live: Any, snap: Any
) -> None:
    live(engine, "a", {}, timeout=5, now=0.0)
    times = []
    now = 0.0
    for i in range(1, 4):  # three silent periods: three immediate resets
        now = 5.0 * i
        engine.handle_timer(now)
        [ev] = resets(engine)
        assert ev.resubscribe_at == now
        times.append(now)
        engine.receive_snapshot(snap(ev.new_reference_id, {}, 5), now)
        assert [type(r) for r in engine.drain_requests()] == [UnsubscribeRequest, SubscribeRequest]
    assert engine.info("a").reference_id == "a-3"
    # the fourth reset within 60 s waits 30 s after the last re-creation
    engine.handle_timer(now + 5)
    [ev] = resets(engine)
    assert ev.resubscribe_at == times[-1] + 30
    info = engine.info("a")
    assert info.state is S.RESET_DEFERRED and info.resubscribe_at == times[-1] + 30
    assert info.next_reference_id == ev.new_reference_id == "a-4"
    reqs = engine.drain_requests()
    assert reqs == [UnsubscribeRequest("trade/v1/infoprices", "ctx1", "a-3")]  # deleted at once
    assert engine.next_deadline() == times[-1] + 30
    engine.receive({"ReferenceId": "a-3", "Data": {"late": 1}}, now + 6)  # old id: ignored
    engine.handle_timer(times[-1] + 29.9)
    assert engine.drain_requests() == []
    engine.handle_timer(times[-1] + 30)
    [req] = engine.drain_requests()
    assert isinstance(req, SubscribeRequest) and req.reference_id == ev.new_reference_id
    assert engine.info("a").state is S.PENDING


def test_damping_numbers_are_configurable(make_engine: Any, live: Any) -> None:
    engine = make_engine(damping_resets=1, damping_window=100.0, damping_delay=7.0)
    live(engine, "a", {})
    engine.reset("a", 1.0)  # first: immediate
    engine.reset("a", 2.0)  # second within 100 s: waits until 1 + 7
    evs = resets(engine)
    assert [e.resubscribe_at for e in evs] == [1.0, 8.0]
    engine.reset("a", 3.0)  # already waiting: no second reset
    assert resets(engine) == []
    engine.handle_timer(8.0)
    assert engine.info("a").state is S.PENDING
    engine.reset("a", 200.0)  # window passed: immediate again
    assert [e.resubscribe_at for e in resets(engine)] == [200.0]


def test_unsubscribe_while_deferred_cancels_the_recreation(make_engine: Any, live: Any) -> None:
    engine = make_engine(damping_resets=1)
    live(engine, "a", {})
    engine.reset("a", 1.0)
    engine.reset("a", 2.0)
    assert engine.info("a").state is S.RESET_DEFERRED
    engine.drain_requests()
    engine.unsubscribe("a")
    assert engine.drain_requests() == []  # the old id is already deleted
    engine.handle_timer(1000.0)
    assert engine.drain_requests() == [] and engine.next_deadline() is None


def test_incomplete_partitions_time_out(make_engine: Any, live: Any) -> None:
    engine = make_engine(partition_timeout=5.0)
    live(engine, "a", [], keys=("Id",), timeout=0)
    engine.receive({"ReferenceId": "a", "__pn": 0, "__pc": 2, "Data": [{"Id": 1}]}, 10.0)
    assert engine.next_deadline() == 15.0
    engine.handle_timer(15.0)
    events = engine.drain_events()
    assert any(isinstance(e, ProtocolError) and "1 of 2 partitions" in e.message for e in events)
    assert [e.reason for e in events if isinstance(e, SubscriptionReset)] == [
        ResetReason.PARTITION_ERROR
    ]
    assert engine.latest("a") == []


def test_after_timer_nothing_is_due(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {}, timeout=3)
    live(engine, "b", {}, timeout=4)
    engine.handle_timer(100.0)
    deadline = engine.next_deadline()
    assert deadline is None or deadline > 100.0
