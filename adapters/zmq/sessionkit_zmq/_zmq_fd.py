"""Driving pyzmq sockets from AnyIO (asyncio or trio) by the rules of ZeroMQ's edge-triggered FD.

A zmq socket's ``FD`` does not say "readable": it says "the socket's state may have
changed". Any zmq call on the socket (a send, a recv, reading ``EVENTS``) may process the
socket's pending commands and so clear the FD without the socket being readable, or leave it
clear while messages are waiting. The discipline is therefore:

* every operation is non-blocking (``NOBLOCK``); on ``zmq.Again`` read ``EVENTS`` and park
  on the FD only when the flag needed is absent;
* drain everything ready before parking (one wake-up, many messages);
* after a zmq call made by one task while another is parked on the FD, read ``EVENTS`` and
  wake the parked task if the flag it waits for is now set (a send can consume the read
  signal);
* call :func:`anyio.notify_closing` before closing a socket whose FD a task may be
  waiting on.

:class:`FdWaiter` parks tasks on one or several sockets' FDs (several through one epoll
descriptor, so one ``wait_readable`` covers a data socket and its monitor), one task on the
FD itself and any other on an event it sets when it wakes; :meth:`FdWaiter.wake` cancels the
parked task's wait. (An ``eventfd`` in the epoll set, written to wake the task without a
cancellation, saved 16% of the client's CPU per order plain and nothing with CURVE in
tools/bench_zmq.py --quick, medians of 6 runs: under the 20% a piece of machinery must
earn, so it went.)

One code path for asyncio and trio (issue 17; figures in docs/zmq.md, "One transport for
both loops"): on asyncio the bare loop on this discipline spent half the CPU per order of
one on pyzmq's ``zmq.asyncio`` sockets and moved 1.5x to 2.4x its orders per second at the
same p50 (tools/bench_zmq.py --backends asyncio,trio,uvloop --candidates, medians of 5
runs); asyncio's own ``loop.add_reader`` instead of ``anyio.wait_readable`` saved 3-4% of
its p50, under the 20%, so there is no asyncio-only path.
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from typing import Any, cast

import anyio
import zmq

__all__ = ["FdWaiter", "Wakeup", "POLLIN", "POLLOUT", "NOBLOCK", "events", "fileno"]

# Plain ints, not pyzmq's enum members: a flag test on an enum builds enum objects, a few
# microseconds per call on the hot path.
POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)
NOBLOCK = int(zmq.NOBLOCK)
_EVENTS = int(zmq.EVENTS)


def events(sock: zmq.Socket[Any]) -> int:
    """The socket's ZMQ_EVENTS (processes its pending commands: see the module docstring).
    ``Socket.get`` with an ``int``: ``getsockopt`` would make an enum member of it."""
    return cast(int, sock.get(_EVENTS))


def fileno(sock: zmq.Socket[Any]) -> int:
    """The socket's ZMQ_FD."""
    return sock.getsockopt(zmq.FD)  # type: ignore[return-value]


class FdWaiter:
    """Parks tasks until one of a few zmq sockets' FDs signals (see the module docstring)."""

    __slots__ = ("_fds", "_epoll", "_fd", "_scope", "_parked", "_woken", "_closed")

    def __init__(self, sockets: Sequence[zmq.Socket[Any]]) -> None:
        self._fds = [fileno(s) for s in sockets]
        self._epoll: Any = None
        self._fd: int | None
        if len(self._fds) == 1:
            self._fd = self._fds[0]
        elif hasattr(select, "epoll"):
            self._epoll = select.epoll()
            for fd in self._fds:
                self._epoll.register(fd, select.EPOLLIN)
            self._fd = self._epoll.fileno()
        else:  # pragma: no cover - non-Linux: race one wait per FD
            self._fd = None
        self._scope: anyio.CancelScope | None = None
        self._parked = False
        #: made when a second task waits (it waits for the first to wake)
        self._woken: anyio.Event | None = None
        self._closed = False

    @property
    def parked(self) -> bool:
        """True while some task waits (then wake it if another task's zmq call mattered)."""
        return self._parked

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait(self) -> None:
        """Wait until an FD signals or :meth:`wake` is called. Raises ClosedResourceError
        if :meth:`close` is called meanwhile (or was before)."""
        if self._closed:
            raise anyio.ClosedResourceError("the socket is closed")
        if self._parked:  # another task is parked on the FD: wake with it
            woken = self._woken
            if woken is None:
                woken = self._woken = anyio.Event()
            await woken.wait()
            if self._closed:
                raise anyio.ClosedResourceError("the socket is closed")
            return
        self._parked = True
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._fd is not None:
                    await anyio.wait_readable(self._fd)
                else:  # pragma: no cover
                    await self._race()
        finally:
            self._scope = None
            self._parked = False
            woken = self._woken
            if woken is not None:
                self._woken = None
                woken.set()

    async def _race(self) -> None:  # pragma: no cover - non-Linux fallback
        async with anyio.create_task_group() as tg:
            async def one(fd: int) -> None:
                await anyio.wait_readable(fd)
                tg.cancel_scope.cancel()

            for fd in self._fds:
                tg.start_soon(one, fd)

    def wake(self) -> None:
        """Cut the current wait short: the waiting task re-reads the socket's state."""
        if not self._parked or self._closed:
            return  # nobody waits
        scope = self._scope
        if scope is not None:
            self._scope = None  # woken once: another wake before it runs is a no-op
            scope.cancel()

    def close(self) -> None:
        """Wake every waiter with ClosedResourceError; call before closing the sockets."""
        if self._closed:
            return
        self._closed = True
        for fd in {*self._fds, *((self._fd,) if self._fd is not None else ())}:
            anyio.notify_closing(fd)
        if self._epoll is not None:
            self._epoll.close()


class Wakeup:
    """Tasks wait until the next :meth:`wake_all` (what trio's ParkingLot ``park`` and
    ``unpark_all`` did here): one :class:`anyio.Event` per generation, set and dropped by
    ``wake_all``; the next ``wait`` makes a fresh one. True while a generation has waiters
    (or had one that was cancelled: a spare ``wake_all`` then costs nothing)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def __bool__(self) -> bool:
        return self._event is not None

    async def wait(self) -> None:
        event = self._event
        if event is None:
            event = self._event = anyio.Event()
        await event.wait()

    def wake_all(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()
