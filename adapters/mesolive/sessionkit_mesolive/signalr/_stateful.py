"""Sans-IO stateful reconnect (hub protocol version 2): replay buffer and receive sequencing.

The rules follow ASP.NET Core's ``MessageBuffer`` (server and .NET client) and the JavaScript
client's ``MessageBuffer.ts``:

* Only messages of types 1-5 (Invocation, StreamItem, Completion, StreamInvocation,
  CancelInvocation) are numbered. Ping, Close, Ack and Sequence are never buffered nor counted.
* Each side numbers what it sends 1, 2, 3, ... and keeps every numbered message in a replay
  buffer until the peer acknowledges it. ``Ack(n)`` releases every message with id <= n.
* The receiver counts the numbered messages it gets and, about once a second while there is
  something new, sends ``Ack(latest received id)``.
* When the transport is replaced (same connection token), each side sends
  ``Sequence(id of its first unacknowledged message)`` -- or ``total sent + 1`` when nothing is
  buffered -- followed by every buffered message, in order.
* After a disconnect a receiver ignores everything until the peer's Sequence message (but a
  Close, which is never numbered, is heard: it is how a peer may refuse a resume). A
  Sequence id larger than the next id it expects means messages were lost for good: a protocol
  error. Otherwise it rewinds its counter to that id and drops any re-sent message whose id is
  not above the latest one it already processed (duplicate suppression).
* The buffer is bounded in bytes: a message that would take it past the bound is refused until
  acks make room (the I/O layer waits, which is the back-pressure). A single message larger than
  the bound is accepted when the buffer is empty, so it can never deadlock.
"""

from __future__ import annotations

import logging
from collections import deque

from ._errors import BufferFullError, ProtocolError
from ._messages import Ack, Close, HubMessage, Sequence, is_sequenced

__all__ = ["ReplayBuffer", "ReceiveSequencer", "DEFAULT_BUFFER_SIZE", "ACK_INTERVAL"]

logger = logging.getLogger(__name__)

DEFAULT_BUFFER_SIZE = 100_000
"""Default replay-buffer bound in bytes (the ASP.NET Core and JS client default)."""

ACK_INTERVAL = 1.0
"""Seconds between receiving a numbered message and acknowledging it (as ASP.NET Core does)."""


class ReplayBuffer:
    """Send side: numbers outgoing messages and keeps the unacknowledged ones for replay."""

    __slots__ = ("limit", "_items", "_bytes", "_total")

    def __init__(self, limit: int = DEFAULT_BUFFER_SIZE) -> None:
        if limit <= 0:
            raise ValueError(f"replay buffer limit must be positive, got {limit}")
        self.limit = limit
        self._items: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._total = 0

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    @property
    def buffered_count(self) -> int:
        return len(self._items)

    @property
    def total_sent(self) -> int:
        """Id of the last numbered message (0 before the first)."""
        return self._total

    def can_accept(self, size: int) -> bool:
        """Whether a message of ``size`` bytes fits now."""
        return not self._items or self._bytes + size <= self.limit

    def push(self, data: bytes) -> int:
        """Number ``data`` and keep it until acked; returns its sequence id."""
        size = len(data)
        if not self.can_accept(size):
            raise BufferFullError(
                f"replay buffer full: {self._bytes} of {self.limit} bytes held in "
                f"{len(self._items)} unacknowledged messages, cannot add {size} bytes"
            )
        self._total += 1
        self._items.append((self._total, data))
        self._bytes += size
        return self._total

    def ack(self, sequence_id: int) -> int:
        """Release every message with id <= ``sequence_id``; returns the bytes freed."""
        if sequence_id > self._total:
            logger.warning(
                "peer acknowledged sequence id %d but only %d messages were sent",
                sequence_id,
                self._total,
            )
        freed = 0
        items = self._items
        while items and items[0][0] <= sequence_id:
            freed += len(items.popleft()[1])
        self._bytes -= freed
        return freed

    def replay(self) -> tuple[Sequence, list[bytes]]:
        """What to send on a resumed transport: the Sequence message, then the buffered frames."""
        first = self._items[0][0] if self._items else self._total + 1
        return Sequence(first), [data for _, data in self._items]


class ReceiveSequencer:
    """Receive side: counts numbered messages, drops duplicates after a resume, decides acks."""

    __slots__ = ("_next_id", "_latest", "_last_acked", "_waiting_for_sequence", "ack_due_at")

    def __init__(self) -> None:
        self._next_id = 1
        self._latest = 0
        self._last_acked = 0
        self._waiting_for_sequence = False
        self.ack_due_at: float | None = None
        """When an Ack should go out (``None``: nothing to acknowledge)."""

    @property
    def latest_received(self) -> int:
        return self._latest

    @property
    def waiting_for_sequence(self) -> bool:
        return self._waiting_for_sequence

    def disconnected(self) -> None:
        """The transport dropped: ignore everything until the peer's Sequence message."""
        self._waiting_for_sequence = True
        self.ack_due_at = None

    def should_process(self, message: HubMessage, now: float) -> bool:
        """Whether ``message`` is new and should be handled (False: duplicate or out of turn).

        A Sequence message is applied here (and returns True so the caller can log it).
        """
        if self._waiting_for_sequence:
            if isinstance(message, Sequence):
                self._waiting_for_sequence = False
                self._reset(message.sequence_id)
                return True
            # A Close is never numbered nor replayed: it says the peer is ending the connection
            # (a refused resume, say), which the I/O layer must hear even before the Sequence.
            return isinstance(message, Close)
        if isinstance(message, Sequence):
            self._reset(message.sequence_id)
            return True
        if not is_sequenced(message):
            return True
        current = self._next_id
        self._next_id += 1
        if current <= self._latest:
            if current == self._latest and self.ack_due_at is None:
                # The peer is replaying what we got but did not ack yet: ack soon.
                self.ack_due_at = now + ACK_INTERVAL
            return False
        self._latest = current
        if self.ack_due_at is None:
            self.ack_due_at = now + ACK_INTERVAL
        return True

    def _reset(self, sequence_id: int) -> None:
        if sequence_id > self._next_id:
            raise ProtocolError(
                f"Sequence message id {sequence_id} is greater than the next expected id "
                f"{self._next_id}: messages were lost and cannot be replayed"
            )
        self._next_id = sequence_id

    def take_ack(self) -> Ack | None:
        """The Ack to send now, if anything new arrived since the last one."""
        self.ack_due_at = None
        if self._latest == 0:
            return None
        self._last_acked = self._latest
        return Ack(self._latest)
