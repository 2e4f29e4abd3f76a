"""The Event Hub feed: replay from the journal's cursor, then live callbacks; the overlap
(replay, active state pushed on connect, duplicated deliveries) reaches the processor once,
in order; the cursor moves after handling; a new connection replays and subscribes again.

Each test runs on asyncio and on trio (the ``backend`` fixture).
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import msgspec
import pytest
from sessionkit_mesolive import EventFeed, EventProcessor, MesoLiveApiException
from sessionkit_mesolive import models as m

from sessionkit import RemoteProtocolError
from sessionkit.store import MemoryStore

from .conftest import PAPER, Platform, eventually, platform, run


class Recorder(EventProcessor):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.caught_up = 0
        self.errors: list[RemoteProtocolError] = []

    def on_event(self, name: str, payload: Any) -> Any:
        self.seen.append((name, payload.event_seq_id))
        return super().on_event(name, payload)

    def on_caught_up(self, cursor: int) -> None:
        self.caught_up += 1

    def on_protocol_error(self, error: RemoteProtocolError) -> None:
        self.seen.append(("protocol error", 0))
        self.errors.append(error)


def signals(p: Platform, n: int) -> list[int]:
    return [p.domain.raise_entry_signal(1, PAPER,
                                        state=m.SignalState.ON if i % 2 == 0
                                        else m.SignalState.OFF).event_seq_id
            for i in range(n)]


async def feed_run(p: Platform, processor: Recorder, store: Any, body: Any,
                   **options: Any) -> EventFeed:
    client = p.client()
    feed = EventFeed(client.events, processor, store, **options)
    async with client, anyio.create_task_group() as nursery:
        await nursery.start(feed.run)
        await body(client, feed)
        nursery.cancel_scope.cancel()
    return feed


def test_replay_then_live_each_event_once_in_order_with_the_cursor_journalled(backend: str) -> None:
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
            assert feed.statistics().duplicates >= 4 and rec.caught_up == 1

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
            # the active state pushed on connect (below the cursor, handed over before the
            # restart) is a repeat, not a protocol error
            assert rec.errors == [] and rec2.errors == []

    run(main, backend=backend)


@pytest.mark.parametrize("refusal", ["http404", "close"])
def test_a_new_connection_replays_what_was_missed_and_subscribes_again(refusal: str,
        backend: str) -> None:
    """Also when the server refuses the resume by closing the WebSocket instead of a 404."""

    async def main() -> None:
        async with platform() as p:
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                first = signals(p, 2)
                await eventually(lambda: feed.cursor >= first[-1])
                p.server.faults.refuse_resume = True  # the drop cannot be resumed
                p.server.faults.resume_refusal = refusal
                client.events.connection.drop_transport()
                missed = signals(p, 3)  # emitted while nobody is subscribed
                await eventually(lambda: feed.statistics().resyncs == 1)
                live = signals(p, 2)
                await eventually(lambda: feed.cursor >= live[-1])
                assert set(missed) <= {seq for _, seq in rec.seen}

            await feed_run(p, rec, None, body)
            ids = [seq for _, seq in rec.seen]
            assert ids == sorted(set(ids))

    run(main, backend=backend)


def test_a_raising_handler_costs_no_other_consumer_an_event(backend: str) -> None:
    """Another Event Hub handler, registered first, raises on every event: the feed and a
    later handler still get each one, and the cursor moves only past what was handed over."""

    async def main() -> None:
        async with platform() as p:
            store = MemoryStore("acct", "day")
            rec = Recorder()
            client = p.client()
            later: list[int] = []

            def broken(event: Any) -> None:
                raise RuntimeError("a bug in another consumer")

            client.events.on("OnEntrySignal", broken)
            feed = EventFeed(client.events, rec, store)
            client.events.on("OnEntrySignal", lambda event: later.append(event.event_seq_id))
            async with client, anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                sent = signals(p, 6)
                await eventually(lambda: feed.cursor >= sent[-1])
                nursery.cancel_scope.cancel()
            assert [seq for _, seq in rec.seen if seq in sent] == sent
            assert later == sent and store.last_event_id == sent[-1]

    run(main, backend=backend)


class SlowRecorder(Recorder):
    async def on_event(self, name: str, payload: Any) -> Any:
        await anyio.sleep(0.002)
        return super().on_event(name, payload)


def test_a_flood_of_events_to_a_slow_processor_waits_in_bounded_queues() -> None:
    async def main() -> None:
        async with platform() as p:
            rec = SlowRecorder()
            client = p.client(max_pending_invocations=16)
            feed = EventFeed(client.events, rec, None, max_queued=8)
            async with client, anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                sent = signals(p, 1500)  # delivered at the next tick, as fast as it can
                await eventually(lambda: feed.cursor >= sent[-1], limit=60)
                nursery.cancel_scope.cancel()
            assert [seq for _, seq in rec.seen if seq in sent] == sent  # nothing lost
            assert feed.statistics().peak_queued <= 8
            assert client.events.connection.peak_queued_invocations <= 16 + 8

    run(main, limit=90)


class Undecodable(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[tuple[int | None, RemoteProtocolError]] = []

    def on_undecodable_event(self, name: str, seq: int | None,
                             error: RemoteProtocolError) -> None:
        self.seen.append((name, seq or 0))
        self.bad.append((seq, error))


@pytest.mark.parametrize("in_history", [False, True])
def test_an_event_that_does_not_decode_is_fetched_again_or_reported_in_its_place(
    in_history: bool, backend: str) -> None:
    """A live payload that does not decode is never skipped in silence: the feed replays it
    (the stored record is handed over if it decodes) or hands it over as undecodable, in its
    place in the order, with the raw payload; the cursor moves past it only then."""

    async def main() -> None:
        async with platform() as p:
            rec = Undecodable()
            store = MemoryStore("acct", "day")

            async def body(client: Any, feed: EventFeed) -> None:
                before = signals(p, 2)
                await eventually(lambda: feed.cursor >= before[-1])
                p.domain.faults.corrupt_next_events(1, in_history=in_history)
                sent = signals(p, 3)
                await eventually(lambda: feed.cursor >= sent[-1])
                [bad_seq] = p.domain.faults.corrupted
                assert [seq for _, seq in rec.seen if seq in sent] == sent  # in order, once
                if in_history:
                    [(seq, error)] = rec.bad
                    assert seq == bad_seq and "does not decode" in str(error)
                    raw = error.offending.get("Payload", error.offending)
                    assert raw["EventId"] == f"not-a-uuid-{bad_seq}"
                else:
                    assert rec.bad == []  # the stored record decoded: nothing was lost
                assert feed.statistics().resyncs == 1 and store.last_event_id == sent[-1]

            await feed_run(p, rec, store, body)

    run(main, backend=backend)


def test_a_first_replay_the_server_refuses_raises_the_api_error_itself(backend: str) -> None:
    async def main() -> None:
        async with platform() as p:
            client = p.client()
            feed = EventFeed(client.events, Recorder(), None, page_size=100_000)
            async with client, anyio.create_task_group() as nursery:
                with pytest.raises(MesoLiveApiException, match="MaxEvents must be") as info:
                    await nursery.start(feed.run)
                assert info.value.status == m.StatusCode.BAD_REQUEST

    run(main, backend=backend)


class Raising(Recorder):
    def on_event(self, name: str, payload: Any) -> Any:
        super().on_event(name, payload)
        if len(self.seen) == 2:
            raise RuntimeError("the engine's own bug")


def test_a_raising_processor_is_counted_and_the_feed_goes_on(backend: str) -> None:
    """The processor was handed the event: its exception is logged and counted, the cursor
    moves past that event (it will not come again), and the next events still arrive."""

    async def main() -> None:
        async with platform() as p:
            rec = Raising()
            store = MemoryStore("acct", "day")

            async def body(client: Any, feed: EventFeed) -> None:
                sent = signals(p, 4)
                await eventually(lambda: feed.cursor >= sent[-1])
                assert [seq for _, seq in rec.seen if seq in sent] == sent
                assert feed.statistics().handler_errors == 1

            await feed_run(p, rec, store, body)

    run(main, backend=backend)


def burst(p: Platform, hide: int) -> list[int]:
    """In one tick: a live event that does not decode (the feed holds it, max_held=1, and
    replays), then three events the feed must let go; ``hide``: which of the three the
    server's history lacks (sent live, left out of replay)."""
    p.domain.faults.corrupt_next_events(1)
    sent = signals(p, 1)
    for i in range(3):
        if i == hide:
            p.domain.faults.hide_next_events(1)
        sent += signals(p, 1)
    return sent


def test_a_let_go_event_the_replay_passes_without_bringing_back_is_reported_lost(
    backend: str,
) -> None:
    """The server sends an event live that its replay then leaves out: it was let go (the
    held events were at max_held), so the feed cannot hand it over; the processor is told,
    once, in its place, and everything else comes once, in order."""

    async def main() -> None:
        async with platform(seq_gap_probability=0) as p:
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                first = signals(p, 2)
                await eventually(lambda: feed.cursor >= first[-1])
                sent = burst(p, hide=1)
                lost = sent[2]
                await eventually(lambda: feed.cursor >= sent[-1] and rec.errors)
                assert [seq for _, seq in rec.seen if seq in sent] == [
                    s for s in sent if s != lost]
                [error] = rec.errors
                assert f"live event {lost} was let go" in str(error)
                assert "it is lost" in str(error) and error.offending is None
                stats = feed.statistics()
                assert stats.held_overflows == 3 and stats.protocol_errors == 1

            await feed_run(p, rec, None, body, max_held=1)

    run(main, backend=backend)


def test_a_let_go_event_the_replay_does_not_reach_is_reported_and_replayed_again(
    backend: str,
) -> None:
    """The replay ends below an event let go: the processor is told once, the resync is tried
    again (with a growing delay) and brings it back once the server's history has it."""

    async def main() -> None:
        async with platform(seq_gap_probability=0) as p:
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                first = signals(p, 2)
                await eventually(lambda: feed.cursor >= first[-1])
                sent = burst(p, hide=2)
                await eventually(lambda: rec.errors)
                [error] = rec.errors
                assert f"live event {sent[-1]} was let go" in str(error)
                assert "does not bring it back" in str(error) and error.offending is None
                await anyio.sleep(1.0)  # a retry or two: told once, the rest still held
                assert len(rec.errors) == 1 and feed.cursor == sent[-2]
                p.domain.faults.hidden.clear()  # the history has it now
                await eventually(lambda: feed.cursor >= sent[-1])
                assert [seq for _, seq in rec.seen if seq in sent] == sent

            await feed_run(p, rec, None, body, max_held=1)

    run(main, backend=backend)


def test_an_id_sent_again_with_other_content_is_reported_not_dropped(backend: str) -> None:
    """The same event again is a repeat (dropped, counted); an id delivered before that comes
    again with other content goes to on_protocol_error with what was sent; the feed goes on."""

    async def main() -> None:
        async with platform(seq_gap_probability=0) as p:
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                first = p.domain.raise_entry_signal(1, PAPER)
                await eventually(lambda: feed.cursor >= first.event_seq_id)
                duplicates = feed.statistics().duplicates
                p.domain.events.send_unstored(first)  # the same again
                other = msgspec.structs.replace(first, state=m.SignalState.OFF)
                p.domain.events.send_unstored(other)  # the same id, other content
                after = signals(p, 1)
                await eventually(lambda: feed.cursor >= after[-1])
                assert [seq for name, seq in rec.seen][-3:] == [
                    first.event_seq_id, 0, after[0]]  # the report in its place
                [error] = rec.errors
                assert error.offending == other
                assert f"event id {first.event_seq_id} was delivered before with other " \
                       "content" in str(error)
                assert feed.statistics().duplicates == duplicates + 1

            await feed_run(p, rec, None, body)

    run(main, backend=backend)


def test_a_live_id_below_the_cursor_that_repeats_nothing_delivered_is_reported(
    backend: str,
) -> None:
    """Ids going backwards: an event below the cursor that was never delivered (within what
    the feed remembers) is not dropped in silence; the processor is told, with the event."""

    async def main() -> None:
        async with platform(seq_gap_probability=0) as p:
            rec = Recorder()

            async def body(client: Any, feed: EventFeed) -> None:
                first = p.domain.raise_entry_signal(1, PAPER)
                await eventually(lambda: feed.cursor >= first.event_seq_id)
                ahead = msgspec.structs.replace(first, event_seq_id=first.event_seq_id + 5,
                                     event_id=uuid.uuid4())
                back = msgspec.structs.replace(first, event_seq_id=first.event_seq_id + 3,
                                    event_id=uuid.uuid4())
                p.domain.events.send_unstored(ahead)  # a gap: delivered
                p.domain.events.send_unstored(back)  # below it, never delivered
                await eventually(lambda: rec.errors)
                assert [seq for name, seq in rec.seen][-3:] == [
                    first.event_seq_id, ahead.event_seq_id, 0]
                [error] = rec.errors
                assert error.offending == back and "went backwards" in str(error)
                assert feed.cursor == ahead.event_seq_id

            await feed_run(p, rec, None, body)

    run(main, backend=backend)


def test_a_latest_event_id_below_the_cursor_is_reported(backend: str) -> None:
    """The journal's cursor is beyond the server's newest event (another account's journal,
    a server that started its ids again): said, not taken in silence; nor is each new event
    that comes with an id at or below the cursor (never taken for an old one repeated)."""

    async def main() -> None:
        async with platform(seq_gap_probability=0) as p:
            newest = signals(p, 2)[-1]
            store = MemoryStore("acct", "day")
            store.event_handled(1000)
            store.commit()
            rec = Recorder()

            new = None

            async def body(client: Any, feed: EventFeed) -> None:
                nonlocal new
                await eventually(lambda: rec.errors)
                new = p.domain.raise_entry_signal(1, PAPER)
                await eventually(lambda: len(rec.errors) == 2)

            await feed_run(p, rec, store, body)
            error, later = rec.errors
            assert f"newest event id {newest} is below the last event delivered (1000)" \
                in str(error)
            assert error.offending.latest_event_seq_id == newest
            assert "went backwards" in str(later) and later.offending == new

    run(main, backend=backend)
