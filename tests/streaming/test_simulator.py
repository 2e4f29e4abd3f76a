"""The engine fed by the simulated server: the merged state always equals the server's
truth, through partitions, heartbeats, resets, late messages and early deltas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.streaming import (
    POSITION_KEYS,
    EngineState,
    SimulatorConfig,
    StreamingEngine,
    StreamSimulator,
    SubscribeRequest,
    SubscriptionState,
)


def perform(engine: StreamingEngine, sim: StreamSimulator) -> list[dict[str, Any]]:
    """Perform the engine's requests against the simulator; return the snapshot bodies."""
    return [b for r in engine.drain_requests() if (b := sim.handle(r)) is not None]


def run(seed: int, ticks: int, script: dict[int, Any] | None = None) -> tuple[Any, Any]:
    engine = StreamingEngine("ctx")
    sim = StreamSimulator("ctx", SimulatorConfig(seed=seed))
    engine.subscribe("trade/v1/infoprices", "eurusd", {"Uic": 21})
    engine.subscribe("trade/v1/infoprices", "usdjpy", {"Uic": 42})
    engine.subscribe("port/v1/positions", "pos", {"ClientKey": "c1"}, keys=POSITION_KEYS)
    late: list[dict[str, Any]] = []
    for t in range(ticks):
        now = float(t)
        if script and t in script:
            script[t](engine, sim, now)
        late += perform(engine, sim)
        engine.receive(sim.tick(now), now)  # stream messages may come before the snapshots
        for body in late:
            engine.receive_snapshot(body, now)
        late = []
        engine.handle_timer(now)
        for name in engine.names():
            info = engine.info(name)
            if info.has_snapshot and info.state is SubscriptionState.ACTIVE:
                assert engine.latest(name) == sim.truth(info.reference_id), (t, name)
    return engine, sim


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_engine_state_equals_the_server_truth(seed: int) -> None:
    engine, _ = run(seed, 60)
    stats = engine.statistics()
    assert stats.protocol_errors == 0 and stats.resets == 0
    assert stats.partitions > 0 and stats.heartbeats > 0


def test_server_resets_and_late_messages() -> None:
    script = {
        10: lambda e, s, now: s.reset(["eurusd"]),
        20: lambda e, s, now: s.reset(None),
        30: lambda e, s, now: e.unsubscribe("usdjpy"),
    }
    engine, sim = run(7, 40, script)
    assert engine.info("eurusd").reference_id == "eurusd-2"
    assert engine.info("pos").reference_id == "pos-1"
    stats = engine.statistics()
    assert stats.server_resets == 2 and stats.resets == 4
    assert stats.stale_messages >= 5  # the simulator's late messages for deleted ids
    assert stats.protocol_errors == 0
    assert sorted(sim.live_reference_ids()) == ["eurusd-2", "pos-1"]


def test_silence_leads_to_an_inactivity_reset_and_recovery() -> None:
    script = {5: lambda e, s, now: s.set_mode("eurusd", "silent")}
    engine, sim = run(3, 45, script)
    info = engine.info("eurusd")
    assert info.reference_id == "eurusd-1" and info.state is SubscriptionState.ACTIVE
    assert engine.latest("eurusd") == sim.truth("eurusd-1")


@pytest.mark.parametrize(
    ("mode", "state"),
    [
        ("temporarily", SubscriptionState.TEMPORARILY_DISABLED),
        ("permanently", SubscriptionState.PERMANENTLY_DISABLED),
    ],
)
def test_disabled_subscriptions(mode: str, state: SubscriptionState) -> None:
    engine, _ = run(4, 80, {5: lambda e, s, now: s.set_mode("pos", mode)})
    assert engine.info("pos").state is state
    assert engine.info("pos").reference_id == "pos"  # heartbeats keep it alive


def test_disconnect_from_the_simulator() -> None:
    engine, sim = run(5, 12, {8: lambda e, s, now: s.disconnect()})
    assert engine.state is EngineState.DISCONNECTED
    assert sim.tick(100.0) == []


def test_same_seed_same_stream() -> None:
    def stream(seed: int) -> list[Any]:
        sim = StreamSimulator("ctx", SimulatorConfig(seed=seed))
        sim.handle(SubscribeRequest("port/v1/positions", "ctx", "p", {}))
        sim.handle(SubscribeRequest("trade/v1/infoprices", "ctx", "q", {"Uic": 1}))
        return [sim.tick(float(t)) for t in range(30)]

    assert stream(11) == stream(11)
    assert stream(11) != stream(12)


def test_simulator_rejects_unknown_modes() -> None:
    sim = StreamSimulator("ctx")
    sim.handle(SubscribeRequest("r", "ctx", "p"))
    with pytest.raises(ValueError, match="unknown simulator mode"):
        sim.set_mode("p", "sleepy")
