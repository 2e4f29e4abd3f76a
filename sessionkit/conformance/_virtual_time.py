"""Virtual time for asyncio: an event loop whose clock jumps when every task waits.

The conformance suite runs a scenario's ``wait 3600`` in no real time. On trio that is
``trio.testing.MockClock``; this module is the asyncio twin, built only from public
asyncio parts: a :class:`asyncio.SelectorEventLoop` made with a selector that wraps the
real one, and whose :meth:`~VirtualTimeLoop.time` is a virtual clock.

The loop asks its selector to wait ``timeout`` seconds only when no callback is ready,
that is when every task waits (on a timer, on I/O, on another task). Then the selector:

- polls the real selector for up to ``autojump_threshold`` *real* seconds: I/O that
  arrives (a socket, a thread handing back its result, a signal) is returned as usual,
  so real I/O is never skipped;
- if nothing arrived and a timer is pending, moves the virtual clock on by ``timeout``
  (to the next timer), which the loop then runs;
- if no timer is pending, waits for real I/O as any loop does.

:func:`wait_all_tasks_blocked` is the twin of ``trio.testing.wait_all_tasks_blocked``:
it returns once every other task has waited ``cushion`` real seconds with no I/O
arriving, before the clock jumps (a waiter whose cushion is not over the threshold wakes
first, as on trio). ``autojump_threshold`` may be changed while the loop runs
(:class:`~sessionkit.conformance._inflight.InFlight` raises it while frames travel).

>>> import asyncio
>>> loop = VirtualTimeLoop()
>>> async def nap() -> float:
...     await asyncio.sleep(3600)
...     return asyncio.get_running_loop().time()
>>> loop.run_until_complete(nap())
3600.0
>>> loop.close()
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["VirtualTimeLoop", "wait_all_tasks_blocked"]


class _JumpingSelector(selectors.BaseSelector):
    """The real selector, with the virtual clock's jumps when the loop would sleep."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None
               ) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:  # callbacks are ready: just poll
            return self._real.select(0)
        loop = self._loop
        # every task waits: a settle waiter with the shortest cushion goes first, then a
        # jump to the next timer (if any), each after that long without real I/O
        cushion = loop._shortest_cushion()
        if loop.real_time:  # no jumps: the next timer comes after timeout real seconds
            jump = timeout if timeout is not None else math.inf
        else:
            jump = loop.autojump_threshold if timeout is not None else math.inf
        real_wait = min(cushion, jump)
        events = self._real.select(None if math.isinf(real_wait) else real_wait)
        if events:
            return events
        if cushion <= jump:
            loop._wake_settled(cushion)
        elif not loop.real_time:
            assert timeout is not None
            loop._now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time (see the module's docstring).

    ``autojump_threshold``: real seconds every task must have waited with no I/O before
    virtual time jumps to the next timer (0: at once, for transports in memory; a tenth
    of a second or so for transports doing real I/O). ``real_time``: the clock is the
    monotonic clock and never jumps (only :func:`wait_all_tasks_blocked` is added).
    """

    def __new__(cls, autojump_threshold: float = 0.0, *, real_time: bool = False
                ) -> VirtualTimeLoop:
        # refused before a loop exists (a half-made loop complains when collected)
        if not autojump_threshold >= 0:
            raise ValueError(f"autojump_threshold must be >= 0 seconds, got "
                             f"{autojump_threshold!r}")
        return super().__new__(cls)

    def __init__(self, autojump_threshold: float = 0.0, *, real_time: bool = False) -> None:
        self.autojump_threshold = float(autojump_threshold)
        self.real_time = real_time
        self._now = 0.0
        #: waiters of wait_all_tasks_blocked: (cushion, future)
        self._idle_waiters: list[tuple[float, asyncio.Future[None]]] = []
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return time.monotonic() if self.real_time else self._now

    def jump(self, seconds: float) -> None:
        """Move virtual time on by ``seconds`` (timers now due run at the next turn)."""
        if self.real_time:
            raise RuntimeError("a real-time loop cannot jump")
        if seconds < 0:
            raise ValueError(f"time cannot go back: jump({seconds!r})")
        self._now += seconds

    def _shortest_cushion(self) -> float:
        self._idle_waiters = [(c, f) for c, f in self._idle_waiters if not f.done()]
        return min((c for c, _ in self._idle_waiters), default=math.inf)

    def _wake_settled(self, cushion: float) -> None:
        keep = []
        for c, fut in self._idle_waiters:
            if c <= cushion:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((c, fut))
        self._idle_waiters = keep

    async def wait_all_tasks_blocked(self, cushion: float = 0.0) -> None:
        """Return once every other task has waited ``cushion`` real seconds with no I/O."""
        if not cushion >= 0:
            raise ValueError(f"cushion must be >= 0 seconds, got {cushion!r}")
        fut: asyncio.Future[None] = self.create_future()
        self._idle_waiters.append((float(cushion), fut))
        await fut


async def wait_all_tasks_blocked(cushion: float = 0.0) -> None:
    """Return once every other task of the running :class:`VirtualTimeLoop` has waited
    ``cushion`` real seconds with no I/O arriving (trio's function of that name on trio)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        raise RuntimeError(f"wait_all_tasks_blocked needs a VirtualTimeLoop, the running "
                           f"loop is a {type(loop).__name__}")
    await loop.wait_all_tasks_blocked(cushion)
