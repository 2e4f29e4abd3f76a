"""Backpressure: bounded window and send buffer, busy and available (the Lime model).

A submit that would pass a bound is rejected synchronously with
:class:`~sessionkit.SessionBusy`; nothing is queued without bound. The first
rejection (or the exchange's congestion signal) enters the busy state and
raises one ``ConnectionBusy``; one ``ConnectionAvailable`` follows when both
counts fall below the low-water mark and the exchange is not congested.
"""

from __future__ import annotations

from ._errors import SessionBusy

__all__ = ["FlowControl"]


class FlowControl:
    def __init__(self, max_in_flight: int, max_send_buffer: int, low_water: int) -> None:
        self.max_in_flight = max_in_flight
        self.max_send_buffer = max_send_buffer
        self.low_water = low_water
        self.busy = False
        self.congested = False
        # statistics
        self.busy_count = 0
        self.rejected = 0

    def check(self, count: int, unacked: int, buffered: int) -> str | None:
        """Raise :class:`SessionBusy` if ``count`` more messages do not fit.

        Returns the reason when this rejection entered the busy state (the
        caller then emits ``ConnectionBusy``), else None. Never returns when
        it rejects: it raises.
        """
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
            return None
        self.rejected += 1
        entered = self.enter_busy()
        err = SessionBusy(reason, detail)
        err.entered_busy = entered  # type: ignore[attr-defined]
        raise err

    def enter_busy(self) -> bool:
        if self.busy:
            return False
        self.busy = True
        self.busy_count += 1
        return True

    def drained(self, unacked: int, buffered: int) -> bool:
        """True once when the busy state clears (emit ``ConnectionAvailable``)."""
        if (self.busy and not self.congested and unacked < self.low_water
                and buffered < min(self.low_water, self.max_send_buffer)):
            self.busy = False
            return True
        return False
