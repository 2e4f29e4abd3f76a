#!/usr/bin/env python3
"""A plain asyncio trading engine that embeds a sessionkit session next to its own tasks.

The engine is an ordinary ``asyncio.run`` program with an ``asyncio.TaskGroup`` of its own:

* a **market-data consumer** reads the exchange's book-top events from an ``asyncio.Queue``
  (the processor puts them there) and keeps the engine's view of the book;
* a **timer-driven strategy** wakes every ``--tick`` seconds and trades on that view: with no
  bid in the book it rests a buy order, with a bid it sells into it (a trade);
* the session (``open_session``, an async context manager) carries the orders to the
  exchange and its answers back: ACKs, action reports, fills, the book tops.

The exchange is the ZeroMQ simulator with CURVE on a free loopback port, in the same program
(its book tops are its market data: it publishes one every 20 ms). Nothing here is asyncio-
specific to sessionkit: the same code runs under trio with ``trio.run`` and trio's nursery.

Run it with ``python examples/asyncio_engine.py`` (``--round-trips N``, ``--tick SECONDS``);
it prints the trades and, last, a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from sessionkit_zmq.sim import serve_simulator

import sessionkit as sk
from sessionkit.runtime import open_session

CONTRACT = 1


class Processor(sk.MessageProcessor):
    """The session's answers, handed to the engine: book tops to a queue, fills counted."""

    def __init__(self) -> None:
        self.book_tops: asyncio.Queue[sk.BookTop] = asyncio.Queue()
        self.fills = 0
        self.outcomes: dict[str, int] = {}

    def handle_book_top(self, msg: sk.BookTop, prev_msg: Any) -> None:
        self.book_tops.put_nowait(msg)  # called in the loop's thread: no lock needed

    def handle_action_report(self, msg: sk.ActionReport, prev_msg: Any) -> None:
        if msg.status_type in ("filled", "partially_filled"):
            self.fills += 1

    def on_message_finished(self, event: sk.MessageFinished) -> None:
        key = event.outcome.value
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


class Engine:
    """The engine's own state and tasks: its view of the book, and its strategy."""

    def __init__(self, client: Any, processor: Processor, round_trips: int,
                 tick: float) -> None:
        self.client = client
        self.processor = processor
        self.round_trips = round_trips
        self.tick = tick
        self.bid: int | None = None
        self.trades = 0

    async def consume_market_data(self) -> None:
        """The market-data consumer: keeps the best bid of our contract."""
        while True:
            top = await self.processor.book_tops.get()
            if top.contract_id == CONTRACT:
                self.bid = top.bid_in_cents

    async def run_strategy(self) -> None:
        """The timer-driven strategy: rest a buy when the book is empty, sell into a bid."""
        resting = False
        while self.trades < self.round_trips:
            await asyncio.sleep(self.tick)
            if self.bid is None and not resting:
                await self.client.submit(sk.LimitOrder(
                    contract_id=CONTRACT, side="buy", size=1, price_in_cents=5000))
                resting = True
                print("strategy: rest a buy at 5000")
            elif self.bid is not None and resting:
                await self.client.submit(sk.LimitOrder(
                    contract_id=CONTRACT, side="sell", size=1, price_in_cents=self.bid))
                print(f"strategy: sell into the bid at {self.bid}")
                resting = False
                self.trades += 1
                self.bid = None  # until the book says otherwise


async def publish_market_data(sim: Any) -> None:
    """The simulated exchange's market data: the book top of our contract every 20 ms."""
    while True:
        await asyncio.sleep(0.02)
        sim.publish_book_top(CONTRACT)


async def main(round_trips: int = 3, tick: float = 0.05) -> dict[str, Any]:
    async with serve_simulator("tcp://127.0.0.1:0") as sim:
        processor = Processor()
        async with open_session(sim.connector(), processor, account="engine") as client:
            engine = Engine(client, processor, round_trips, tick)
            async with asyncio.TaskGroup() as tg:
                feed = tg.create_task(publish_market_data(sim))
                consumer = tg.create_task(engine.consume_market_data())
                await engine.run_strategy()
                # every order has its answers: two reports each side of a trade
                async with asyncio.timeout(10):
                    while processor.fills < 2 * round_trips:
                        await asyncio.sleep(0.01)
                feed.cancel()
                consumer.cancel()
            stats = client.statistics()
    summary = {"trades": engine.trades, "fills": processor.fills,
               "submitted": stats.submitted, "acked": stats.acked,
               "duplicate_events": stats.duplicate_events, "outcomes": processor.outcomes}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=3)
    parser.add_argument("--tick", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(main(args.round_trips, args.tick))
