"""Deliberately broken adapters (the memory adapter with a bug in its transport), on AnyIO:
they run on asyncio and on trio.

The conformance suite must fail them; see test_broken_adapters.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread

from sessionkit.runtime.memory import adapter as memory


class _Wrapped:
    """A transport whose frames pass through ``on_send`` / ``on_receive``."""

    def __init__(self, inner: Any, on_send: Callable[[list[bytes]], list[bytes]],
                 on_receive: Callable[[list[bytes]], list[bytes]]) -> None:
        self.inner, self.on_send, self.on_receive = inner, on_send, on_receive

    async def send_frames(self, frames: list[bytes]) -> None:
        out = self.on_send(frames)
        if out:
            await self.inner.send_frames(out)
        else:
            await anyio.lowlevel.checkpoint()

    async def receive_frames(self) -> list[bytes]:
        while True:
            got = self.on_receive(await self.inner.receive_frames())
            if got:
                return got

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Connector:
    def __init__(self, inner: Any, wrap: Callable[[Any], Any]) -> None:
        self.inner, self.wrap = inner, wrap

    async def connect(self) -> Any:
        return self.wrap(await self.inner.connect())


class _Endpoint:
    def __init__(self, inner: Any, wrap: Callable[[Any], Any]) -> None:
        self.inner, self.wrap = inner, wrap

    def connector(self, **options: Any) -> _Connector:
        return _Connector(self.inner.connector(**options), self.wrap)

    async def accept(self) -> Any:
        return await self.inner.accept()


class BrokenAdapter:
    """The memory adapter, with client transports made by ``make_transport(inner)``."""

    def __init__(self, name: str, make_transport: Callable[[Any], Any],
                 capabilities: frozenset[str] = memory.capabilities) -> None:
        self.name = name
        self.capabilities = capabilities
        self._make = make_transport

    def connector(self, **options: Any) -> Any:
        raise NotImplementedError

    @asynccontextmanager
    async def serve(self, **options: Any) -> AsyncIterator[_Endpoint]:
        async with memory.serve(**options) as ep:
            yield _Endpoint(ep, self._make)


def drops_every_third_frame() -> BrokenAdapter:
    """Client frames 3, 6, 9... are lost without a trace."""

    def make(inner: Any) -> _Wrapped:
        count = [0]

        def on_send(frames: list[bytes]) -> list[bytes]:
            kept = []
            for f in frames:
                count[0] += 1
                if count[0] % 3:
                    kept.append(f)
            return kept

        return _Wrapped(inner, on_send, lambda frames: frames)

    return BrokenAdapter("drops-every-third", make)


def delivers_frames_twice() -> BrokenAdapter:
    """Every frame from the exchange reaches the client twice (a re-delivery bug)."""
    return BrokenAdapter("delivers-twice", lambda inner: _Wrapped(
        inner, lambda frames: frames, lambda frames: [f for f in frames for _ in (0, 1)]))


def without_batch() -> BrokenAdapter:
    """A sound transport that does not claim the batch capability."""
    return BrokenAdapter("no-batch", lambda inner: inner,
                         memory.capabilities - {"batch"})


class _NotCancelSafe:
    """receive_frames takes frames off the buffer, then checkpoints: a cancel loses them."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def send_frames(self, frames: list[bytes]) -> None:
        await self.inner.send_frames(frames)

    async def receive_frames(self) -> list[bytes]:
        frames = await self.inner.receive_frames()
        await anyio.sleep(0)
        return frames

    async def aclose(self) -> None:
        await self.inner.aclose()


def not_cancel_safe() -> BrokenAdapter:
    return BrokenAdapter("not-cancel-safe", _NotCancelSafe)


class _SlowWire:
    """A sound transport whose frames take ``seconds`` of real time to cross, as a real
    socket's may on a loaded machine (the send waits in a worker thread)."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    async def send_frames(self, frames: list[bytes]) -> None:
        await anyio.to_thread.run_sync(time.sleep, self.seconds)
        await self.inner.send_frames(frames)

    async def receive_frames(self) -> list[bytes]:
        frames: list[bytes] = await self.inner.receive_frames()
        return frames

    async def aclose(self) -> None:
        await self.inner.aclose()


class SlowWireAdapter(BrokenAdapter):
    """Not broken: slow. Runs on a clock that jumps after 0.1 s of real idleness."""

    conformance_clock = "virtual:0.1"


def slow_wire(seconds: float) -> SlowWireAdapter:
    return SlowWireAdapter("slow-wire", lambda inner: _SlowWire(inner, seconds))


class SlowCloseAdapter(BrokenAdapter):
    """Not broken: its server takes ``seconds`` of real time to close (a ZeroMQ context
    waiting out its sockets' linger), on a clock that jumps after 0.1 s of real idleness."""

    conformance_clock = "virtual:0.1"

    def __init__(self, seconds: float) -> None:
        super().__init__("slow-close", lambda inner: inner)
        self.seconds = seconds

    @asynccontextmanager
    async def serve(self, **options: Any) -> AsyncIterator[Any]:
        async with super().serve(**options) as endpoint:
            yield endpoint
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(time.sleep, self.seconds)
        await anyio.lowlevel.checkpoint()  # as an aclose does after a shielded close


class _FrameLimitedAdapter(BrokenAdapter):
    max_frame_size: int | None = None


def drops_frames_over(limit: int, *, declared: bool) -> BrokenAdapter:
    """Frames to the client longer than ``limit`` bytes are lost: a transport that cannot
    carry them, which says so (``max_frame_size``) when ``declared``."""
    adapter = _FrameLimitedAdapter("small-frames", lambda inner: _Wrapped(
        inner, lambda frames: frames, lambda frames: [f for f in frames if len(f) <= limit]))
    adapter.max_frame_size = limit if declared else None
    return adapter


class _RaisingSend:
    """send_frames fails with an error of the adapter's own (not TransportClosedError)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def send_frames(self, frames: list[bytes]) -> None:
        await anyio.lowlevel.checkpoint()
        raise OSError(5, "the wire fell off")

    async def receive_frames(self) -> list[bytes]:
        frames: list[bytes] = await self.inner.receive_frames()
        return frames

    async def aclose(self) -> None:
        await self.inner.aclose()


def raising_send() -> BrokenAdapter:
    return BrokenAdapter("raising-send", _RaisingSend)
