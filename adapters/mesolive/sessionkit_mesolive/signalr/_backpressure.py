"""Bounded inbound queues of a hub connection, and the back-pressure that keeps them bounded.

A hub connection has two kinds of inbound queues: the server-to-client invocations waiting for
the client-method handlers (at most ``max_pending_invocations``), and each stream's items
waiting for its reader (a :class:`~._stream.StreamBuffer`). When a queue that must not lose
anything is full, the connection's reader stops reading the WebSocket until there is room:
TCP and the server's own buffers then slow the server down (back-pressure), and the peer
timeout is suspended meanwhile.

One case would deadlock: the task that empties the full queue (the handlers' task, or a
stream's reader) waits for this same connection -- an ``invoke`` whose answer is behind in the
socket, replay-buffer room that needs an Ack, a stream item. Such a wait is ended with
:class:`HandlerBlockedError` (the call's outcome is unknown) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ._errors import HandlerBlockedError

if TYPE_CHECKING:
    from ._client_protocol import ClientProtocol
    from ._stream import StreamBuffer

__all__ = ["Backpressure"]

logger = logging.getLogger(__name__)


class Backpressure:
    """Mixin of :class:`~._client.HubConnection`: queue bounds, the reader's pause, and the
    deadlock breaker (see the module docstring)."""

    # Provided by HubConnection / Supervisor.
    _proto: ClientProtocol
    _streams: dict[str, StreamBuffer]
    _max_pending_invocations: int

    def _init_backpressure(self) -> None:
        self._queued_invocations = 0
        self.peak_queued_invocations = 0
        """The most server invocations that ever waited for the handlers at once."""
        self._dispatcher_task: int | None = None
        self._room = anyio.Event()
        self._reader_paused = False
        self._waits: dict[object, tuple[int, Callable[[BaseException], None]]] = {}

    def _queued_invocation(self) -> None:
        self._queued_invocations += 1
        if self._queued_invocations > self.peak_queued_invocations:
            self.peak_queued_invocations = self._queued_invocations

    def _blocked_queue(self) -> tuple[str, int | None] | None:
        """The full queue the reader must wait for (what, the task that empties it), if any."""
        if self._queued_invocations >= self._max_pending_invocations:
            return (
                f"{self._queued_invocations} server invocations wait for the client-method "
                f"handlers (max_pending_invocations {self._max_pending_invocations})",
                self._dispatcher_task,
            )
        for invocation_id, buffer in self._streams.items():
            if buffer.full:
                return (
                    f"stream {invocation_id} holds {len(buffer.items)} unread items "
                    f"(max_buffered {buffer.limit})",
                    buffer.consumer,
                )
        return None

    def _note_room(self) -> None:
        """A consumer took an item: wake the reader if it waits for room."""
        if self._reader_paused:
            self._room.set()

    def _taken_invocation(self) -> None:
        self._queued_invocations -= 1
        self._note_room()

    async def _wait_for_room(self) -> None:
        """Back-pressure: stop reading while a queue that must not lose anything is full."""
        blocked = self._blocked_queue()
        if blocked is None:
            return
        self._proto.pause_reading()
        self._reader_paused = True
        try:
            while blocked is not None:
                what, consumer = blocked
                logger.debug("not reading the WebSocket until there is room: %s", what)
                if consumer is not None:
                    self._break_waits(consumer, what)
                self._room = anyio.Event()
                await self._room.wait()
                blocked = self._blocked_queue()
        finally:
            self._reader_paused = False
            self._proto.resume_reading(anyio.current_time())

    def _break_waits(self, task: int, what: str) -> None:
        for key, (owner, breaker) in list(self._waits.items()):
            if owner == task:
                del self._waits[key]
                breaker(self._blocked_error(what))

    @staticmethod
    def _blocked_error(what: str) -> HandlerBlockedError:
        return HandlerBlockedError(
            f"this task waited for its own hub connection while the connection cannot read on: "
            f"{what}, and this task is the one that empties that queue. The wait was ended to "
            "avoid a deadlock; the call's outcome is unknown"
        )

    async def _wait_on_reader(self, event: anyio.Event) -> None:
        """Wait for ``event``, which only the connection's reader can set.

        Raises :class:`HandlerBlockedError` when the reader waits for room in a queue that
        this very task empties (waiting on would deadlock).
        """
        if event.is_set():
            return
        task = anyio.get_current_task().id
        if self._reader_paused:
            blocked = self._blocked_queue()  # now, not when the reader paused
            if blocked is not None and blocked[1] == task:
                raise self._blocked_error(blocked[0])
        broken: list[BaseException] = []
        key = object()
        with anyio.CancelScope() as scope:

            def breaker(error: BaseException) -> None:
                # Set already: this task was woken and has not run yet (asyncio's reader can
                # read many buffered messages without a pause). It will empty the queue: no
                # deadlock, nothing to break.
                if not event.is_set():
                    broken.append(error)
                    scope.cancel()

            self._waits[key] = (task, breaker)
            try:
                await event.wait()
            finally:
                self._waits.pop(key, None)
        if broken:
            raise broken[0]
