"""The Event Hub feed: replay from the journal's cursor, then live callbacks; the overlap
(replay, active state pushed on connect, duplicated deliveries) reaches the processor once,
in order; the cursor moves after handling; a new connection replays and subscribes again."""

from __future__ import annotations

from typing import Any

import trio
from sessionkit_mesolive import EventFeed, EventProcessor
from sessionkit_mesolive import models as m

from sessionkit.store import MemoryStore

from .conftest import PAPER, Platform, eventually, platform, run


class Recorder(EventProcessor):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.caught_up = 0

    def on_event(self, name: str, payload: Any) -> Any:
        self.seen.append((name, payload.event_seq_id))
        return super().on_event(name, payload)

    def on_caught_up(self, cursor: int) -> None:
        self.caught_up += 1


def signals(p: Platform, n: int) -> list[int]:
    return [p.domain.raise_entry_signal(1, PAPER,
                                        state=m.SignalState.ON if i % 2 == 0
                                        else m.SignalState.OFF).event_seq_id
            for i in range(n)]


async def feed_run(p: Platform, processor: Recorder, store: Any, body: Any) -> EventFeed:
    client = p.client()
    feed = EventFeed(client.events, processor, store)
    async with client, trio.open_nursery() as nursery:
        await nursery.start(feed.run)
        await body(client, feed)
        nursery.cancel_scope.cancel()
    return feed


def test_replay_then_live_each_event_once_in_order_with_the_cursor_journalled() -> None:
    async def main() -> None:
        async with platform() as p:
            before = signals(p, 5)  # history: replayed (one is active: pushed on connect too)
            p.domain.faults.duplicate_next_events(4)  # the next deliveries come twice
            store = MemoryStore("acct", "day")
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                after = signals(p, 4)
                await eventually(lambda: feed.cursor >= after[-1])

            feed = await feed_run(p, rec, store, body)
            ids = [seq for _, seq in rec.seen]
            assert ids == sorted(set(ids)), "each event once, in increasing order"
            assert set(before) <= set(ids) and store.last_event_id == ids[-1]
            assert feed.stats().duplicates >= 4 and rec.caught_up == 1

            # a restart on the journal replays only what came after the cursor
            store.close()
            reopened = store.reopen()
            later = signals(p, 2)
            rec2 = Recorder()

            async def body2(client: Any, feed: EventFeed) -> None:
                await eventually(lambda: feed.cursor >= later[-1])

            await feed_run(p, rec2, reopened, body2)
            replayed = [seq for _, seq in rec2.seen]
            assert replayed[0] > ids[-1] and set(later) <= set(replayed)

    run(main)


def test_a_new_connection_replays_what_was_missed_and_subscribes_again() -> None:
    async def main() -> None:
        async with platform() as p:
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                first = signals(p, 2)
                await eventually(lambda: feed.cursor >= first[-1])
                p.server.faults.refuse_resume = True  # the drop cannot be resumed
                client.events.connection.drop_transport()
                missed = signals(p, 3)  # emitted while nobody is subscribed
                await eventually(lambda: feed.stats().resyncs == 1)
                live = signals(p, 2)
                await eventually(lambda: feed.cursor >= live[-1])
                assert set(missed) <= {seq for _, seq in rec.seen}

            await feed_run(p, rec, None, body)
            ids = [seq for _, seq in rec.seen]
            assert ids == sorted(set(ids))

    run(main)
