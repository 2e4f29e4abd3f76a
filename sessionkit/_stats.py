"""An immutable snapshot of a session's counters."""

from __future__ import annotations

import attrs

__all__ = ["SessionStatistics"]


@attrs.frozen(kw_only=True)
class SessionStatistics:
    """What ``statistics()`` of a session (or a runtime client) returns: its state, run and
    event cursor, what is in flight and buffered, and counters since the session began
    (requests, ACKs, resends, outcomes, duplicates, gaps, busy periods, protocol errors,
    ACK latency in seconds)."""

    state: str
    run_id: str | None
    last_event_id: int
    #: requests sent or queued and not yet ACKed (the window's fill)
    in_flight: int
    #: ACKed requests waiting for their final response, working orders included (S2)
    awaiting_response: int
    #: frames waiting for the transport
    send_buffer: int
    submitted: int
    acked: int
    resends: int
    #: final states reached, by outcome name
    finished: dict[str, int]
    duplicate_acks: int
    #: answers without an event id repeating one already delivered (MessageReplay), dropped
    duplicate_responses: int = 0
    unmatched_responses: int
    events_delivered: int
    duplicate_events: int
    gaps: int
    held_events: int
    busy: bool
    busy_count: int
    rejected_busy: int
    protocol_errors: int
    offline_count: int
    ack_latency_mean: float | None
    ack_latency_max: float | None
    run_changes: int
