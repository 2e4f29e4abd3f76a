"""The Data Hub feed: snapshot then stream into the streaming engine's latest state, a bounded
change queue that drops the oldest, periodic snapshot resyncs, and a failing stream."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import trio
from sessionkit_mesolive import DataFeed, Executor, IdempotentCaller, Preparations
from sessionkit_mesolive import models as m

from sessionkit.streaming import StreamingConfig, SubscriptionFailed, SubscriptionState

from .conftest import Platform, entry_fields, eventually, platform, run


async def open_position(p: Platform, client: Any) -> int:
    caller = IdempotentCaller(client.control)
    plan = await Preparations(caller, client.events).prepare_entry(**entry_fields("prep_d"))
    [filled] = await Executor(caller).execute(plan, key_prefix="d", paper=True)
    return int(filled.position_id)


def test_latest_state_bounded_changes_and_periodic_resync() -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            position_id = await open_position(p, client)
            feed = DataFeed(client.data, resync_interval=0.3, change_queue=2,
                            config=StreamingConfig(damping_resets=1000))
            name = feed.subscribe("pos", "StreamPositionData", position_id=position_id,
                                  include_position="All", include_legs="Prices",
                                  include_leg_groups="None")
            async with trio.open_nursery() as nursery:
                await nursery.start(feed.run)
                await eventually(lambda: feed.latest(name) is not None)
                entry = feed.latest_model(name)
                assert isinstance(entry, m.PositionDataEntry) and entry.position_prices
                before = entry.position_prices.mark
                for i in range(6):  # market moves: stream items
                    p.domain.set_underlying_price("SPX", Decimal(4900 - 20 * i))
                    await trio.sleep(0.05)
                await eventually(lambda: feed.latest_model(name).position_prices.mark != before)
                batch = feed.drain_changes(name)
                assert len(batch.changes) <= 2 and batch.dropped >= 1  # drop-oldest
                await eventually(lambda: feed.info(name).resets >= 2)  # resynced twice
                await eventually(lambda: feed.info(name).state is SubscriptionState.ACTIVE)
                assert feed.latest_model(name).position_prices is not None
                nursery.cancel_scope.cancel()

    run(main)


def test_a_failing_stream_marks_the_subscription_failed() -> None:
    async def main() -> None:
        async with platform() as p, p.client() as client:
            feed = DataFeed(client.data, resync_interval=None)
            name = feed.subscribe("spx", "stream_underlying_data",
                                  underlying=m.LiveUnderlying(symbol="SPX"))  # no Provider
            async with trio.open_nursery() as nursery:
                await nursery.start(feed.run)
                await eventually(lambda: feed.info(name).state is SubscriptionState.FAILED)
                failed = [e for e in feed.events if isinstance(e, SubscriptionFailed)]
                assert failed and "Provider" in failed[0].reason
                nursery.cancel_scope.cancel()

    run(main)
