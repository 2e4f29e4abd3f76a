"""The names a scenario may use, taken from the core so the two cannot drift apart."""

from __future__ import annotations

import inspect

from .. import _errors
from .._events import Outcome
from .._messages import MESSAGE_TYPES, EventReplay, Heartbeat, Login, Logout, Request
from .._processor import MessageProcessor

__all__ = ["CALLBACK_METHODS", "CLIENT_TYPES", "ERROR_ALIASES", "ERROR_NAMES", "INJECT_KINDS",
           "OUTCOMES",
           "CAPABILITIES", "TRANSPORT_CHECK_NAMES", "RAISE_TARGETS", "HANDLER_ERROR_MODES",
           "NET_INJECT_KINDS", "HALF_CLOSE_DIRECTIONS", "callback_params"]

#: capability names an adapter may claim (kept equal to sessionkit.runtime's CAPABILITIES;
#: a test checks that they agree, so this module needs no runtime import)
CAPABILITIES = frozenset({
    "session", "ack_mid", "batch", "run_id", "event_replay", "backpressure", "heartbeat",
    "idempotency", "streaming", "reconnect", "tcp",
})

#: every MessageProcessor method a scenario can expect to be called
CALLBACK_METHODS = tuple(sorted(
    name for name, fn in inspect.getmembers(MessageProcessor, inspect.isfunction)
    if not name.startswith("_")))

#: what ``raise-in`` may make raise: a MessageProcessor method, or ``callback`` (the
#: per-request callbacks given at submit)
RAISE_TARGETS = (*CALLBACK_METHODS, "callback")

#: the values of ``login handler_errors=`` (open_session's option)
HANDLER_ERROR_MODES = ("log", "stop")

#: message types the client sends (what ``expect-send`` may name)
CLIENT_TYPES = tuple(sorted(
    t for t, cls in MESSAGE_TYPES.items()
    if issubclass(cls, Request) or cls in (Login, Logout, Heartbeat, EventReplay)))

#: errors ``expect-error`` may name
ERROR_NAMES = tuple(sorted(
    [n for n in _errors.__all__] + ["TransportClosedError", "ConnectError"]))

#: the errors' names before 0.2 (deprecated, until 0.2): ``expect-error`` takes them too
ERROR_ALIASES = {"SessionBusy": "SessionBusyError", "SessionClosed": "SessionClosedError",
                 "TransportClosed": "TransportClosedError", "ConnectFailed": "ConnectError"}

#: real network faults, made by a fault proxy between the client and the exchange (they
#: need the ``tcp`` capability; see ``_network.py``)
NET_INJECT_KINDS = ("net-refuse", "net-reset", "net-half-close", "net-stall", "net-delay",
                    "net-split", "net-heal")

#: the directions ``inject net-half-close`` may shut
HALF_CLOSE_DIRECTIONS = ("to-client", "to-server")

INJECT_KINDS = ("drop", "duplicate", "delay", "disconnect", "garbled", "oversize",
                "refuse-connect", *NET_INJECT_KINDS)

OUTCOMES = tuple(o.value for o in Outcome)

#: built-in checks of the Transport rules (``check-transport NAME``)
TRANSPORT_CHECK_NAMES = ("frames-in-order", "receive-cancel-safe", "close-delivers-pending",
                         "aclose-when-cancelled")


def callback_params(method: str) -> tuple[str, ...]:
    """The parameter names of a MessageProcessor method (without self)."""
    sig = inspect.signature(getattr(MessageProcessor, method))
    return tuple(p for p in sig.parameters if p != "self")
