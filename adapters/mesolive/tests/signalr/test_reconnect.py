"""The reconnect policy the SignalR client uses (sessionkit's one ReconnectPolicy, with
``first_immediate``): immediate first retry, capped exponential backoff, bounded jitter."""

from __future__ import annotations

import inspect
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sessionkit_mesolive._client import DEFAULT_RECONNECT
from sessionkit_mesolive.signalr import SIGNALR_RECONNECT, HubConnection, ReconnectPolicy

import sessionkit


def test_one_policy_for_the_runtime_and_the_signalr_client() -> None:
    assert ReconnectPolicy is sessionkit.ReconnectPolicy
    from sessionkit.runtime import ReconnectPolicy as runtime_policy

    assert runtime_policy is ReconnectPolicy
    assert DEFAULT_RECONNECT is SIGNALR_RECONNECT
    default = inspect.signature(HubConnection).parameters["reconnect"].default
    assert default is SIGNALR_RECONNECT
    assert (SIGNALR_RECONNECT.initial, SIGNALR_RECONNECT.max, SIGNALR_RECONNECT.jitter,
            SIGNALR_RECONNECT.max_attempts, SIGNALR_RECONNECT.first_immediate) == (
        0.5, 30.0, 0.2, None, True)


@settings(deadline=None)
@given(
    st.floats(0.0, 5.0),
    st.floats(1.0, 4.0),
    st.floats(0.0, 60.0),
    st.floats(0.0, 0.9),
    st.integers(1, 60),
    st.integers(0, 2**32),
)
def test_delays_are_bounded_and_the_first_retry_is_immediate(
    initial: float, factor: float, cap: float, jitter: float, attempt: int, seed: int
) -> None:
    assume(cap >= initial)
    policy = ReconnectPolicy(initial=initial, factor=factor, max=cap, jitter=jitter,
                             first_immediate=True)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= cap * (1 + jitter)
    if attempt == 1:
        assert delay == 0.0


def test_backoff_grows_then_caps_and_jitter_spreads_clients() -> None:
    policy = ReconnectPolicy(initial=1.0, factor=2.0, max=10.0, jitter=0.0,
                             first_immediate=True)
    assert [policy.delay(n, random.Random(1)) for n in range(1, 8)] == [0, 1, 2, 4, 8, 10, 10]
    jittery = ReconnectPolicy(initial=1.0, jitter=0.5, first_immediate=True)
    assert len({jittery.delay(3, random.Random(seed)) for seed in range(20)}) > 10


def test_attempt_limit_and_validation() -> None:
    policy = ReconnectPolicy(max_attempts=3)
    assert [policy.should_retry(n) for n in (1, 3, 4)] == [True, True, False]
    assert ReconnectPolicy().should_retry(10**6)
    with pytest.raises(ValueError, match="ReconnectPolicy.max must be a finite number >= 0"):
        ReconnectPolicy(max=-1)
    with pytest.raises(ValueError, match="attempt must be an integer >= 1, got 0"):
        policy.delay(0, random.Random())
