"""A MessageProcessor that records every call, so scenarios can expect them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import attrs

from .._events import MessageFinished
from .._messages import Message
from .._processor import MessageProcessor
from ._match import describe, plain
from ._vocabulary import CALLBACK_METHODS, callback_params

__all__ = ["Call", "RecordingProcessor", "ScriptedHandlerError"]


class ScriptedHandlerError(Exception):
    """What a processor method (or callback) raises when a scenario says ``raise-in``."""


@attrs.define
class Call:
    """One processor call: ``method`` and its arguments by parameter name."""

    seq: int
    method: str
    args: dict[str, Any]
    at: float

    @property
    def subject(self) -> Any:
        """What field checks look into: the message, the finished event, or the arguments."""
        if "msg" in self.args:
            return _MessageView(self.args["msg"], self.args.get("prev_msg"))
        if "event" in self.args:
            return self.args["event"]
        return self.args

    def __str__(self) -> str:
        if "msg" in self.args:
            prev = self.args.get("prev_msg")
            tail = f", prev={prev.TYPE}" if isinstance(prev, Message) else ""
            return f"{self.method}({describe(self.args['msg'])}{tail})"
        if "event" in self.args and isinstance(self.args["event"], MessageFinished):
            ev = self.args["event"]
            reason = f", reason={ev.reason!r}" if ev.reason else ""
            return (f"{self.method}(cid={ev.cid!r}, mid={ev.mid}, "
                    f"outcome={ev.outcome.value}{reason})")
        inner = ", ".join(f"{k}={plain(v)!r}" for k, v in self.args.items())
        return f"{self.method}({inner})"


class _MessageView:
    """A message whose fields resolve directly, plus ``prev`` (the previous message)."""

    def __init__(self, msg: Message, prev: Message | None) -> None:
        self.msg, self.prev = msg, prev

    def __getattr__(self, name: str) -> Any:
        from ._match import resolve

        return resolve(self.msg, name)


def _make(method: str) -> Callable[..., None]:
    params = callback_params(method)

    def record(self: RecordingProcessor, *args: Any, **kwargs: Any) -> None:
        bound = dict(zip(params, args, strict=False))
        bound.update(kwargs)
        self._record(method, bound)

    record.__name__ = method
    return record


class RecordingProcessor(MessageProcessor):
    """Records every MessageProcessor call (and per-request callbacks) with the loop's time."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.by_method: dict[str, list[Call]] = {}
        #: cids of every request reported finished
        self.finished_cids: set[str] = set()
        #: per-request callback deliveries, by the alias the request was submitted as
        self.replies: dict[str, list[Call]] = {}
        self._changed = anyio.Event()
        #: method (or "callback") -> calls left that raise after they are recorded
        self._raising: dict[str, int] = {}

    def raise_in(self, method: str, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` (``callback``: of any per-request
        callback) raise :class:`ScriptedHandlerError`, once recorded."""
        self._raising[method] = self._raising.get(method, 0) + times

    def _maybe_raise(self, method: str) -> None:
        left = self._raising.get(method, 0)
        if left:
            self._raising[method] = left - 1
            raise ScriptedHandlerError(f"raised by the scenario (raise-in {method})")

    def _now(self) -> float:
        try:
            return anyio.current_time()
        except RuntimeError:  # no loop in this thread
            return 0.0

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _record(self, method: str, args: dict[str, Any]) -> None:
        call = Call(len(self.calls), method, args, self._now())
        self.calls.append(call)
        self.by_method.setdefault(method, []).append(call)
        if method == "on_message_finished" and isinstance(args.get("event"), MessageFinished):
            self.finished_cids.add(args["event"].cid)
        self._notify()
        self._maybe_raise(method)

    def reply_callback(self, key: str) -> Callable[[Message, Message | None], None]:
        """A per-request callback recording into ``replies[key]``."""
        box = self.replies.setdefault(key, [])

        def callback(msg: Message, prev_msg: Message | None) -> None:
            box.append(Call(len(box), "callback", {"msg": msg, "prev_msg": prev_msg},
                            self._now()))
            self._notify()
            self._maybe_raise("callback")

        return callback

    async def changed(self) -> None:
        """Wait until something new is recorded."""
        await self._changed.wait()

    def finished(self) -> dict[str, list[MessageFinished]]:
        out: dict[str, list[MessageFinished]] = {}
        for c in self.calls:
            if c.method == "on_message_finished":
                ev = c.args["event"]
                out.setdefault(ev.cid, []).append(ev)
        return out

    def timeline(self, last: int = 12) -> str:
        tail = self.calls[-last:]
        lines = [f"  t={c.at:.3f} {c}" for c in tail]
        more = len(self.calls) - len(tail)
        head = [f"  ... {more} earlier calls"] if more > 0 else []
        return "\n".join(head + lines) if lines else "  (no processor calls)"


for _name in CALLBACK_METHODS:
    setattr(RecordingProcessor, _name, _make(_name))
del _name
