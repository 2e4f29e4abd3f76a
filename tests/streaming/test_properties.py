"""Property tests: the merge against a deliberately simple model; partitioned == whole;
deltas before the snapshot == after; a reset discards the old id's later updates."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.streaming import StreamingEngine, merge_delta

KEYS = {"items": ("Id",), "items.legs": ("L",), "Data": ("Id",)}


# --- the reference model: plain, in place, on deep copies, linear searches ----------------


def model_apply(state: Any, delta: Any, path: str = "") -> Any:
    if isinstance(delta, dict):
        result = copy.deepcopy(state) if isinstance(state, dict) else {}
        for name, value in delta.items():
            sub = f"{path}.{name}" if path else name
            if isinstance(value, dict):
                result[name] = model_apply(result.get(name), value, sub)
            elif isinstance(value, list) and sub in KEYS:
                old = result.get(name)
                result[name] = model_keyed(old if isinstance(old, list) else [], value, sub)
            else:
                result[name] = copy.deepcopy(value)
        return result
    if isinstance(delta, list):
        if isinstance(state, dict) and isinstance(state.get("Data"), list):
            result = copy.deepcopy(state)
            result["Data"] = model_keyed(result["Data"], delta, "Data")
            return result
        return copy.deepcopy(delta)
    return delta


def model_keyed(current: list[Any], delta: list[Any], path: str) -> list[Any]:
    keys = KEYS[path]
    result = copy.deepcopy(current)
    for element in delta:
        match = None
        for i, old in enumerate(result):
            if isinstance(old, dict) and all(k in old and old[k] == element[k] for k in keys):
                match = i
                break
        if match is None:
            if "__meta_deleted" not in element:
                result.append(model_apply({}, element, path))
        elif "__meta_deleted" in element:
            del result[match]
        else:
            result[match] = model_apply(result[match], element, path)
    return result


# --- strategies ---------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text("xyz", max_size=3)
small_ids = st.integers(0, 6)


def fields(**values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of the given fields."""
    return st.fixed_dictionaries({}, optional=values)


legs_delta = st.lists(
    st.one_of(
        st.builds(lambda i, q: {"L": i, "q": q}, small_ids, scalars),
        st.builds(lambda i: {"L": i, "__meta_deleted": True}, small_ids),
    ),
    max_size=3,
)
item_delta = st.builds(
    lambda i, body: {"Id": i, **body},
    small_ids,
    fields(
        v=scalars,
        sub=fields(x=scalars, y=scalars) | scalars,
        legs=legs_delta,
        tags=st.lists(scalars, max_size=3),
    ),
)
item_delete = st.builds(lambda i: {"Id": i, "__meta_deleted": True}, small_ids)
items_delta = st.lists(st.one_of(item_delta, item_delete), max_size=5)
root_delta = fields(
    a=scalars,
    b=scalars,
    obj=fields(p=scalars, inner=fields(q=scalars, r=scalars) | scalars) | scalars,
    tags=st.lists(scalars, max_size=4),
    items=items_delta,
)
snapshot = root_delta.map(lambda d: model_apply({}, d))


@settings(max_examples=200, deadline=None)
@given(start=snapshot, deltas=st.lists(root_delta, max_size=8))
def test_merge_equals_the_simple_model(start: dict[str, Any], deltas: list[Any]) -> None:
    state = start
    expected = start
    for delta in deltas:
        frozen = copy.deepcopy(delta)
        before = copy.deepcopy(state)
        new = merge_delta(state, delta, keys=KEYS)
        assert delta == frozen and state == before  # inputs never mutated
        expected = model_apply(expected, delta)
        assert new == expected
        state = new


@settings(max_examples=150, deadline=None)
@given(start=snapshot, deltas=st.lists(root_delta, max_size=12))
def test_engine_merge_with_its_index_cache_equals_the_simple_model(
    start: dict[str, Any], deltas: list[Any]
) -> None:
    engine = StreamingEngine("ctx")
    engine.subscribe("r", "a", keys=KEYS, change_queue=len(deltas) + 1)
    engine.receive_snapshot({"ContextId": "ctx", "ReferenceId": "a", "Snapshot": start}, 0.0)
    expected = start
    for delta in deltas:
        engine.receive({"ReferenceId": "a", "Data": delta}, 1.0)
        expected = model_apply(expected, delta)
        assert engine.latest("a") == expected
    # every earlier state handed out stayed as it was (copy-on-write)
    states = [start]
    for delta in deltas:
        states.append(model_apply(states[-1], delta))
    assert [c.state for c in engine.drain_changes("a").changes] == states


# --- through the engine -------------------------------------------------------------------

list_snapshot = st.lists(item_delta, max_size=6, unique_by=lambda d: d["Id"]).map(
    lambda rows: {"Data": model_keyed([], rows, "Data"), "MaxRows": 10}
)


def new_engine(ref: str = "a") -> StreamingEngine:
    engine = StreamingEngine("ctx")
    engine.subscribe("port/v1/positions", ref, keys=KEYS)
    engine.subscribe("trade/v1/infoprices", "other")
    return engine


def feed_snapshot(engine: StreamingEngine, ref: str, data: Any, now: float = 0.0) -> None:
    engine.receive_snapshot(
        {
            "ContextId": "ctx",
            "ReferenceId": ref,
            "InactivityTimeout": 60,
            "Snapshot": copy.deepcopy(data),
        },
        now,
    )


@settings(max_examples=200, deadline=None)
@given(
    snap=list_snapshot,
    update=st.lists(st.one_of(item_delta, item_delete), min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=5),
    noise=st.lists(st.booleans(), max_size=6),
    as_object=st.booleans(),
)
def test_partitioned_update_equals_unpartitioned(
    snap: Any, update: list[Any], cuts: list[int], noise: list[bool], as_object: bool
) -> None:
    bounds = sorted({0, len(update), *(c for c in cuts if c < len(update))})
    chunks = [update[lo:hi] for lo, hi in zip(bounds, bounds[1:], strict=False)]
    whole, parted = new_engine(), new_engine()
    for e in (whole, parted):
        feed_snapshot(e, "a", snap)
        feed_snapshot(e, "other", {"n": 0})

    def data(part: list[Any]) -> Any:
        return {"Data": part} if as_object else part

    whole.receive({"ReferenceId": "a", "Data": data(update)}, 1.0)
    for n, chunk in enumerate(chunks):
        msgs: list[Any] = [
            {"ReferenceId": "a", "__pn": n, "__pc": len(chunks), "Data": data(chunk)}
        ]
        if n < len(noise) and noise[n]:  # other messages in between
            msgs.append({"ReferenceId": "other", "Data": {"n": n}})
            msgs.append(
                {"ReferenceId": "_heartbeat", "Heartbeats": [{"OriginatingReferenceId": "a"}]}
            )
        parted.receive(msgs, 1.0)
    assert parted.latest("a") == whole.latest("a") == model_apply(snap, data(update))
    assert parted.info("a").updates_applied == 1
    assert parted.statistics().protocol_errors == 0


@settings(max_examples=200, deadline=None)
@given(snap=list_snapshot, deltas=st.lists(items_delta, max_size=6))
def test_deltas_before_the_snapshot_equal_deltas_after(snap: Any, deltas: list[Any]) -> None:
    after, before = new_engine(), new_engine()
    feed_snapshot(after, "a", snap)
    for i, d in enumerate(deltas):
        after.receive({"ReferenceId": "a", "Data": d}, 1.0 + i)
        before.receive({"ReferenceId": "a", "Data": d}, 1.0 + i)
    assert before.latest("a") is None and before.info("a").pending_deltas == len(deltas)
    feed_snapshot(before, "a", snap, now=10.0)
    assert before.latest("a") == after.latest("a")
    assert before.info("a").updates_applied == after.info("a").updates_applied == len(deltas)


@settings(max_examples=100, deadline=None)
@given(
    snap=list_snapshot,
    new_snap=list_snapshot,
    old_updates=st.lists(items_delta, max_size=4),
    new_updates=st.lists(items_delta, max_size=4),
    interleave=st.randoms(use_true_random=False),
)
def test_reset_discards_later_updates_for_the_old_id(
    snap: Any, new_snap: Any, old_updates: list[Any], new_updates: list[Any], interleave: Any
) -> None:
    engine = new_engine()
    feed_snapshot(engine, "a", snap)
    engine.receive({"ReferenceId": "_resetsubscriptions", "TargetReferenceIds": ["a"]}, 1.0)
    new_ref = engine.info("a").reference_id
    assert new_ref != "a"
    msgs = [("a", d) for d in old_updates] + [(new_ref, d) for d in new_updates]
    interleave.shuffle(msgs)
    # keep the new id's own order
    ordered_new = iter(new_updates)
    msgs = [(r, next(ordered_new) if r == new_ref else d) for r, d in msgs]
    mid = len(msgs) // 2
    for ref, d in msgs[:mid]:
        engine.receive({"ReferenceId": ref.upper(), "Data": d}, 2.0)
    feed_snapshot(engine, new_ref, new_snap, now=3.0)
    for ref, d in msgs[mid:]:
        engine.receive({"ReferenceId": ref, "Data": d}, 4.0)
    expected = new_snap
    for d in new_updates:
        expected = model_apply(expected, d)
    assert engine.latest("a") == expected
    assert engine.statistics().stale_messages == len(old_updates)
