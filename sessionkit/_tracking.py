"""ACK/MID tracking: the life of every request until its final state.

A request is tracked by its client id (``cid``) from submit on, and by the
exchange's message id (``mid``) once its ACK arrives. The three exchange
unavailability scenarios of the LedgerX guide map onto the states here:
S1 (no ACK) is ``QUEUED``/``SENT`` with a resend timer, S2 (ACK without
response) is ``ACKED``/``OPEN``, S3 (ACK and final response) ends tracking.
"""

from __future__ import annotations

import enum
import heapq
from collections import deque
from collections.abc import Callable

import attrs
import msgspec
from msgspec.structs import replace

from ._config import SessionConfig
from ._events import Callback, Event, MessageFinished, MessageReceived, Outcome
from ._messages import (
    ActionReport,
    BatchAck,
    ContractDetail,
    Message,
    Request,
    RequestKind,
    Status,
)

__all__ = ["MessageState", "Tracked", "Tracker", "TrackedSnapshot", "same_content"]


class MessageState(enum.Enum):
    """Where a tracked request stands: queued, sent (S1), ACKed (S2), or final."""

    #: submitted, not yet handed to the transport (before login, or after a reconnect)
    QUEUED = "queued"
    #: sent, no ACK yet (S1)
    SENT = "sent"
    #: ACKed, waiting for the final response (S2)
    ACKED = "acked"
    #: a trade request ACKed and working on the book, until size zero (S2)
    OPEN = "open"


# A record holds its state and kind as the enums' values: one that holds no object the cycle
# collector tracks (an enum member is one) is left out of its scans (msgspec untracks it),
# which cost 0.4 us per order of 11 in tools/bench_zmq.py (gc.callbacks). A callback: tracked.
_QUEUED, _SENT, _ACKED, _OPEN = (s._value_ for s in MessageState)
_UNACKED = (_QUEUED, _SENT)
_BATCH, _TRADE, _ACK_ONLY = (k._value_ for k in (RequestKind.BATCH, RequestKind.TRADE,
                                                 RequestKind.ACK_ONLY))
_DONE, _COMPLETED = Outcome.DONE, Outcome.COMPLETED


class Tracked(msgspec.Struct, eq=False):
    """The mutable tracking record of one request (internal; compared by identity). Every
    request in flight has one, so it holds only what each needs: a batch's members and
    parent, a first send's deadline and a doubt are derived or kept by the tracker for the
    few that have them (bytes_per_inflight in tools/bench_core.py). A Struct, not a class
    with ``__slots__``: the same 120 bytes, made in C (0.06 us instead of 0.13)."""

    request: Request
    cid: str
    #: the request's RequestKind and the record's MessageState, as their values
    kind: str
    state: str
    callback: Callback | None
    #: the previous message of this MID handed to the processor (the request at first)
    prev: Message
    mid: int | None = None
    attempts: int = 0
    #: when it was first sent on this connection (its first ACK timer runs from here)
    first_sent: float | None = None
    run_id: str | None = None
    #: its ACK itself was handed on (not only implied by an answer that overtook it)
    ack_seen: bool = False


def _children(t: Tracked) -> tuple[str, ...]:
    """The cids of a batch's members (none for another request)."""
    if t.kind is not _BATCH:
        return ()
    return tuple(m.cid for m in t.request.messages if m.cid is not None)  # type: ignore[attr-defined]


@attrs.frozen
class TrackedSnapshot:
    """What a new session needs to carry a tracked request on (see ``Handoff``)."""

    request: Request
    state: MessageState
    mid: int | None
    run_id: str | None
    parent: str | None
    callback: Callback | None = attrs.field(default=None, eq=False, repr=False)
    #: the last message of this request handed to the processor (None: the request)
    prev: Message | None = attrs.field(default=None, eq=False, repr=False)
    #: why a message about it was refused (see Tracker.doubt): what is inferred about it (a
    #: run change's cancel) is then not known
    doubt: str = ""


def same_content(a: object, b: object) -> bool:
    """Are two messages the same message, sent again? (Equal but for the envelope's
    ``event_id``, ``replay`` and ``ts``, which a re-send may change.)"""
    if a == b:
        return True
    if type(a) is not type(b) or not isinstance(a, Message) or not isinstance(b, Message):
        return False
    return (replace(a, event_id=None, replay=False, ts=None)
            == replace(b, event_id=None, replay=False, ts=None))


def _when(entry: tuple[float, int, Tracked]) -> tuple[float, int]:
    return entry[0], entry[1]


def _is_final_response(msg: Message) -> bool:
    if isinstance(msg, ActionReport):
        return msg.size == 0
    if isinstance(msg, ContractDetail):
        return msg.last
    return True


class Tracker:
    """Holds every tracked request and applies ACKs, responses and timeouts to them."""

    def __init__(self, config: SessionConfig, emit: Callable[[Event], None],
                 violation: Callable[[str, Message], None]) -> None:
        self._config = config
        self._emit = emit
        #: reports a protocol violation (what is wrong, the offending message); the
        #: message it names is not applied
        self._violation = violation
        #: the ACK timeout of a first send (the config is frozen)
        self._first_wait = min(config.ack_timeout, config.ack_timeout_max)
        #: the exchange's current run (the session's): an answer without a run id is of it
        self.run_id: str | None = None
        self.by_cid: dict[str, Tracked] = {}
        self.by_mid: dict[int, Tracked] = {}
        #: requests (not batch containers) not yet ACKed: the window's fill
        self.unacked = 0
        #: ACK timers. First sends all wait the same time, so their deadlines
        #: (``first_sent + first wait``) come in order: a FIFO of the requests themselves
        #: (8 bytes each; a (deadline, seq, cid) tuple per request in flight cost about 130
        #: bytes more: tools/bench_core.py's bytes_per_inflight). Resends (backoff) in a
        #: heap of (deadline, seq, request, attempt). An entry whose request was ACKed or
        #: sent again since is dropped when it comes up
        self._fifo: deque[Tracked] = deque()
        self._timers: list[tuple[float, int, Tracked, int]] = []
        self._seq = 0
        #: the batch each batch member belongs to (by cid), and why a request is in doubt
        #: (see :meth:`doubt`): few requests have either
        self._parent: dict[str, str] = {}
        self._doubt: dict[str, str] = {}
        # statistics
        self.acked = 0
        self.duplicate_acks = 0
        #: answers without an event id that repeat the last one delivered (MessageReplay)
        self.duplicate_responses = 0
        self.unmatched = 0
        self.resends = 0
        #: final states reached, by outcome value (str keys: cheap to hash)
        self.finished: dict[str, int] = {o.value: 0 for o in Outcome}
        self.ack_latency_total = 0.0
        self.ack_latency_max = 0.0
        #: recently finished requests, oldest first: cid -> (its mid, the last message
        #: handed on for it), and mid -> cid. A repeat of their ACK or last answer (a resend
        #: answered again, a MessageReplay) is dropped, not delivered as an answer nobody
        #: asked for
        self._finished: dict[str, Tracked] = {}
        self._finished_mids: dict[int, Tracked] = {}
        self._finished_order: deque[Tracked] = deque()
        self._window = config.recent_window

    # -- adding and sending ------------------------------------------------------

    def add(self, request: Request, callback: Callback | None, parent: str | None = None,
            state: str = _QUEUED) -> Tracked:
        """Track ``request`` in ``state`` (a MessageState's value)."""
        t = Tracked(request, request.cid, request.KIND._value_, state, callback, request)  # type: ignore[arg-type]
        self.by_cid[t.cid] = t
        if parent is not None:
            self._parent[t.cid] = parent
        if (state is _QUEUED or state is _SENT) and t.kind is not _BATCH:
            self.unacked += 1
        return t

    def add_sent(self, request: Request, callback: Callback | None, now: float) -> Tracked:
        """:meth:`add` and a first :meth:`mark_sent` in one (a plain request, not a batch,
        sent at ``now``): the submit path of every request."""
        t = Tracked(request, request.cid, request.KIND._value_, _SENT, callback, request,  # type: ignore[arg-type]
                    attempts=1, first_sent=now)
        self.by_cid[t.cid] = t
        self.unacked += 1
        self._arm_first(t, now)
        return t

    def _arm_first(self, t: Tracked, now: float) -> None:
        """The ACK timer of a first send (``t.first_sent`` is ``now``): in the FIFO, unless
        the caller's clock went back (then in the heap, which keeps any order)."""
        fifo = self._fifo
        if not fifo or fifo[-1].first_sent <= now:  # type: ignore[operator]
            fifo.append(t)
        else:
            self._seq += 1
            heapq.heappush(self._timers, (now + self._first_wait, self._seq, t, 1))

    def mark_sent(self, t: Tracked, now: float) -> None:
        """Record one send of ``t`` (and its batch members) and arm its ACK timer."""
        if t.attempts:
            self.resends += 1
        t.attempts += 1
        t.state = _SENT
        if t.attempts == 1:
            t.first_sent = now
            self._arm_first(t, now)
        else:
            self._seq += 1
            cfg = self._config
            deadline = now + min(
                cfg.ack_timeout * cfg.ack_backoff ** (t.attempts - 1), cfg.ack_timeout_max)
            heapq.heappush(self._timers, (deadline, self._seq, t, t.attempts))
        for c in _children(t):
            child = self.by_cid.get(c)
            if child is not None and child.state is _QUEUED:
                child.state = _SENT
                child.attempts = t.attempts
                if child.first_sent is None:
                    child.first_sent = now

    def _armed(self, t: Tracked, attempt: int) -> bool:
        """Is ``t``'s timer of this send still armed (``t`` tracked, SENT, and not sent
        again since)?"""
        return t.state is _SENT and t.attempts == attempt and self.by_cid.get(t.cid) is t

    def next_deadline(self) -> float | None:
        """The earliest armed ACK timer (dead entries, of requests ACKed or resent since,
        are dropped on the way)."""
        fifo, timers, armed = self._fifo, self._timers, self._armed
        while fifo and not armed(fifo[0], 1):
            fifo.popleft()
        while timers and not armed(timers[0][2], timers[0][3]):
            heapq.heappop(timers)
        first = fifo[0].first_sent + self._first_wait if fifo else None  # type: ignore[operator]
        if timers and (first is None or timers[0][0] < first):
            return timers[0][0]
        return first

    def expired(self, now: float) -> list[Tracked]:
        """Pop the requests whose ACK timer ran out by ``now``, earliest first."""
        found: list[tuple[float, int, Tracked]] = []
        fifo, timers, armed, wait = self._fifo, self._timers, self._armed, self._first_wait
        while fifo and fifo[0].first_sent + wait <= now:  # type: ignore[operator]
            t = fifo.popleft()
            if armed(t, 1):
                found.append((t.first_sent + wait, 0, t))  # type: ignore[operator]
        while timers and timers[0][0] <= now:
            deadline, seq, t, attempt = heapq.heappop(timers)
            if armed(t, attempt):
                found.append((deadline, seq, t))
        found.sort(key=_when)
        return [t for _, _, t in found]

    def queued(self) -> list[Tracked]:
        """The requests submitted before the login, to send (a batch's members go with
        their batch)."""
        return [t for t in self.by_cid.values()
                if t.state is _QUEUED and t.cid not in self._parent]

    def requeue_unacked(self) -> list[Tracked]:
        """After a reconnect: every top-level request not ACKed goes back to QUEUED."""
        out = []
        for t in self.by_cid.values():
            if t.state in _UNACKED:
                t.state = _QUEUED
                t.attempts = 0
                t.first_sent = None  # its ACK timer runs from its send on the next connection
                if t.cid not in self._parent:
                    out.append(t)
        self._timers.clear()
        self._fifo.clear()
        return out

    # -- inbound -------------------------------------------------------------------

    def on_status(self, st: Status, now: float) -> None:
        t = self.by_cid.get(st.cid)
        mid = st.mid
        if t is None:
            done = self._finished.get(st.cid)
            if done is not None and done.mid is not None and mid is not None and mid != done.mid:
                self._violation(f"an ACK for {st.cid!r} (finished) carries mid {mid}; its "
                                f"ACK carried mid {done.mid}", st)
            elif done is not None and done.ack_seen and mid == done.mid:
                self.duplicate_acks += 1  # a resend of a finished request, answered again
            else:  # nobody asked, or a request that ended unknown, ACKed after all: news
                self.unmatched += 1
                self._emit(MessageReceived(st, None, None))
            return
        state = t.state
        if state is not _SENT and state is not _QUEUED:
            if mid is not None and t.mid is not None and mid != t.mid:
                self._violation(f"a second ACK for {t.cid!r} carries mid {mid}; its first "
                                f"carried mid {t.mid}", st)
            elif not t.ack_seen:  # the ACK itself, after an answer that implied it: the
                t.ack_seen = True  # engine has not seen this message (an event of its own)
                self._emit(MessageReceived(st, t.request, t.callback))
            else:
                self.duplicate_acks += 1
            return
        if mid is not None:
            owner = self.by_mid.get(mid)
            if owner is not None and owner is not t:
                self._violation(f"the ACK for {t.cid!r} carries mid {mid}, already the mid of "
                                f"{owner.cid!r} (MIDs are unique within a run)", st)
                return
        self._apply_ack(t, mid, st.run_id or self.run_id, now)
        t.ack_seen = True
        self._emit(MessageReceived(st, t.request, t.callback))
        if not st.ok:
            self.finish(t, Outcome.REJECTED, f"status {st.status}: {st.message}".rstrip(": "))
        elif t.kind is _ACK_ONLY:
            self.finish(t, _COMPLETED)

    def _apply_ack(self, t: Tracked, mid: int | None, run_id: str | None, now: float) -> None:
        """``t`` was ACKed with ``mid`` in run ``run_id`` (by its ACK, or implied by an
        answer or a batch of ACKs that came first)."""
        kind = t.kind
        if kind is not _BATCH:
            self.unacked -= 1
        self.acked += 1
        first_sent = t.first_sent
        if first_sent is not None:
            latency = now - first_sent
            self.ack_latency_total += latency
            if latency > self.ack_latency_max:
                self.ack_latency_max = latency
        t.mid = mid
        t.run_id = run_id
        if mid is not None:
            self.by_mid[mid] = t
        t.state = _OPEN if kind is _TRADE else _ACKED

    def on_batch_ack(self, ba: BatchAck, now: float) -> None:
        """Map a batch of ACKs to each message; what is wrong in it is a violation."""
        t = self.by_cid.get(ba.cid)
        if t is None or t.kind is not _BATCH:
            self.unmatched += 1
            self._emit(MessageReceived(ba, None, None))
            return
        children = _children(t)
        unknown = [st.cid for st in ba.messages if st.cid not in children]
        if unknown:
            self._violation(f"batch ACK for batch {t.cid!r} names messages not in the batch: "
                            f"{', '.join(map(repr, unknown))}", ba)
            return
        if t.state in _UNACKED:  # the batch's own ACK was lost: this batch of ACKs implies it
            owner = self.by_mid.get(ba.mid) if ba.mid is not None else None
            if owner is not None and owner is not t:
                self._violation(f"the batch ACK for {t.cid!r} carries mid {ba.mid}, already "
                                f"the mid of {owner.cid!r} (MIDs are unique within a run)", ba)
                return
            self._apply_ack(t, ba.mid, ba.run_id or self.run_id, now)
        self._emit(MessageReceived(ba, t.prev, t.callback))
        seen = set()
        for st in ba.messages:
            seen.add(st.cid)
            self.on_status(st, now)
        missing = []
        for c in children:
            child = self.by_cid.get(c)
            if c not in seen and child is not None and child.state in _UNACKED:
                missing.append(c)
                self.finish(child, Outcome.UNKNOWN, "missing from the batch ACK")
        self.finish(t, Outcome.COMPLETED)
        if missing:
            self._violation(f"batch ACK for batch {t.cid!r} has no ACK for "
                            f"{', '.join(map(repr, missing))} (reported unknown)", ba)

    def on_response(self, msg: Message, now: float) -> None:
        """An answer naming its request by ``mid``, or by ``cid`` when its ACK was lost."""
        try:
            mid, cid = msg.mid, msg.cid  # type: ignore[attr-defined]
        except AttributeError:  # another kind of message naming a request (Session._on_other)
            mid, cid = getattr(msg, "mid", None), getattr(msg, "cid", None)
        t = self.by_mid.get(mid) if mid is not None else None
        if t is not None:
            if cid is not None and cid != t.cid:
                self._violation(f"{msg.TYPE} for mid {mid} names cid {cid!r}, but mid {mid} "
                                f"is {t.cid!r}'s", msg)
                return
        elif cid is not None:
            t = self.by_cid.get(cid)
            if t is not None and mid is not None and t.mid is not None and t.mid != mid:
                self._violation(f"{msg.TYPE} for {cid!r} carries mid {mid}, but {cid!r} was "
                                f"ACKed with mid {t.mid}", msg)
                return
        if t is None:
            done = self._finished_mids.get(mid) if mid is not None else None
            if done is not None and msg.event_id is None and same_content(msg, done.prev):
                self.duplicate_responses += 1  # a re-send of a final answer delivered
                return
            self.unmatched += 1
            self._emit(MessageReceived(msg, None, None))
            return
        prev = t.prev
        if msg.event_id is None and prev is not t.request and same_content(msg, prev):
            self.duplicate_responses += 1  # a re-send (MessageReplay) of what was delivered
            return
        state = t.state
        if state is _SENT or state is _QUEUED:  # the response overtook a lost ACK: it implies it
            if mid is not None:
                self._apply_ack(t, mid, msg.run_id or self.run_id, now)
            else:
                self.unacked -= 1
                t.state = _ACKED
        t.prev = msg
        self._emit(MessageReceived(msg, prev, t.callback))
        if _is_final_response(msg):
            self.finish(t, _DONE if t.kind is _TRADE else _COMPLETED)

    # -- ending ----------------------------------------------------------------------

    def finish(self, t: Tracked, outcome: Outcome, reason: str = "") -> None:
        cid, mid = t.cid, t.mid
        if self.by_cid.pop(cid, None) is None:
            return
        if t.state in _UNACKED and t.kind is not _BATCH:
            self.unacked -= 1
        if mid is not None and self.by_mid.get(mid) is t:
            del self.by_mid[mid]
        # remembered among the last recent_window finished: a repeat of its ACK or of its
        # last answer is then dropped, not news
        order = self._finished_order
        order.append(t)
        if len(order) > self._window:  # the oldest is forgotten (unless finished again since)
            old = order.popleft()
            if self._finished.get(old.cid) is old:
                del self._finished[old.cid]
            if old.mid is not None and self._finished_mids.get(old.mid) is old:
                del self._finished_mids[old.mid]
        self._finished[cid] = t
        if mid is not None:
            self._finished_mids[mid] = t
        self.finished[outcome._value_] += 1
        self._emit(MessageFinished(cid, mid, outcome, t.request, reason, t.callback))
        if self._parent or self._doubt:  # (few requests have either)
            self._parent.pop(t.cid, None)
            self._doubt.pop(t.cid, None)
        if t.kind is not _BATCH:
            return
        for c in _children(t):
            child = self.by_cid.get(c)
            if child is not None and child.state in _UNACKED:
                self.finish(child, outcome, reason or f"batch {t.cid!r} ended {outcome.value}")

    def doubt(self, msg: Message, problem: str) -> None:
        """``msg`` was refused as a violation: the request it names (by cid or mid) may
        have changed in a way not applied, so nothing about it is inferred any more."""
        cid, mid = getattr(msg, "cid", None), getattr(msg, "mid", None)
        t = self.by_cid.get(cid) if isinstance(cid, str) else None
        if t is None and isinstance(mid, int):
            t = self.by_mid.get(mid)
        if t is not None:
            self._doubt.setdefault(t.cid, f"whether it filled before then is not known: a "
                                          f"{msg.TYPE} about it was refused ({problem})")

    def doubt_all(self, why: str) -> None:
        """Something was lost that may have named any request (see :meth:`doubt`)."""
        for cid in self.by_cid:
            self._doubt.setdefault(cid, why)

    def new_run(self) -> None:
        """MIDs are unique within a run: forget the finished requests of the old run."""
        self._finished.clear()
        self._finished_mids.clear()
        self._finished_order.clear()

    def cancel_old_run(self, new_run_id: str, missed: str = "") -> None:
        """The exchange restarted: its open orders are gone, pending responses with them.

        ``missed`` says why events of the old run may not all have been seen (a restart
        found at a login that no replay could cover): its open orders then end unknown,
        not cancelled, since one may have filled before the restart."""
        for t in list(self.by_cid.values()):
            if t.run_id == new_run_id:
                continue
            if t.state is _OPEN:
                doubt = missed or self._doubt.get(t.cid)
                if doubt:
                    self.finish(t, Outcome.UNKNOWN, f"exchange run {t.run_id} ended and "
                                                    f"run {new_run_id} began; {doubt}")
                else:
                    self.finish(t, Outcome.CANCELLED_BY_RUN_CHANGE,
                                f"exchange run {t.run_id} ended; run {new_run_id} began")
            elif t.state is _ACKED:
                self.finish(t, Outcome.UNKNOWN,
                            f"exchange run {t.run_id} ended before the response")

    # -- views -------------------------------------------------------------------------

    def awaiting_response(self) -> list[Tracked]:
        """S2: ACKed requests without their final response (working orders included)."""
        return [t for t in self.by_cid.values()
                if (t.state is _ACKED or t.state is _OPEN) and t.mid is not None]

    def snapshot(self) -> tuple[TrackedSnapshot, ...]:
        return tuple(TrackedSnapshot(t.request, MessageState(t.state), t.mid, t.run_id,
                                     self._parent.get(t.cid), t.callback,
                                     None if t.prev is t.request else t.prev,
                                     self._doubt.get(t.cid, ""))
                     for t in self.by_cid.values())

    def restore(self, snaps: tuple[TrackedSnapshot, ...]) -> None:
        for s in snaps:
            t = self.add(s.request, s.callback, s.parent, s.state._value_)
            t.mid = s.mid
            t.run_id = s.run_id
            if s.prev is not None:
                t.prev = s.prev
            if s.doubt:
                self._doubt[t.cid] = s.doubt
            if s.mid is not None and t.state not in _UNACKED:
                self.by_mid[s.mid] = t
