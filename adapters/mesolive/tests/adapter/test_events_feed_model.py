"""The event feed's merge as a property: whatever the interleaving of replay pages, the active
state pushed on connect, duplicated and late live callbacks, and events emitted between the
replay and the subscribe, the processor gets every event after the cursor exactly once, in
increasing EventSeqId order. A fake Event Hub client (no network) drives the real feed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit_mesolive import EventFeed, EventProcessor
from sessionkit_mesolive import models as m

T0 = datetime(2024, 1, 2, tzinfo=UTC)


def event(seq: int) -> m.EntrySignalEvent:
    return m.EntrySignalEvent(event_id=uuid.UUID(int=seq), event_seq_id=seq, event_time=T0,
                              state=m.SignalState.ON, strategy_id=1, strategy_name="s",
                              broker_account_id="ML1234")


class FakeConnection:
    def on_reconnecting(self, cb: Any) -> None:
        pass

    def on_reconnected(self, cb: Any) -> None:
        pass


class FakeEvents:
    """Replay pages and subscribe, with live callbacks injected at chosen moments."""

    def __init__(self, history: list[int], live: dict[str, list[int]], emitted: list[int],
                 page_size: int) -> None:
        self.connection = FakeConnection()
        self.history = list(history)
        self.live = live
        self.emitted = emitted
        self.page_size = page_size
        self.handlers: list[Any] = []
        self.pages = 0

    def on_every_callback(self, handler: Any) -> None:
        self.handlers.append(handler)

    def deliver(self, moment: str) -> None:
        for seq in self.live.get(moment, []):
            for h in self.handlers:
                h(event(seq))

    async def get_latest_event_seq_id(self) -> m.GetLatestEventSeqIdResult:
        self.deliver("connect")  # the active state pushed before anything else
        return m.GetLatestEventSeqIdResult(latest_event_seq_id=max(self.history, default=0),
                                           snapshot_time=T0)

    async def get_events_since(self, event_seq_id: int, max_events: int
                               ) -> m.GetEventsSinceResult:
        self.deliver(f"page{self.pages}")
        self.pages += 1
        await trio.lowlevel.checkpoint()
        after = [s for s in self.history if s > event_seq_id]
        chunk = after[:min(max_events, self.page_size)]
        return m.GetEventsSinceResult(
            events=tuple(m.EventRecord(event_seq_id=s, event_type="OnEntrySignal",
                                       payload=event(s)) for s in chunk),
            has_more=len(after) > len(chunk),
            last_event_seq_id=chunk[-1] if chunk else event_seq_id)

    async def subscribe_to_strategies(self, strategies: Any = None) -> None:
        self.history += self.emitted  # emitted between the replay and the subscribe
        self.deliver("subscribe")


class Seen(EventProcessor):
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def on_event(self, name: str, payload: Any) -> None:
        self.seqs.append(payload.event_seq_id)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Any, ...]:
    history = sorted(draw(st.sets(st.integers(1, 40), max_size=15)))
    top = max(history, default=0)
    emitted = list(range(top + 1, top + 1 + draw(st.integers(0, 3))))
    later = list(range(top + len(emitted) + 1, top + len(emitted) + 1 + draw(st.integers(0, 3))))
    cursor = draw(st.integers(0, top))
    seqs = st.sampled_from(history) if history else st.nothing()
    moments = ["connect", "subscribe"] + [f"page{i}" for i in range(8)]
    live = {mo: draw(st.lists(seqs, max_size=4)) if history else [] for mo in moments}
    # live callbacks of one connection arrive in order (duplicates possible)
    live["after"] = sorted(draw(st.lists(st.sampled_from(later), max_size=6))) if later else []
    page_size = draw(st.integers(1, 5))
    return history, emitted, later, cursor, live, page_size


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_every_event_after_the_cursor_once_in_order(case: tuple[Any, ...]) -> None:
    history, emitted, later, cursor, live, page_size = case
    seen = Seen()

    async def main() -> None:
        fake = FakeEvents(history, live, emitted, page_size)
        feed = EventFeed(fake, seen, cursor=cursor)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            await nursery.start(feed.run)
            fake.history += later
            fake.deliver("after")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()

    trio.run(main)
    delivered_later = sorted(set(live["after"]))
    expected = [s for s in history + emitted if s > cursor] + delivered_later
    assert seen.seqs == expected
