"""The reconnect policy: immediate first retry, capped exponential backoff, bounded jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit_mesolive.signalr import ReconnectPolicy


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
    initial: float, multiplier: float, cap: float, jitter: float, attempt: int, seed: int
) -> None:
    policy = ReconnectPolicy(initial, multiplier, cap, jitter)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= cap * (1 + jitter)
    if attempt == 1:
        assert delay == 0.0


def test_backoff_grows_then_caps_and_jitter_spreads_clients() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, multiplier=2.0, max_delay=10.0, jitter=0.0)
    assert [policy.delay(n, random.Random(1)) for n in range(1, 8)] == [0, 1, 2, 4, 8, 10, 10]
    jittery = ReconnectPolicy(initial_delay=1.0, jitter=0.5)
    assert len({jittery.delay(3, random.Random(seed)) for seed in range(20)}) > 10


def test_attempt_limit_and_validation() -> None:
    policy = ReconnectPolicy(max_attempts=3)
    assert [policy.should_retry(n) for n in (1, 3, 4)] == [True, True, False]
    assert ReconnectPolicy().should_retry(10**6)
    with pytest.raises(ValueError, match="max_delay must be >= 0"):
        ReconnectPolicy(max_delay=-1)
    with pytest.raises(ValueError, match="start at 1"):
        policy.delay(0, random.Random())
