"""Subscription lifecycle: subscribe, snapshot, unsubscribe (one, by tag, all), failures."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkit.streaming import (
    DuplicateSubscriptionError,
    InvalidArgumentError,
    ProtocolError,
    Snapshot,
    SnapshotApplied,
    StateChanged,
    StreamingConfig,
    StreamingEngine,
    SubscribeRequest,
    SubscriptionFailed,
    SubscriptionState,
    UnknownSubscriptionError,
    UnsubscribeContextRequest,
    UnsubscribeRequest,
    UnsubscribeTagRequest,
    request_body,
)

S = SubscriptionState


def test_subscribe_produces_a_post_request(engine: StreamingEngine) -> None:
    name = engine.subscribe(
        "/trade/v1/infoprices/",
        "prices1",
        {"AssetType": "FxSpot", "Uics": "21"},
        refresh_rate=5,
        tag="2345223",
        format="application/json",
    )
    assert name == "prices1"
    [req] = engine.drain_requests()
    assert isinstance(req, SubscribeRequest)
    assert (req.method, req.path) == ("POST", "/openapi/trade/v1/infoprices/subscriptions/")
    assert request_body(req) == {
        "Arguments": {"AssetType": "FxSpot", "Uics": "21"},
        "ContextId": "ctx1",
        "Format": "application/json",
        "ReferenceId": "prices1",
        "RefreshRate": 5,
        "Tag": "2345223",
    }
    assert engine.drain_requests() == []
    info = engine.info(name)
    assert info.state is S.PENDING and not info.has_snapshot and engine.latest(name) is None


def test_arguments_are_copied_at_subscribe(engine: StreamingEngine) -> None:
    args = {"Uic": 21}
    engine.subscribe("trade/v1/infoprices", "p", args)
    args["Uic"] = 99
    [req] = engine.drain_requests()
    assert req.arguments == {"Uic": 21}


def test_snapshot_is_applied_with_its_fields(engine: StreamingEngine, snap: Any) -> None:
    engine.subscribe("trade/v1/infoprices", "p", refresh_rate=5, tag="t")
    body = snap(
        "p",
        {"Quote": {"Bid": 1.0}},
        45,
        RefreshRate=1000,
        State="Active",
        Tag="t",
        Format="application/json",
    )
    engine.receive_snapshot(body, now=10.0)
    assert engine.drain_events() == [
        StateChanged("p", "p", S.PENDING, S.ACTIVE),
        SnapshotApplied("p", "p", 0),
    ]
    info = engine.info("p")
    assert info.state is S.ACTIVE and info.has_snapshot
    assert info.inactivity_timeout == 45 and info.refresh_rate == 1000 and info.tag == "t"
    assert info.last_activity == 10.0
    assert engine.latest("p") == {"Quote": {"Bid": 1.0}}
    body["Snapshot"]["Quote"]["Bid"] = 5.0  # the caller's body is not the engine's state
    assert engine.latest("p") == {"Quote": {"Bid": 1.0}}
    assert engine.statistics().snapshots_applied == 1


def test_snapshot_as_bytes_or_model(engine: StreamingEngine) -> None:
    engine.subscribe("r", "a")
    engine.subscribe("r", "b")
    engine.receive_snapshot(b'{"ContextId":"ctx1","ReferenceId":"a","Snapshot":{"x":1}}', 0.0)
    engine.receive_snapshot(Snapshot("ctx1", "b", {"y": 2}, 30), 0.0)
    assert engine.latest("a") == {"x": 1} and engine.latest("b") == {"y": 2}


def test_unsubscribe_single(engine: StreamingEngine, live: Any) -> None:
    live(engine, "p", {"x": 1})
    engine.unsubscribe("P")
    [req] = engine.drain_requests()
    assert req == UnsubscribeRequest("trade/v1/infoprices", "ctx1", "p")
    assert (req.method, req.path) == ("DELETE", "/openapi/trade/v1/infoprices/subscriptions/ctx1/p")
    with pytest.raises(UnknownSubscriptionError):
        engine.latest("p")
    engine.receive({"ReferenceId": "p", "Data": {"x": 2}}, 1.0)
    assert engine.statistics().stale_messages == 1
    with pytest.raises(DuplicateSubscriptionError):
        engine.subscribe("trade/v1/infoprices", "p")


def test_unsubscribe_by_tag_one_request_per_resource(engine: StreamingEngine) -> None:
    engine.subscribe("trade/v1/infoprices", "a", tag="g1")
    engine.subscribe("trade/v1/infoprices", "b", tag="g1")
    engine.subscribe("port/v1/positions", "c", tag="g1")
    engine.subscribe("port/v1/positions", "d", tag="g2")
    engine.drain_requests()
    assert engine.unsubscribe_tag("g1") == 3
    reqs = engine.drain_requests()
    assert reqs == [
        UnsubscribeTagRequest("trade/v1/infoprices", "ctx1", "g1"),
        UnsubscribeTagRequest("port/v1/positions", "ctx1", "g1"),
    ]
    assert reqs[0].path == "/openapi/trade/v1/infoprices/subscriptions/ctx1?Tag=g1"
    assert engine.names() == ["d"]
    assert engine.unsubscribe_tag("nope") == 0 and engine.drain_requests() == []


def test_tag_is_quoted_in_the_delete_path() -> None:
    req = UnsubscribeTagRequest("port/v1/positions", "ctx1", "my tag&x=1")
    assert req.path == "/openapi/port/v1/positions/subscriptions/ctx1?Tag=my%20tag%26x%3D1"


def test_unsubscribe_all_of_the_context(engine: StreamingEngine) -> None:
    engine.subscribe("trade/v1/infoprices", "a")
    engine.subscribe("port/v1/positions", "b")
    engine.subscribe("port/v1/positions", "c")
    engine.drain_requests()
    assert engine.unsubscribe_all() == 3
    reqs = engine.drain_requests()
    assert reqs == [
        UnsubscribeContextRequest("trade/v1/infoprices", "ctx1"),
        UnsubscribeContextRequest("port/v1/positions", "ctx1"),
    ]
    assert reqs[1].path == "/openapi/port/v1/positions/subscriptions/ctx1"
    assert engine.names() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"resource": ""}, "resource"),
        ({"resource": "a b"}, "resource"),
        ({"arguments": [1]}, "arguments"),
        ({"refresh_rate": -1}, "refresh_rate"),
        ({"refresh_rate": True}, "refresh_rate"),
        ({"tag": ""}, "tag"),
        ({"format": "application/x-protobuf"}, "format"),
        ({"change_queue": -1}, "change_queue"),
        ({"keys": "Name"}, "keys"),
    ],
)
def test_subscribe_argument_errors_name_the_field(
    engine: StreamingEngine, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"resource": "trade/v1/infoprices", "reference_id": "p"} | kwargs
    with pytest.raises(InvalidArgumentError) as info:
        engine.subscribe(**args)
    assert info.value.field == field
    assert engine.names() == [] and engine.drain_requests() == []


@pytest.mark.parametrize(
    "config",
    [
        {"max_pending_deltas": 0},
        {"damping_resets": 0},
        {"damping_window": 0},
        {"damping_delay": -1},
        {"partition_timeout": "x"},
    ],
)
def test_config_errors_name_the_setting(config: dict[str, Any]) -> None:
    [(setting, _value)] = config.items()
    with pytest.raises(InvalidArgumentError) as info:
        StreamingConfig(**config)
    assert info.value.field == setting


def test_unknown_names(engine: StreamingEngine) -> None:
    for call in (engine.latest, engine.info, engine.unsubscribe, engine.drain_changes):
        with pytest.raises(UnknownSubscriptionError, match="'nope'"):
            call("nope")
    with pytest.raises(UnknownSubscriptionError):
        engine.reset("nope", 0.0)


def test_subscribe_failed_then_reset_retries_with_new_id(
    engine: StreamingEngine, snap: Any
) -> None:
    engine.subscribe("trade/v1/infoprices", "p")
    engine.drain_requests()
    assert engine.subscribe_failed("p", "HTTP 400 bad arguments")
    events = engine.drain_events()
    assert events == [
        StateChanged("p", "p", S.PENDING, S.FAILED),
        SubscriptionFailed("p", "p", "HTTP 400 bad arguments"),
    ]
    assert engine.info("p").state is S.FAILED
    assert engine.drain_requests() == []  # nothing to delete on the server
    engine.receive_snapshot(snap("p", {}), 1.0)  # a late answer for the failed id
    assert engine.info("p").state is S.FAILED and engine.statistics().stale_messages == 1
    assert not engine.subscribe_failed("p", "again")  # already retired
    with pytest.raises(UnknownSubscriptionError):
        engine.subscribe_failed("zzz", "x")
    engine.reset("p", 2.0)
    [req] = engine.drain_requests()
    assert isinstance(req, SubscribeRequest) and req.reference_id == "p-1" and req.replaces == "p"
    engine.receive_snapshot(snap("p-1", {"ok": True}), 3.0)
    assert engine.latest("p") == {"ok": True} and engine.info("p").state is S.ACTIVE


def test_snapshot_for_other_context_fails_the_subscription(
    engine: StreamingEngine, snap: Any
) -> None:
    engine.subscribe("r", "p")
    engine.receive_snapshot(snap("p", {}, context_id="other"), 0.0)
    events = engine.drain_events()
    assert isinstance(events[0], ProtocolError) and "ContextId 'other'" in events[0].message
    assert engine.info("p").state is S.FAILED


def test_snapshot_in_unsupported_format_fails(engine: StreamingEngine, snap: Any) -> None:
    engine.subscribe("r", "p")
    engine.receive_snapshot(snap("p", {}, Format="application/x-protobuf"), 0.0)
    assert engine.info("p").state is S.FAILED
    assert any(
        isinstance(e, ProtocolError) and "Format" in e.message for e in engine.drain_events()
    )


def test_second_snapshot_is_reported_and_ignored(
    engine: StreamingEngine, live: Any, snap: Any
) -> None:
    live(engine, "p", {"x": 1})
    engine.receive_snapshot(snap("p", {"x": 2}), 1.0)
    [ev] = engine.drain_events()
    assert isinstance(ev, ProtocolError) and "second snapshot" in ev.message
    assert engine.latest("p") == {"x": 1}


def test_snapshot_for_unknown_id_is_counted(engine: StreamingEngine, snap: Any) -> None:
    engine.receive_snapshot(snap("ghost", {}), 0.0)
    assert engine.statistics().unknown_reference_ids == 1 and engine.drain_events() == []


def test_names_and_info_views(engine: StreamingEngine, live: Any) -> None:
    live(engine, "b", {})
    live(engine, "a", {})
    assert engine.names() == ["b", "a"]
    assert engine.info("a").resource == "trade/v1/infoprices"
