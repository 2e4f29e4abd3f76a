"""Backpressure: bounded window and send buffer, busy and available (the Lime model).

A submit that would pass a bound is rejected synchronously with
:class:`~sessionkit.SessionBusyError`; nothing is queued without bound. The first
rejection (or the exchange's congestion signal) enters the busy state and
raises one ``ConnectionBusy``; one ``ConnectionAvailable`` follows when both
counts fall below the low-water mark and the exchange is not congested.
"""

from __future__ import annotations

from collections.abc import Callable

from ._errors import SessionBusyError

__all__ = ["FlowControl"]


class FlowControl:
    def __init__(self, max_in_flight: int, max_send_buffer: int, low_water: int,
                 on_busy: Callable[[str], None]) -> None:
        #: told the reason when the busy state is entered (the session reports it)
        self._on_busy = on_busy
        self.max_in_flight = max_in_flight
        self.max_send_buffer = max_send_buffer
        self.low_water = low_water
        self.busy = False
        self.congested = False
        # statistics
        self.busy_count = 0
        self.rejected = 0

    def check(self, count: int, unacked: int, buffered: int) -> None:
        """Raise :class:`SessionBusyError` if ``count`` more messages do not fit: the exchange
        signalled congestion, ``unacked + count`` would pass ``max_in_flight``, or the last
        frame of this submit would not fit the send buffer (``buffered``: the frames queued
        before it). A rejection is counted and enters the busy state (``on_busy`` is told
        the reason once, when the state is entered)."""
        if self.congested:
            reason, detail = "congestion", "the exchange signalled congestion"
        elif unacked + count > self.max_in_flight:
            reason = "window"
            detail = (f"{unacked} messages await an ACK; {count} more would pass "
                      f"max_in_flight {self.max_in_flight}")
        elif buffered + 1 > self.max_send_buffer:
            reason = "send_buffer"
            detail = (f"{buffered} frames wait to be sent (max_send_buffer "
                      f"{self.max_send_buffer})")
        else:
            return
        self.rejected += 1
        self.enter_busy(reason)
        raise SessionBusyError(reason, detail)

    def enter_busy(self, reason: str) -> None:
        if not self.busy:
            self.busy = True
            self.busy_count += 1
            self._on_busy(reason)

    def drained(self, unacked: int, buffered: int) -> bool:
        """True once when the busy state clears (emit ``ConnectionAvailable``)."""
        if (self.busy and not self.congested and unacked < self.low_water
                and buffered < min(self.low_water, self.max_send_buffer)):
            self.busy = False
            return True
        return False
