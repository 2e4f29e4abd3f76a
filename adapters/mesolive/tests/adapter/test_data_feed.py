"""The Data Hub feed: snapshot then stream into the streaming engine's latest state, a bounded
change queue that drops the oldest, periodic snapshot resyncs, and a failing stream.

Each test runs on asyncio and on trio (the ``backend`` fixture).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import anyio
import pytest
from sessionkit_mesolive import DataFeed, Executor, IdempotentCaller, Preparations
from sessionkit_mesolive import models as m
from sessionkit_mesolive.signalr import ItemsDropped

from sessionkit.streaming import (
    StateChanged,
    StreamingConfig,
    SubscriptionFailed,
    SubscriptionState,
)

from .conftest import Platform, entry_fields, eventually, platform, run


async def open_position(p: Platform, client: Any) -> int:
    caller = IdempotentCaller(client.control)
    plan = await Preparations(caller, client.events).prepare_entry(**entry_fields("prep_d"))
    [filled] = await Executor(caller).execute(plan, key_prefix="d", paper=True)
    return int(filled.position_id)


def test_latest_state_bounded_changes_and_periodic_resync(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            position_id = await open_position(p, client)
            feed = DataFeed(client.data, resync_interval=0.3, change_queue=2,
                            config=StreamingConfig(damping_resets=1000))
            name = feed.subscribe("pos", "StreamPositionData", position_id=position_id,
                                  include_position="All", include_legs="Prices",
                                  include_leg_groups="None")
            async with anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                await eventually(lambda: feed.latest(name) is not None)
                entry = feed.latest_model(name)
                assert isinstance(entry, m.PositionDataEntry) and entry.position_prices
                before = entry.position_prices.mark
                for i in range(6):  # market moves: stream items
                    p.domain.set_underlying_price("SPX", Decimal(4900 - 20 * i))
                    await anyio.sleep(0.05)
                await eventually(lambda: feed.latest_model(name).position_prices.mark != before)
                batch = feed.drain_changes(name)
                assert len(batch.changes) <= 2 and batch.dropped >= 1  # drop-oldest
                await eventually(lambda: feed.info(name).resets >= 2)  # resynced twice
                await eventually(lambda: feed.info(name).state is SubscriptionState.ACTIVE)
                assert feed.latest_model(name).position_prices is not None
                nursery.cancel_scope.cancel()

    run(main, backend=backend)


def test_a_failing_stream_marks_the_subscription_failed(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            feed = DataFeed(client.data, resync_interval=None)
            name = feed.subscribe("spx", "stream_underlying_data",
                                  underlying=m.LiveUnderlying(symbol="SPX"))  # no Provider
            async with anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                await eventually(lambda: feed.info(name).state is SubscriptionState.FAILED)
                failed = [e for e in feed.drain_events().events
                          if isinstance(e, SubscriptionFailed)]
                assert failed and "Provider" in failed[0].reason
                nursery.cancel_scope.cancel()

    run(main, backend=backend)


def test_a_leg_closed_since_is_gone_from_the_latest_state(backend: str) -> None:
    """Each stream item is the whole entry: it replaces the state, so the legs of a position
    that was closed meanwhile are no longer in ``latest()``."""

    async def main() -> None:
        async with platform() as p, p.client() as client:
            position_id = await open_position(p, client)
            feed = DataFeed(client.data, resync_interval=None)
            name = feed.subscribe("pos", "StreamPositionData", position_id=position_id,
                                  include_position="All", include_legs="Prices",
                                  include_leg_groups="None")
            async with anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                await eventually(lambda: bool((feed.latest_model(name) or m.PositionDataEntry())
                                              .leg_prices))
                caller = IdempotentCaller(client.control)
                plan = await Preparations(caller, client.events).prepare_exit(
                    idempotency_key="exit_d", position_id=position_id)
                await Executor(caller).execute(plan, key_prefix="x", paper=True)
                await eventually(lambda: not feed.latest_model(name).leg_prices)
                nursery.cancel_scope.cancel()

    run(main, backend=backend)


def test_a_short_resync_interval_is_honoured_never_damped_into_a_blackout(backend: str) -> None:
    """Resyncs every 0.2 s with the engine's default damping (3 re-creations in 60 s): the
    subscription is re-created each time, never deferred for 30 s."""

    async def main() -> None:
        async with platform() as p, p.client() as client:
            position_id = await open_position(p, client)
            feed = DataFeed(client.data, resync_interval=0.2)
            name = feed.subscribe("pos", "StreamPositionData", position_id=position_id,
                                  include_position="All", include_legs="None",
                                  include_leg_groups="None")
            states: list[SubscriptionState] = []
            async with anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                while feed.info(name).resets < 6:
                    await feed.wait_changed()
                    states += [e.new for e in feed.drain_events().events
                               if isinstance(e, StateChanged)]
                await eventually(lambda: feed.info(name).state is SubscriptionState.ACTIVE)
                nursery.cancel_scope.cancel()
            assert SubscriptionState.RESET_DEFERRED not in states
            assert states.count(SubscriptionState.ACTIVE) >= 5

    run(main, backend=backend)


@pytest.mark.parametrize("interval", [0, -1, math.nan, math.inf, True, "30"])
def test_a_resync_interval_that_cannot_be_honoured_is_refused_at_construction(
    interval: Any) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            with pytest.raises(ValueError, match="resync_interval must be a finite number"):
                DataFeed(client.data, resync_interval=interval)
            with pytest.raises(ValueError, match="change_queue must be an integer >= 0"):
                DataFeed(client.data, change_queue=-1)

    run(main)


def test_a_raw_data_hub_stream_keeps_only_the_newest_items_and_says_so(backend: str) -> None:
    async def main() -> None:
        async with platform(stream_coalesce_s=0.0) as p, p.client() as client:
            position_id = await open_position(p, client)
            got: list[Any] = []
            async with client.data.stream_position_data(
                    position_id=position_id, include_position="All", include_legs="None",
                    include_leg_groups="None") as stream:
                async def move() -> None:
                    for i in range(400):
                        p.domain.set_underlying_price("SPX", Decimal(4000 + i))
                        await anyio.sleep(0.005)

                async with anyio.create_task_group() as nursery:
                    nursery.start_soon(move)
                    async for item in stream:
                        got.append(item)
                        await anyio.sleep(0.2)  # a slow reader
                        if len(got) >= 8:
                            break
                    nursery.cancel_scope.cancel()
                peak, dropped = stream.peak_buffered, stream.dropped
            drops = [g for g in got if isinstance(g, ItemsDropped)]
            assert drops and all(d.count > 0 for d in drops)
            assert sum(d.count for d in drops) == drops[-1].total <= dropped
            assert all(isinstance(g, m.PositionDataEntry | ItemsDropped) for g in got)
            assert peak <= 16

    run(main, backend=backend)


def test_undrained_feed_events_are_bounded_and_the_drops_counted(backend: str) -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            position_id = await open_position(p, client)
            feed = DataFeed(client.data, resync_interval=0.05, max_events=3)
            name = feed.subscribe("pos", "StreamPositionData", position_id=position_id,
                                  include_position="All", include_legs="None",
                                  include_leg_groups="None")
            async with anyio.create_task_group() as nursery:
                await nursery.start(feed.run)
                await eventually(lambda: feed.info(name).resets >= 5)  # nobody drains
                nursery.cancel_scope.cancel()
            batch = feed.drain_events()
            assert len(batch.events) <= 3 and batch.dropped > 0
            assert feed.drain_events().dropped == 0

    run(main, backend=backend)
