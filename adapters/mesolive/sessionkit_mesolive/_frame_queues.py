"""The session hub transport's two bounded frame queues (see :mod:`._session_hub`).

* :class:`FrameInbox`: frames received, waiting for the session's owner task;
* :class:`FrameOutbox`: frames the owner task handed to ``send_frames``, waiting for the
  transport's sender task, which carries them to the hub in ``SendFrames`` invocations.

Each is read by one task and written by another; a writer waits while the queue is full
(backpressure), and a close wakes everyone waiting.
"""

from __future__ import annotations

from collections import deque

import anyio
import anyio.lowlevel

from sessionkit.runtime import TransportClosedError

__all__ = ["FrameInbox", "FrameOutbox", "Wakeup"]


class Wakeup:
    """Tasks waiting for "something changed": :meth:`wait` parks, :meth:`wake_all` wakes
    every task parked so far (trio's ParkingLot ``park``/``unpark_all``, which AnyIO lacks).

    One :class:`anyio.Event` per generation: waking sets it and starts a fresh one, so a task
    that waits after a wake waits for the next one."""

    __slots__ = ("_event", "_waiting")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._waiting = 0

    async def wait(self) -> None:
        self._waiting += 1
        try:
            await self._event.wait()
        finally:
            self._waiting -= 1

    def wake_all(self) -> None:
        if self._waiting:  # (no fresh Event per put when nobody waits: the hot path)
            event, self._event = self._event, anyio.Event()
            event.set()


class FrameInbox:
    """Received frames, bounded, read by one task (cancel-safe) and written by another.

    A writer waits while ``max_buffer`` frames are held, unless ``hold_off`` says the reader
    is busy waiting for this same connection (then waiting could deadlock: the frames are
    taken as soon as that wait is over)."""

    def __init__(self, max_buffer: int) -> None:
        self.frames: deque[bytes] = deque()
        self.max_buffer = max_buffer
        self.closed: str | None = None
        self.hold_off = False
        self.peak = 0
        self._readers = Wakeup()
        self._writers = Wakeup()

    async def put(self, frames: list[bytes]) -> None:
        while len(self.frames) >= self.max_buffer and self.closed is None and not self.hold_off:
            await self._writers.wait()
        if self.closed is None:
            self.frames.extend(frames)
            self.peak = max(self.peak, len(self.frames))
            self._readers.wake_all()

    def release_writers(self) -> None:
        self._writers.wake_all()

    async def take(self) -> list[bytes]:
        await anyio.lowlevel.checkpoint_if_cancelled()
        while not self.frames:
            if self.closed is not None:
                raise TransportClosedError(self.closed)
            await self._readers.wait()
        out = list(self.frames)  # taken after the last point where we can be cancelled
        self.frames.clear()
        self._writers.wake_all()
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return out

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
        self._readers.wake_all()
        self._writers.wake_all()


class FrameOutbox:
    """Frames to send, in order, bounded by ``max_frames`` and ``max_bytes``: the frames
    queued and those being sent count, and a writer may pass either bound by what one
    :meth:`put` holds.

    The writer (the session's owner task) :meth:`put`\\ s frames and goes on; it waits only
    while the queue is full (:meth:`wait_for_room`). The reader (the sender task)
    :meth:`take`\\ s a batch, sends it, and calls :meth:`sent` once the far side took it;
    :meth:`wait_drained` waits until nothing is queued or being sent (a close lets a logout
    go out first).
    """

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.frames: deque[bytes] = deque()
        #: bytes of the frames held (queued and in flight)
        self.nbytes = 0
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        #: frames (and their bytes) taken by the sender and not answered yet
        self.in_flight = 0
        self._in_flight_bytes = 0
        self.closed = False
        #: the most frames held at once (queued plus in flight)
        self.peak = 0
        self._reader = Wakeup()
        self._room = Wakeup()
        self._drained = Wakeup()

    def full(self) -> bool:
        return (len(self.frames) + self.in_flight >= self.max_frames
                or self.nbytes >= self.max_bytes)

    def put(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)
        self.nbytes += sum(len(f) for f in frames)
        self.peak = max(self.peak, len(self.frames) + self.in_flight)
        self._reader.wake_all()

    async def wait_for_room(self) -> None:
        """Wait while the queue is full and open (a cancellation point, not always a
        schedule point)."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        while self.full() and not self.closed:
            await self._room.wait()

    async def take(self, max_bytes: int) -> list[bytes]:
        """The next frames to send, in order: as many as fit in ``max_bytes`` (at least
        one); waits while there are none. Raises ``anyio.ClosedResourceError`` once closed."""
        while not self.frames:
            if self.closed:
                raise anyio.ClosedResourceError("the send queue is closed")
            await self._reader.wait()
        out = [self.frames.popleft()]
        size = len(out[0])
        while self.frames and size + len(self.frames[0]) <= max_bytes:
            frame = self.frames.popleft()
            size += len(frame)
            out.append(frame)
        self.in_flight = len(out)
        self._in_flight_bytes = size
        return out

    def sent(self) -> None:
        """The frames last taken reached the far side."""
        self.nbytes -= self._in_flight_bytes
        self.in_flight = self._in_flight_bytes = 0
        self._room.wake_all()
        if not self.frames:
            self._drained.wake_all()

    async def wait_drained(self) -> None:
        """Wait until every frame put was sent (or the queue closed)."""
        while (self.frames or self.in_flight) and not self.closed:
            await self._drained.wait()

    def close(self) -> None:
        """Wake every waiter; frames still queued are dropped (they go with the connection,
        as bytes in a socket's buffer do)."""
        self.closed = True
        self.frames.clear()
        self.nbytes = self.in_flight = self._in_flight_bytes = 0
        self._reader.wake_all()
        self._room.wake_all()
        self._drained.wake_all()
