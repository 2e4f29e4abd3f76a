"""The suite can fail: broken transports and a processor-facing bug fail specific scenarios."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import sessionkit.runtime
from sessionkit.conformance import ScenarioResult, load_scenarios, run_scenario, run_suite

sys.path.insert(0, str(Path(__file__).parent))
broken = importlib.import_module("broken_adapters")


#: every test here runs on both event loops
pytestmark = pytest.mark.parametrize("backend", ["asyncio", "trio"])


def results(adapter: Any, names: list[str], backend: str) -> dict[str, ScenarioResult]:
    chosen = [s for s in load_scenarios() if s.name in names]
    assert len(chosen) == len(names), "a scenario named here no longer exists"
    return {r.name: r for r in run_suite(adapter, chosen, backend=backend).results}


def test_a_transport_dropping_every_third_frame_fails_resend_and_batch_scenarios(
        backend: str) -> None:
    got = results(broken.drops_every_third_frame(), [
        "ack_mid_s1_resend_with_backoff", "batch_of_201", "batch_resend_keeps_cids",
        "idempotency_resend_identical", "login_accepted", "ack_mid_ack_carries_mid"], backend)
    for name in ("ack_mid_s1_resend_with_backoff", "batch_of_201", "batch_resend_keeps_cids",
                 "idempotency_resend_identical"):
        assert got[name].status == "failed", name
    # frames 1 and 2 (login, first order) get through: these still pass
    assert got["login_accepted"].passed
    assert got["ack_mid_ack_carries_mid"].passed
    detail = got["batch_of_201"].detail
    assert detail.startswith("line 13: expect-send batch")
    assert "messages.len: wanted =1, got 200" in detail


def test_a_transport_delivering_frames_twice_fails_duplicate_sensitive_scenarios(
        backend: str) -> None:
    got = results(broken.delivers_frames_twice(), [
        "ack_mid_trade_held_until_size_zero", "event_replay_duplicates_dropped",
        "robustness_unknown_message_type", "login_accepted", "run_id_change_on_heartbeat"], backend)
    assert got["event_replay_duplicates_dropped"].status == "failed"
    assert "duplicate_events" in got["event_replay_duplicates_dropped"].detail
    # the session drops what repeats a message delivered (the same login answer, event or
    # action report again): these still pass
    for name in ("login_accepted", "ack_mid_trade_held_until_size_zero",
                 "robustness_unknown_message_type"):
        assert got[name].passed, name


@contextlib.asynccontextmanager
async def _forgetful_open_session(connector: Any, processor: Any,
                                  **kwargs: Any) -> AsyncIterator[Any]:
    """The runtime with a processor-facing bug: run changes never reach the processor."""

    class Forgetful:
        def __getattr__(self, name: str) -> Any:
            if name == "handle_run_change":
                return lambda *args: None
            return getattr(processor, name)

    async with _REAL_OPEN(connector, Forgetful(), **kwargs) as client:
        yield client


_REAL_OPEN = sessionkit.runtime.open_session


def test_a_processor_facing_bug_fails_the_run_change_scenarios(
        monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setattr(sessionkit.runtime, "open_session", _forgetful_open_session)
    got = results("memory", ["run_id_change_on_heartbeat", "run_id_change_on_ack",
                             "login_accepted"], backend)
    assert got["run_id_change_on_heartbeat"].status == "failed"
    assert "handle_run_change was not called" in got["run_id_change_on_heartbeat"].detail
    assert got["run_id_change_on_ack"].status == "failed"
    assert got["login_accepted"].passed


@contextlib.asynccontextmanager
async def _echoing_open_session(connector: Any, processor: Any,
                                **kwargs: Any) -> AsyncIterator[Any]:
    """A runtime bug: every final state is reported twice."""

    class Twice:
        def __getattr__(self, name: str) -> Any:
            if name == "on_message_finished":
                def twice(event: Any) -> None:
                    processor.on_message_finished(event)
                    processor.on_message_finished(event)
                return twice
            return getattr(processor, name)

    async with _REAL_OPEN(connector, Twice(), **kwargs) as client:
        yield client


def test_a_request_finished_twice_is_caught(monkeypatch: pytest.MonkeyPatch,
                                           backend: str) -> None:
    monkeypatch.setattr(sessionkit.runtime, "open_session", _echoing_open_session)
    got = results("memory", ["ack_mid_s3_final_response_discards",
                             "ack_mid_cancel_is_ack_only"], backend)
    assert "finished 2 times" in got["ack_mid_s3_final_response_discards"].detail
    assert got["ack_mid_cancel_is_ack_only"].status == "failed"


def test_scenarios_needing_an_unclaimed_capability_are_skipped(backend: str) -> None:
    report = run_suite(broken.without_batch(),
                       [s for s in load_scenarios() if s.category in ("batch", "login")],
                       backend=backend)
    batch = [r for r in report.results if r.category == "batch"]
    assert batch and all(r.status == "skipped" for r in batch)
    assert all("lacks capability batch" in r.detail for r in batch)
    assert all(r.passed for r in report.results if r.category == "login")
    cats = report.to_dict()["categories"]
    assert cats["batch"] == {"passed": 0, "failed": 0, "skipped": len(batch)}


class _SpinningTransport:
    """A transport bug: receive_frames never waits (returns nothing at once)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def send_frames(self, frames: list[bytes]) -> None:
        await self.inner.send_frames(frames)

    async def receive_frames(self) -> list[bytes]:
        await anyio.lowlevel.checkpoint()
        return []

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_livelock_is_stopped_by_the_real_time_watchdog(backend: str) -> None:
    adapter = broken.BrokenAdapter("spinning", _SpinningTransport)
    scenario = next(s for s in load_scenarios() if s.name == "login_accepted")
    result = run_scenario(scenario, adapter, real_time_limit=1.0, backend=backend)
    assert result.status == "failed"
    assert "livelock" in result.detail


def test_transport_rules_are_checked(backend: str) -> None:
    unsafe = results(broken.not_cancel_safe(), [
        "transport_receive_cancel_safe", "transport_frames_in_order"], backend)
    assert unsafe["transport_receive_cancel_safe"].status == "failed"
    assert "receive_frames is not cancel-safe" in unsafe["transport_receive_cancel_safe"].message
    assert unsafe["transport_frames_in_order"].passed
    dropping = results(broken.drops_every_third_frame(), ["transport_frames_in_order"], backend)
    assert "client to server" in dropping["transport_frames_in_order"].detail


def test_a_receive_that_is_not_cancel_safe_is_reported_as_such_on_a_real_io_clock(
        backend: str) -> None:
    """On the clock of a transport doing real I/O (virtual time jumps only after every task
    waited 50 ms of real time) the check used to wait for the lost frames in 1 ms steps,
    each costing 50 ms of real time, until the watchdog called it a livelock."""
    scenario = next(s for s in load_scenarios() if s.name == "transport_receive_cancel_safe")
    result = run_scenario(scenario, broken.not_cancel_safe(), clock="virtual:0.05",
                          real_time_limit=30, backend=backend)
    assert result.status == "failed"
    assert result.step == "line 6: check-transport receive-cancel-safe"
    assert "receive_frames is not cancel-safe" in result.message, result.detail
    assert "livelock" not in result.detail


def test_a_slow_wire_does_not_make_virtual_time_jump_past_a_frame_in_flight(backend: str) -> None:
    """A frame that takes 0.3 s of real time to cross is still in flight when every task has
    waited 0.1 s: the clock must not jump to the next timer (a resend, a step's deadline)
    meanwhile, or a sound adapter fails on a loaded machine."""
    got = results(broken.slow_wire(0.3), ["ack_mid_s1_resend_with_backoff",
                                          "ack_mid_ack_carries_mid"], backend)
    assert got["ack_mid_s1_resend_with_backoff"].passed, got["ack_mid_s1_resend_with_backoff"]
    assert got["ack_mid_ack_carries_mid"].passed, got["ack_mid_ack_carries_mid"]


def test_a_server_slow_to_close_does_not_fail_a_scenario_that_passed(backend: str) -> None:
    """Virtual time keeps jumping while a server's close takes real time; the scenario's
    virtual-time limit is for its steps, so a passed scenario stays passed."""
    got = results(broken.SlowCloseAdapter(0.6), ["login_accepted"], backend)
    assert got["login_accepted"].passed, got["login_accepted"]


def test_a_transport_carries_what_it_declares_and_the_suite_keeps_to_it(backend: str) -> None:
    """A transport losing frames over 4096 bytes fails the oversize and frames-in-order
    scenarios while it claims no limit; declaring max_frame_size=4096 it passes them (the
    suite's codecs refuse frames over 4095 bytes, so its oversize frame is 4096)."""
    names = ["robustness_oversize_frame", "transport_frames_in_order"]
    undeclared = results(broken.drops_frames_over(4096, declared=False), names, backend)
    assert undeclared["robustness_oversize_frame"].status == "failed"
    assert "on_protocol_error" in undeclared["robustness_oversize_frame"].step
    assert "server to client" in undeclared["transport_frames_in_order"].message
    declared = results(broken.drops_frames_over(4096, declared=True), names, backend)
    assert all(r.passed for r in declared.values()), declared


def test_a_failure_says_why_the_session_ended(backend: str) -> None:
    """The JSON summary of a failure names the step, what did not hold and the cause: the
    exception chain of the session's end, down to the adapter's own error and where it was
    raised."""
    chosen = [s for s in load_scenarios() if s.name == "login_accepted"]
    report = run_suite(broken.raising_send(), chosen, backend=backend)
    (failure,) = report.to_dict()["failures"]
    assert failure["step"].startswith("line ")
    assert "expect-send login" in failure["step"]
    assert "SessionFailedError" in failure["cause"]
    assert "OSError: [Errno 5] the wire fell off" in failure["cause"]
    assert "raised at tests/conformance/broken_adapters.py:" in failure["cause"]
    assert "in send_frames" in failure["cause"]


def test_a_crash_outside_a_step_is_reported_with_where_it_was_raised(backend: str) -> None:
    class CannotServe(broken.BrokenAdapter):
        @contextlib.asynccontextmanager
        async def serve(self, **options: Any) -> AsyncIterator[Any]:
            raise OSError(98, "address already in use")
            yield

    report = run_suite(CannotServe("cannot-serve", lambda inner: inner),
                       [s for s in load_scenarios() if s.name == "login_accepted"],
                       backend=backend)
    (failure,) = report.to_dict()["failures"]
    assert "the scenario crashed: OSError" in failure["detail"]
    assert "address already in use (raised at tests/conformance/test_broken_adapters.py:" \
        in failure["cause"]
