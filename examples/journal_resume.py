#!/usr/bin/env python3
"""A journalled session that dies and comes back: it resumes from its event id.

In the spirit of the Lime guide's resume-by-event-id: an engine trades
through ``sessionkit.runtime.open_session`` with a SQLite journal
(``store=``). Then it dies while the exchange's answers to its last orders
are still on the wire. A new engine opened on the same journal is told what
was recovered (``on_recovered``), logs in resuming after the last event id
whose handling was committed, receives the events it missed and
``on_resend_complete(begin, end)``, and carries on trading. No order is
executed twice, no event is handled twice.

The exchange is the reference exchange served over the runtime's in-memory
transport, so the "death" here is the engine's task being cancelled at once
with answers in flight; ``tools/crash_test.py`` does the same with SIGKILL
on real processes.

    python examples/journal_resume.py [--journal PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from typing import Any

import trio

from sessionkit import LimitOrder, MessageProcessor, SessionConfig
from sessionkit.runtime import open_session, serve_reference_exchange
from sessionkit.runtime.memory import adapter as memory_adapter
from sessionkit.store import RecoveryReport, SqliteStore
from sessionkit.testing import ReferenceExchange

ACCOUNT, TRADING_DAY = "acct-7", "2026-05-04"


class Engine(MessageProcessor):
    """Prints what it is told and keeps the event ids it handled."""

    def __init__(self, name: str, handled: Counter[int]) -> None:
        self.name = name
        self.handled = handled
        self.finished: dict[str, str] = {}
        self.resend_completes: list[tuple[int, int]] = []

    def say(self, text: str) -> None:
        print(f"[{self.name}] {text}", flush=True)

    def on_recovered(self, report: RecoveryReport) -> None:
        self.say(f"recovered from the journal: {report.summary()}")
        if report.resend:
            self.say(f"  never ACKed, sent again with the same cids: {', '.join(report.resend)}")
        if report.replay:
            self.say("  ACKed without a final answer, MessageReplay asked for: "
                     + ", ".join(f"{c} (MID {m})" for c, m in report.replay))

    def on_login_accepted(self, event_id: int) -> None:
        self.say(f"login accepted, the exchange is at event {event_id}")

    def on_resend_complete(self, event_begin_id: int, event_end_id: int) -> None:
        self.resend_completes.append((event_begin_id, event_end_id))
        self.say(f"resend complete: events {event_begin_id}..{event_end_id}")

    def handle_status_message(self, msg: Any, prev_msg: Any) -> None:
        self._event(msg, prev_msg, f"ACK {msg.cid} -> MID {msg.mid}")

    def handle_action_report(self, msg: Any, prev_msg: Any) -> None:
        self._event(msg, prev_msg, f"{msg.status_type} MID {msg.mid} ({msg.cid}), "
                                   f"{msg.size} left")

    def _event(self, msg: Any, prev_msg: Any, text: str) -> None:
        if msg.event_id is not None:
            self.handled[msg.event_id] += 1
        note = " (replayed)" if msg.replay else ""
        if prev_msg is None:  # nothing in flight asked for it
            note += (" (answer to a resend of a request already final)"
                     if msg.event_id is not None else " (answer to the MessageReplay)")
        where = f"event {msg.event_id}" if msg.event_id is not None else "no event id"
        self.say(f"{where}: {text}{note}")

    def on_message_finished(self, event: Any) -> None:
        self.finished[event.cid] = event.outcome.value
        self.say(f"final: {event.cid} {event.outcome.value}")


def order(side: str, price: int) -> LimitOrder:
    return LimitOrder(contract_id=1, side=side, size=1, price_in_cents=price)


async def wait_until(check: Any, what: str, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.005)


async def main(journal: str) -> int:
    exchange = ReferenceExchange(heartbeat_interval_ms=200)
    handled: Counter[int] = Counter()
    config = SessionConfig(cid_prefix="eng", ack_timeout=0.5)
    async with memory_adapter.serve() as endpoint, trio.open_nursery() as nursery:
        await nursery.start(serve_reference_exchange, endpoint, exchange)

        # -- the first life -------------------------------------------------------
        first = Engine("engine 1", handled)
        store = SqliteStore(journal, account=ACCOUNT, session_id=TRADING_DAY, durability="safe")
        with trio.CancelScope() as life:
            async with open_session(endpoint.connector(), first, account=ACCOUNT,
                                    config=config, store=store) as client:
                resting = await client.submit(order("buy", 99))
                await client.submit(order("buy", 100))
                await client.submit(order("sell", 100))
                await wait_until(lambda: len(first.finished) == 2, "the crossing pair")
                first.say(f"journal cursor: event {store.last_event_id}; "
                          f"{resting} rests on the book")
                endpoint.to_client.hold()  # the exchange's answers stop reaching the engine
                await client.submit(order("sell", 99))  # crosses the resting buy
                await client.submit(order("buy", 98))   # rests
                await wait_until(lambda: len(exchange.executions) == 5, "the exchange")
                first.say("two more orders sent and executed; their answers are in flight")
                first.say("*** the engine dies ***")
                life.cancel()
        store.close(commit=False)
        endpoint.to_client.release()  # new connections get their frames again

        # -- the second life ------------------------------------------------------------
        second = Engine("engine 2", handled)
        store = SqliteStore(journal, account=ACCOUNT, session_id=TRADING_DAY, durability="safe")
        async with open_session(endpoint.connector(), second, account=ACCOUNT, config=config,
                                store=store) as client:
            await wait_until(lambda: second.resend_completes, "the replay")
            await wait_until(lambda: resting in second.finished, "the missed fill")
            last = await client.submit(order("sell", 98))  # carries on: crosses the last buy
            await wait_until(lambda: last in second.finished, "the new order")
        left = store.messages()
        store.close()
        nursery.cancel_scope.cancel()

    cids = [c for c, _, _ in exchange.executions]
    twice = [e for e, n in handled.items() if n > 1]
    print(f"exchange executions: {len(cids)}, {len(set(cids))} distinct cids "
          f"({'none twice' if len(cids) == len(set(cids)) else 'SOME TWICE'})")
    print(f"events handled: {len(handled)}, handled twice: {twice or 'none'}")
    print(f"journal left: {len(left)} requests in flight")
    return 0 if len(cids) == len(set(cids)) and not twice and not left else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--journal", help="the journal file (default: a new one in a temp dir)")
    args = p.parse_args()
    path = args.journal or os.path.join(tempfile.mkdtemp(), f"{ACCOUNT}-{TRADING_DAY}.journal")
    raise SystemExit(trio.run(main, path))
