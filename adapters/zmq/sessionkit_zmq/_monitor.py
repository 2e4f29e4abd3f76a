"""Socket monitor events: attaching a monitor, reading its events, saying what they mean."""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import zmq
from zmq.utils.monitor import recv_monitor_message

__all__ = ["MonitorEvent", "attach_monitor", "drain_monitor", "event_name", "protocol_error_text",
           "CLIENT_EVENTS", "SERVER_EVENTS", "close_monitor"]

CLIENT_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_DELAYED | zmq.EVENT_CONNECT_RETRIED
                 | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED | zmq.EVENT_MONITOR_STOPPED
                 | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                 | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
SERVER_EVENTS = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_MONITOR_STOPPED
                 | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                 | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

_NAMES = {getattr(zmq, n): n[6:].lower() for n in dir(zmq)
          if n.startswith("EVENT_") and n not in ("EVENT_ALL", "EVENT_ALL_V1", "EVENT_ALL_V2")
          and isinstance(getattr(zmq, n), int)}

_PROTOCOL_ERRORS = {
    getattr(zmq, n): n[len("PROTOCOL_ERROR_"):].lower().replace("_", " ")
    for n in dir(zmq) if n.startswith("PROTOCOL_ERROR_") and isinstance(getattr(zmq, n), int)
}

_monitor_ids = itertools.count(1)


class MonitorEvent(NamedTuple):
    event: int
    value: int
    endpoint: str

    @property
    def name(self) -> str:
        return event_name(self.event)


def event_name(event: int) -> str:
    return _NAMES.get(event, f"event {event:#x}")


def protocol_error_text(code: int) -> str:
    """What a ZMQ_PROTOCOL_ERROR_* code of a handshake_failed_protocol event means."""
    return _PROTOCOL_ERRORS.get(code, f"protocol error {code:#x}")


def attach_monitor(ctx: zmq.Context[Any], sock: zmq.Socket[Any], events: int) -> zmq.Socket[Any]:
    """A PAIR socket receiving ``sock``'s monitor events (a unique inproc address each)."""
    addr = f"inproc://sessionkit-zmq-monitor-{next(_monitor_ids)}"
    sock.monitor(addr, events)
    mon: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
    mon.setsockopt(zmq.LINGER, 0)
    mon.connect(addr)
    return mon


def close_monitor(sock: zmq.Socket[Any], mon: zmq.Socket[Any]) -> None:
    try:
        sock.disable_monitor()
    except zmq.ZMQError:  # pragma: no cover - socket already closed
        pass
    mon.close(linger=0)


def drain_monitor(mon: zmq.Socket[Any]) -> list[MonitorEvent]:
    """Every monitor event ready now (non-blocking)."""
    out: list[MonitorEvent] = []
    while True:
        try:
            m = recv_monitor_message(mon, zmq.NOBLOCK)
        except zmq.Again:
            return out
        raw = m.get("endpoint", b"")
        endpoint = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        out.append(MonitorEvent(int(m["event"]), int(m["value"]), endpoint))
