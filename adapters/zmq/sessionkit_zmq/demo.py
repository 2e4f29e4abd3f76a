"""A short trading session over ZeroMQ with CURVE, against the simulator, on loopback.

``await run()`` makes fresh CURVE keys in a temporary directory, starts the ZMQ simulator
(allow-list: the one client key) and a client session, then shows: login, the contracts, a
limit order whose MID comes back in its ACK, a batch of orders with its batch ACK, an
exchange restart (new run id: the open orders are cancelled), and the reconnect that resumes
by event id, replays what was missed and ends with a resend-complete. ``sessionkit demo
--adapter zmq`` (or ``python -m sessionkit_zmq demo``) runs it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

import sessionkit as sk
from sessionkit.runtime import ReconnectPolicy, open_session

from ._keys import CurveClient, CurveServer, KeyPair, fingerprint
from ._simulator import serve_simulator

__all__ = ["run", "DemoProcessor"]


class DemoProcessor(sk.MessageProcessor):
    """Prints what the session delivers and lets the demo wait for it."""

    def __init__(self, out: Callable[[str], Any]) -> None:
        self.out = out
        self.contracts: list[sk.Contract] = []
        self.open_orders: dict[int, sk.Message] = {}
        #: set by every change: ``until`` waits on a fresh one each time it checks
        self.changed: anyio.Event | None = None
        self.resends: list[tuple[int, int]] = []
        self.run_changes: list[tuple[str, str | None]] = []
        self.cancelled: list[str] = []
        self.logins = 0

    def _tick(self) -> None:
        if self.changed is not None:
            self.changed.set()

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while not check():
                changed = self.changed = anyio.Event()
                await changed.wait()

    def on_login_accepted(self, event_id: int) -> None:
        self.logins += 1
        self.out(f"  login accepted (the exchange's last event id: {event_id})")
        self._tick()

    def handle_contract_detail(self, msg: sk.ContractDetail, prev: sk.Message | None) -> None:
        if msg.contract is not None:
            self.contracts.append(msg.contract)
            self.out(f"  contract {msg.contract.contract_id}: {msg.contract.label}")
        self._tick()

    def handle_batch_message(self, msg: sk.BatchAck, prev: sk.Message | None) -> None:
        ok = sum(1 for s in msg.messages if s.ok)
        self.out(f"  batch ACK (batch MID {msg.mid}): {ok} of {len(msg.messages)} orders "
                 f"accepted, MIDs {[s.mid for s in msg.messages]}")
        self._tick()

    def handle_action_report(self, msg: sk.ActionReport, prev: sk.Message | None) -> None:
        if msg.size > 0:
            self.open_orders[msg.mid] = msg
        else:
            self.open_orders.pop(msg.mid, None)
        self._tick()

    def handle_book_top(self, msg: sk.BookTop, prev: sk.Message | None) -> None:
        replay = " (replayed)" if msg.replay else ""
        self.out(f"  book top of contract {msg.contract_id}: bid {msg.bid_in_cents}, ask "
                 f"{msg.ask_in_cents}, event {msg.event_id}{replay}")
        self._tick()

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        self.out(f"  run change: {prev_run_id} -> {run_id}; {len(self.open_orders)} open "
                 f"order(s) purged from the local book")
        self.run_changes.append((run_id, prev_run_id))
        self.open_orders.clear()
        self._tick()

    def on_message_finished(self, event: sk.MessageFinished) -> None:
        if event.outcome is sk.Outcome.CANCELLED_BY_RUN_CHANGE:
            self.cancelled.append(event.cid)
            self.out(f"  order {event.cid} (MID {event.mid}) cancelled by the run change")
        self._tick()

    def on_reconnecting(self, attempt: int, delay: float, reason: str) -> None:
        self.out(f"  connection lost ({reason}); reconnecting in {delay:.2f} s")

    def on_reconnected(self, attempt: int) -> None:
        self.out(f"  reconnected (attempt {attempt}), resuming after the last event seen")
        self._tick()

    def on_resend_complete(self, event_begin_id: int, event_end_id: int) -> None:
        self.out(f"  resend complete: events {event_begin_id}..{event_end_id} replayed")
        self.resends.append((event_begin_id, event_end_id))
        self._tick()


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


async def run(out: Callable[[str], Any] = print, *, directory: str | None = None) -> dict[str, Any]:
    """Run the demo, writing lines with ``out``; returns a summary (for tests)."""
    with tempfile.TemporaryDirectory(prefix="sessionkit-zmq-demo-", dir=directory) as tmp:
        d = Path(tmp)
        out("1. CURVE keys (fresh, in a temporary directory)")
        server_pub, server_sec = KeyPair.generate().save_certificate(d / "exchange.key")
        client_pub, client_sec = KeyPair.generate().save_certificate(d / "trader.key")
        assert server_sec is not None and client_sec is not None
        for p in (server_pub, server_sec, client_pub, client_sec):
            out(f"  {p.name:<22} mode {_mode(p)}")
        server_curve = CurveServer.from_files(server_sec, [client_pub])
        client_curve = CurveClient.from_files(client_sec, server_pub)
        async with serve_simulator(curve=server_curve, heartbeat_interval_ms=500) as sim:
            out(f"2. ZMQ simulator on {sim.endpoint} (CURVE, server key "
                f"{fingerprint(server_curve.keypair.public)}, 1 allowed client key)")
            proc = DemoProcessor(out)
            policy = ReconnectPolicy(initial=0.05, max=0.5, jitter=0.0)
            async with open_session(sim.connector(curve=client_curve), proc, account="demo",
                                    reconnect=policy) as client:
                out("3. contracts")
                await client.submit(sk.GetContracts())
                await proc.until(lambda: len(proc.contracts) >= 3, "contracts")

                out("4. a limit order; its MID comes back in the ACK")
                mids: dict[str, int | None] = {}

                def store_mid(msg: sk.Message, prev: sk.Message | None) -> None:
                    if isinstance(msg, sk.Status):
                        mids["order"] = msg.mid
                        out(f"  ACK {msg.status} {msg.message!r}: order MID {msg.mid}")
                        proc._tick()

                contract = proc.contracts[0]
                await client.submit(sk.LimitOrder(contract_id=contract.contract_id, size=1,
                                                  price_in_cents=5000, side="buy"),
                                    callback=store_mid)
                await proc.until(lambda: "order" in mids and len(proc.open_orders) == 1, "ACK")

                out("5. a batch of 3 orders (resting, away from each other)")
                orders = [sk.LimitOrder(contract_id=c.contract_id, size=2, price_in_cents=100 + i,
                                        side="buy") for i, c in enumerate(proc.contracts)]
                await client.submit_batch(orders)
                await proc.until(lambda: len(proc.open_orders) == 4, "batch")
                out(f"  {len(proc.open_orders)} orders open on the book")

                out("6. the exchange restarts with a new run id (and drops the connection);")
                out("   while the client is away the exchange publishes a book top")
                rid = sim.restart()
                sim.publish_book_top(contract.contract_id)
                await proc.until(lambda: bool(proc.resends and proc.run_changes), "run change",
                                 timeout=15.0)
                await proc.until(lambda: len(proc.cancelled) == 4, "cancellations")
                stats = client.statistics()
                out(f"7. done: run {stats.run_id}, {stats.submitted} requests, "
                    f"{stats.finished.get('cancelled_by_run_change', 0)} cancelled by the "
                    f"run change, {client.reconnects} reconnect(s), {stats.acked} ACKs")
            return {"run_id": rid, "mid": mids.get("order"), "resends": proc.resends,
                    "run_changes": proc.run_changes, "cancelled": len(proc.cancelled),
                    "contracts": len(proc.contracts), "logins": proc.logins,
                    "modes": {p.name: _mode(p) for p in (server_pub, server_sec, client_pub,
                                                         client_sec)}}
