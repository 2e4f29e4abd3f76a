"""Checks of the Transport rules themselves (the ``check-transport NAME`` step).

Each check opens its own connection through the adapter's connector and
endpoint and raises :class:`StepFailed` saying which rule broke.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..runtime._transport import Transport, TransportClosedError
from ._exchange import StepFailed

__all__ = ["TRANSPORT_CHECKS"]


async def _pair(endpoint: Any, connector: Any) -> tuple[Transport, Transport]:
    with trio.move_on_after(5):
        client = await connector.connect()
        server = await endpoint.accept()
        return client, server
    raise StepFailed("could not open a connection within 5 s")


async def _receive(t: Transport, count: int, what: str) -> list[bytes]:
    got: list[bytes] = []
    with trio.move_on_after(10):
        while len(got) < count:
            got.extend(await t.receive_frames())
        return got
    raise StepFailed(f"{what}: {len(got)} of {count} frames arrived within 10 s")


async def frames_in_order(endpoint: Any, connector: Any) -> None:
    """Frames of any size arrive whole and in order, both ways, however they were grouped."""
    client, server = await _pair(endpoint, connector)
    sizes = [1, 7, 100, 1000, 4096, 65_536, 3, 20_000] * 4
    frames = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    for a, b, way in ((client, server, "client to server"), (server, client, "server to client")):
        async with trio.open_nursery() as nursery:
            async def send(a: Transport = a) -> None:
                for start in range(0, len(frames), 5):
                    await a.send_frames(frames[start:start + 5])

            nursery.start_soon(send)
            got = await _receive(b, len(frames), way)
        if got != frames:
            bad = next(i for i, (x, y) in enumerate(zip(got, frames, strict=False)) if x != y)
            raise StepFailed(f"{way}: frame {bad} arrived as {len(got[bad])} bytes "
                             f"{got[bad][:8]!r}..., sent as {len(frames[bad])} bytes "
                             f"{frames[bad][:8]!r}...")
    await client.aclose()
    await server.aclose()


async def receive_cancel_safe(endpoint: Any, connector: Any) -> None:
    """A receive_frames cancelled at any point loses no frame (the runtime cancels it)."""
    client, server = await _pair(endpoint, connector)
    n = 240
    sent = [b"frame-%d" % i for i in range(n)]

    # The receiver's wait is cancelled right after frames were sent (so the cancel
    # lands as receive_frames wakes up with frames to take), or by a timeout.
    current: list[trio.CancelScope] = []

    async def sender() -> None:
        for i, f in enumerate(sent):
            await server.send_frames([f])
            if i % 2 == 0 and current:
                current[0].cancel()
            # mostly no pause (cheap under a real-I/O clock), now and then a timed one
            await trio.sleep(0.0007 if i % 12 == 11 else 0)

    got: list[bytes] = []
    cancelled = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        with trio.move_on_after(30):
            while len(got) < n:
                with trio.move_on_after(0.001) as scope:
                    current[:] = [scope]
                    got.extend(await client.receive_frames())
                current.clear()
                cancelled += scope.cancelled_caught
        nursery.cancel_scope.cancel()
    if got != sent:
        lost = sorted(set(sent) - set(got))
        raise StepFailed(f"with receive_frames cancelled {cancelled} times, {len(got)} of {n} "
                         f"frames arrived in order (first lost: {lost[:3]})")
    await client.aclose()
    await server.aclose()


async def close_delivers_pending(endpoint: Any, connector: Any) -> None:
    """Frames sent before a close arrive first; then TransportClosedError with a reason, and a
    send on the closed connection raises TransportClosedError."""
    client, server = await _pair(endpoint, connector)
    await server.send_frames([b"one", b"two", b"three"])
    await server.aclose()
    got: list[bytes] = []
    reason = None
    with trio.move_on_after(5):
        try:
            while True:
                got.extend(await client.receive_frames())
        except TransportClosedError as exc:
            reason = exc.reason
    if got != [b"one", b"two", b"three"]:
        raise StepFailed(f"before the close the client got {got!r}, not the three frames sent")
    if reason is None:
        raise StepFailed("receive_frames did not raise TransportClosedError within 5 s of the "
                         "close")
    if not isinstance(reason, str) or not reason:
        raise StepFailed(f"TransportClosedError has no reason (got {reason!r})")
    try:
        with trio.move_on_after(5):
            await client.send_frames([b"late"])
            await client.send_frames([b"later"])
        raise StepFailed("send_frames on a connection the far side closed did not raise "
                         "TransportClosedError")
    except TransportClosedError:
        pass
    await client.aclose()
    await client.aclose()  # idempotent


async def aclose_when_cancelled(endpoint: Any, connector: Any) -> None:
    """aclose in a cancelled scope still closes: the far side learns of it."""
    client, server = await _pair(endpoint, connector)
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await client.aclose()
        except trio.Cancelled:
            pass
    with trio.move_on_after(5):
        try:
            while True:
                await server.receive_frames()
        except TransportClosedError:
            await server.aclose()
            return
    raise StepFailed("after aclose() in a cancelled scope the far side saw no close in 5 s")


TRANSPORT_CHECKS: dict[str, Callable[[Any, Any], Awaitable[None]]] = {
    "frames-in-order": frames_in_order,
    "receive-cancel-safe": receive_cancel_safe,
    "close-delivers-pending": close_delivers_pending,
    "aclose-when-cancelled": aclose_when_cancelled,
}
