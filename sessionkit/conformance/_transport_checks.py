"""Checks of the Transport rules themselves (the ``check-transport NAME`` step).

Each check opens its own connection through the adapter's connector and
endpoint and raises :class:`StepFailed` saying which rule broke.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..runtime._transport import Transport, TransportClosedError
from ._exchange import StepFailed

__all__ = ["TRANSPORT_CHECKS"]


async def _pair(endpoint: Any, connector: Any) -> tuple[Transport, Transport]:
    with anyio.move_on_after(5):
        client = await connector.connect()
        server = await endpoint.accept()
        return client, server
    raise StepFailed("could not open a connection within 5 s")


async def _receive(t: Transport, count: int, what: str) -> list[bytes]:
    got: list[bytes] = []
    with anyio.move_on_after(10):
        while len(got) < count:
            got.extend(await t.receive_frames())
        return got
    raise StepFailed(f"{what}: {len(got)} of {count} frames arrived within 10 s")


async def frames_in_order(endpoint: Any, connector: Any, frame_limit: int) -> None:
    """Frames of any size arrive whole and in order, both ways, however they were grouped:
    up to one byte over the codecs' ``frame_limit`` (a frame the codec must see to refuse)."""
    client, server = await _pair(endpoint, connector)
    sizes = [min(n, frame_limit + 1)
             for n in [1, 7, 100, 1000, 4096, 65_536, 3, 20_000] * 4 + [frame_limit + 1, 2]]
    frames = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    for a, b, way in ((client, server, "client to server"), (server, client, "server to client")):
        async with anyio.create_task_group() as nursery:
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


async def receive_cancel_safe(endpoint: Any, connector: Any, frame_limit: int) -> None:
    """A receive_frames cancelled at any point loses no frame (the runtime cancels it)."""
    client, server = await _pair(endpoint, connector)
    n = 240
    sent = [b"frame-%d" % i for i in range(n)]

    # While the sender sends, the receiver's wait is cancelled right after frames were sent
    # (so the cancel lands as receive_frames wakes up with frames to take), or by a timeout.
    # Then what is left is read without cancels, for a bounded time: a lost frame is
    # reported as lost, whatever the clock (a loop of short waits until every frame came
    # would take minutes of real time on a clock that jumps only after real idleness).
    current: list[anyio.CancelScope] = []
    sender_done = anyio.Event()

    async def sender() -> None:
        for i, f in enumerate(sent):
            await server.send_frames([f])
            if i % 2 == 0 and current:
                current[0].cancel()
            # mostly no pause (cheap under a real-I/O clock), now and then a timed one
            await anyio.sleep(0.0007 if i % 12 == 11 else 0)
        sender_done.set()

    got: list[bytes] = []
    cancelled = 0
    async with anyio.create_task_group() as nursery:
        nursery.start_soon(sender)
        with anyio.move_on_after(30):
            while len(got) < n and not sender_done.is_set():
                with anyio.move_on_after(0.001) as scope:
                    current[:] = [scope]
                    got.extend(await client.receive_frames())
                current.clear()
                cancelled += scope.cancelled_caught
        with anyio.move_on_after(10):
            while len(got) < n:
                got.extend(await client.receive_frames())
        nursery.cancel_scope.cancel()
    if got != sent:
        lost = [f.decode() for f in sent if f not in got]
        if lost and not sender_done.is_set():
            raise StepFailed(f"the server's send_frames of {n} small frames did not finish "
                             f"within 30 s while the client read them ({len(got)} arrived)")
        if lost:
            raise StepFailed(f"receive_frames is not cancel-safe: with receive_frames "
                             f"cancelled {cancelled} times, {len(got)} of {n} frames arrived "
                             f"({len(lost)} lost, the first: {', '.join(lost[:3])}); take "
                             f"frames off the buffer only after the call's last checkpoint")
        raise StepFailed(f"with receive_frames cancelled {cancelled} times, the {n} frames "
                         f"arrived out of order or twice ({len(got)} received)")
    await client.aclose()
    await server.aclose()


async def close_delivers_pending(endpoint: Any, connector: Any, frame_limit: int) -> None:
    """Frames sent before a close arrive first; then TransportClosedError with a reason, and a
    send on the closed connection raises TransportClosedError."""
    client, server = await _pair(endpoint, connector)
    await server.send_frames([b"one", b"two", b"three"])
    await server.aclose()
    got: list[bytes] = []
    reason = None
    with anyio.move_on_after(5):
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
        with anyio.move_on_after(5):
            await client.send_frames([b"late"])
            await client.send_frames([b"later"])
        raise StepFailed("send_frames on a connection the far side closed did not raise "
                         "TransportClosedError")
    except TransportClosedError:
        pass
    await client.aclose()
    await client.aclose()  # idempotent


async def aclose_when_cancelled(endpoint: Any, connector: Any, frame_limit: int) -> None:
    """aclose in a cancelled scope still closes: the far side learns of it."""
    client, server = await _pair(endpoint, connector)
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await client.aclose()
        except anyio.get_cancelled_exc_class():
            pass
    with anyio.move_on_after(5):
        try:
            while True:
                await server.receive_frames()
        except TransportClosedError:
            await server.aclose()
            return
    raise StepFailed("after aclose() in a cancelled scope the far side saw no close in 5 s")


#: name -> check(endpoint, connector, frame_limit): ``frame_limit`` is the codecs' limit
TRANSPORT_CHECKS: dict[str, Callable[[Any, Any, int], Awaitable[None]]] = {
    "frames-in-order": frames_in_order,
    "receive-cancel-safe": receive_cancel_safe,
    "close-delivers-pending": close_delivers_pending,
    "aclose-when-cancelled": aclose_when_cancelled,
}
