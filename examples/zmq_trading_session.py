#!/usr/bin/env python3
"""A trading session over ZeroMQ with CURVE: contracts, then a limit order and its MID.

In the spirit of the LedgerX guide's "trading session" example: the client has a CURVE key
pair (its public key is on the exchange's allow-list) and the exchange's public key; it asks
for the contracts, picks one, places a limit order and keeps the order's MID (the exchange's
id for it, which arrives in the ACK) through a per-order callback.

The exchange is the ZMQ simulator (the reference exchange on a ROUTER socket), started here
on a free loopback port. Run it with ``python examples/zmq_trading_session.py`` (asyncio)
or ``python examples/zmq_trading_session.py --backend trio``: the same code runs on both.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import anyio
from sessionkit_zmq import CurveClient, CurveServer, KeyPair
from sessionkit_zmq.sim import serve_simulator

import sessionkit as sk
from sessionkit.runtime import open_session


class Processor(sk.MessageProcessor):
    def __init__(self) -> None:
        self.contracts: list[sk.Contract] = []
        self.changed = anyio.Event()  # set at each change; who waits makes a fresh one

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        # Open orders of the previous run are cancelled: purge them from local state.
        print(f"run change {prev_run_id} -> {run_id}")

    def handle_contract_detail(self, msg: sk.ContractDetail, prev_msg: Any) -> None:
        if msg.contract is not None:
            self.contracts.append(msg.contract)
        self.changed.set()

    def handle_status_message(self, msg: sk.Status, prev_msg: Any) -> None:
        # The ACK: the first answer to every request, with the exchange's MID.
        print(f"status {msg.status} {msg.message!r} for {type(prev_msg).__name__} "
              f"(cid {msg.cid}, MID {msg.mid})")

    def handle_action_report(self, msg: sk.ActionReport, prev_msg: Any) -> None:
        # The first action report's prev_msg is the limit order itself.
        print(f"action report: MID {msg.mid} {msg.status_type}, {msg.size} left "
              f"(after {type(prev_msg).__name__})")

    def handle_heartbeat(self, msg: sk.Heartbeat, prev_msg: Any) -> None:
        pass  # msg.interval_ms: when the next one is due


class StoreMIDCallback:
    """Keeps the MID of an order: the exchange's id of its entry in the book."""

    def __init__(self) -> None:
        self.entry_id: int | None = None
        self.acked = anyio.Event()

    def __call__(self, msg: sk.Message, prev_msg: sk.Message | None) -> None:
        if isinstance(msg, sk.Status):
            self.entry_id = msg.mid
            self.acked.set()


async def main() -> None:
    client_keys = KeyPair.generate()      # its public key goes on the exchange's allow-list
    exchange_keys = KeyPair.generate()    # the exchange publishes its public key
    exchange_curve = CurveServer(keypair=exchange_keys, allow=[client_keys.public])
    async with serve_simulator("tcp://127.0.0.1:0", curve=exchange_curve) as sim:
        print(f"simulator on {sim.endpoint} (CURVE)")
        curve = CurveClient(keypair=client_keys, server_key=exchange_keys.public)
        processor = Processor()
        async with open_session(sim.connector(curve=curve), processor,
                                account="trader") as client:
            await client.submit(sk.GetContracts(all_contracts=True))
            with anyio.fail_after(10):
                while len(processor.contracts) < len(sim.exchange.contracts):
                    await processor.changed.wait()
                    processor.changed = anyio.Event()
            print(f"contracts: {len(processor.contracts)}")

            contract = random.choice(processor.contracts)
            callback = StoreMIDCallback()
            await client.submit(sk.LimitOrder(contract_id=contract.contract_id, size=1,
                                              price_in_cents=5000), callback=callback)
            with anyio.fail_after(10):
                await callback.acked.wait()
            print(f"order's ID (MID): {callback.entry_id}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio",
                        help="the event loop to run on (default: asyncio)")
    anyio.run(main, backend=parser.parse_args().backend)
