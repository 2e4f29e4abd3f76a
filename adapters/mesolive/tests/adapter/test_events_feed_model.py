"""The event feed's merge as a property: whatever the interleaving of replay pages, the active
state pushed on connect, duplicated and late live callbacks, and events emitted between the
replay and the subscribe, the processor gets every event after the cursor exactly once, in
increasing EventSeqId order -- also when events are created (and sent live) while the replay
runs, when another Event Hub handler raises on every event,
when payloads do not decode (handed over as undecodable, in their place), when the queue to a
slow processor is tiny and when more live events come during a replay than may be held.

The real :class:`EventHub` and :class:`EventFeed` run over a fake hub connection (no network)
that answers the calls with wire JSON and invokes the callbacks as a server would.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit_mesolive import EventFeed, EventHub, EventProcessor
from sessionkit_mesolive import models as m
from sessionkit_mesolive._converters import default_converter as conv

from sessionkit import RemoteProtocolError

T0 = datetime(2024, 1, 2, tzinfo=UTC)


def event(seq: int) -> m.EntrySignalEvent:
    return m.EntrySignalEvent(event_id=uuid.UUID(int=seq), event_seq_id=seq, event_time=T0,
                              state=m.SignalState.ON, strategy_id=1, strategy_name="s",
                              broker_account_id="ML1234")


def wire(seq: int, bad: set[int]) -> Any:
    """The payload as the server sends it; a bad one has an EventId that is not a UUID."""
    payload = conv.unstructure(event(seq))
    if seq in bad:
        payload["EventId"] = f"not-a-uuid-{seq}"
    return payload


def ok(data: Any) -> dict[str, Any]:
    return {"Status": "Success", "Data": data}


class FakeConnection:
    """A hub connection as the EventHub sees it: the server side is scripted."""

    def __init__(self, history: list[int], live: dict[str, list[int]], emitted: int,
                 page_size: int, bad: set[int], late: dict[int, int]) -> None:
        self.history = list(history)
        self.late = late  # page number -> events created (and sent live) once it is cut
        self.created: list[int] = []  # events created meanwhile, ids going on from history's
        self.later_added = False  # ids rise with time: none is created below the later ones
        self.live = live
        self.emitted = emitted
        self.page_size = page_size
        self.bad = bad
        self.handlers: dict[str, Any] = {}
        self.delivered: list[int] = []
        self.pages = 0
        self.url = "fake://events"

    def on(self, target: str, handler: Any) -> None:
        self.handlers[target] = handler

    def on_reconnecting(self, cb: Any) -> None:
        pass

    def on_reconnected(self, cb: Any) -> None:
        pass

    def create(self) -> int:
        seq = max((s for s in self.history if s < 2000), default=0) + 1  # "later" are 2000+
        self.created.append(seq)
        self.history.append(seq)
        return seq

    async def deliver(self, moment: str) -> None:
        for seq in self.live.get(moment, []):
            self.delivered.append(seq)
            await self.handlers["OnEntrySignal"](wire(seq, self.bad))

    async def invoke(self, method: str, args: Any) -> Any:
        await trio.lowlevel.checkpoint()
        if method == "GetLatestEventSeqId":
            await self.deliver("connect")  # the active state pushed before anything else
            return ok(conv.unstructure(m.GetLatestEventSeqIdResult(
                latest_event_seq_id=max(self.history, default=0), snapshot_time=T0)))
        if method == "GetEventsSince":
            await self.deliver(f"page{self.pages}")
            after = [s for s in self.history if s > args["EventSeqId"]]
            chunk = after[:min(args["MaxEvents"], self.page_size)]
            late = 0 if self.later_added else self.late.get(self.pages, 0)
            for _ in range(late):  # new events, not in this page
                seq = self.create()
                self.delivered.append(seq)
                await self.handlers["OnEntrySignal"](wire(seq, self.bad))
            self.pages += 1
            return ok({"Events": [{"EventSeqId": s, "EventType": "OnEntrySignal",
                                   "Payload": wire(s, self.bad)} for s in chunk],
                       "HasMore": len(after) > len(chunk),
                       "LastEventSeqId": chunk[-1] if chunk else args["EventSeqId"]})
        if method == "SubscribeToStrategies":
            for _ in range(self.emitted):  # emitted between the replay and the subscribe
                self.create()
            await self.deliver("subscribe")
            return ok({"SuccessfulStrategies": [1], "FailedStrategies": []})
        raise AssertionError(f"unexpected call {method}")


class Seen(EventProcessor):
    """A slow processor: it yields on every event, so the feed's tiny queue fills."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.undecodable: list[tuple[int | None, RemoteProtocolError]] = []
        self.protocol_errors: list[RemoteProtocolError] = []

    async def on_event(self, name: str, payload: Any) -> None:
        await trio.lowlevel.checkpoint()
        self.seqs.append(payload.event_seq_id)

    async def on_undecodable_event(self, name: str, seq: int | None,
                                   error: RemoteProtocolError) -> None:
        await trio.lowlevel.checkpoint()
        assert seq is not None
        self.seqs.append(seq)
        self.undecodable.append((seq, error))

    def on_protocol_error(self, error: RemoteProtocolError) -> None:
        self.protocol_errors.append(error)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Any, ...]:
    history = sorted(draw(st.sets(st.integers(1, 40), max_size=15)))
    top = max(history, default=0)
    emitted = draw(st.integers(0, 3))
    later = list(range(2000, 2000 + draw(st.integers(0, 3))))
    cursor = draw(st.integers(0, top))
    seqs = st.sampled_from(history) if history else st.nothing()
    moments = ["connect", "subscribe"] + [f"page{i}" for i in range(8)]
    live = {mo: draw(st.lists(seqs, max_size=4)) if history else [] for mo in moments}
    # once subscribed, every new event arrives live, in order (duplicates possible)
    live["after"] = sorted(later + draw(st.lists(st.sampled_from(later), max_size=3))) \
        if later else []
    page_size = draw(st.integers(1, 5))
    everything = history + list(range(top + 1, top + 8)) + later
    bad = set(draw(st.lists(st.sampled_from(everything), max_size=3))) if everything else set()
    raising = draw(st.booleans())
    max_held = draw(st.integers(1, 4))
    max_queued = draw(st.integers(1, 3))
    late = draw(st.dictionaries(st.integers(0, 6), st.integers(1, 3), max_size=3))
    return (history, emitted, later, cursor, live, page_size, bad, raising, max_held,
            max_queued, late)


@settings(max_examples=int(os.environ.get("SESSIONKIT_HYPOTHESIS_EXAMPLES", "150")), deadline=None)
@given(scenarios())
def test_every_event_after_the_cursor_once_in_order(case: tuple[Any, ...]) -> None:
    check(case)


def check(case: tuple[Any, ...]) -> None:
    (history, emitted, later, cursor, live, page_size, bad, raising, max_held, max_queued,
     late) = case
    seen = Seen()
    other: list[int] = []
    fake = FakeConnection(history, live, emitted, page_size, bad, late)

    async def main() -> None:
        events = EventHub(fake)  # type: ignore[arg-type]
        if raising:  # another consumer, registered first, that raises on every event

            def boom(payload: Any) -> None:
                raise RuntimeError(f"handler bug on {payload.event_seq_id}")

            events.on("OnEntrySignal", boom)
        feed = EventFeed(events, seen, cursor=cursor, max_held=max_held, max_queued=max_queued)
        events.on("OnEntrySignal", lambda payload: other.append(payload.event_seq_id))
        async with trio.open_nursery() as nursery:
            await nursery.start(feed.run)
            fake.later_added = True
            fake.history += later
            await fake.deliver("after")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen.protocol_errors == []  # the fake server keeps to the protocol
    delivered_later = sorted(set(live["after"]))
    expected = [s for s in history if s > cursor] + fake.created + delivered_later
    assert seen.seqs == expected
    assert [s for s, _ in seen.undecodable] == [s for s in expected if s in bad]
    for seq, error in seen.undecodable:  # the raw payload (live) or record (replayed)
        raw = error.offending.get("Payload", error.offending)
        assert raw["EventId"] == f"not-a-uuid-{seq}" and "event_id" in str(error)
    # the consumer registered after the raising one got every decodable live delivery
    assert other == [s for s in fake.delivered if s not in bad]


NO_LIVE = {mo: [] for mo in ["connect", "subscribe"] + [f"page{i}" for i in range(8)] + ["after"]}


def test_an_event_let_go_during_the_replay_that_fetches_an_undecodable_one_is_brought_back(
) -> None:
    """Found by the model with more examples. Event 4 arrives live and does not decode (held:
    a replay must fetch its record); event 5 arrives live while that replay runs and is let go
    (max_held=1). The replay that fetched 4 was the last one: 5 was lost for good, in silence,
    and the feed went on holding every later event."""
    check(([1], 2, [], 0, NO_LIVE, 1, {4}, False, 1, 1, {2: 1, 3: 1}))
