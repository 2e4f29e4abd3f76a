"""Frames on the wire: the virtual clock does not jump while one is travelling.

A transport doing real I/O (ZeroMQ, SignalR) runs its scenarios on a virtual clock
with an autojump threshold (``virtual:0.1``; trio's ``MockClock``, asyncio's
:class:`~sessionkit.conformance._virtual_time.VirtualTimeLoop`): when every task has
waited that long in real time, virtual time jumps to the next deadline. On a
loaded machine a frame can take longer than that to cross a real socket, and
the jump then fires a timer the scenario did not mean to reach (a resend, a
step's ``within``): the scenario fails although the adapter did nothing wrong.

So the runner counts frames: those handed to a transport on one side and not
yet read on the other are *in flight*, and while any is, the threshold is
raised to :data:`BUSY_THRESHOLD` (still finite: a frame the transport lost
costs that much real time once, it does not hang the scenario). A connection
that closes settles the count (what was in flight on it is gone), and while a
network fault holds frames on purpose (``inject net-stall``, ``net-delay``,
``net-half-close``, until ``net-heal``) the threshold stays as it was.
"""

from __future__ import annotations

from typing import Any

import anyio

from ..runtime._transport import NonBlockingTransport, Transport

__all__ = ["InFlight", "CountingTransport", "CountingNonBlockingTransport", "counting",
           "BUSY_THRESHOLD"]

#: real seconds every task must have waited before virtual time jumps while a frame is in flight
BUSY_THRESHOLD = 2.0


class InFlight:
    """Frames sent and read in each direction; sets the clock's threshold from them."""

    def __init__(self, clock: Any) -> None:
        #: what has an ``autojump_threshold`` (a MockClock, a VirtualTimeLoop), else None
        self.clock = clock if hasattr(clock, "autojump_threshold") else None
        self.idle = self.clock.autojump_threshold if self.clock is not None else 0.0
        self.to_exchange = 0
        self.to_client = 0
        #: a network fault holds frames on purpose (stall, delay, half-close): time must jump
        self.held = False

    def hold(self, held: bool) -> None:
        """A network fault now holds frames back (True) or no longer does (False)."""
        self.held = held
        self._update()

    def _update(self) -> None:
        clock = self.clock
        if clock is None or self.idle == 0.0:  # a pure virtual clock jumps only when all wait
            return
        busy = not self.held and (self.to_exchange > 0 or self.to_client > 0)
        want = max(self.idle, BUSY_THRESHOLD) if busy else self.idle
        if clock.autojump_threshold != want:
            clock.autojump_threshold = want

    def client_sent(self, n: int) -> None:
        self.to_exchange += n
        self._update()

    def exchange_read(self, n: int) -> None:
        self.to_exchange = max(0, self.to_exchange - n)
        self._update()

    def exchange_sent(self, n: int) -> None:
        self.to_client += n
        self._update()

    def client_read(self, n: int) -> None:
        self.to_client = max(0, self.to_client - n)
        self._update()

    def closed(self) -> None:
        """A connection ended: what travelled on it will not arrive."""
        self.to_exchange = self.to_client = 0
        self._update()


class CountingTransport:
    """The client's transport, counting what it sends and reads (everything else passes)."""

    def __init__(self, inner: Any, inflight: InFlight) -> None:
        self.inner = inner
        self.inflight = inflight

    async def send_frames(self, frames: list[bytes]) -> None:
        self.inflight.client_sent(len(frames))
        try:
            await self.inner.send_frames(frames)
        except BaseException:
            self.inflight.closed()
            raise

    async def receive_frames(self) -> list[bytes]:
        try:
            frames: list[bytes] = await self.inner.receive_frames()
        except BaseException as exc:
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                self.inflight.closed()
            raise
        self.inflight.client_read(len(frames))
        return frames

    async def aclose(self) -> None:
        self.inflight.closed()
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        if name == "send_frames_nowait":  # only CountingNonBlockingTransport has it
            raise AttributeError(name)
        return getattr(self.inner, name)


class CountingNonBlockingTransport(CountingTransport):
    """:class:`CountingTransport` of a :class:`~sessionkit.runtime.NonBlockingTransport`."""

    inner: NonBlockingTransport

    def send_frames_nowait(self, frames: list[bytes]) -> int:
        n = self.inner.send_frames_nowait(frames)
        self.inflight.client_sent(n)
        return n


def counting(transport: Transport, inflight: InFlight) -> CountingTransport:
    """``transport`` counted, keeping what it can do (a non-blocking send)."""
    if isinstance(transport, NonBlockingTransport):
        return CountingNonBlockingTransport(transport, inflight)
    return CountingTransport(transport, inflight)
