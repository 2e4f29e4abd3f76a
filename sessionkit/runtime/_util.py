"""Small helpers of the runtime: exception-group collapsing, a wake-up signal, and statistics
over sessions."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import anyio
import attrs

from .._stats import SessionStatistics

__all__ = ["collapse", "reraise", "is_cancellation", "Signal", "StatsAccumulator"]


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            yield from _leaves(e)
    else:
        yield exc


def is_cancellation(exc: BaseException) -> bool:
    """True for the cancellation exception of either backend (asyncio's ``CancelledError``,
    trio's ``Cancelled``), without importing trio and without a running loop (a ``Context``
    collapses the group its run ended with after the run)."""
    if isinstance(exc, asyncio.CancelledError):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(exc, trio.Cancelled)


def collapse(exc: BaseException) -> BaseException:
    """The one exception a group stands for, when it stands for one.

    Cancellations are left out when something else is there; a group of
    several real errors is returned as it is.
    """
    leaves = list(_leaves(exc))
    real = [e for e in leaves if not is_cancellation(e)]
    if len(real) == 1:
        return real[0]
    if not real and leaves:
        return leaves[0]
    return exc


def reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` again without chaining it to the group it was taken from."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


class Signal:
    """Wakes every task waiting for "something changed" (trio's ``ParkingLot.unpark_all``
    on either backend): an event made when a task first waits, set and dropped by
    :meth:`fire` (the "generation" pattern). Firing with nobody waiting costs one
    attribute read; nothing is allocated.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        """Wait until the next :meth:`fire` (a checkpoint: cancellable)."""
        event = self._event
        if event is None:
            event = self._event = anyio.Event()
        await event.wait()

    def fire(self) -> None:
        """Wake every task waiting now."""
        event = self._event
        if event is not None:
            self._event = None
            event.set()


_SUMMED = ("submitted", "acked", "resends", "duplicate_acks", "duplicate_responses",
           "unmatched_responses", "events_delivered", "duplicate_events", "gaps",
           "busy_count", "rejected_busy", "protocol_errors", "offline_count", "run_changes")


class StatsAccumulator:
    """Adds the counters of sessions that were replaced (reconnects) to the current one's."""

    def __init__(self) -> None:
        self._sums: dict[str, int] = dict.fromkeys(_SUMMED, 0)
        self._finished: dict[str, int] = {}
        self._latency_total = 0.0
        self._latency_max: float | None = None

    def add(self, st: SessionStatistics) -> None:
        for name in _SUMMED:
            self._sums[name] += getattr(st, name)
        self.add_finished(st.finished)
        if st.acked and st.ack_latency_mean is not None:
            self._latency_total += st.ack_latency_mean * st.acked
        if st.ack_latency_max is not None:
            self._latency_max = max(self._latency_max or 0.0, st.ack_latency_max)

    def add_finished(self, finished: dict[str, int]) -> None:
        for k, v in finished.items():
            self._finished[k] = self._finished.get(k, 0) + v

    def total(self, cur: SessionStatistics) -> SessionStatistics:
        changes: dict[str, Any] = {n: getattr(cur, n) + self._sums[n] for n in _SUMMED}
        finished = dict(cur.finished)
        for k, v in self._finished.items():
            finished[k] = finished.get(k, 0) + v
        changes["finished"] = finished
        acked = changes["acked"]
        total = self._latency_total + ((cur.ack_latency_mean or 0.0) * cur.acked)
        changes["ack_latency_mean"] = total / acked if acked else None
        maxes = [m for m in (self._latency_max, cur.ack_latency_max) if m is not None]
        changes["ack_latency_max"] = max(maxes) if maxes else None
        return attrs.evolve(cur, **changes)
