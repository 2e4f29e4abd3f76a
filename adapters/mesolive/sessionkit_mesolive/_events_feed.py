"""The Event Hub feed: replay from a persisted cursor, then live callbacks, each event once.

The reference's resume procedure (hubs §1.4 and §5), run by :meth:`EventFeed.run`:

1. load the cursor (the last ``EventSeqId`` handled, from the session store);
2. ``GetLatestEventSeqId`` (how far behind we are), then page through ``GetEventsSince``
   from the cursor;
3. ``SubscribeToStrategies`` (all strategies by default), then one more replay page from
   where the first replay ended, which closes the window between the two;
4. hand live callbacks over.

Replayed events, the active state the server pushes on connect, and live callbacks overlap.
They are merged by the core's :class:`~sessionkit.Sequencer` keyed by
``EventSeqId`` (ids rise with gaps: other users' events use some): while the replay runs,
live callbacks are held; when it is over they are released in order and every id at or
below the last one delivered is dropped. So the processor sees each event once, in
increasing ``EventSeqId`` order. The cursor moves in the store (``event_handled`` +
``commit``) only after the processor returned from the event.

After a reconnect that had to open a new connection (group membership is gone) the feed
replays from its last delivered id and subscribes again; a resumed connection (stateful
reconnect) lost nothing and needs nothing.

Nothing is dropped in silence and nothing piles up without bound:

* the feed's handler is one of the Event Hub's handlers, each of which gets every event
  whatever another raised, so the feed never misses an event another consumer choked on;
* events wait for the processor in a queue of ``max_queued``; while it is full the feed's
  handler waits, and the connection stops reading (back-pressure to the server);
* live events held during a replay are bounded by ``max_held``; beyond it they are let go and
  the feed replays (whichever replay let them go) until it has brought every one of them back;
  one the replay passes without bringing it, or does not reach, is reported (below);
* an event whose payload does not decode (live or replayed) is handed over in its place in the
  order, to :meth:`EventProcessor.on_undecodable_event`, with the raw payload;
* what the server does against the protocol goes to :meth:`EventProcessor.on_protocol_error`
  (a :class:`~sessionkit.RemoteProtocolError`, ``offending`` what it sent), in its place, and the
  feed goes on: an id delivered before sent again with other content, a live event at or below
  the cursor that repeats nothing delivered (within the ``Sequencer``'s window of remembered
  deliveries; one older than that, such as the active state pushed on connect, is a repeat), a
  latest id below the cursor, a let-go event the replay does not bring back. A copy of a
  delivered event that does not decode is a repeat (nothing in it can be compared);
* a resync that fails is retried with a growing delay, never in a loop.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import anyio
import anyio.abc
import attrs

from sessionkit import GapPolicy, RemoteProtocolError, Sequencer, Verdict

from . import models as m
from ._catalogue import CALLBACKS, callback_for
from ._errors import DecodeError, MesoLiveError, MesoLiveSignalRError, unwrap
from ._hubs import EventHub
from .signalr import Reconnected

__all__ = ["EventProcessor", "EventFeed", "FeedStats"]

logger = logging.getLogger(__name__)

_HANDLERS = {
    "OnEntrySignal": "on_entry_signal",
    "OnExitSignal": "on_exit_signal",
    "OnAdjustmentSignal": "on_adjustment_signal",
    "OnError": "on_error",
    "OnOrderUpdate": "on_order_update",
    "OnPositionUpdate": "on_position_update",
    "OnLegUpdate": "on_leg_update",
    "OnAgentStatus": "on_agent_status",
}
for _name in CALLBACKS:
    if _name.endswith("PreparationCompleted"):
        _HANDLERS[_name] = "on_preparation_completed"
    elif _name.endswith("PreparationFailed"):
        _HANDLERS[_name] = "on_preparation_failed"


class EventProcessor:
    """Override the handlers you need (sync or async); each gets the decoded payload.

    ``on_event(name, payload)`` is called first for every event and dispatches to the
    specific handler; override it to see everything in one place. ``on_unknown_event``
    gets replayed records of a callback this client does not know (raw JSON payload).
    ``on_undecodable_event(name, seq, error)`` gets, in its place in the order, an event of
    a known callback whose payload does not fit its model: ``error`` is a
    :class:`~sessionkit.RemoteProtocolError` whose ``offending`` is the raw payload (``seq``
    None: it had no readable ``EventSeqId``, so it comes when it arrives).
    ``on_caught_up(cursor)`` runs when a replay is over and live events follow.
    ``on_protocol_error(error)`` gets, in its place, what the server sent against the protocol
    (a :class:`~sessionkit.RemoteProtocolError`: ``offending`` is what it sent, None for an
    absence such as a let-go event the replay does not bring back); the cursor does not move.
    """

    def on_event(self, name: str, payload: Any) -> Any:
        handler = getattr(self, _HANDLERS.get(name, "on_unknown_event"))
        if handler is self.on_unknown_event:
            return handler(name, payload)
        return handler(payload)

    def on_entry_signal(self, event: m.EntrySignalEvent) -> Any: ...
    def on_exit_signal(self, event: m.ExitSignalEvent) -> Any: ...
    def on_adjustment_signal(self, event: m.AdjustmentSignalEvent) -> Any: ...
    def on_error(self, event: m.ErrorEvent) -> Any: ...
    def on_order_update(self, event: m.OrderUpdateEvent) -> Any: ...
    def on_position_update(self, event: m.PositionUpdateEvent) -> Any: ...
    def on_leg_update(self, event: m.LegUpdateEvent) -> Any: ...
    def on_preparation_completed(self, event: Any) -> Any: ...
    def on_preparation_failed(self, event: Any) -> Any: ...
    def on_agent_status(self, event: m.AgentStatusEvent) -> Any: ...
    def on_unknown_event(self, name: str, payload: Any) -> Any: ...
    def on_undecodable_event(self, name: str, seq: int | None,
                             error: RemoteProtocolError) -> Any: ...
    def on_caught_up(self, cursor: int) -> Any: ...
    def on_protocol_error(self, error: RemoteProtocolError) -> Any: ...


@attrs.frozen
class FeedStats:
    handled: int
    replayed: int
    live: int
    duplicates: int
    cursor: int
    resyncs: int
    undecodable: int = 0
    handler_errors: int = 0
    held_overflows: int = 0
    queued: int = 0
    """Events waiting for the processor now (at most ``max_queued``)."""
    peak_queued: int = 0
    protocol_errors: int = 0
    """Reports handed to :meth:`EventProcessor.on_protocol_error`."""


@attrs.frozen
class _Item:
    seq: int | None
    name: str
    payload: Any


@attrs.frozen
class _Undecodable:
    """The payload of an event that did not decode: what is handed over instead."""

    error: RemoteProtocolError


@attrs.frozen
class _Report:
    """A protocol error of the server's, queued for :meth:`EventProcessor.on_protocol_error`."""

    error: RemoteProtocolError


def _same(seen: object, item: object) -> bool:
    """Whether ``item`` repeats ``seen``, an event delivered with the same id (the
    ``Sequencer``'s test). A copy that does not decode is taken as a repeat: nothing in it can
    be compared, and the id was handed over."""
    assert isinstance(seen, _Item) and isinstance(item, _Item)
    if isinstance(seen.payload, _Undecodable) or isinstance(item.payload, _Undecodable):
        return True
    return bool(seen.name == item.name and seen.payload == item.payload)


def _offending(item: _Item) -> Any:
    """What the server sent for ``item``: the raw payload of one that did not decode."""
    return item.payload.error.offending if isinstance(item.payload, _Undecodable) else item.payload


_CAUGHT_UP = object()
RESYNC_RETRY_DELAY = 0.5
RESYNC_RETRY_MAX_DELAY = 30.0
LET_GO_IDS_KEPT = 65_536
"""How many ids of let-go events (at least; ``max_held`` if more) are kept to check that the
replay brings each back; past that, only the highest is (the replay goes past it)."""


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception a nursery wrapped, when there is exactly one; else the group."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _seq_of(raw: Any) -> int | None:
    """The ``EventSeqId`` of a raw payload or record, when it can be read."""
    value = raw.get("EventSeqId") if isinstance(raw, dict) else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _undecodable(name: str, seq: int | None, raw: Any, exc: DecodeError) -> _Item:
    where = f"event {seq}" if seq is not None else "an event with no readable EventSeqId"
    error = RemoteProtocolError(f"{name}: {where} does not decode: {exc}", offending=raw)
    error.__cause__ = exc
    return _Item(seq, name, _Undecodable(error))


class EventFeed:
    """Replay + live Event Hub events to an :class:`EventProcessor` (module docstring).

    Create it before the Event Hub connects (it registers the callback handlers), then run
    ``await nursery.start(feed.run)``: it returns once the first replay is done and the
    subscription is in place, and goes on handing events over until cancelled.

    ``store``: a :class:`~sessionkit.store.SessionStore` whose ``last_event_id`` is the
    cursor (None: start at ``cursor``). ``strategies``: what to subscribe to (None: all).
    ``start_at_latest``: with no cursor, skip the history and start at the latest event.
    """

    def __init__(self, events: EventHub, processor: EventProcessor, store: Any = None, *,
                 strategies: tuple[int, ...] | None = None, cursor: int = 0,
                 start_at_latest: bool = False, page_size: int = 200,
                 max_held: int = 100_000, max_queued: int = 1000) -> None:
        for name, value in (("page_size", page_size), ("max_held", max_held),
                            ("max_queued", max_queued)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.events = events
        self.processor = processor
        self.store = store
        self.strategies = strategies
        self.page_size = page_size
        self.start_at_latest = start_at_latest
        start = store.last_event_id if store is not None else cursor
        self.sequencer = Sequencer(GapPolicy.TOLERATE, max_held, last_delivered=start,
                                   same=_same)
        self.sequencer.start(start + 1, 0)  # hold what arrives before the first replay ends
        self.cursor = start  # the last event the processor returned from
        self.max_queued = max_queued
        self._send, self._recv = anyio.create_memory_object_stream[Any](max_queued)
        self._lock = anyio.Lock()  # judging + queueing one event at a time keeps the order
        self._resync = anyio.Event()
        self._counts = {"handled": 0, "replayed": 0, "live": 0, "resyncs": 0,
                        "undecodable": 0, "handler_errors": 0, "held_overflows": 0,
                        "protocol_errors": 0}
        self._old_repeats = 0  # live events older than what the sequencer remembers
        # live events let go while held: a replay must bring each back. Their ids (and
        # names, for a report) are kept up to a bound; past it only the highest
        self._let_go: dict[int, str] = {}
        self._let_go_kept = max(max_held, LET_GO_IDS_KEPT)
        self._let_go_top = 0
        self._let_go_unchecked = 0
        self._missing_reported = 0  # the let-go event last reported as not brought back
        # (its newest id, the cursor) when the server's newest id was below the cursor: ids
        # between them are not old events but new ones with ids gone backwards
        self._behind: tuple[int, int] | None = None
        self._resync_only = False  # the pending resync is a replay only (no new subscribe)
        self._refetch = 0  # the highest event that came undecodable: a replay fetches it again
        self._peak_queued = 0
        self._syncing = False  # a sync runs: it replays until nothing is missing
        events.on_every_callback(self._on_live)
        events.on_undecodable(self._on_undecodable)
        events.connection.on_reconnecting(self._on_reconnecting)
        events.connection.on_reconnected(self._on_reconnected)

    def statistics(self) -> FeedStats:
        return FeedStats(duplicates=self.sequencer.duplicates + self._old_repeats,
                         cursor=self.cursor,
                         queued=self._send.statistics().current_buffer_used,
                         peak_queued=self._peak_queued, **self._counts)

    async def _queue(self, item: Any) -> None:
        """Hand ``item`` to the processor's queue; waits while it is full (back-pressure)."""
        await self._send.send(item)
        used = self._send.statistics().current_buffer_used
        if used > self._peak_queued:
            self._peak_queued = used

    async def _report(self, message: str, offending: Any) -> None:
        """Queue a protocol error of the server's for the processor, in its place."""
        logger.warning("Event Hub protocol error: %s", message)
        self._counts["protocol_errors"] += 1
        await self._queue(_Report(RemoteProtocolError(message, offending=offending)))

    def _need_replay(self) -> None:
        """Something is missing (let go, or to fetch again): a replay must come. A running
        sync replays until nothing is; otherwise a replay-only resync is asked for."""
        if self._syncing or self._resync.is_set():
            return
        self._resync_only = True
        self._resync.set()

    def _missing(self) -> bool:
        """Whether a replay must still bring something (a let-go event, a record to fetch
        again) before the held events may be released."""
        return max(self._let_go_top, self._refetch) > self.sequencer.last

    # -- inbound --------------------------------------------------------------------------

    async def _on_live(self, payload: Any) -> None:
        async with self._lock:
            await self._offer(_Item(payload.event_seq_id, callback_for(payload), payload),
                              replay=False)

    async def _on_undecodable(self, name: str, raw: Any, exc: DecodeError) -> None:
        """A live payload that does not decode. With a readable ``EventSeqId`` it is held in
        its place and a replay fetches the event again: the stored record wins if it decodes,
        else the undecodable one is handed over in order. Without one it is handed over now."""
        seq = _seq_of(raw)
        item = _undecodable(name, seq, raw, exc)
        async with self._lock:
            if seq is None:  # cannot be placed in the order: handed over as it comes
                self._counts["undecodable"] += 1
                await self._queue(item)
                return
            if seq > self.sequencer.last:  # (at or below: judged as a repeat, or reported)
                self._refetch = max(self._refetch, seq)
                if not self.sequencer.replaying:
                    self.sequencer.start(self.sequencer.last + 1, 0)  # hold from here on
                self._need_replay()
            await self._offer(item, replay=False)

    async def _offer(self, item: _Item, *, replay: bool, held: bool = False) -> None:
        """Judge one event (under the lock) and queue it for the processor if it is new.
        ``held``: a live event held during a replay, judged again at its end."""
        assert item.seq is not None
        seq = self.sequencer
        try:
            verdict = seq.offer(item.seq, replay, item)
        except OverflowError:  # more live events held than max_held while a replay runs
            self._let_go_event(item)
            return
        if verdict is Verdict.DELIVER:
            self._let_go.pop(item.seq, None)  # brought back
            self._counts["replayed" if replay and not held else "live"] += 1
            if isinstance(item.payload, _Undecodable):
                self._counts["undecodable"] += 1
            await self._queue(item)
        elif verdict is Verdict.DUPLICATE:
            logger.debug("event %s (%s) dropped: already delivered", item.seq, item.name)
        elif verdict is Verdict.VIOLATION:
            problem = seq.problem
            if not replay and self._older_than_remembered(item.seq):
                # e.g. the active state pushed on connect, handed over before a restart: a
                # repeat, as the Sequencer takes a replayed event this old
                self._old_repeats += 1
                logger.debug("event %s (%s) dropped: at or below the cursor, older than the "
                             "deliveries remembered", item.seq, item.name)
                return
            where = "replayed" if replay and not held else "live"
            await self._report(f"{item.name}: {where} {problem}", _offending(item))

    def _older_than_remembered(self, event_id: int) -> bool:
        """At or below the sequencer's floor (nothing known of what was delivered there), not
        among the deliveries it remembers, and not above the newest id of a server whose ids
        went backwards (called on a violation only: rare)."""
        if self._behind is not None and self._behind[0] < event_id <= self._behind[1]:
            return False
        floor = dict(self.sequencer.floors()).get(self.sequencer.run, 0)
        return event_id <= floor and all(i != event_id for i, _ in self.sequencer.recent())

    def _let_go_event(self, item: _Item) -> None:
        assert item.seq is not None
        self._counts["held_overflows"] += 1
        self._let_go_top = max(self._let_go_top, item.seq)
        if item.seq in self._let_go or len(self._let_go) < self._let_go_kept:
            self._let_go[item.seq] = item.name
        else:
            self._let_go_unchecked += 1
        logger.warning("event %s (%s) let go: %d live events are held while a replay runs "
                       "(max_held); the replay will bring it back", item.seq, item.name,
                       self.sequencer.held)
        self._need_replay()

    def _on_reconnecting(self, error: BaseException | None) -> None:
        # hold live events from now on: a new connection's active-state push must not
        # overtake the replay of what was missed
        if not self.sequencer.replaying:
            self.sequencer.start(self.sequencer.last + 1, 0)

    async def _on_reconnected(self, info: Reconnected) -> None:
        if info.new_connection:
            logger.info("Event Hub reconnected on a new connection: messages may have been "
                        "lost; replaying and subscribing again")
            self._resync_only = False
            self._resync.set()
        elif not self._syncing:  # resumed: nothing was lost, release what was held
            await self._release()

    async def _release(self) -> bool:
        """The replay is over: release the held events (judged again, in id order) and report
        what it passed without bringing back. False, releasing nothing, while a replay must
        still bring something (a running sync replays on; else one is asked for): the check
        and the release are one step under the lock, so nothing is let go in between."""
        async with self._lock:
            if self._missing():
                self._need_replay()
                return False
            self._refetch = 0
            for item in self.sequencer.release_held():
                assert isinstance(item, _Item)
                await self._offer(item, replay=True, held=True)
            lost, self._let_go = sorted(self._let_go.items()), {}
            unchecked, self._let_go_unchecked, self._let_go_top = self._let_go_unchecked, 0, 0
            for event_id, name in lost:  # the replay went past it without bringing it
                await self._report(
                    f"{name}: live event {event_id} was let go while a replay ran (max_held) "
                    f"and the replay passed it (it is at {self.sequencer.last}) without "
                    f"bringing it back: it is lost", None)
            if unchecked:
                logger.warning("%d more live events were let go than ids are kept for "
                               "(LET_GO_IDS_KEPT): the replay went past the highest; whether "
                               "it brought back each of them cannot be told", unchecked)
            return True

    # -- the feed -------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Replay, subscribe, then hand events over until cancelled.

        The first replay's failure is raised as it is (an API error, a
        :class:`MesoLiveSignalRError`); a later resync that fails is retried with a growing
        delay. An error of the processor's store (the cursor cannot be journalled) ends the
        feed, raised as it is.
        """
        try:
            async with anyio.create_task_group() as nursery:
                nursery.start_soon(self._handle_loop)
                await self._sync(first=True)
                task_status.started()
                while True:
                    await self._resync.wait()
                    self._resync = anyio.Event()
                    subscribe, self._resync_only = not self._resync_only, False
                    self._counts["resyncs"] += 1
                    delay = RESYNC_RETRY_DELAY
                    while True:
                        try:
                            await self._sync(first=False, subscribe=subscribe)
                            break
                        except MesoLiveError as exc:  # dropped again, a bad page, a server error
                            logger.warning("event resync failed (%s); retrying in %.1f s", exc,
                                           delay)
                            await anyio.sleep(delay)
                            delay = min(delay * 2, RESYNC_RETRY_MAX_DELAY)
                            await self.events.connection.wait_connected()
        except BaseExceptionGroup as group:
            raise _sole(group) from None

    async def _sync(self, *, first: bool, subscribe: bool = True) -> None:
        self._syncing = True
        try:
            await self._replay_and_subscribe(first, subscribe)
            # only a replay that brought back everything let go releases the held live
            # events: after a failed one they stay held (releasing them would move the
            # cursor past what was not replayed yet)
            while not await self._release():
                await self._bring_back(first)
        finally:
            self._syncing = False
        await self._queue(_CAUGHT_UP)

    async def _replay_and_subscribe(self, first: bool, subscribe: bool = True) -> None:
        seq = self.sequencer
        latest = await self.events.get_latest_event_seq_id()
        behind = latest.latest_event_seq_id
        if first and seq.last == 0 and self.start_at_latest:
            seq.start(0, behind)
            logger.info("no cursor: starting at the latest event %d", seq.last)
            for event_id in [i for i in self._let_go if i <= seq.last]:
                del self._let_go[event_id]  # history, not asked for
        else:
            problem = seq.start(seq.last + 1, behind)
            logger.info("replaying events after %d (latest %d)", seq.last, behind)
            if problem is None:
                self._behind = None
            elif self._behind != (behind, seq.last):  # told once
                self._behind = (behind, seq.last)
                async with self._lock:
                    await self._report(f"GetLatestEventSeqId: {problem}", latest)
        if seq.replaying:
            await self._replay(seq.last)
        if subscribe:
            await self.events.subscribe_to_strategies(strategies=self.strategies)
        if seq.replaying:
            await self._replay(seq.last)  # what came between the replay and the subscribe

    async def _bring_back(self, first: bool) -> None:
        """Replay until the live events let go are brought back and the events that came
        undecodable are fetched again (any replay may let more go: each is judged at the
        end). A let-go event the replay does not reach raises (a later sync's is reported
        to the processor first, once): the sync is retried."""
        seq = self.sequencer
        while self._missing():
            before, refetch = seq.last, self._refetch
            await self._replay(before)
            if seq.last > before:
                continue
            if self._let_go_top > seq.last:
                problem = (f"live event {self._let_go_top} was let go while a replay ran "
                           f"(max_held) and the replay does not bring it back (it ends at "
                           f"{seq.last})")
                if not first and self._missing_reported != self._let_go_top:
                    self._missing_reported = self._let_go_top
                    async with self._lock:
                        await self._report(f"{problem}; the replay is tried again", None)
                raise MesoLiveSignalRError(problem)
            if self._refetch == refetch:  # no stored record: the undecodable copy stands
                self._refetch = 0

    async def _replay(self, after: int) -> None:
        cursor = after
        while True:
            page = await self._page(cursor)
            for item in page[0]:
                async with self._lock:
                    await self._offer(item, replay=True)
            has_more, last = page[1], page[2]
            if not has_more or last <= cursor:
                return
            cursor = last

    async def _page(self, cursor: int) -> tuple[list[_Item], bool, int]:
        """One ``GetEventsSince`` page. A record whose payload does not fit its model is
        handed over as undecodable in its place; a page that is malformed otherwise raises."""
        raw = await self.events.call_raw("GetEventsSince", event_seq_id=cursor,
                                         max_events=self.page_size)
        conv = self.events.converter
        data: Any = unwrap(raw, Any, converter=conv)
        try:
            page: m.GetEventsSinceResult = conv.structure(data, m.GetEventsSinceResult)
        except DecodeError:
            records = data.get("Events") if isinstance(data, dict) else None
            if not isinstance(records, list):
                raise
            head = conv.structure({**data, "Events": []}, m.GetEventsSinceResult)
            items = []
            for record in records:
                try:
                    good = conv.structure(record, m.EventRecord)
                except DecodeError as exc:
                    seq = _seq_of(record)
                    if seq is None:
                        raise
                    name = record.get("EventType") if isinstance(record, dict) else None
                    items.append(_undecodable(str(name), seq, record, exc))
                else:
                    items.append(_Item(good.event_seq_id, good.event_type, good.payload))
            return items, head.has_more, head.last_event_seq_id
        return ([_Item(r.event_seq_id, r.event_type, r.payload) for r in page.events],
                page.has_more, page.last_event_seq_id)

    async def _handle_loop(self) -> None:
        async for item in self._recv:
            if item is _CAUGHT_UP:
                await self._call(self.processor.on_caught_up, self.cursor)
                continue
            if isinstance(item, _Report):  # not an event: the cursor does not move
                await self._call(self.processor.on_protocol_error, item.error)
                continue
            if isinstance(item.payload, _Undecodable):
                await self._call(self.processor.on_undecodable_event, item.name, item.seq,
                                 item.payload.error)
            else:
                await self._call(self.processor.on_event, item.name, item.payload)
            self._counts["handled"] += 1
            if item.seq is None:
                continue
            self.cursor = max(self.cursor, item.seq)
            if self.store is not None:
                self.store.event_handled(item.seq)
                self.store.commit()

    async def _call(self, fn: Any, *args: Any) -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._counts["handler_errors"] += 1
            logger.exception("event processor %r failed on %r; the event was handed over and "
                             "counts as handled", fn, args[0] if args else None)
