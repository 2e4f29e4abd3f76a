"""A hypothesis state machine over the engine: subscribe, snapshot, delta, partition,
heartbeat, reset, fail, unsubscribe, disconnect and timer steps in any order, with a
simple model of each subscription checked after every step."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from sessionkit.streaming import (
    Disconnected,
    DuplicateSubscriptionError,
    EngineState,
    ProtocolError,
    ResetReason,
    SessionDisconnectedError,
    SnapshotApplied,
    StateChanged,
    StreamingConfig,
    StreamingEngine,
    SubscribeRequest,
    SubscriptionFailed,
    SubscriptionReset,
    SubscriptionState,
    UnsubscribeRequest,
    Updated,
    validate_reference_id,
)

S = SubscriptionState
LIVE = {S.PENDING, S.ACTIVE, S.TEMPORARILY_DISABLED, S.PERMANENTLY_DISABLED}
CONFIG = StreamingConfig(
    max_pending_deltas=2,
    partition_timeout=5.0,
    damping_resets=3,
    damping_window=60.0,
    damping_delay=30.0,
)
NAMES = st.sampled_from(["a", "b", "Cc"])
REASONS = st.sampled_from(
    [None, "NoNewData", "SubscriptionTemporarilyDisabled", "SubscriptionPermanentlyDisabled"]
)
ids = st.integers(0, 4)
element = st.one_of(
    st.builds(lambda i, v: {"Id": i, "V": v}, ids, st.integers(0, 9)),
    st.builds(lambda i, v: {"Id": i, "W": {"x": v}}, ids, st.integers(0, 9)),
    st.builds(lambda i: {"Id": i, "__meta_deleted": True}, ids),
)
elements = st.lists(element, max_size=3)


def apply_keyed(data: Any, delta: list[Any]) -> Any:
    """The model merge: the list-resource Data array keyed by Id, linear search."""
    result = copy.deepcopy(data)
    rows = result["Data"]
    for el in delta:
        match = next((i for i, r in enumerate(rows) if r["Id"] == el["Id"]), None)
        if match is None:
            if "__meta_deleted" not in el:
                rows.append(copy.deepcopy(el))
        elif "__meta_deleted" in el:
            del rows[match]
        else:
            for k, v in el.items():
                if isinstance(v, dict) and isinstance(rows[match].get(k), dict):
                    rows[match][k] = {**rows[match][k], **v}
                else:
                    rows[match][k] = copy.deepcopy(v)
    return result


class Model:
    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.state = S.PENDING
        self.data: Any = None
        self.has_snapshot = False
        self.pending: list[Any] = []
        self.parts: list[Any] = []
        self.total = 0
        self.started = 0.0
        self.last_activity: float | None = None
        self.timeout = 0.0

    def forget(self) -> None:
        self.has_snapshot = False
        self.pending = []
        self.parts = []
        self.total = 0
        self.last_activity = None


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = StreamingEngine("ctx", CONFIG)
        self.now = 0.0
        self.subs: dict[str, Model] = {}
        self.gone: set[str] = set()
        self.outstanding: list[tuple[str, str]] = []
        self.old_refs: list[str] = ["nobody"]
        self.seen_refs: set[str] = set()
        self.recreations: dict[str, list[float]] = {}
        self.disconnected = False
        self.last_stats = self.engine.statistics()

    # -- bookkeeping -----------------------------------------------------------------

    def sync(
        self,
        predicted: dict[str, ResetReason] | None = None,
        states: dict[str, S] | None = None,
        timer: bool = False,
    ) -> None:
        predicted = dict(predicted or {})
        seen_resets: set[str] = set()
        for ev in self.engine.drain_events():
            if isinstance(ev, StateChanged):
                m = self.subs[ev.subscription]
                assert ev.old is m.state, (ev, m.state)
                event(f"state: {ev.new.value}")
                m.state = ev.new
            elif isinstance(ev, SubscriptionReset):
                m = self.subs[ev.subscription]
                assert ev.old_reference_id == m.ref
                if ev.reason is ResetReason.INACTIVITY:
                    assert timer and m.state in (S.ACTIVE, S.TEMPORARILY_DISABLED)
                    assert m.has_snapshot and m.timeout > 0 and m.last_activity is not None
                    assert self.now - m.last_activity >= m.timeout
                elif ev.reason is ResetReason.PARTITION_ERROR and timer:
                    assert m.total and self.now - m.started >= CONFIG.partition_timeout
                else:
                    assert predicted.pop(ev.subscription) is ev.reason, ev
                event(f"reset: {ev.reason.value}, deferred: {ev.resubscribe_at > self.now}")
                seen_resets.add(ev.subscription)
                self.old_refs.append(ev.old_reference_id)
                m.forget()
            elif isinstance(ev, ProtocolError):
                assert "internal error" not in ev.message
            elif isinstance(ev, Disconnected):
                assert self.disconnected
            elif isinstance(ev, SnapshotApplied):
                assert self.subs[ev.subscription].ref == ev.reference_id
            elif isinstance(ev, SubscriptionFailed):
                assert self.subs[ev.subscription].state is S.FAILED
            else:
                assert isinstance(ev, Updated)
        assert predicted == {}, f"predicted resets did not happen: {predicted}"
        for req in self.engine.drain_requests():
            if isinstance(req, SubscribeRequest):
                norm = req.reference_id.lower()
                assert norm not in self.seen_refs, "a reference id was used twice"
                validate_reference_id(req.reference_id)
                self.seen_refs.add(norm)
                self.outstanding.append((req.reference_id, req.reference_id))
                if req.replaces is not None:
                    name = next(n for n, m in self.subs.items() if m.ref == req.replaces)
                    times = self.recreations.setdefault(name, [])
                    if len(times) >= 3 and times[-3] > self.now - CONFIG.damping_window:
                        assert self.now >= times[-1] + CONFIG.damping_delay, "not damped"
                    times.append(self.now)
                    self.subs[name].ref = req.reference_id
            else:
                assert isinstance(req, UnsubscribeRequest)
        for name, state in (states or {}).items():
            if name not in seen_resets and name in self.subs:
                assert self.subs[name].state is state, (name, self.subs[name].state, state)

    def live(self, name: str) -> Model | None:
        m = self.subs.get(name)
        return m if m is not None and m.state in LIVE else None

    def deliver(
        self,
        name: str,
        m: Model,
        data: list[Any],
        predicted: dict[str, ResetReason],
        states: dict[str, S],
    ) -> None:
        """What the model expects from a complete update for the current id."""
        if not m.has_snapshot:
            if len(m.pending) >= CONFIG.max_pending_deltas:
                predicted[name] = ResetReason.QUEUE_OVERFLOW
            else:
                m.pending.append(data)
            return
        m.data = apply_keyed(m.data, data)
        if m.state is S.TEMPORARILY_DISABLED:
            states[name] = S.ACTIVE

    # -- rules -----------------------------------------------------------------------

    @initialize(timeout=st.sampled_from([3, 10]))
    def start_with_two_live_subscriptions(self, timeout: int) -> None:
        for name in ("a", "Cc"):
            self.engine.subscribe("port/v1/positions", name, keys=("Id",))
            self.subs[name] = Model(name)
        self.sync()
        while self.outstanding:
            self.snapshot(0, [{"Id": 1, "V": 0}], timeout)

    @precondition(lambda self: not self.disconnected)
    @rule(name=NAMES)
    def subscribe(self, name: str) -> None:
        if name in self.subs or name in self.gone:
            with pytest.raises(DuplicateSubscriptionError):
                self.engine.subscribe("port/v1/positions", name, keys=("Id",))
            return
        self.engine.subscribe("port/v1/positions", name, keys=("Id",))
        self.subs[name] = Model(name)
        self.sync()

    @precondition(lambda self: bool(self.outstanding))
    @rule(
        index=st.integers(0, 50),
        rows=st.lists(
            st.builds(lambda i, v: {"Id": i, "V": v}, ids, st.integers(0, 9)),
            max_size=4,
            unique_by=lambda r: r["Id"],
        ),
        timeout=st.sampled_from([0, 3, 10]),
    )
    def snapshot(self, index: int, rows: list[Any], timeout: int) -> None:
        ref, _ = self.outstanding.pop(index % len(self.outstanding))
        data = {"Data": rows, "MaxRows": 10}
        self.engine.receive_snapshot(
            {
                "ContextId": "ctx",
                "ReferenceId": ref,
                "InactivityTimeout": timeout,
                "Snapshot": data,
            },
            self.now,
        )
        states: dict[str, S] = {}
        if self.disconnected:
            self.sync()
            return
        for name, m in self.subs.items():
            if m.ref == ref and m.state in LIVE and not m.has_snapshot:
                m.has_snapshot = True
                m.data = copy.deepcopy(data)
                m.timeout = timeout
                m.last_activity = self.now
                for d in m.pending:
                    m.data = apply_keyed(m.data, d)
                m.pending = []
                event("snapshot applied")
                if m.state is S.PENDING:
                    states[name] = S.ACTIVE
        self.sync(states=states)

    @rule(name=NAMES, delta=elements, stale=st.booleans())
    def delta(self, name: str, delta: list[Any], stale: bool) -> None:
        m = self.live(name)
        predicted: dict[str, ResetReason] = {}
        states: dict[str, S] = {}
        if stale or m is None or self.disconnected:
            self.engine.receive({"ReferenceId": self.old_refs[-1], "Data": delta}, self.now)
        else:
            self.engine.receive({"ReferenceId": m.ref, "Data": delta}, self.now)
            m.last_activity = self.now
            if m.total:
                predicted[name] = ResetReason.PARTITION_ERROR
            else:
                self.deliver(name, m, delta, predicted, states)
        self.sync(predicted, states)

    @precondition(lambda self: not self.disconnected)
    @rule(
        name=NAMES,
        chunk=elements,
        pn=st.integers(-1, 3),
        pc=st.integers(0, 3),
        mode=st.sampled_from(["next", "next", "next", "repeat", "skip", "other_total", "any"]),
    )
    def partition(self, name: str, chunk: list[Any], pn: int, pc: int, mode: str) -> None:
        m = self.live(name)
        if m is None:
            return
        if mode != "any":  # continue (or start) the set in progress, perhaps with a fault
            pc = m.total or max(pc, 1)
            pn = len(m.parts) + {"next": 0, "repeat": -1, "skip": 1}.get(mode, 0)
            if mode == "other_total":
                pc += 1
        predicted: dict[str, ResetReason] = {}
        states: dict[str, S] = {}
        self.engine.receive({"ReferenceId": m.ref, "__pn": pn, "__pc": pc, "Data": chunk}, self.now)
        m.last_activity = self.now
        ok = (
            pc >= 1
            and 0 <= pn < pc
            and ((not m.total and pn == 0) or (m.total == pc and pn == len(m.parts)))
        )
        if not ok:
            predicted[name] = ResetReason.PARTITION_ERROR
        else:
            if not m.total:
                m.total, m.started = pc, self.now
            m.parts.append(chunk)
            if pn == pc - 1:
                joined = [el for part in m.parts for el in part]
                m.parts, m.total = [], 0
                self.deliver(name, m, joined, predicted, states)
        self.sync(predicted, states)

    @rule(name=NAMES, reason=REASONS, stale=st.booleans())
    def heartbeat(self, name: str, reason: str | None, stale: bool) -> None:
        m = self.live(name)
        target = self.old_refs[-1] if stale or m is None else m.ref
        beat: dict[str, Any] = {"OriginatingReferenceId": target}
        if reason is not None:
            beat["Reason"] = reason
        self.engine.receive({"ReferenceId": "_heartbeat", "Heartbeats": [beat]}, self.now)
        states: dict[str, S] = {}
        if m is not None and not stale and not self.disconnected:
            m.last_activity = self.now
            states[name] = {
                "SubscriptionTemporarilyDisabled": S.TEMPORARILY_DISABLED,
                "SubscriptionPermanentlyDisabled": S.PERMANENTLY_DISABLED,
            }.get(reason or "", S.ACTIVE if m.has_snapshot else S.PENDING)
        self.sync(states=states)

    @rule(chosen_targets=st.none() | st.lists(NAMES, max_size=3))
    def server_reset(self, chosen_targets: list[str] | None) -> None:
        targets = chosen_targets
        msg: dict[str, Any] = {"ReferenceId": "_resetsubscriptions"}
        chosen = list(self.subs) if not targets else targets  # empty or absent: all
        if targets is not None:
            msg["TargetReferenceIds"] = [
                self.subs[n].ref if n in self.subs else "nobody" for n in targets
            ]
        self.engine.receive(msg, self.now)
        predicted = (
            {}
            if self.disconnected
            else {n: ResetReason.SERVER_REQUEST for n in chosen if self.live(n) is not None}
        )
        self.sync(predicted)

    @precondition(lambda self: not self.disconnected)
    @rule(name=NAMES)
    def manual_reset(self, name: str) -> None:
        m = self.subs.get(name)
        if m is None:
            return
        self.engine.reset(name, self.now)
        predicted = {} if m.state is S.RESET_DEFERRED else {name: ResetReason.MANUAL}
        self.sync(predicted)

    @precondition(lambda self: not self.disconnected)
    @rule(name=NAMES)
    def fail(self, name: str) -> None:
        m = self.live(name)
        if m is None or m.has_snapshot:
            return
        assert self.engine.subscribe_failed(m.ref, "HTTP 503")
        self.old_refs.append(m.ref)
        m.forget()
        self.sync(states={name: S.FAILED})

    @precondition(lambda self: not self.disconnected)
    @rule(name=NAMES)
    def unsubscribe(self, name: str) -> None:
        if name not in self.subs:
            return
        self.engine.unsubscribe(name)
        m = self.subs.pop(name)
        self.old_refs.append(m.ref)
        self.gone.add(name)
        self.sync()

    @rule(dt=st.sampled_from([0.5, 2.0, 5.0, 11.0, 31.0]))
    def advance(self, dt: float) -> None:
        self.now += dt
        self.engine.handle_timer(self.now)
        self.sync(timer=True)

    @precondition(lambda self: self.now >= 20)  # not at once: it ends everything
    @rule()
    def disconnect(self) -> None:
        self.engine.receive([{"ReferenceId": "_disconnect"}], self.now)
        states = {} if self.disconnected else {n: S.DISCONNECTED for n in self.subs}
        for m in self.subs.values():  # what was waiting is dropped
            m.pending, m.parts, m.total = [], [], 0
        self.disconnected = True
        self.sync(states=states)
        with pytest.raises(SessionDisconnectedError):
            self.engine.subscribe("r", "zz")

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def views_match_the_model(self) -> None:
        assert sorted(self.engine.names()) == sorted(self.subs)
        for name, m in self.subs.items():
            info = self.engine.info(name)
            assert info.state is m.state
            assert info.has_snapshot == m.has_snapshot
            assert info.pending_deltas == len(m.pending)
            assert self.engine.latest(name) == m.data
        live_refs = [m.ref.lower() for m in self.subs.values() if m.state in LIVE]
        assert len(live_refs) == len(set(live_refs))

    @invariant()
    def nothing_is_overdue(self) -> None:
        deadline = self.engine.next_deadline()
        assert deadline is None or deadline > self.now

    @invariant()
    def disconnect_is_final(self) -> None:
        if self.disconnected:
            assert self.engine.state is EngineState.DISCONNECTED
            assert self.engine.next_deadline() is None
            assert all(m.state is S.DISCONNECTED for m in self.subs.values())

    @invariant()
    def counters_only_grow(self) -> None:
        stats = self.engine.statistics()
        for field in type(stats).__attrs_attrs__:
            assert getattr(stats, field.name) >= getattr(self.last_stats, field.name)
        self.last_stats = stats


EngineMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# A failing run shrinks for up to 5 minutes; let it finish and report the counterexample.
test_engine_state_machine = pytest.mark.timeout(900)(EngineMachine.TestCase)
