#!/usr/bin/env python3
"""A journalled engine is killed (SIGKILL) and restarted: it resumes from its event id.

In the spirit of the Lime guide's resume-by-event-id. This process runs the
ZeroMQ exchange simulator (the reference exchange on a ROUTER socket) and
starts the trading engine as a child process, which trades through
``sessionkit.runtime.open_session(..., store=SqliteStore(...))``:

1. The first engine places three orders (two of them cross), then two more.
   It is slow to handle the answers to those two (think of a stuck
   strategy), and is killed with SIGKILL in the middle of handling one.
2. A second engine starts on the same journal. It is told what was
   recovered (``on_recovered``), logs in resuming after the last event id
   whose handling was committed, resends the two orders the journal never
   saw ACKed under their own client ids (the exchange recognises them and
   does not execute them again), receives the events it missed, among them
   the one the first engine died in, then ``on_resend_complete(begin,
   end)``, and carries on trading.

    python examples/journal_resume.py [--journal PATH]

Needs the ZeroMQ adapter (``adapters/zmq``, installed by ``tools/dev setup``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import anyio

from sessionkit import LimitOrder, MessageProcessor, SessionConfig
from sessionkit.store import RecoveryReport, SqliteStore

ACCOUNT, TRADING_DAY = "acct-7", "2026-05-04"


class Engine(MessageProcessor):
    """Prints what it is told; with ``slow`` set, takes its time over each answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.slow = False
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
        note = " (replayed)" if msg.replay else ""
        if prev_msg is None:  # nothing in flight asked for it
            note += (" (the exchange's answer to a resend of a request already final)"
                     if msg.event_id is not None else " (answer to the MessageReplay)")
        where = f"event {msg.event_id}" if msg.event_id is not None else "no event id"
        self.say(f"{where}: {text}{note}")
        if self.slow:
            self.say("  ... the engine is slow: handling this takes a while ...")
            time.sleep(30)

    def on_message_finished(self, event: Any) -> None:
        self.finished[event.cid] = event.outcome.value
        self.say(f"final: {event.cid} {event.outcome.value}")


def order(side: str, price: int) -> LimitOrder:
    return LimitOrder(contract_id=1, side=side, size=1, price_in_cents=price)


async def wait_until(check: Any, timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.005)


async def engine(endpoint: str, journal: str, life: int) -> None:
    """One life of the trading engine (a child process)."""
    from sessionkit_zmq import ZmqConnector

    from sessionkit.runtime import open_session

    me = Engine(f"engine {life}")
    config = SessionConfig(cid_prefix="eng", ack_timeout=1.0)
    store = SqliteStore(journal, account=ACCOUNT, session_id=TRADING_DAY, durability="safe")
    async with open_session(ZmqConnector(endpoint), me, account=ACCOUNT, config=config,
                            store=store) as client:
        if life == 1:
            client.submit_nowait(order("buy", 99))  # eng-1: rests on the book
            client.submit_nowait(order("buy", 100))
            client.submit_nowait(order("sell", 100))  # crosses eng-2
            await wait_until(lambda: len(me.finished) == 2)
            me.say(f"journal cursor: event {store.last_event_id}; eng-1 rests on the book")
            me.slow = True
            client.submit_nowait(order("sell", 99))  # eng-4: crosses eng-1
            client.submit_nowait(order("buy", 98))  # eng-5: rests
            me.say("two more orders sent")
            await anyio.sleep_forever()  # the parent kills this process
        await wait_until(lambda: me.resend_completes and "eng-1" in me.finished)
        last = client.submit_nowait(order("sell", 98))  # carries on: crosses eng-5
        await wait_until(lambda: last in me.finished and "eng-5" in me.finished)
        me.say(f"done; journal cursor: event {store.last_event_id}")
    left = len(store.messages())
    store.close()
    print(f"[engine {life}] journal left: {left} requests in flight", flush=True)


def start_engine(endpoint: str, journal: str, life: int, backend: str
                 ) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--engine", str(life),
                             "--endpoint", endpoint, "--journal", journal,
                             "--backend", backend])


async def main(journal: str, backend: str) -> int:
    from sessionkit_zmq import serve_simulator

    async with serve_simulator("tcp://127.0.0.1:*", curve=False,
                               heartbeat_interval_ms=500) as sim:
        exchange = sim.exchange
        print(f"[exchange] ZMQ simulator on {sim.endpoint}", flush=True)
        first = start_engine(sim.endpoint, journal, 1, backend)
        await wait_until(lambda: len(exchange.executions) == 5 or first.poll() is not None)
        await anyio.sleep(0.3)  # the engine is inside its slow handler now
        first.send_signal(signal.SIGKILL)
        first.wait()
        print("[exchange] *** engine 1 killed (SIGKILL) while handling an answer ***",
              flush=True)
        second = start_engine(sim.endpoint, journal, 2, backend)
        while second.poll() is None:
            await anyio.sleep(0.01)
        cids = [c for c, _, _ in exchange.executions]
        print(f"[exchange] executions: {len(cids)}, {len(set(cids))} distinct cids "
              f"({'none twice' if len(cids) == len(set(cids)) else 'SOME TWICE'})", flush=True)
    return 0 if second.returncode == 0 and len(cids) == len(set(cids)) else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--journal", help="the journal file (default: a new one in a temp dir)")
    p.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio",
                   help="the event loop the exchange and the engines run on")
    p.add_argument("--engine", type=int, help=argparse.SUPPRESS)
    p.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.engine:
        anyio.run(engine, args.endpoint, args.journal, args.engine, backend=args.backend)
        raise SystemExit(0)
    path = args.journal or os.path.join(tempfile.mkdtemp(), f"{ACCOUNT}-{TRADING_DAY}.journal")
    raise SystemExit(anyio.run(main, path, args.backend, backend=args.backend))
