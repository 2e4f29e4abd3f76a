"""Control messages: _heartbeat, _resetsubscriptions, _disconnect; unknown ids."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkit.streaming import (
    Disconnected,
    EngineState,
    HeartbeatReason,
    ResetReason,
    SessionDisconnectedError,
    StateChanged,
    StreamingEngine,
    SubscribeRequest,
    SubscriptionReset,
    SubscriptionState,
    UnsubscribeRequest,
)

S = SubscriptionState
R = HeartbeatReason


def heartbeat(*beats: tuple[str, str | None]) -> dict[str, Any]:
    out = []
    for ref, reason in beats:
        beat = {"OriginatingReferenceId": ref}
        if reason is not None:
            beat["Reason"] = reason
        out.append(beat)
    return {"ReferenceId": "_heartbeat", "Timestamp": "t", "Heartbeats": out}


def test_heartbeat_reasons_become_states_and_events(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {})
    live(engine, "b", {})
    engine.receive(
        [heartbeat(("a", "SubscriptionTemporarilyDisabled"), ("b", "NoNewData"))], now=5.0
    )
    assert engine.drain_events() == [
        StateChanged(
            "a", "a", S.ACTIVE, S.TEMPORARILY_DISABLED, R.SUBSCRIPTION_TEMPORARILY_DISABLED
        ),
    ]
    assert engine.info("a").state is S.TEMPORARILY_DISABLED
    assert engine.info("a").heartbeat_reason is R.SUBSCRIPTION_TEMPORARILY_DISABLED
    assert engine.info("b").heartbeat_reason is R.NO_NEW_DATA
    assert engine.info("b").last_activity == 5.0
    engine.receive(heartbeat(("a", "SubscriptionPermanentlyDisabled")), 6.0)
    assert engine.drain_events() == [
        StateChanged(
            "a",
            "a",
            S.TEMPORARILY_DISABLED,
            S.PERMANENTLY_DISABLED,
            R.SUBSCRIPTION_PERMANENTLY_DISABLED,
        ),
    ]
    engine.receive(heartbeat(("a", None)), 7.0)  # Reason absent = NoNewData
    assert engine.drain_events() == [
        StateChanged("a", "a", S.PERMANENTLY_DISABLED, S.ACTIVE, R.NO_NEW_DATA)
    ]
    assert engine.statistics().heartbeats == 4


def test_data_after_temporary_disable_makes_it_active(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"v": 0})
    engine.receive(heartbeat(("a", "SubscriptionTemporarilyDisabled")), 1.0)
    engine.receive({"ReferenceId": "a", "Data": {"v": 1}}, 2.0)
    events = engine.drain_events()
    assert events[-2] == StateChanged("a", "a", S.TEMPORARILY_DISABLED, S.ACTIVE)
    assert engine.info("a").state is S.ACTIVE


def test_heartbeat_before_snapshot(engine: StreamingEngine, snap: Any) -> None:
    engine.subscribe("r", "a")
    engine.receive(heartbeat(("a", "NoNewData")), 1.0)
    assert engine.info("a").state is S.PENDING
    engine.receive(heartbeat(("a", "SubscriptionTemporarilyDisabled")), 2.0)
    assert engine.info("a").state is S.TEMPORARILY_DISABLED
    engine.receive_snapshot(snap("a", {}), 3.0)
    assert engine.info("a").has_snapshot
    assert engine.info("a").state is S.TEMPORARILY_DISABLED


def test_heartbeat_for_unknown_id_is_counted(engine: StreamingEngine) -> None:
    engine.receive(heartbeat(("nobody", None)), 1.0)
    assert engine.statistics().unknown_reference_ids == 1
    assert engine.drain_events() == []


def test_reset_targets_delete_and_recreate_with_new_ids(
    engine: StreamingEngine, live: Any, snap: Any
) -> None:
    live(engine, "a", {"v": 1})
    live(engine, "b", {"v": 1})
    engine.receive({"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": ["A"]}, 4.0)
    assert engine.drain_requests() == [
        UnsubscribeRequest("trade/v1/infoprices", "ctx1", "a"),
        SubscribeRequest("trade/v1/infoprices", "ctx1", "a-1", replaces="a"),
    ]
    assert engine.drain_events() == [
        SubscriptionReset("a", "a", "a-1", ResetReason.SERVER_REQUEST, 4.0, "_resetsubscriptions"),
        StateChanged("a", "a-1", S.ACTIVE, S.PENDING),
    ]
    info = engine.info("a")
    assert info.reference_id == "a-1" and info.resets == 1 and not info.has_snapshot
    assert engine.latest("a") == {"v": 1}  # last known state until the new snapshot
    # updates for the old id are ignored from now on
    engine.receive({"ReferenceId": "a", "Data": {"v": 666}}, 5.0)
    assert engine.statistics().stale_messages == 1
    # deltas for the new id wait for its snapshot
    engine.receive({"ReferenceId": "a-1", "Data": {"w": 2}}, 5.0)
    assert engine.latest("a") == {"v": 1}
    engine.receive_snapshot(snap("a-1", {"v": 3}), 6.0)
    assert engine.latest("a") == {"v": 3, "w": 2}
    assert engine.info("b").reference_id == "b" and engine.statistics().server_resets == 1


@pytest.mark.parametrize("targets", [[], None])
def test_reset_without_targets_resets_all(
    engine: StreamingEngine, live: Any, targets: list[str] | None
) -> None:
    live(engine, "a", {})
    live(engine, "b", {})
    msg: dict[str, Any] = {"ReferenceId": "_resetsubscriptions", "Timestamp": "t"}
    if targets is not None:
        msg["TargetReferenceIds"] = targets
    engine.receive([msg], 1.0)
    assert [engine.info(n).reference_id for n in ("a", "b")] == ["a-1", "b-1"]
    posts = [r for r in engine.drain_requests() if isinstance(r, SubscribeRequest)]
    assert [p.reference_id for p in posts] == ["a-1", "b-1"]


def test_reset_of_unknown_or_stale_targets_is_counted(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {})
    engine.receive({"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": ["zz"]}, 1.0)
    assert engine.info("a").reference_id == "a"
    assert engine.statistics().unknown_reference_ids == 1


def test_server_reset_applies_even_to_permanently_disabled(
    engine: StreamingEngine, live: Any
) -> None:
    live(engine, "a", {})
    engine.receive(heartbeat(("a", "SubscriptionPermanentlyDisabled")), 1.0)
    engine.receive({"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": ["a"]}, 2.0)
    assert engine.info("a").reference_id == "a-1"


def test_new_ids_skip_ids_already_in_use(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {})
    live(engine, "a-1", {})
    engine.reset("a", 1.0)
    assert engine.info("a").reference_id == "a-2"
    engine.reset("a", 2.0)
    assert engine.info("a").reference_id == "a-3"


def test_disconnect_ends_the_session(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"v": 1})
    engine.subscribe("r", "b")  # request not yet performed
    engine.receive(
        [
            {"ReferenceId": "a", "Data": {"v": 2}},
            {"ReferenceId": "_disconnect", "Timestamp": "t"},
            {"ReferenceId": "a", "Data": {"v": 3}},
        ],
        now=9.0,
    )
    assert engine.state is EngineState.DISCONNECTED
    assert engine.latest("a") == {"v": 2}
    events = engine.drain_events()
    assert events[-1] == Disconnected(9.0)
    assert StateChanged("a", "a", S.ACTIVE, S.DISCONNECTED) in events
    assert engine.info("b").state is S.DISCONNECTED
    assert engine.drain_requests() == []  # would be refused with 401 anyway
    assert engine.next_deadline() is None
    engine.receive({"ReferenceId": "a", "Data": {"v": 4}}, 10.0)
    engine.receive(b"not even json", 10.0)
    engine.receive_snapshot({"ContextId": "ctx1", "ReferenceId": "b", "Snapshot": {}}, 10.0)
    engine.handle_timer(1000.0)
    assert engine.latest("a") == {"v": 2} and engine.drain_events() == []
    assert engine.statistics().ignored_after_disconnect == 4
    for call in (
        lambda: engine.subscribe("r", "c"),
        lambda: engine.unsubscribe("a"),
        lambda: engine.unsubscribe_tag("t"),
        lambda: engine.unsubscribe_all(),
        lambda: engine.reset("a", 11.0),
        lambda: engine.subscribe_failed("b", "x"),
    ):
        with pytest.raises(SessionDisconnectedError, match="log in again"):
            call()


def test_unknown_reference_ids_are_ignored_and_counted(engine: StreamingEngine, live: Any) -> None:
    live(engine, "a", {"v": 1})
    engine.receive(
        [{"ReferenceId": "zzz", "Data": {"v": 2}}, {"ReferenceId": "_somethingnew", "Data": 1}], 1.0
    )
    assert engine.latest("a") == {"v": 1}
    assert engine.statistics().unknown_reference_ids == 2
    assert engine.drain_events() == []
