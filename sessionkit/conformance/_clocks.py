"""The event loop and clock a scenario runs on: asyncio or trio, virtual or real time.

A clock spec is ``virtual`` (time jumps to the next timer whenever every task waits),
``virtual:SECONDS`` (it jumps once every task has waited that long in real time, for
transports doing real I/O) or ``real``. On trio a virtual clock is
``trio.testing.MockClock`` (trio is imported only then); on asyncio it is
:class:`~sessionkit.conformance._virtual_time.VirtualTimeLoop`. Both have an
``autojump_threshold`` that :class:`~sessionkit.conformance._inflight.InFlight` raises
while frames travel, and both let the runner wait until every task waits
(:meth:`ScenarioLoop.settle`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ._virtual_time import VirtualTimeLoop, wait_all_tasks_blocked

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "check_backend", "autojump_threshold",
           "ScenarioLoop"]

#: the event loops the suite runs on
BACKENDS = ("asyncio", "trio")
#: what a scenario runs on when no backend is named
DEFAULT_BACKEND = "asyncio"  # needs nothing but AnyIO, as the demo and Context


def check_backend(backend: str | None) -> str:
    """``backend`` (the default when None) if the suite runs on it, else ValueError."""
    if backend is None:
        return DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ValueError(f"backend must be {' or '.join(BACKENDS)}, got {backend!r}")
    return backend


def autojump_threshold(spec: str | None) -> float | None:
    """The real seconds all tasks wait before a virtual clock jumps (None: real time)."""
    spec = spec or "virtual"
    if spec == "real":
        return None
    if spec == "virtual":
        return 0.0
    if spec.startswith("virtual:"):
        try:
            threshold = float(spec.split(":", 1)[1])
        except ValueError:
            threshold = -1.0
        if threshold >= 0:
            return threshold
    raise ValueError(f"clock must be 'virtual', 'virtual:SECONDS' or 'real', got {spec!r}")


class ScenarioLoop:
    """One scenario's run: the backend, its clock, and how to reach it from a thread."""

    def __init__(self, backend: str | None, spec: str | None) -> None:
        self.backend = check_backend(backend)
        threshold = autojump_threshold(spec)
        #: what has an ``autojump_threshold`` to raise (None: time is real)
        self.autojump: Any = None
        self._loop: VirtualTimeLoop | None = None
        self._soon: Callable[[Callable[[], None]], Any] | None = None
        self._time: Callable[[], float] | None = None
        if self.backend == "trio":
            if threshold is not None:
                from trio.testing import MockClock

                self.autojump = MockClock(autojump_threshold=threshold)
        else:
            self._loop = VirtualTimeLoop(threshold if threshold is not None else 0.0,
                                         real_time=threshold is None)
            if threshold is not None:
                self.autojump = self._loop

    def run(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` on this loop until it returns (or raises)."""
        options: dict[str, Any] = {}
        if self.backend == "trio":
            if self.autojump is not None:
                options["clock"] = self.autojump
        else:
            loop = self._loop
            assert loop is not None
            options["loop_factory"] = lambda: loop
        try:
            anyio.run(fn, backend=self.backend, backend_options=options)
        finally:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.close()

    def bind(self) -> None:
        """Called in the running loop: from now :meth:`call_from_thread` reaches it."""
        if self.backend == "trio":
            import trio

            self._soon = trio.lowlevel.current_trio_token().run_sync_soon
            self._time = trio.current_time
        else:
            loop = asyncio.get_running_loop()
            self._soon, self._time = loop.call_soon_threadsafe, loop.time

    def time(self) -> float:
        """The loop's clock, also in a callback outside any task (where AnyIO cannot tell
        which loop runs); 0.0 before :meth:`bind`."""
        return self._time() if self._time is not None else 0.0

    def call_from_thread(self, fn: Callable[[], None]) -> bool:
        """Have the loop call ``fn`` soon, from another thread; False if it has ended."""
        soon = self._soon
        if soon is None:
            return False
        try:
            soon(fn)
        except RuntimeError:  # trio's RunFinishedError, asyncio's closed loop
            return False
        return True

    async def settle(self, cushion: float) -> None:
        """Wait until every other task has waited ``cushion`` real seconds (no time passes
        on a virtual clock)."""
        if self.backend == "trio":
            import trio.testing

            await trio.testing.wait_all_tasks_blocked(cushion)
        else:
            await wait_all_tasks_blocked(cushion)
