"""Server-to-client streams as seen by the caller: :class:`HubStream`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio

if TYPE_CHECKING:
    from ._client import HubConnection

__all__ = ["HubStream", "StreamEnd"]


@attrs.frozen
class StreamEnd:
    """Internal marker put in a stream's channel when it ends (``error`` None: normal end)."""

    error: BaseException | None = None


class HubStream:
    """Items of one server-to-client stream, in order.

    ``async for item in conn.stream("Counter", 10): ...`` starts the stream on the first
    iteration. Leaving the loop early (``break``, an exception, cancellation) cancels it on the
    server; ``async with conn.stream(...) as items:`` or :meth:`aclose` does so at a known
    point. A hub error ends iteration with :class:`HubError`; losing the connection with
    :class:`ConnectionLostError` (unless stateful reconnect resumed it, in which case the stream
    simply continues).
    """

    def __init__(self, conn: HubConnection, method: str, args: tuple[Any, ...]) -> None:
        self._conn = conn
        self.method = method
        self._args = args
        self.invocation_id: str | None = None
        self._recv: trio.MemoryReceiveChannel[Any] | None = None
        self._done = False

    def __aiter__(self) -> HubStream:
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        if self._recv is None:
            self.invocation_id, self._recv = await self._conn._start_stream(self.method, self._args)
        item = await self._recv.receive()
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
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> HubStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._cancel()

    def __del__(self) -> None:
        if not self._done and self.invocation_id is not None:
            try:
                self._cancel()
            except Exception:  # interpreter shutdown or no trio context: nothing to cancel
                pass
