"""Malformed input from the far side: an error event naming the problem, never an exception
out of receive(), never a corrupted state."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.streaming import (
    ProtocolError,
    ResetReason,
    StreamingEngine,
    SubscriptionReset,
)

SNAP = {"Data": [{"Id": 1, "V": {"x": 1}}], "Total": 1}


@pytest.fixture
def eng(engine: StreamingEngine, live: Any) -> StreamingEngine:
    live(engine, "a", SNAP, keys=("Id",))
    return engine


def errors(engine: StreamingEngine) -> list[str]:
    return [e.message for e in engine.drain_events() if isinstance(e, ProtocolError)]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{not json", "not valid JSON"),
        ("", "not valid JSON"),
        (42, "payload must be a message or a list of messages, got 42"),
        (None, "payload must be a message or a list of messages"),
        ([7], "stream message must be an object, got 7"),
        ([{"Data": {}}], "no string ReferenceId"),
        ([{"ReferenceId": 5}], "no string ReferenceId"),
        ([{"ReferenceId": ["a"]}], "no string ReferenceId"),
        ({"ReferenceId": "_heartbeat"}, "Heartbeats must be a list, got None"),
        ({"ReferenceId": "_heartbeat", "Heartbeats": [3]}, "Heartbeats[0] must be an object"),
        (
            {"ReferenceId": "_heartbeat", "Heartbeats": [{"Reason": "NoNewData"}]},
            "Heartbeats[0].OriginatingReferenceId must be a string",
        ),
        (
            {
                "ReferenceId": "_heartbeat",
                "Heartbeats": [{"OriginatingReferenceId": "a", "Reason": "Sleepy"}],
            },
            "Reason 'Sleepy' is not a known heartbeat reason",
        ),
        (
            {"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": "a"},
            "TargetReferenceIds must be a list of strings",
        ),
        (
            {"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": [1]},
            "TargetReferenceIds must be a list of strings",
        ),
    ],
)
def test_malformed_messages_become_error_events(
    eng: StreamingEngine, payload: Any, problem: str
) -> None:
    eng.receive(payload, 1.0)
    msgs = errors(eng)
    assert len(msgs) == 1 and problem in msgs[0], msgs
    assert eng.latest("a") == SNAP and eng.info("a").reference_id == "a"
    assert eng.statistics().protocol_errors == 1


@pytest.mark.parametrize(
    ("msg", "problem"),
    [
        ({"ReferenceId": "a"}, "update has no Data"),
        ({"ReferenceId": "a", "Data": 5}, "update Data must be an object or array, got 5"),
        ({"ReferenceId": "a", "Data": [{"NoId": 1}]}, "$.Data[0]: element lacks key property 'Id'"),
        ({"ReferenceId": "a", "Data": [{"Id": 2}, "x"]}, "$.Data[1]"),
    ],
)
def test_malformed_updates_report_and_reset_without_touching_state(
    eng: StreamingEngine, msg: dict[str, Any], problem: str
) -> None:
    eng.receive([msg, {"ReferenceId": "a", "Data": [{"Id": 1, "V": {"x": 2}}]}], 1.0)
    events = eng.drain_events()
    [err] = [e for e in events if isinstance(e, ProtocolError)]
    assert problem in err.message and err.reference_id == "a" and err.subscription == "a"
    [reset] = [e for e in events if isinstance(e, SubscriptionReset)]
    assert reset.reason is ResetReason.MALFORMED_UPDATE
    # state is the last good one; the following update went to the retired id
    assert eng.latest("a") == SNAP
    assert eng.statistics().stale_messages == 1


def test_malformed_delta_queued_before_snapshot_resets_at_snapshot(
    engine: StreamingEngine, snap: Any
) -> None:
    engine.subscribe("r", "a", keys=("Id",))
    engine.receive({"ReferenceId": "a", "Data": [{"Id": 1, "V": 5}]}, 0.0)
    engine.receive({"ReferenceId": "a", "Data": [{"nokey": 1}]}, 0.0)
    engine.receive_snapshot(snap("a", SNAP), 1.0)
    events = engine.drain_events()
    assert [e.reason for e in events if isinstance(e, SubscriptionReset)] == [
        ResetReason.MALFORMED_UPDATE
    ]
    assert engine.latest("a") == {"Data": [{"Id": 1, "V": 5}], "Total": 1}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "snapshot body must be a JSON object, got list"),
        (b"\xff", "not valid JSON"),
        ({"ContextId": "ctx1", "Snapshot": {}}, "ReferenceId is missing"),
        ({"ContextId": 3, "ReferenceId": "a", "Snapshot": {}}, "ContextId: expected a string"),
        ({"ContextId": "ctx1", "ReferenceId": "a"}, "Snapshot is missing"),
        (
            {"ContextId": "ctx1", "ReferenceId": "a", "Snapshot": {}, "InactivityTimeout": "30"},
            "InactivityTimeout: expected a number",
        ),
        (
            {"ContextId": "ctx1", "ReferenceId": "a", "Snapshot": {}, "InactivityTimeout": -1},
            "InactivityTimeout -1.0 is negative",
        ),
        (
            {"ContextId": "ctx1", "ReferenceId": "a", "Snapshot": {}, "RefreshRate": 1.5},
            "RefreshRate: expected an integer",
        ),
    ],
)
def test_malformed_snapshots_become_error_events(
    engine: StreamingEngine, body: Any, problem: str
) -> None:
    engine.subscribe("r", "a")
    engine.receive_snapshot(body, 0.0)
    msgs = errors(engine)
    assert len(msgs) == 1 and problem in msgs[0], msgs
    assert not engine.info("a").has_snapshot


def test_a_bad_message_does_not_stop_the_rest_of_the_payload(eng: StreamingEngine) -> None:
    eng.receive(
        [
            1,
            {"ReferenceId": "_heartbeat"},
            {"ReferenceId": "a", "Data": [{"Id": 1, "V": {"x": 3}}]},
        ],
        1.0,
    )
    assert len(errors(eng)) == 2
    assert eng.latest("a")["Data"] == [{"Id": 1, "V": {"x": 3}}]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Id",
                    "V",
                    "x",
                    "Data",
                    "__meta_deleted",
                    "__pn",
                    "__pc",
                    "Heartbeats",
                    "TargetReferenceIds",
                    "Reason",
                    "OriginatingReferenceId",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
ref_ids = st.sampled_from(["a", "A", "b", "_heartbeat", "_resetsubscriptions", "zz", 3, None])
messages = st.builds(
    lambda ref, body: {"ReferenceId": ref, **body} if isinstance(body, dict) else body,
    ref_ids,
    json_values,
)


@settings(max_examples=200, deadline=None)
@given(payload=st.lists(messages, max_size=6) | json_values | st.binary(max_size=20))
def test_fuzzed_payloads_never_raise_or_corrupt(payload: Any) -> None:
    engine = StreamingEngine("ctx1")
    engine.subscribe("r", "a", keys=("Id",))
    engine.receive_snapshot(
        {"ContextId": "ctx1", "ReferenceId": "a", "Snapshot": copy.deepcopy(SNAP)}, 0.0
    )
    before = copy.deepcopy(payload)
    engine.receive(payload, 1.0)
    assert payload == before  # input untouched
    for ev in engine.drain_events():
        if isinstance(ev, ProtocolError):
            assert "internal error" not in ev.message
    state = engine.latest("a")
    assert isinstance(state, (dict, list))
    if isinstance(state, dict) and isinstance(state.get("Data"), list):
        ids = [el.get("Id") for el in state["Data"] if isinstance(el, dict) and "Id" in el]
        assert len(ids) == len(set(map(repr, ids)))  # keyed array stays keyed
