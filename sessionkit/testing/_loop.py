"""Wiring a sans-IO :class:`~sessionkit.Session` to the reference exchange in memory.

:class:`CoreLoop` moves messages between a session and an
:class:`~sessionkit.testing.ExchangeConnection` through two
:class:`FaultyLink` objects (one per direction) on a clock the caller
advances. Frames go through a codec, so the wire format is exercised too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .._codec import Codec, JsonCodec
from .._config import SessionConfig
from .._events import Event
from .._messages import Message
from .._processor import MessageProcessor, dispatch
from .._session import Session
from .._state import CLOSED_STATES
from ._exchange import ExchangeConnection, ReferenceExchange

__all__ = ["FaultyLink", "CoreLoop"]


class FaultyLink:
    """A one-way link that can drop, duplicate, reorder or delay what passes through.

    Faults are armed by count (``drop(2)`` drops the next two messages) or by
    probability with a seeded ``rng``.
    """

    def __init__(self, rng: random.Random | None = None, *, p_drop: float = 0.0,
                 p_duplicate: float = 0.0, p_reorder: float = 0.0) -> None:
        self.rng = rng or random.Random(0)
        self.p_drop, self.p_duplicate, self.p_reorder = p_drop, p_duplicate, p_reorder
        self._queue: list[tuple[float, int, Any]] = []
        self._seq = 0
        self._drop = self._dup = self._reorder = 0
        self._delay = 0.0
        self.dropped = self.duplicated = self.reordered = 0

    def drop(self, n: int = 1) -> None:
        self._drop += n

    def duplicate(self, n: int = 1) -> None:
        self._dup += n

    def reorder(self, n: int = 1) -> None:
        self._reorder += n

    def delay(self, seconds: float) -> None:
        """Hold the next message for ``seconds``."""
        self._delay = seconds

    def put(self, item: Any, now: float) -> None:
        rng = self.rng
        if self._drop or (self.p_drop and rng.random() < self.p_drop):
            self._drop = max(0, self._drop - 1)
            self.dropped += 1
            return
        at = now + self._delay
        self._delay = 0.0
        copies = 1
        if self._dup or (self.p_duplicate and rng.random() < self.p_duplicate):
            self._dup = max(0, self._dup - 1)
            self.duplicated += 1
            copies = 2
        for _ in range(copies):
            self._seq += 1
            self._queue.append((at, self._seq, item))
        if len(self._queue) > 1 and (self._reorder or
                                     (self.p_reorder and rng.random() < self.p_reorder)):
            self._reorder = max(0, self._reorder - 1)
            self.reordered += 1
            q = self._queue
            # swap the last two items, each keeping the other's delivery time
            q[-1], q[-2] = (q[-1][0], q[-1][1], q[-2][2]), (q[-2][0], q[-2][1], q[-1][2])

    def take(self, now: float) -> list[Any]:
        """What is due by ``now``, in link order."""
        due = [e for e in self._queue if e[0] <= now]
        if not due:
            return []
        self._queue = [e for e in self._queue if e[0] > now]
        return [e[2] for e in due]

    def pending(self) -> int:
        return len(self._queue)

    def next_due(self) -> float | None:
        return min((e[0] for e in self._queue), default=None)

    def clear(self) -> None:
        self._queue.clear()


class CoreLoop:
    """A session, the reference exchange, two faulty links and a clock, in one place.

    ``on_event`` receives every event the session produces (after ``processor``
    saw it, if one is given).
    """

    def __init__(self, exchange: ReferenceExchange | None = None, *,
                 config: SessionConfig | None = None, processor: Any = None,
                 codec: Codec | None = None, rng: random.Random | None = None,
                 on_event: Callable[[Event], None] | None = None, account: str = "acct",
                 token: str = "") -> None:
        self.exchange = exchange or ReferenceExchange()
        self.config = config or SessionConfig(cid_prefix="c")
        self.codec = codec if codec is not None else JsonCodec()
        # callbacks given at submit run through dispatch, so a processor is always there
        self.processor = processor if processor is not None else MessageProcessor()
        self.on_event = on_event
        self.account, self.token = account, token
        self.rng = rng or random.Random(0)
        self.to_exchange = FaultyLink(self.rng)
        self.to_client = FaultyLink(self.rng)
        self.now = 0.0
        self.session = Session(self.config, codec=self.codec)
        self.conn: ExchangeConnection = self.exchange.connect()
        self.events: list[Event] = []
        self.sessions = 1

    # -- driving --------------------------------------------------------------------

    def login(self, resume_event_id: int | None = None) -> None:
        self.session.login(self.now, account=self.account, token=self.token,
                           resume_event_id=resume_event_id)
        self.pump()

    def _flush_events(self) -> None:
        for ev in self.session.events():
            self.events.append(ev)
            dispatch(ev, self.processor)
            if self.on_event is not None:
                self.on_event(ev)

    def pump(self, rounds: int = 1000) -> None:
        """Move messages both ways until nothing more is due now."""
        s, codec = self.session, self.codec
        for _ in range(rounds):
            moved = False
            if s.state not in CLOSED_STATES:
                for frame in s.data_to_send():
                    self.to_exchange.put(frame, self.now)
            for frame in self.to_exchange.take(self.now):
                moved = True
                self.conn.receive(codec.decode(frame))
            for msg in self.conn.outbox():
                self.to_client.put(codec.encode(msg), self.now)
            for frame in self.to_client.take(self.now):
                moved = True
                if s.state in CLOSED_STATES:
                    continue
                s.receive_data(frame, self.now)
            self._flush_events()
            if not moved and not self.to_exchange.pending() and not self.to_client.pending():
                return
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing the session's timers and the exchange's heartbeats."""
        end = self.now + seconds
        while True:
            candidates = [d for d in (self.session.next_deadline(), self.to_client.next_due(),
                                      self.to_exchange.next_due()) if d is not None]
            step = min([d for d in candidates if d > self.now] + [end])
            if step > end:
                step = end
            self.now = max(self.now, step)
            self.exchange.tick(self.now)
            if self.session.state not in CLOSED_STATES:
                self.session.handle_timer(self.now)
            self.pump()
            if self.now >= end:
                return

    def submit(self, request: Message, callback: Any = None) -> str:
        cid = self.session.submit(request, self.now, callback=callback)  # type: ignore[arg-type]
        self.pump()
        return cid

    def disconnect(self, reason: str = "connection dropped") -> None:
        """The transport fails: the session is deactivated, in-flight frames are lost."""
        self.to_exchange.clear()
        self.to_client.clear()
        self.session.connection_lost(reason, self.now)
        self.conn.closed = True
        self._flush_events()

    def reconnect(self, resume_event_id: int | None = None) -> None:
        """A new connection and a new session that carries the old one's state on."""
        handoff = self.session.handoff()
        if self.session.state not in CLOSED_STATES:
            self.session.connection_lost("replaced by a new connection", self.now)
            self._flush_events()
        self.session = Session(self.config, codec=self.codec, handoff=handoff)
        self.sessions += 1
        self.conn = self.exchange.connect()
        self.login(resume_event_id)

    def messages(self, kind: type[Message] | None = None) -> list[Message]:
        """Messages delivered to the processor so far (optionally of one type)."""
        from .._events import MessageReceived

        return [e.msg for e in self.events if isinstance(e, MessageReceived)
                and (kind is None or isinstance(e.msg, kind))]
