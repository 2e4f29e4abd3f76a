"""Sans-IO reconnect policy: exponential backoff with jitter.

The randomness source is passed in (seed it for reproducible tests).

>>> import random
>>> from sessionkit_mesolive.signalr import ReconnectPolicy
>>> policy = ReconnectPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.0)
>>> [policy.delay(n, random.Random(0)) for n in range(1, 6)]
[0.0, 1.0, 2.0, 4.0, 8.0]
"""

from __future__ import annotations

import random

import attrs

__all__ = ["ReconnectPolicy"]


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"ReconnectPolicy.{attribute.name} must be >= 0, got {value}")


@attrs.frozen
class ReconnectPolicy:
    """When to retry after the connection is lost.

    Attempt 1 happens at once (``first_immediate``); attempt n > 1 waits
    ``min(max_delay, initial_delay * multiplier ** (n - 2))`` seconds, then that delay is spread
    by +/- ``jitter`` (a fraction) so many clients do not reconnect in lock-step. With
    ``max_attempts`` None the client retries until closed.
    """

    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    multiplier: float = attrs.field(default=2.0, validator=_non_negative)
    max_delay: float = attrs.field(default=30.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.2, validator=_non_negative)
    max_attempts: int | None = None
    first_immediate: bool = True

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        if attempt == 1 and self.first_immediate:
            return 0.0
        exponent = attempt - (2 if self.first_immediate else 1)
        base = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        if self.jitter:
            base *= 1.0 + rng.uniform(-self.jitter, self.jitter)
        return max(0.0, min(base, self.max_delay * (1.0 + self.jitter)))

    def should_retry(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` may be made."""
        return self.max_attempts is None or attempt <= self.max_attempts
