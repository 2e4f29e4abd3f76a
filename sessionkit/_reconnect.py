"""``ReconnectPolicy``: when and how often a lost connection is opened again.

One policy for every part that reconnects: the runtime (``open_session(...,
reconnect=)``) and the adapters' own clients (the MesoLive SignalR ``HubConnection``).
Sans-IO: it computes delays, the caller sleeps.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from ._errors import ConfigError

__all__ = ["ReconnectPolicy"]


def _number(minimum: float, *, strict: bool) -> Any:
    """A finite number >= ``minimum`` (> with ``strict``): a delay made of NaN or infinity
    would never end (or never be computed)."""
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not math.isfinite(value) or value < minimum
                or (strict and value == minimum)):
            need = f"> {minimum}" if strict else f">= {minimum}"
            raise ConfigError(f"ReconnectPolicy.{attribute.name} must be a finite number "
                              f"{need}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """Exponential backoff with jitter between reconnect attempts.

    Attempt ``n`` (1, 2, ...) waits ``min(max, initial * factor ** (n - 1))``
    seconds, spread by ``jitter`` (0.2: up to 20 % either way), drawn from
    ``rng`` (seed it for repeatable delays). With ``first_immediate`` the first
    attempt is made at once and attempt ``n > 1`` waits what attempt ``n - 1``
    would (the ASP.NET Core SignalR client's schedule). ``max_attempts`` bounds
    the attempts after one failure (None: no bound; :meth:`should_retry`); a
    successful login starts the count again.

    Two fields only the runtime reads: ``reconnect_on_offline`` also treats
    an exchange gone silent past its heartbeat interval as a dropped connection,
    and ``retry_login_rejected`` retries a refused login (by default a refusal
    is final: bad credentials do not get better).

    >>> p = ReconnectPolicy(initial=0.1, max=1.0, factor=2.0, jitter=0.0)
    >>> [p.delay(n) for n in (1, 2, 3, 4, 5)]
    [0.1, 0.2, 0.4, 0.8, 1.0]
    >>> q = ReconnectPolicy(initial=1.0, max=8.0, jitter=0.0, first_immediate=True)
    >>> [q.delay(n) for n in (1, 2, 3, 4, 5)]
    [0.0, 1.0, 2.0, 4.0, 8.0]
    """

    initial: float = attrs.field(default=0.1, validator=_number(0.0, strict=False))
    max: float = attrs.field(default=5.0, validator=_number(0.0, strict=False))
    factor: float = attrs.field(default=2.0, validator=_number(1.0, strict=False))
    jitter: float = attrs.field(default=0.2, validator=_number(0.0, strict=False))
    max_attempts: int | None = attrs.field(default=None)
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)
    first_immediate: bool = False
    reconnect_on_offline: bool = False
    retry_login_rejected: bool = False

    def __attrs_post_init__(self) -> None:
        if self.jitter > 1.0:
            raise ConfigError(f"ReconnectPolicy.jitter must be in [0, 1], got {self.jitter!r}")
        if self.max < self.initial:
            raise ConfigError(f"ReconnectPolicy.max ({self.max}) must not be below initial "
                              f"({self.initial})")
        m = self.max_attempts
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 1):
            raise ConfigError(f"ReconnectPolicy.max_attempts must be None or an integer >= 1, "
                              f"got {m!r}")
        if not isinstance(self.rng, random.Random):
            raise ConfigError(f"ReconnectPolicy.rng must be a random.Random, got "
                              f"{type(self.rng).__name__}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before attempt ``attempt`` (1 for the first after a failure); the
        jitter is drawn from ``rng`` when given (a client's own), else from ``self.rng``."""
        if not isinstance(attempt, int) or attempt < 1:
            raise ConfigError(f"attempt must be an integer >= 1, got {attempt!r}")
        if self.first_immediate:
            if attempt == 1:
                return 0.0
            attempt -= 1
        try:
            base = min(self.max, self.initial * self.factor ** (attempt - 1))
        except OverflowError:
            base = self.max
        if self.jitter:
            base *= 1.0 + self.jitter * (self.rng if rng is None else rng).uniform(-1.0, 1.0)
        return max(0.0, base)

    def should_retry(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) may be made under ``max_attempts``."""
        return self.max_attempts is None or attempt <= self.max_attempts
