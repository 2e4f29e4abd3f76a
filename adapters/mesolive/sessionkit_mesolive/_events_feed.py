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
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any

import attrs
import trio

from sessionkit import GapPolicy, Sequencer, Verdict

from . import models as m
from ._catalogue import CALLBACKS, callback_for
from ._errors import MesoLiveSignalRError
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
    ``on_caught_up(cursor)`` runs when a replay is over and live events follow.
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
    def on_caught_up(self, cursor: int) -> Any: ...


@attrs.frozen
class FeedStats:
    handled: int
    replayed: int
    live: int
    duplicates: int
    cursor: int
    resyncs: int


@attrs.frozen
class _Item:
    seq: int
    name: str
    payload: Any


_CAUGHT_UP = object()


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
                 max_held: int = 100_000) -> None:
        self.events = events
        self.processor = processor
        self.store = store
        self.strategies = strategies
        self.page_size = page_size
        self.start_at_latest = start_at_latest
        start = store.last_event_id if store is not None else cursor
        self.sequencer = Sequencer(GapPolicy.TOLERATE, max_held, last_delivered=start)
        self.sequencer.start(start + 1, 0)  # hold what arrives before the first replay ends
        self.cursor = start  # the last event the processor returned from
        self._send, self._recv = trio.open_memory_channel[Any](math.inf)
        self._resync = trio.Event()
        self._counts = {"handled": 0, "replayed": 0, "live": 0, "resyncs": 0}
        events.on_every_callback(self._on_live)
        events.connection.on_reconnecting(self._on_reconnecting)
        events.connection.on_reconnected(self._on_reconnected)
        self._syncing = False

    def stats(self) -> FeedStats:
        return FeedStats(duplicates=self.sequencer.duplicates, cursor=self.cursor,
                         **self._counts)

    # -- inbound --------------------------------------------------------------------------

    def _on_live(self, payload: Any) -> None:
        self._offer(_Item(payload.event_seq_id, callback_for(payload), payload), replay=False)

    def _offer(self, item: _Item, *, replay: bool) -> None:
        verdict = self.sequencer.offer(item.seq, replay, item)
        if verdict is Verdict.DELIVER:
            self._counts["replayed" if replay else "live"] += 1
            self._send.send_nowait(item)
        elif verdict is Verdict.DUPLICATE:
            logger.debug("event %s (%s) dropped: already delivered", item.seq, item.name)

    def _on_reconnecting(self, error: BaseException | None) -> None:
        # hold live events from now on: a new connection's active-state push must not
        # overtake the replay of what was missed
        if not self.sequencer.replaying:
            self.sequencer.start(self.sequencer.last + 1, 0)

    def _on_reconnected(self, info: Reconnected) -> None:
        if info.new_connection:
            logger.info("Event Hub reconnected on a new connection: replaying and "
                        "subscribing again")
            self._resync.set()
        elif not self._syncing:  # resumed: nothing was lost, release what was held
            self._release()

    def _release(self) -> None:
        for item in self.sequencer.complete():
            self._counts["live"] += 1
            self._send.send_nowait(item)

    # -- the feed -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Replay, subscribe, then hand events over until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._handle_loop)
            await self._sync(first=True)
            task_status.started()
            while True:
                await self._resync.wait()
                self._resync = trio.Event()
                self._counts["resyncs"] += 1
                while True:
                    try:
                        await self._sync(first=False)
                        break
                    except MesoLiveSignalRError as exc:  # dropped again meanwhile
                        logger.warning("event resync failed (%s); retrying", exc)
                        await self.events.connection.wait_connected()

    async def _sync(self, *, first: bool) -> None:
        self._syncing = True
        try:
            await self._replay_and_subscribe(first)
        finally:
            self._syncing = False
        # only a finished replay releases the held live events: after a failed one they stay
        # held (releasing them would move the cursor past what was not replayed yet)
        self._release()
        self._send.send_nowait(_CAUGHT_UP)

    async def _replay_and_subscribe(self, first: bool) -> None:
        seq = self.sequencer
        latest = await self.events.get_latest_event_seq_id()
        behind = latest.latest_event_seq_id
        if first and seq.last == 0 and self.start_at_latest:
            seq.start(0, behind)
            logger.info("no cursor: starting at the latest event %d", seq.last)
        else:
            seq.start(seq.last + 1, behind)
            logger.info("replaying events after %d (latest %d)", seq.last, behind)
        if seq.replaying:
            await self._replay(seq.last)
        await self.events.subscribe_to_strategies(strategies=self.strategies)
        if seq.replaying:
            await self._replay(seq.last)  # what came between the replay and the subscribe

    async def _replay(self, after: int) -> None:
        cursor = after
        while True:
            page: m.GetEventsSinceResult = await self.events.get_events_since(
                event_seq_id=cursor, max_events=self.page_size)
            for record in page.events:
                payload = record.payload
                self._offer(_Item(record.event_seq_id, record.event_type, payload), replay=True)
            if not page.has_more or page.last_event_seq_id <= cursor:
                return
            cursor = page.last_event_seq_id

    async def _handle_loop(self) -> None:
        async for item in self._recv:
            if item is _CAUGHT_UP:
                await self._call(self.processor.on_caught_up, self.cursor)
                continue
            await self._call(self.processor.on_event, item.name, item.payload)
            self._counts["handled"] += 1
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
            logger.exception("event processor %r failed on %r; the event counts as handled",
                             fn, args[0] if args else None)
