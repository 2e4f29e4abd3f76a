#!/usr/bin/env python3
"""A MesoLive automation loop that is killed mid-flow and recovers from its SQLite journal.

The loop is the one the MesoLive docs describe: listen for an entry signal on the Event Hub,
prepare the entry (an asynchronous job on the Control Hub), execute it on a paper account
(``ApplyPaperFills``) with an idempotency key, and track the result.

This process starts the MesoLive hub simulator on 127.0.0.1 (a free port) and runs the
automation engine as a child process (``--engine``), twice:

1. Engine 1 replays the Event Hub from its journal's cursor, subscribes, and reports READY.
   The simulator raises an entry signal. The engine derives every key from the signal's
   ``EventId`` (``prep_entry_<id>``, ``entry_<id>_paper_<plan>``), journals each key before
   its call, prepares the entry and starts the paper fill. The simulator is told to stall
   that fill (it stays ``Processing`` and its answer is lost), and this process SIGKILLs the
   engine while it waits for the outcome.
2. Engine 2 starts on the same journal. The signal was never marked handled, so the replay
   hands it over again; the engine runs the same flow with the same keys: the prepare's
   outcome is in the journal (no call), the job's result comes from the status poll, and the
   paper fill, still open in the journal, is sent again with its key: the server answers
   ``Conflict`` while it is processing, then the original outcome. Nothing runs twice.

    python examples/mesolive_automation.py [--journal PATH] [--backend asyncio|trio]

The same code runs on asyncio (the default) and on trio: it is written against AnyIO, as the
adapter is; ``--backend`` picks the loop of the harness and of both engines.

The last line is one JSON object (``ok``, ``engines``, ``paper_fill_executions``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from typing import Any

import anyio
import anyio.abc
from sessionkit_mesolive import (
    EventFeed,
    EventProcessor,
    Executor,
    IdempotentCaller,
    MesoLiveClient,
    Preparations,
)
from sessionkit_mesolive import models as m

from sessionkit.store import SqliteStore

TOKEN = "example-api-key"
PAPER = "ML1234"


def say(text: str) -> None:
    print(text, flush=True)


# -- the automation engine (the child process) ----------------------------------------------


class EntryAutomation(EventProcessor):
    """On an entry signal: prepare, then fill on the paper account; each step idempotent."""

    def __init__(self, prep: Preparations, executor: Executor) -> None:
        self.prep = prep
        self.executor = executor
        self.done = anyio.Event()

    def on_caught_up(self, cursor: int) -> None:
        say(f"READY cursor={cursor}")

    async def on_entry_signal(self, event: m.EntrySignalEvent) -> None:
        if event.state != m.SignalState.ON:
            return
        intent = f"entry_{event.event_id.hex}"  # one intent per signal, stable across restarts
        say(f"SIGNAL seq={event.event_seq_id} strategy={event.strategy_id} "
            f"account={event.broker_account_id} intent={intent}")
        plan = await self.prep.prepare_entry(
            idempotency_key=f"prep_{intent}", position_name=f"auto {event.event_seq_id}",
            strategy_id=event.strategy_id, broker_account_id=event.broker_account_id,
            leg_selection_constraint=m.LiveLegSelectionConstraint.FULLY_UNIQUE,
            underlying=m.LiveUnderlying(symbol="SPX"))
        say(f"PREPARED plan={plan.exec_plan_id} legs={sorted(plan.selected_legs)}")
        say(f"EXECUTING key={intent}_paper_{plan.exec_plan_id}")
        [fill] = await self.executor.execute(plan, key_prefix=intent, paper=True)
        say(f"FILLED position={fill.position_id} orders={list(fill.live_order_ids)}")
        self.done.set()


async def engine(url: str, journal: str) -> None:
    store = SqliteStore(journal, account=PAPER, session_id="example", durability="fast")
    open_keys = [i.key for i in store.intents() if i.outcome is None]
    say(f"START incarnation={store.incarnation} cursor={store.last_event_id} "
        f"open_intents={open_keys} jobs_in_flight={[j.job_id for j in store.jobs()]}")
    client = MesoLiveClient(url, token_factory=lambda: TOKEN)
    caller = IdempotentCaller(client.control, store, poll_interval=0.1)
    automation = EntryAutomation(Preparations(caller, client.events, poll_interval=0.1),
                                 Executor(caller))
    feed = EventFeed(client.events, automation, store)  # before the Event Hub connects
    try:
        async with client, anyio.create_task_group() as tg:
            await tg.start(feed.run)
            await automation.done.wait()
            tg.cancel_scope.cancel()
    finally:
        store.close()
    say(f"DONE cursor={feed.cursor}")


# -- the harness (this process) -------------------------------------------------------------


async def harness(journal: str, backend: str) -> dict[str, Any]:
    from sessionkit_mesolive.sim.cli import build_simulator, run_simulator
    from sessionkit_mesolive.sim.domain import DomainConfig

    sim = build_simulator(token=TOKEN, tick=0.02, config=DomainConfig(
        prepare_pending_s=0.1, prepare_running_s=0.3))
    lines: list[tuple[int, str]] = []
    async with anyio.create_task_group() as tg:
        await tg.start(run_simulator, sim)
        say(f"simulator on {sim.url}")

        async def run_engine(number: int, kill_on: str | None) -> int:
            proc = await anyio.open_process(
                [sys.executable, __file__, "--engine", "--url", sim.url, "--journal", journal,
                 "--backend", backend],
                stdout=-1, stderr=None, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            assert proc.stdout is not None
            buffer = b""
            try:
                async for chunk in proc.stdout:
                    buffer += chunk
                    while b"\n" in buffer:
                        raw, buffer = buffer.split(b"\n", 1)
                        line = raw.decode()
                        lines.append((number, line))
                        say(f"  [engine {number}] {line}")
                        if line.startswith("READY") and number == 1:
                            sim.domain.faults.stall_next("ApplyPaperFills", 1.5)
                            sim.domain.raise_entry_signal(1, PAPER)
                        if kill_on is not None and line.startswith(kill_on):
                            await anyio.sleep(0.3)  # the fill is sent; its answer never comes
                            say(f"  killing engine {number} (SIGKILL) while it waits")
                            proc.send_signal(signal.SIGKILL)
            except BaseException:  # the harness failed or timed out: leave no engine behind
                proc.kill()
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    await proc.wait()
            assert proc.returncode is not None
            return proc.returncode

        with anyio.fail_after(60):
            first = await run_engine(1, kill_on="EXECUTING")
            second = await run_engine(2, kill_on=None)
        tg.cancel_scope.cancel()

    executions = {key: n for (op, key), n in sim.domain.idempotency.executions.items()
                  if op == "ApplyPaperFills"}
    positions = [p for p in sim.domain.state.positions.values()
                 if p.broker_account_id == PAPER]
    signals = [n for n, line in lines if line.startswith("SIGNAL")]
    return {
        "ok": (first == -signal.SIGKILL and second == 0 and list(executions.values()) == [1]
               and len(positions) == 1 and signals == [1, 2]
               and any(n == 2 and line.startswith("FILLED") for n, line in lines)),
        "backend": backend,
        "engines": 2,
        "first_engine_exit": first,
        "second_engine_exit": second,
        "signal_handled_by": signals,
        "paper_fill_executions": sum(executions.values()),
        "positions": len(positions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journal", help="the SQLite journal (default: a temporary file)")
    parser.add_argument("--engine", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio",
                        help="the event loop (default asyncio)")
    args = parser.parse_args()
    if args.engine:
        anyio.run(engine, args.url, args.journal, backend=args.backend)
        return
    with tempfile.TemporaryDirectory() as tmp:
        journal = args.journal or os.path.join(tmp, "automation.journal")
        result = anyio.run(harness, journal, args.backend, backend=args.backend)
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
