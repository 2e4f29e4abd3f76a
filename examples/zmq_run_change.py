#!/usr/bin/env python3
"""An exchange restart over ZeroMQ: a new run id, and the open orders purged.

In the spirit of the LedgerX guide's "run change" example. Every message carries the
exchange's run id; when the exchange restarts it picks a new one and every order open
before the restart is cancelled. The processor's ``handle_run_change`` is where the local
book forgets them. Here the simulator really restarts: it stops, and a new one (same address,
same CURVE key pair, read back from its certificate file, new run id) starts; the client
reconnects by itself (a ReconnectPolicy) and sees the new run id in the login answer.

Run it with ``python examples/zmq_run_change.py`` (asyncio) or with ``--backend trio``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import anyio
from sessionkit_zmq import CurveClient, CurveServer, KeyPair
from sessionkit_zmq.sim import serve_simulator

import sessionkit as sk
from sessionkit.runtime import ReconnectPolicy, open_session

orders: dict[int, sk.Message] = {}  # the local book: open orders by MID


class Processor(sk.MessageProcessor):
    def __init__(self) -> None:
        self.run_ids: list[str] = []
        self.changed = anyio.Event()  # set at each change; who waits makes a fresh one

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        # Open orders of the previous run are cancelled: purge them from local state.
        print(f"run change {prev_run_id} -> {run_id}: purging {len(orders)} open order(s)")
        orders.clear()
        self.run_ids.append(run_id)
        self.changed.set()

    def handle_action_report(self, msg: sk.ActionReport, prev_msg: Any) -> None:
        if msg.size == 0:
            orders.pop(msg.mid, None)

    def on_reconnecting(self, attempt: int, delay: float, reason: str) -> None:
        print(f"connection lost: {reason}")

    def on_reconnected(self, attempt: int) -> None:
        print("reconnected")


class StoreMIDCallback:
    def __init__(self) -> None:
        self.acked = anyio.Event()

    def __call__(self, msg: sk.Message, prev_msg: sk.Message | None) -> None:
        if isinstance(msg, sk.Status) and msg.mid is not None:
            orders[msg.mid] = msg
            self.acked.set()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The exchange keeps its key pair in a certificate; the trader has its own.
        exchange_cert, exchange_secret = KeyPair.generate().save_certificate(
            Path(tmp) / "exchange.key")
        client_keys = KeyPair.generate()

        def exchange_curve() -> CurveServer:
            return CurveServer.from_files(exchange_secret, [client_keys.public])

        curve = CurveClient(keypair=client_keys, server_key=KeyPair.load_certificate(
            exchange_cert).public)
        async with serve_simulator("tcp://127.0.0.1:0", curve=exchange_curve(),
                                   run_id="run-1") as sim:
            endpoint = sim.endpoint
            processor = Processor()
            policy = ReconnectPolicy(initial=0.05, max=1.0)
            async with anyio.create_task_group() as tasks:
                client = await tasks.start(_session, sim.connector(curve=curve), processor,
                                             policy)
                callback = StoreMIDCallback()
                await client.submit(sk.LimitOrder(contract_id=1, size=1, price_in_cents=5000),
                                    callback=callback)
                with anyio.fail_after(10):
                    await callback.acked.wait()
                print(f"open orders before the restart: {len(orders)} (run "
                      f"{client.statistics().run_id})")

                print("restarting the exchange with run id run-2")
                await sim.aclose()
                async with serve_simulator(endpoint, curve=exchange_curve(), run_id="run-2"):
                    with anyio.fail_after(15):
                        while "run-2" not in processor.run_ids:
                            await processor.changed.wait()
                            processor.changed = anyio.Event()
                    print(f"open orders after the run change: {len(orders)} (run "
                          f"{client.statistics().run_id})")
                    await client.aclose()


async def _session(connector: Any, processor: Processor, policy: ReconnectPolicy,
                   task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    async with open_session(connector, processor, account="trader",
                            reconnect=policy) as client:
        task_status.started(client)
        await client.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio",
                        help="the event loop to run on (default: asyncio)")
    anyio.run(main, backend=parser.parse_args().backend)
