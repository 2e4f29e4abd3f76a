"""Events to the processor: what a :class:`~sessionkit.runtime.SessionClient` does with the
session's events, and with the exceptions the processor's methods raise.

Every consumer of an event gets it whatever another consumer raised: a message goes to the
processor's handler, then to its request's callback, each call isolated; a finished
request goes to ``on_message_finished``; the runtime's own calls (``on_reconnected`` ...)
are isolated the same way. ``on_handler_error="log"`` logs and counts each raising call and
goes on. ``"stop"`` lets the event being handed finish reaching its other consumers, then
raises :class:`Stop` out of the owner task, carrying the first error and the events not
yet handed (``rest``).

A :class:`~sessionkit.store.Recorder`, when there is one, skips events it already handled
(after a crash) and records an event handled once every consumer was handed it. Under
``"stop"`` the event whose consumer raised is not recorded, nor is any event after it: the
journal's cursor stays before them, so a session opened again on the journal is handed
them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from .._codec import Codec
from .._config import SessionConfig
from .._events import (
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
    Outcome,
    ProtocolError,
    ResendCompleted,
    RunChanged,
)
from .._handoff import Handoff
from .._messages import UnknownMessage
from .._processor import MessageHandler, dispatch, message_handlers, overrides
from .._session import Session
from ._errors import HandlerError, SessionFailedError, describe_event
from ._util import StatsAccumulator

__all__ = ["EventDispatcher", "STOPPED", "Crash", "Stop", "crash_error"]

# the client's logger, as docs/architecture.md names it for handler errors
logger = logging.getLogger("sessionkit.runtime._client")

#: the reason a stopped session gives (close_reason, on_message_finished, on_connection_failed)
STOPPED = "session stopped by a handler error"


class Stop(Exception):
    """A handler raised under ``on_handler_error="stop"`` (internal)."""

    def __init__(self, error: HandlerError, rest: list[Event]) -> None:
        super().__init__(str(error))
        self.error = error
        self.rest = rest


class Crash(Exception):
    """Something the owner task relies on failed: the journal, the transport, the connector
    or the codec (internal; the client ends with a :class:`SessionFailedError` naming
    ``where``)."""

    def __init__(self, where: str, original: Exception) -> None:
        super().__init__(f"{where} failed: {type(original).__name__}: {original}")
        self.where = where
        self.original = original


def crash_error(exc: Exception) -> SessionFailedError:
    """The one exception a client that crashed ends with (``__cause__``: what failed)."""
    where, original = ((exc.where, exc.original) if isinstance(exc, Crash)
                       else ("the runtime", exc))
    error = SessionFailedError(f"{where} failed: {type(original).__name__}: {original}")
    error.__cause__ = original
    return error


def _consumer(ev: object, who: str) -> str:
    """The name of a consumer of ``ev`` for a log line or a HandlerError."""
    if who == "callback" and isinstance(ev, MessageReceived):
        cid = getattr(ev.prev_msg, "cid", None) or getattr(ev.msg, "cid", None)
        return f"the callback of request {cid}" if cid else "a request's callback"
    return who


class EventDispatcher:
    """The dispatching half of :class:`~sessionkit.runtime.SessionClient` (a mixin)."""

    _processor: Any
    _recorder: Any
    _config: SessionConfig
    _codec: Codec
    _stop_on_error: bool
    _stats: StatsAccumulator
    _hooks: dict[type, Callable[[Any], None]]
    #: the processor's message handlers, bound when the client is made (see
    #: sessionkit._processor.message_handlers); None: the do-nothing default
    _message_handlers: dict[type, MessageHandler | None]
    #: the handler of a message type the table does not know (handle_unknown_message)
    _unknown_handler: MessageHandler | None
    #: its on_message_finished, None when it keeps the do-nothing default
    _on_finished: Callable[[Any], None] | None
    #: under "stop": the first error of the event being handed (raised once it is handed)
    _stop_error: HandlerError | None
    handler_errors: int

    def _new_session(self, handoff: Handoff | None) -> Session:
        """A session for this client. (Leaving out the events of answers the processor
        leaves to the do-nothing default saved under 11% of the client's CPU per order in
        tools/bench_zmq.py --quick, medians of 3 runs: under the 20% a piece of machinery
        must earn, so every answer makes its event and the session has no switch for it.)"""
        return Session(self._config, codec=self._codec, handoff=handoff)

    def _bind_handlers(self, processor: Any) -> None:
        self._message_handlers = message_handlers(processor)
        self._unknown_handler = self._message_handlers.get(UnknownMessage)
        self._on_finished = (getattr(processor, "on_message_finished", None)
                             if overrides(processor, "on_message_finished") else None)
        self._stop_error = None

    # -- one raising call ---------------------------------------------------------------

    def _handler_failed(self, exc: Exception, event: object, who: str = "the processor",
                        *, ending: bool = False) -> None:
        """A consumer raised: count it; under "stop" keep the first error (the caller
        raises it once the event is handed), else log it. ``ending``: the session is
        ending anyway; log it whatever the mode."""
        self.handler_errors += 1
        name = _consumer(event, who)
        if self._stop_on_error and not ending and self._stop_error is None:
            self._stop_error = HandlerError(exc, event, consumer=name)
            return
        what = describe_event(event)
        if ending:
            logger.error("%s raised while handling %s as the session ended", name, what,
                         exc_info=exc)
        elif self._stop_on_error:
            logger.error("%s also raised while handling %s (the session stops for the "
                         "first error)", name, what, exc_info=exc)
        else:
            logger.error("%s raised while handling %s; going on (on_handler_error='log')",
                         name, what, exc_info=exc)

    def _stop_if_failed(self, rest: list[Event]) -> None:
        """Under "stop": after an event was handed to all its consumers, stop if one
        raised (``rest``: the events not handed)."""
        error = self._stop_error
        if error is not None:
            self._stop_error = None
            raise Stop(error, rest)

    def _call(self, method: str, *args: Any, defer: bool = False) -> None:
        """Call a processor method of the runtime's own (``on_reconnecting`` ...), isolated.
        ``defer``: called while an event is handed (a hook): the stop waits for its end."""
        try:
            getattr(self._processor, method)(*args)
        except Exception as exc:
            self._handler_failed(exc, f"{method}{args}", method)
            if not defer:
                self._stop_if_failed([])

    # -- handing events ------------------------------------------------------------------

    def _dispatch(self, events: list[Event]) -> None:
        rec = self._recorder
        handlers, finished = self._message_handlers, self._on_finished
        for i, ev in enumerate(events):
            kind = type(ev)
            # the commonest events first, their handlers bound once (no recorder: it
            # journals each event handled, in _hand_recorded). Each call is isolated at no
            # cost until one raises: a try costs nothing in CPython 3.11 until it catches,
            # and each success leaves by a `continue` inside its try, so this path runs the
            # same instructions as it did without the isolation (tools/bench_runtime.py)
            if kind is MessageReceived and rec is None:
                received: Any = ev
                msg = received.msg
                handler: Callable[[Any, Any], Any] | None = handlers.get(type(msg), dispatch)
                if handler is dispatch:  # a type the table does not know
                    handler = self._unknown_handler
                try:
                    if handler is not None:
                        handler(msg, received.prev_msg)
                    callback: Callable[[Any, Any], Any] | None = received.callback
                    if callback is None:
                        continue
                    try:
                        callback(msg, received.prev_msg)
                        continue
                    except Exception as exc:  # the callback raised
                        self._raised(exc, events, i, "callback", False)
                        continue
                except Stop:
                    raise  # the callback's, under "stop"
                except Exception as exc:  # only the handler gets here
                    self._raised(exc, events, i, _name(handler), True)
                    continue
            if kind is MessageFinished and rec is None:
                if finished is None:
                    continue
                try:
                    finished(ev)
                    continue
                except Exception as exc:
                    self._raised(exc, events, i, "on_message_finished", False)
                    continue
            self._hand_recorded(ev, events, i)
        if rec is not None:
            try:
                rec.commit()
            except Exception as exc:
                raise Crash("the journal", exc) from exc

    def _raised(self, exc: Exception, events: list[Event], i: int, who: str,
                then_callback: bool) -> None:
        """A consumer of ``events[i]`` raised (the fast path of :meth:`_dispatch`): count
        or keep the error, hand the event to its callback when ``then_callback`` (the
        handler raised), then stop if the mode says so."""
        ev = events[i]
        self._handler_failed(exc, ev, who)
        if then_callback:
            self._callback(ev, False)
        self._stop_if_failed(events[i + 1:])

    def _callback(self, received: Any, ending: bool) -> None:
        callback = received.callback
        if callback is not None:
            try:
                callback(received.msg, received.prev_msg)
            except Exception as exc:
                self._handler_failed(exc, received, "callback", ending=ending)

    def _hand_recorded(self, ev: Event, events: list[Event], i: int) -> None:
        """The other events, and every event when a recorder journals them: the
        runtime's hook, then each consumer, then the record (only when none stopped)."""
        hook = self._hooks.get(type(ev))
        if hook is not None:
            hook(ev)
        self._hand(ev)
        self._stop_if_failed(events[i + 1:])
        rec = self._recorder
        if rec is not None:
            try:
                rec.handled(ev)
            except Exception as exc:
                raise Crash("the journal", exc) from exc

    def _hand(self, ev: Event, ending: bool = False) -> None:
        """Hand one event to each of its consumers, each call isolated."""
        processor = self._processor
        if type(ev) is MessageReceived:
            received: Any = ev
            msg = received.msg
            handler: Callable[[Any, Any], Any] | None = self._message_handlers.get(
                type(msg), dispatch)
            if handler is dispatch:
                handler = self._unknown_handler
            if handler is not None:
                try:
                    handler(msg, received.prev_msg)
                except Exception as exc:
                    self._handler_failed(exc, ev, _name(handler), ending=ending)
            self._callback(received, ending)
            return
        try:
            dispatch(ev, processor)
        except Exception as exc:
            self._handler_failed(exc, ev, _EVENT_METHODS.get(type(ev), "the processor"),
                                 ending=ending)

    def _dispatch_safely(self, events: list[Event]) -> None:
        """Hand events while the session ends: errors are logged, never raised."""
        rec = self._recorder
        for ev in events:
            self._hand(ev, ending=True)
            if rec is not None:
                try:
                    rec.handled(ev)
                except Exception:
                    logger.exception("the store failed to record %s", type(ev).__name__)

    def _report_withheld(self, stop: Stop) -> None:
        """After a stop: what becomes of the events not handed (``stop.rest``).

        With a journal nothing: they are not recorded handled, so the next session on the
        journal is handed them. Without one, the messages are lost; a request whose final
        state is among them is reported once, as it is when nothing before it was
        withheld, as UNKNOWN otherwise (its processor did not get every message)."""
        rest = stop.rest
        withheld = [e for e in rest if type(e) is not MessageFinished]
        stop.error.undelivered = tuple(withheld)
        if self._recorder is not None:
            if rest:
                logger.warning("%d events not handed to the processor stay in the journal "
                               "(a session opened on it again is handed them)", len(rest))
            return
        if withheld:
            logger.warning("the session stopped with %d events not handed to the processor "
                           "(HandlerError.undelivered)", len(withheld))
        out: list[Event] = []
        seen_withheld = False
        for ev in rest:
            if type(ev) is not MessageFinished:
                seen_withheld = True
                continue
            fin = ev
            assert isinstance(fin, MessageFinished)
            if seen_withheld and fin.outcome is not Outcome.UNKNOWN:
                self._stats.add_finished({fin.outcome.value: -1, Outcome.UNKNOWN.value: 1})
                fin = replace(fin, outcome=Outcome.UNKNOWN,
                                   reason=f"{STOPPED} before every message of the request "
                                          f"was handed to the processor")
            out.append(fin)
        self._dispatch_safely(out)


def _name(handler: Any) -> str:
    return getattr(handler, "__name__", None) or "the processor's handler"


#: the processor method each event other than a message goes to (for log lines and errors)
_EVENT_METHODS: dict[type, str] = {
    MessageFinished: "on_message_finished", RunChanged: "handle_run_change",
    LoginAccepted: "on_login_accepted", LoginFailed: "on_login_failed",
    ConnectionFailed: "on_connection_failed", ConnectionBusy: "on_connection_busy",
    ConnectionAvailable: "on_connection_available", ResendCompleted: "on_resend_complete",
    ExchangeOffline: "on_exchange_offline", ExchangeOnline: "on_exchange_online",
    ProtocolError: "on_protocol_error", Closed: "on_closed",
}
