#!/usr/bin/env python3
"""Ten limit orders in one batch over ZeroMQ: per-order callbacks and the batch of ACKs.

In the spirit of the LedgerX guide's "orders batch" example: a batch carries up to the
exchange's limit of requests, executed in order; the exchange first ACKs the batch itself,
then sends a batch message holding one ACK per order, then each order's responses. Each
order gets its own callback (its ACK, then its action reports); the processor's
``handle_batch_message`` gets the batch of ACKs.

The exchange is the ZMQ simulator with CURVE, started here on a free loopback port. Run it
with ``python examples/zmq_orders_batch.py`` (asyncio) or with ``--backend trio``.
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
        self.batch_acks: list[sk.BatchAck] = []
        self.changed = anyio.Event()  # set at each change; who waits makes a fresh one

    def handle_contract_detail(self, msg: sk.ContractDetail, prev_msg: Any) -> None:
        if msg.contract is not None:
            self.contracts.append(msg.contract)
        self.changed.set()

    def handle_batch_message(self, msg: sk.BatchAck, prev_msg: Any) -> None:
        # The batch of ACKs for the batch sent: one per order, in order.
        print(f"batch message: {len(msg.messages)} ACKs for batch MID {msg.mid}")
        self.batch_acks.append(msg)
        self.changed.set()


class ProcessOrderResponses:
    """The callback of one order: its ACK (a Status), then its action reports."""

    def __init__(self, number: int, processor: Processor) -> None:
        self.number = number
        self.mid: int | None = None
        self.processor = processor

    def __call__(self, msg: sk.Message, prev_msg: sk.Message | None) -> None:
        if isinstance(msg, sk.Status):
            self.mid = msg.mid
            if msg.ok:
                print(f"order no.{self.number} placed successfully, MID {msg.mid}")
            else:
                print(f"order no.{self.number} failed with status {msg.status}: {msg.message}")
            self.processor.changed.set()
        elif isinstance(msg, sk.ActionReport):
            pass  # a change to the resting order: msg.size is what remains


async def main() -> None:
    client_keys, exchange_keys = KeyPair.generate(), KeyPair.generate()
    async with serve_simulator("tcp://127.0.0.1:0", curve=CurveServer(
            keypair=exchange_keys, allow=[client_keys.public])) as sim:
        curve = CurveClient(keypair=client_keys, server_key=exchange_keys.public)
        processor = Processor()
        async with open_session(sim.connector(curve=curve), processor,
                                account="trader") as client:
            await client.submit(sk.GetContracts(all_contracts=True))
            with anyio.fail_after(10):
                while len(processor.contracts) < len(sim.exchange.contracts):
                    await processor.changed.wait()
                    processor.changed = anyio.Event()

            # A batch may mix request types; here: ten buy orders on random contracts.
            orders = [sk.LimitOrder(contract_id=random.choice(processor.contracts).contract_id,
                                    size=1, price_in_cents=100) for _ in range(10)]
            callbacks = [ProcessOrderResponses(i, processor) for i in range(10)]
            (ticket,) = await client.submit_batch(orders, callbacks=callbacks)
            print(f"batch {ticket.cid} sent with {len(ticket.cids)} orders")
            with anyio.fail_after(10):
                while not processor.batch_acks or any(cb.mid is None for cb in callbacks):
                    await processor.changed.wait()
                    processor.changed = anyio.Event()
            print(f"all {len(callbacks)} orders ACKed, MIDs {[cb.mid for cb in callbacks]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio",
                        help="the event loop to run on (default: asyncio)")
    anyio.run(main, backend=parser.parse_args().backend)
