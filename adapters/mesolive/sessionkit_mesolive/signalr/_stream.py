"""Server-to-client streams as seen by the caller: :class:`HubStream` and its bounded buffer.

Each stream's items wait in a :class:`StreamBuffer` between the connection's reader and the
stream's reader. The buffer is bounded (``max_buffered`` items) with one of two policies:

* ``"wait"`` (the default): every item matters. While the buffer is full the connection
  stops reading (back-pressure up to the server), so nothing is lost;
* ``"drop_oldest"``: level-triggered data, where only the newest state matters (MesoLive's
  Data Hub streams). A full buffer drops its oldest item, and the reader is told: where items
  were dropped it gets one :class:`ItemsDropped` (how many) before the newer items.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, get_args

import anyio
import anyio.lowlevel
import attrs

if TYPE_CHECKING:
    from ._client import HubConnection

__all__ = ["HubStream", "ItemsDropped", "OVERFLOW_POLICIES", "StreamBuffer", "StreamEnd"]

Overflow = Literal["wait", "drop_oldest"]
"""What a full stream buffer does: ``"wait"`` stops reading the connection until there is
room (every item arrives), ``"drop_oldest"`` drops the oldest item (counted)."""

OVERFLOW_POLICIES = frozenset(get_args(Overflow))


@attrs.frozen
class StreamEnd:
    """Internal marker: the stream ended (``error`` None: normal end)."""

    error: BaseException | None = None


@attrs.frozen
class ItemsDropped:
    """Yielded by a ``drop_oldest`` stream in place of items it dropped because its reader fell
    behind: ``count`` items were dropped here, ``total`` on this stream so far. The items
    that follow are newer than every dropped one."""

    count: int
    total: int


def check_buffer_options(max_buffered: Any, overflow: Any) -> None:
    if isinstance(max_buffered, bool) or not isinstance(max_buffered, int) or max_buffered < 1:
        raise ValueError(f"max_buffered must be an integer >= 1, got {max_buffered!r}")
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(
            f"overflow must be one of {sorted(OVERFLOW_POLICIES)}, got {overflow!r}"
        )


class StreamBuffer:
    """The items of one stream not read yet (bounded; see the module docstring)."""

    __slots__ = ("items", "limit", "overflow", "end", "dropped_pending", "dropped_total",
                 "consumer", "peak", "_ready", "_on_room")

    def __init__(self, limit: int, overflow: Overflow, on_room: Callable[[], None]) -> None:
        self.items: deque[Any] = deque()
        self.limit = limit
        self.overflow = overflow
        self.end: StreamEnd | None = None
        self.dropped_pending = 0
        self.dropped_total = 0
        self.consumer: int | None = None
        self.peak = 0
        self._ready = anyio.Event()
        self._on_room = on_room

    @property
    def full(self) -> bool:
        """A ``wait`` buffer at its bound: the connection must stop reading."""
        return self.overflow == "wait" and len(self.items) >= self.limit

    def put(self, item: Any) -> None:
        if self.end is not None:
            return
        if self.overflow == "drop_oldest" and len(self.items) >= self.limit:
            self.items.popleft()
            self.dropped_pending += 1
            self.dropped_total += 1
        self.items.append(item)
        if len(self.items) > self.peak:
            self.peak = len(self.items)
        self._ready.set()

    def finish(self, end: StreamEnd) -> None:
        if self.end is None:
            self.end = end
            self._ready.set()

    async def get(self, wait: Callable[[anyio.Event], Awaitable[None]]) -> Any:
        """The next item, an :class:`ItemsDropped`, or the :class:`StreamEnd`.

        ``wait(event)`` waits for the event (the connection's way of waiting on its reader).
        Cancel-safe: nothing is taken before the last point where it can be cancelled.
        """
        self.consumer = anyio.get_current_task().id
        while not self.items and not self.dropped_pending and self.end is None:
            if self._ready.is_set():
                self._ready = anyio.Event()
            await wait(self._ready)
        if self.dropped_pending:
            count, self.dropped_pending = self.dropped_pending, 0
            return ItemsDropped(count, self.dropped_total)
        if self.items:
            item = self.items.popleft()
            if self.overflow == "wait" and len(self.items) < self.limit:
                self._on_room()
            return item
        assert self.end is not None
        return self.end


class HubStream:
    """Items of one server-to-client stream, in order.

    ``async for item in conn.stream("Counter", 10): ...`` starts the stream on the first
    iteration. Leaving the loop early (``break``, an exception, cancellation) cancels it on the
    server; ``async with conn.stream(...) as items:`` or :meth:`aclose` does so at a known
    point. A hub error ends iteration with :class:`HubError`; losing the connection with
    :class:`ConnectionLostError` (unless stateful reconnect resumed it, in which case the stream
    simply continues). With ``overflow="drop_oldest"`` an :class:`ItemsDropped` stands where
    items were dropped.
    """

    def __init__(self, conn: HubConnection, method: str, args: tuple[Any, ...], *,
                 max_buffered: int = 1000, overflow: Overflow = "wait") -> None:
        check_buffer_options(max_buffered, overflow)
        self._conn = conn
        self.method = method
        self._args = args
        self.max_buffered = max_buffered
        self.overflow = overflow
        self.invocation_id: str | None = None
        self._buffer: StreamBuffer | None = None
        self._done = False

    @property
    def dropped(self) -> int:
        """Items dropped so far (``drop_oldest``); each drop was also reported in the items."""
        return 0 if self._buffer is None else self._buffer.dropped_total

    @property
    def buffered(self) -> int:
        """Items received and not read yet."""
        return 0 if self._buffer is None else len(self._buffer.items)

    @property
    def peak_buffered(self) -> int:
        """The most items that ever waited for the reader at once."""
        return 0 if self._buffer is None else self._buffer.peak

    def __aiter__(self) -> HubStream:
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        if self._buffer is None:
            self.invocation_id, self._buffer = await self._conn._start_stream(
                self.method, self._args, self.max_buffered, self.overflow
            )
        item = await self._buffer.get(self._conn._wait_on_reader)
        if isinstance(item, StreamEnd):
            self._done = True
            self.invocation_id = None
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    def _cancel(self) -> None:
        if not self._done:
            self._done = True
            if self.invocation_id is not None:
                self._conn._cancel_stream(self.invocation_id)
                self.invocation_id = None

    async def aclose(self) -> None:
        """Stop the stream (sends CancelInvocation if it is still running)."""
        self._cancel()
        await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> HubStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._cancel()

    def __del__(self) -> None:
        if not getattr(self, "_done", True) and self.invocation_id is not None:
            try:
                self._cancel()
            except Exception:  # interpreter shutdown or no event loop: nothing to cancel
                pass
