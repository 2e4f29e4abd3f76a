"""Heartbeats: offline detection from the exchange's interval, idle heartbeats out."""

from __future__ import annotations

__all__ = ["HeartbeatMonitor"]


class HeartbeatMonitor:
    """Tracks the last inbound and outbound traffic.

    The exchange's heartbeats carry ``interval_ms``, the time within which the
    next one is due. Any inbound message counts as a sign of life; silence
    past ``interval * (1 + grace)`` means the exchange is offline.
    """

    def __init__(self, grace: float, send_interval: float | None) -> None:
        self.grace = grace
        self.send_interval = send_interval
        self.interval: float | None = None
        self.last_inbound: float | None = None
        self.last_outbound: float | None = None
        self.offline = False
        self.offline_count = 0

    def inbound(self, now: float) -> bool:
        """Record inbound traffic; True if this ends an offline spell."""
        self.last_inbound = now
        if self.offline:
            self.offline = False
            return True
        return False

    def heard_interval(self, interval_ms: int | None) -> None:
        """A heartbeat from the exchange: the next one is due within ``interval_ms``."""
        if interval_ms is not None and interval_ms > 0:
            self.interval = interval_ms / 1000.0

    def offline_deadline(self) -> float | None:
        if self.interval is None or self.last_inbound is None or self.offline:
            return None
        return self.last_inbound + self.interval * (1.0 + self.grace)

    def send_deadline(self) -> float | None:
        if self.send_interval is None or self.last_outbound is None:
            return None
        return self.last_outbound + self.send_interval

    def check_offline(self, now: float) -> float | None:
        """The silence in seconds if the exchange just went offline, else None."""
        deadline = self.offline_deadline()
        if deadline is not None and now >= deadline and self.last_inbound is not None:
            self.offline = True
            self.offline_count += 1
            return now - self.last_inbound
        return None

    def heartbeat_due(self, now: float) -> bool:
        deadline = self.send_deadline()
        return deadline is not None and now >= deadline
