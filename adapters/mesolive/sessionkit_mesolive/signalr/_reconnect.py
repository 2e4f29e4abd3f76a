"""The reconnect policy: :class:`sessionkit.ReconnectPolicy`, the one every part shares.

The SignalR client's default, :data:`SIGNALR_RECONNECT`, follows the ASP.NET Core client:
the first retry at once, then 0.5 s doubling up to 30 s, +/- 20 % jitter, no attempt limit.
The randomness source is passed in (seed it for reproducible tests).

>>> import random
>>> from sessionkit_mesolive.signalr import ReconnectPolicy
>>> policy = ReconnectPolicy(initial=1.0, max=8.0, jitter=0.0, first_immediate=True)
>>> [policy.delay(n, random.Random(0)) for n in range(1, 6)]
[0.0, 1.0, 2.0, 4.0, 8.0]
"""

from __future__ import annotations

from sessionkit import ReconnectPolicy

__all__ = ["ReconnectPolicy", "SIGNALR_RECONNECT"]

SIGNALR_RECONNECT = ReconnectPolicy(initial=0.5, max=30.0, factor=2.0, jitter=0.2,
                                    first_immediate=True)
"""Retry for ever: at once, then 0.5 s doubling up to 30 s, +/- 20 % jitter."""
