"""``MessageProcessor``: the class users subclass to receive what a session produces.

Every method has a do-nothing default, so a subclass overrides only what it
needs. Messages go to ``handle_<type>(msg, prev_msg)``, where ``prev_msg`` is
the previous message with the same MID (the request itself for its ACK and
for its first response) or None for a message no request asked for. A
message type this version does not know goes to ``handle_unknown_message``.
After the handler, the per-request ``callback(msg, prev_msg)`` given at
submit runs (also when the handler raised: see :func:`dispatch`). The runtime
looks the handlers up once, when its client is made (replacing one on the
instance later has no effect there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._events import (
    Closed,
    ConnectionAvailable,
    ConnectionBusy,
    ConnectionFailed,
    Event,
    ExchangeOffline,
    ExchangeOnline,
    LoginAccepted,
    LoginFailed,
    MessageFinished,
    MessageReceived,
    ProtocolError,
    ResendCompleted,
    RunChanged,
)
from ._messages import (
    ActionReport,
    BatchAck,
    BookStateSnapshot,
    BookTop,
    ContractDetail,
    Heartbeat,
    Message,
    Status,
    UnknownMessage,
)

__all__ = ["MessageProcessor", "dispatch"]


class MessageProcessor:
    """Override the handlers you need. All run in order, on the session's own task/thread."""

    # -- messages -------------------------------------------------------------------
    def handle_status_message(self, msg: Status, prev_msg: Message | None) -> None:
        """An ACK (or a refusal) of a request; ``msg.mid`` is the exchange's id for it."""

    def handle_action_report(self, msg: ActionReport, prev_msg: Message | None) -> None:
        """A change to an order; ``msg.size`` is what remains on the book."""

    def handle_batch_message(self, msg: BatchAck, prev_msg: Message | None) -> None:
        """The per-message ACKs of a batch (each also reaches handle_status_message)."""

    def handle_heartbeat(self, msg: Heartbeat, prev_msg: Message | None) -> None:
        """The exchange's heartbeat; ``msg.interval_ms`` is when the next is due."""

    def handle_contract_detail(self, msg: ContractDetail, prev_msg: Message | None) -> None:
        """One contract answering a contracts request."""

    def handle_book_top(self, msg: BookTop, prev_msg: Message | None) -> None:
        """Best bid and ask of a contract."""

    def handle_book_state_snapshot(self, msg: BookStateSnapshot,
                                   prev_msg: Message | None) -> None:
        """Every resting order of a contract."""

    def handle_unknown_message(self, msg: Message, prev_msg: Message | None) -> None:
        """The fallback: a message type with no handler of its own."""

    # -- session ----------------------------------------------------------------------
    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        """The exchange restarted: open orders of ``prev_run_id`` are cancelled."""

    def on_login_accepted(self, event_id: int) -> None:
        """Logged in; ``event_id`` is the exchange's newest event id at login."""

    def on_login_failed(self, reason: str) -> None:
        """The exchange refused the login. The session is deactivated."""

    def on_connection_failed(self, reason: str) -> None:
        """The connection could not be made or was lost. The session is deactivated."""

    def on_connection_busy(self) -> None:
        """Submits are being rejected: slow down."""

    def on_connection_available(self) -> None:
        """The busy state cleared."""

    def on_resend_complete(self, event_begin_id: int, event_end_id: int) -> None:
        """A replay is over."""

    def on_message_finished(self, event: MessageFinished) -> None:
        """A request reached its final state (``event.outcome``) and is no longer tracked."""

    def on_exchange_offline(self, silence: float) -> None:
        """Nothing from the exchange for ``silence`` seconds, past its heartbeat interval."""

    def on_exchange_online(self) -> None:
        """Traffic from the exchange again after it was reported offline."""

    def on_protocol_error(self, error: Exception, fatal: bool) -> None:
        """The exchange sent something wrong (``fatal``: and the session failed for it)."""

    def on_closed(self, reason: str) -> None:
        """The session closed after a logout or a local close."""

    # -- runtime (called by sessionkit.runtime, never by the core) ------------------------
    def on_reconnecting(self, attempt: int, delay: float, reason: str) -> None:
        """The runtime will open a new connection in ``delay`` seconds."""

    def on_reconnected(self, attempt: int) -> None:
        """The runtime opened a new connection and session."""


_MESSAGE_HANDLERS: dict[type, str] = {
    Status: "handle_status_message",
    ActionReport: "handle_action_report",
    BatchAck: "handle_batch_message",
    Heartbeat: "handle_heartbeat",
    ContractDetail: "handle_contract_detail",
    BookTop: "handle_book_top",
    BookStateSnapshot: "handle_book_state_snapshot",
    UnknownMessage: "handle_unknown_message",
}


#: a message handler: ``handler(msg, prev_msg)``
MessageHandler = Callable[[Any, Any], None]


def message_handlers(processor: Any) -> dict[type, MessageHandler | None]:
    """The processor's handler of each known message type, bound once; None where the
    processor keeps :class:`MessageProcessor`'s do-nothing default (nothing to call).

    For dispatchers that hand many messages to one processor (the runtime): the
    lookup :func:`dispatch` makes per event is made here once.
    """
    out: dict[type, MessageHandler | None] = {}
    for kind, name in _MESSAGE_HANDLERS.items():
        handler = getattr(processor, name, None)
        if handler is None:  # a processor without it: as dispatch() does
            name = "handle_unknown_message"
            handler = getattr(processor, name, None)
        out[kind] = handler if overrides(processor, name) else None
    return out


def overrides(processor: Any, name: str) -> bool:
    """True if ``processor``'s method ``name`` is not MessageProcessor's do-nothing default
    (set on the instance, or defined by its class, or a processor not derived from it)."""
    return (name in getattr(processor, "__dict__", ())
            or getattr(type(processor), name, None) is not getattr(MessageProcessor, name))


def dispatch(event: Event, processor: Any) -> None:
    """Hand one event to the processor method it belongs to (and a message's callback).

    A message goes to its handler, then to its request's callback (``event.callback``),
    and the callback gets it even when the handler raised: one consumer's error costs
    the other nothing. Then the error is raised: the handler's (or the callback's) own
    exception, unchanged; when both raised, an :class:`ExceptionGroup` holding both, the
    handler's first (``except*`` picks either out; neither traceback is lost). Only an
    :class:`Exception` of the handler is held back for the callback: a
    ``BaseException`` (``KeyboardInterrupt``, a cancellation) goes through at once.
    """
    if type(event) is MessageReceived:
        msg = event.msg
        name = _MESSAGE_HANDLERS.get(type(msg), "handle_unknown_message")
        handler = getattr(processor, name, None) or processor.handle_unknown_message
        callback = event.callback
        if callback is None:
            handler(msg, event.prev_msg)
            return
        try:
            handler(msg, event.prev_msg)
        except Exception as handler_error:
            try:
                callback(msg, event.prev_msg)
            except Exception as callback_error:
                # it happened while the handler's was held: the group shows that one once
                callback_error.__suppress_context__ = True
                raise ExceptionGroup(
                    f"both the handler {name} and the request's callback raised on "
                    f"{type(msg).__name__}", [handler_error, callback_error]) from None
            raise
        callback(msg, event.prev_msg)
    elif isinstance(event, MessageFinished):
        processor.on_message_finished(event)
    elif isinstance(event, RunChanged):
        processor.handle_run_change(event.run_id, event.prev_run_id)
    elif isinstance(event, LoginAccepted):
        processor.on_login_accepted(event.event_id)
    elif isinstance(event, LoginFailed):
        processor.on_login_failed(event.reason)
    elif isinstance(event, ConnectionFailed):
        processor.on_connection_failed(event.reason)
    elif isinstance(event, ConnectionBusy):
        processor.on_connection_busy()
    elif isinstance(event, ConnectionAvailable):
        processor.on_connection_available()
    elif isinstance(event, ResendCompleted):
        processor.on_resend_complete(event.begin, event.end)
    elif isinstance(event, ExchangeOffline):
        processor.on_exchange_offline(event.silence)
    elif isinstance(event, ExchangeOnline):
        processor.on_exchange_online()
    elif isinstance(event, ProtocolError):
        processor.on_protocol_error(event.error, event.fatal)
    elif isinstance(event, Closed):
        processor.on_closed(event.reason)
    else:  # pragma: no cover - every event type is listed above
        raise TypeError(f"no processor method for {type(event).__name__}")
