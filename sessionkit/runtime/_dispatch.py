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

from .._events import Event
from .._processor import dispatch
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
    _stop_on_error: bool
    _hooks: dict[type, Callable[[Any], None]]
    handler_errors: int

    def _handler_failed(self, exc: Exception, event: object) -> None:
        self.handler_errors += 1
        if self._stop_on_error:
            raise _Stop(HandlerError(exc, event), [])
        logger.error("the processor raised while handling %s; going on (handler_errors='log')",
                     type(event).__name__, exc_info=exc)

    def _dispatch(self, events: list[Event]) -> None:
        processor, hooks, rec = self._processor, self._hooks, self._recorder
        for i, ev in enumerate(events):
            hook = hooks.get(type(ev))
            try:
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
