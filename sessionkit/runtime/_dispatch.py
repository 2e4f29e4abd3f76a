"""Events to the processor: what a :class:`~sessionkit.runtime.SessionClient` does with the
session's events, and with the exceptions the processor's methods raise.

``handler_errors="log"`` logs a raising handler and goes on; ``"stop"`` raises :class:`_Stop`
out of the owner task, carrying the events not yet dispatched. A
:class:`~sessionkit.store.Recorder`, when there is one, skips events it already handled
(after a crash) and records each one handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .._codec import Codec
from .._config import SessionConfig
from .._events import Event, MessageFinished, MessageReceived
from .._handoff import Handoff
from .._processor import MessageHandler, dispatch, message_handlers, overrides
from .._session import Session
from ._errors import HandlerError

__all__ = ["EventDispatcher"]

# the client's logger, as docs/architecture.md names it for handler errors
logger = logging.getLogger("sessionkit.runtime._client")


class _Stop(Exception):
    """A handler raised under ``handler_errors="stop"`` (internal)."""

    def __init__(self, error: HandlerError, rest: list[Event]) -> None:
        super().__init__(str(error))
        self.error = error
        self.rest = rest


class EventDispatcher:
    """The dispatching half of :class:`~sessionkit.runtime.SessionClient` (a mixin)."""

    _processor: Any
    _recorder: Any
    _config: SessionConfig
    _codec: Codec
    _stop_on_error: bool
    _hooks: dict[type, Callable[[Any], None]]
    #: the processor's message handlers, bound when the client is made (see
    #: sessionkit._processor.message_handlers); None: the do-nothing default
    _message_handlers: dict[type, MessageHandler | None]
    #: its on_message_finished, None when it keeps the do-nothing default
    _on_finished: Callable[[Any], None] | None
    handler_errors: int

    def _new_session(self, handoff: Handoff | None) -> Session:
        """A session for this client: answers its processor leaves to the do-nothing
        default produce no event unless their request has a callback (with a recorder,
        every event is produced: the journal records each one handled)."""
        session = Session(self._config, codec=self._codec, handoff=handoff)
        if self._recorder is None:
            session.set_unobserved(t for t, h in self._message_handlers.items() if h is None)
        return session

    def _bind_handlers(self, processor: Any) -> None:
        self._message_handlers = message_handlers(processor)
        self._on_finished = (getattr(processor, "on_message_finished", None)
                             if overrides(processor, "on_message_finished") else None)

    def _handler_failed(self, exc: Exception, event: object) -> None:
        self.handler_errors += 1
        if self._stop_on_error:
            raise _Stop(HandlerError(exc, event), [])
        logger.error("the processor raised while handling %s; going on (handler_errors='log')",
                     type(event).__name__, exc_info=exc)

    def _dispatch(self, events: list[Event]) -> None:
        processor, hooks, rec = self._processor, self._hooks, self._recorder
        handlers, finished = self._message_handlers, self._on_finished
        for i, ev in enumerate(events):
            kind = type(ev)
            try:
                # the commonest events first, their handlers bound once (no recorder:
                # it journals each event handled, below)
                if kind is MessageReceived and rec is None:
                    received: Any = ev
                    msg = received.msg
                    handler: Callable[[Any, Any], Any] | None = handlers.get(type(msg), dispatch)
                    if handler is dispatch:  # a type the table does not know
                        dispatch(ev, processor)
                        continue
                    if handler is not None:
                        handler(msg, received.prev_msg)
                    callback: Callable[[Any, Any], Any] | None = received.callback
                    if callback is not None:
                        callback(msg, received.prev_msg)
                    continue
                if kind is MessageFinished and rec is None:
                    if finished is not None:
                        finished(ev)
                    continue
                hook = hooks.get(kind)
                if hook is not None:
                    hook(ev)
                if rec is not None and rec.is_duplicate(ev):
                    continue
                dispatch(ev, processor)
            except _Stop as stop:
                stop.rest = events[i + 1:]
                raise
            except Exception as exc:
                try:
                    self._handler_failed(exc, ev)
                except _Stop as stop:
                    stop.rest = events[i + 1:]
                    raise
            if rec is not None:
                rec.handled(ev)
        if rec is not None:
            rec.commit()

    def _dispatch_safely(self, events: list[Event]) -> None:
        """Dispatch while the session ends: errors are logged, never raised."""
        rec = self._recorder
        for ev in events:
            try:
                dispatch(ev, self._processor)
            except Exception:
                self.handler_errors += 1
                logger.exception("the processor raised while handling %s as the session ended",
                                 type(ev).__name__)
            if rec is not None:
                try:
                    rec.handled(ev)
                except Exception:
                    logger.exception("the store failed to record %s", type(ev).__name__)

    def _call(self, method: str, *args: Any) -> None:
        try:
            getattr(self._processor, method)(*args)
        except Exception as exc:
            self._handler_failed(exc, f"{method}{args}")
