#!/usr/bin/env python3
"""Crash test of the session journal: SIGKILL a client at random points, restart it, check.

    tools/crash_test.py --orders 10000 --kills 20          # the full form
    tools/crash_test.py --orders 300 --kills 3             # the short form (in the test suite)

Three roles, three processes: this harness, a simulator (the reference
exchange behind a socket, in a process of its own that outlives every
client) and a client that submits ``--orders`` limit orders (pairs that
cross, some refused, some in batches) through a session journalled in
SQLite. The harness kills the client with SIGKILL at ``--kills`` random
points (chosen by progress, plus a random delay, so some land during a
recovery), restarts it on its journal each time, and lets the last one
finish. The client appends, after the processor returned and before the
journal records it, ``E <event id>`` for each event and ``F <cid>
<outcome>`` for each final state to a side file, and ``R <incarnation>
<cursor> <journalled cids>`` when it starts.

Checked at the end: every order reached exactly one final state (``lost``
counts those without one), the simulator executed no cid or MID twice and
nothing the journal does not know (``double_executed``), and no event or
final state was handed to the processor again after its handling was
committed (``double_handled``; a redelivery of what was handled but not yet
committed when the client died is allowed and counted as ``redelivered``).
The last output line is one JSON object.

``--transport zmq`` (the default when ``sessionkit-zmq`` is installed) runs
the ZeroMQ simulator (``serve_simulator``) in the simulator process and the
client on the runtime (``open_session(..., store=)``, on ``--backend asyncio|trio``) over a
``ZmqConnector``): the engine's handlers write the side file as they return.
``--transport tcp`` serves the exchange over length-prefixed frames on
127.0.0.1 and drives the core from a plain loop that makes the runtime's
journal calls (``Recorder``) itself.

``--store postgres`` journals in PostgreSQL (a throwaway server on 127.0.0.1 unless
``--pg-url`` names a database): each restarted client takes the session's lease over (the
killed one's connection is gone), and the JSON adds ``leases_taken`` and
``owners_interleaved`` (writes under a fencing token older than one already written: two
owners writing at once; must be 0).

This script holds the simulator and client roles; the harness (kill points, restarts, the
checks at the end) is in ``tools/_crash_harness.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from typing import Any

from _crash_harness import run_harness  # tools/ is sys.path[0] when run as a script

ACCOUNT, SESSION_ID = "crash", "2026-05-04"
_LEN = struct.Struct(">I")


# -- framing ------------------------------------------------------------------------------------

class Framer:
    """Splits a byte stream into length-prefixed frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = _LEN.unpack_from(self.buf)
            if len(self.buf) < 4 + n:
                break
            out.append(bytes(self.buf[4:4 + n]))
            del self.buf[:4 + n]
        return out


def pack(frames: list[bytes]) -> bytes:
    return b"".join(_LEN.pack(len(f)) + f for f in frames)


# -- the simulator process ------------------------------------------------------------------

def run_sim(args: argparse.Namespace) -> None:
    from sessionkit import JsonCodec, Request
    from sessionkit.testing import ReferenceExchange

    codec = JsonCodec()
    exchange = ReferenceExchange(heartbeat_interval_ms=500)
    kinds: dict[str, str] = {}
    sel = selectors.DefaultSelector()
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ, None)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(server.getsockname()[1], flush=True)
    clients: dict[socket.socket, tuple[Any, Framer]] = {}

    def drop(sock: socket.socket) -> None:
        conn, _ = clients.pop(sock)
        conn.closed = True
        sel.unregister(sock)
        sock.close()

    def note(msg: Any) -> None:
        if isinstance(msg, Request) and msg.cid is not None:
            kinds.setdefault(msg.cid, msg.TYPE)
            for m in getattr(msg, "messages", ()):
                kinds.setdefault(m.cid, m.TYPE)

    while not stop:
        for key, _ in sel.select(timeout=0.05):
            if key.fileobj is server:
                sock, _ = server.accept()
                sock.setblocking(True)
                sock.settimeout(10)
                for old in list(clients):  # the exchange serves one connection at a time
                    drop(old)
                clients[sock] = (exchange.connect(), Framer())
                sel.register(sock, selectors.EVENT_READ, None)
                continue
            sock = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                drop(sock)
                continue
            conn, framer = clients[sock]
            for frame in framer.feed(data):
                msg = codec.decode(frame)
                note(msg)
                conn.receive(msg)
        exchange.tick(time.monotonic())
        for sock, (conn, _) in list(clients.items()):
            out = conn.outbox()
            if out:
                try:
                    sock.sendall(pack([codec.encode(m) for m in out]))
                except OSError:
                    drop(sock)
    dump = {
        "executions": [[c, m, r, kinds.get(c)] for c, m, r in exchange.executions],
        "last_event_id": exchange.last_event_id,
    }
    with open(args.dump, "w") as f:
        json.dump(dump, f)


# -- the client process -------------------------------------------------------------------------

class Side:
    """The side file: one line per write, appended in one system call."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())


def order_request(k: int) -> Any:
    from sessionkit import LimitOrder

    side = "buy" if k % 2 == 0 else "sell"
    contract = 99 if k % 100 in (48, 49) else 1 + (k // 2) % 3  # 48/49: refused, in pairs
    return LimitOrder(contract_id=contract, side=side, size=1, price_in_cents=100)


def open_store(args: argparse.Namespace) -> Any:
    """The client's journal: a SQLite file, or a session in a PostgreSQL database (waiting for
    the lease a killed client held: its connection's end frees it)."""
    from sessionkit.store import PostgresStore, SqliteStore

    if args.journal.startswith("postgresql://"):
        return PostgresStore(args.journal, account=ACCOUNT, session_id=SESSION_ID,
                             durability=args.durability, lease_ttl=args.lease_ttl,
                             acquire_timeout=args.acquire_timeout or max(30.0,
                                                                         3 * args.lease_ttl))
    return SqliteStore(args.journal, account=ACCOUNT, session_id=SESSION_ID,
                       durability=args.durability)


def run_client(args: argparse.Namespace) -> None:
    store = open_store(args)
    drive(store, args.address, args.side, args.orders, args.window)
    store.close()


def drive(store: Any, address: str, side_path: str, orders: int, window: int, *,
          account: str = ACCOUNT, stopping: Any = None) -> None:
    """Run the session journalled in ``store`` until all ``orders`` are final (then write
    ``D``) or ``stopping`` (a threading.Event) is set; return with its handling committed
    (tools/supervisor_run.py runs many of these under the supervisor)."""
    from sessionkit import (
        CancelOrder,
        JsonCodec,
        LimitOrder,
        MessageProcessor,
        SessionConfig,
        SessionState,
        dispatch,
    )
    from sessionkit._events import MessageFinished, MessageReceived
    from sessionkit._state import CLOSED_STATES
    from sessionkit.store import Recorder, notify_recovered

    side = Side(side_path)
    live = {m.cid for m in store.messages()}
    side.write(f"R {store.incarnation} {store.last_event_id} {' '.join(sorted(live))}")
    rec = Recorder(store)
    config = SessionConfig(cid_prefix="o", ack_timeout=2.0, ack_timeout_max=5.0,
                           max_send_attempts=1000, max_in_flight=4096)
    codec = JsonCodec()
    session = rec.new_session(config, codec=codec)
    processor = MessageProcessor()
    notify_recovered(processor, rec.report)
    next_k = sum(1 for i in store.intents() if i.key.startswith("o"))
    cancelled: set[int] = {int(i.key[1:]) for i in store.intents() if i.key.startswith("x")}
    batch_every = 7
    sock: socket.socket | None = None
    framer = Framer()
    idle_since = time.monotonic()

    def connect() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", int(address)), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def submit(k: int) -> None:
        req = order_request(k)
        rec.check(req)
        cid = session.submit(req, time.monotonic())
        store.record_intent(f"o{k}", req.TYPE, f"{k}", cid=cid)
        rec.submitted(req, cid)
        live.add(cid)

    def submit_batch(ks: list[int]) -> None:
        reqs = [order_request(k) for k in ks]
        rec.check_batch(reqs)
        tickets = session.submit_batch(reqs, time.monotonic())
        for k, cid in zip(ks, [c for t in tickets for c in t.cids], strict=True):
            store.record_intent(f"o{k}", "limit_order", f"{k}", cid=cid)
        rec.submitted_batch(reqs, tickets)
        live.update(t.cid for t in tickets)
        live.update(c for t in tickets for c in t.cids)

    sock = connect()
    session.login(time.monotonic(), account=account)
    while True:
        if stopping is not None and stopping.is_set():
            sock.close()  # everything handled so far was committed at the end of the round
            os.close(side.fd)
            return
        now = time.monotonic()
        if session.state in CLOSED_STATES:  # the connection dropped: go on in-process
            if hasattr(store, "check_lease"):
                store.check_lease()  # a woken owner whose lease was taken does not reconnect
            session = type(session)(config, codec=codec, handoff=session.handoff())
            sock.close()
            sock, framer = connect(), Framer()
            session.login(now, account=account)
        if session.state is SessionState.ACTIVE:
            while next_k < orders and len(live) < window:
                if next_k % batch_every == 0 and next_k + 4 <= orders:
                    submit_batch(list(range(next_k, next_k + 4)))
                    next_k += 4
                else:
                    submit(next_k)
                    next_k += 1
        msgs = session.messages_to_send()
        if msgs:
            rec.before_send(msgs)  # the write-ahead: committed before the frames leave
            try:
                sock.sendall(pack([codec.encode(m) for m in msgs]))
            except OSError as err:
                session.connection_lost(str(err), now)
        deadline = session.next_deadline()
        wait = 0.05 if deadline is None else max(0.0, min(0.05, deadline - now))
        sock.settimeout(wait)
        try:
            data = sock.recv(1 << 16)
            if not data:
                session.connection_lost("closed by the simulator", time.monotonic())
        except TimeoutError:
            data = b""
        except OSError as err:
            session.connection_lost(str(err), time.monotonic())
            data = b""
        now = time.monotonic()
        if session.state not in CLOSED_STATES:
            for frame in framer.feed(data):
                session.receive_data(frame, now)
                if session.state in CLOSED_STATES:
                    break
            if deadline is not None and now >= deadline and session.state not in CLOSED_STATES:
                session.handle_timer(now)
        for ev in session.events():
            dispatch(ev, processor)
            if type(ev) is MessageReceived and ev.msg.event_id is not None:
                side.write(f"E {ev.msg.event_id} {store.incarnation}")
            elif type(ev) is MessageFinished:
                side.write(f"F {ev.cid} {ev.outcome.value} {store.incarnation}")
                live.discard(ev.cid)
            rec.handled(ev)
        rec.commit()
        if next_k >= orders:
            tracked = store.messages()
            if not tracked and all(i.outcome is not None for i in store.intents()):
                break
            # what rests on one side with nothing left to cross it: cancel it (journalled too)
            resting = [m for m in tracked if isinstance(m.request, LimitOrder)
                       and m.mid is not None and m.state.value == "open"]
            if len(resting) == len(tracked) and len({m.request.side for m in resting}) <= 1:
                if now - idle_since > 1.0:
                    for m in resting:
                        k = int(next(i.key for i in store.intents() if i.cid == m.cid)[1:])
                        if k in cancelled:
                            continue
                        cancelled.add(k)
                        req = CancelOrder(order_mid=m.mid)  # type: ignore[arg-type]
                        rec.check(req)
                        cid = session.submit(req, now)
                        store.record_intent(f"x{k}", req.TYPE, str(m.mid), cid=cid)
                        rec.submitted(req, cid)
            else:
                idle_since = now
    sock.close()
    side.write("D")
    os.close(side.fd)


# -- the ZeroMQ simulator and a client on the runtime (asyncio or trio) ----------------------

def _recording_exchange() -> tuple[Any, dict[str, str]]:
    """A reference exchange that notes the type of every request it is handed, by cid."""
    from sessionkit import Request
    from sessionkit.testing import ReferenceExchange

    kinds: dict[str, str] = {}

    class Recording(ReferenceExchange):
        def handle(self, msg: Any) -> None:
            if isinstance(msg, Request) and msg.cid is not None:
                kinds.setdefault(msg.cid, msg.TYPE)
                for m in getattr(msg, "messages", ()):
                    kinds.setdefault(m.cid, m.TYPE)
            super().handle(msg)

    return Recording(heartbeat_interval_ms=500), kinds


def run_sim_zmq(args: argparse.Namespace) -> None:
    import anyio
    from sessionkit_zmq import serve_simulator

    exchange, kinds = _recording_exchange()

    async def serve() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async with serve_simulator("tcp://127.0.0.1:*", curve=False,
                                       exchange=exchange) as sim:
                print(sim.endpoint, flush=True)
                async for _ in signals:
                    break

    anyio.run(serve, backend=args.backend)
    with open(args.dump, "w") as f:
        json.dump({"executions": [[c, m, r, kinds.get(c)] for c, m, r in exchange.executions],
                   "last_event_id": exchange.last_event_id}, f)


def run_client_runtime(args: argparse.Namespace) -> None:
    """The client on ``sessionkit.runtime.open_session(..., store=)`` over ZeroMQ."""
    import anyio
    from sessionkit_zmq import ZmqConnector

    from sessionkit import CancelOrder, LimitOrder, MessageProcessor, SessionConfig
    from sessionkit.runtime import ReconnectPolicy, open_session

    side = Side(args.side)
    store = open_store(args)
    live = {m.cid for m in store.messages()}
    side.write(f"R {store.incarnation} {store.last_event_id} {' '.join(sorted(live))}")

    class Engine(MessageProcessor):
        """Writes the side file as the last thing each handler does (so: as it returns)."""

        def _e(self, msg: Any, prev: Any) -> None:
            if msg.event_id is not None:
                side.write(f"E {msg.event_id} {store.incarnation}")

        handle_status_message = handle_action_report = handle_batch_message = _e
        handle_contract_detail = handle_book_top = handle_book_state_snapshot = _e
        handle_unknown_message = _e

        def on_message_finished(self, event: Any) -> None:
            live.discard(event.cid)
            side.write(f"F {event.cid} {event.outcome.value} {store.incarnation}")

    config = SessionConfig(cid_prefix="o", ack_timeout=2.0, ack_timeout_max=5.0,
                           max_send_attempts=1000)
    next_k = sum(1 for i in store.intents() if i.key.startswith("o"))
    cancelled = {int(i.key[1:]) for i in store.intents() if i.key.startswith("x")}

    async def trade() -> None:
        nonlocal next_k
        async with open_session(ZmqConnector(args.address), Engine(), account=ACCOUNT,
                                config=config, store=store,
                                reconnect=ReconnectPolicy(initial=0.05, max=0.5)) as client:
            idle_since = anyio.current_time()
            while True:
                while next_k < args.orders and len(live) < args.window:
                    if next_k % 7 == 0 and next_k + 4 <= args.orders:
                        ks = list(range(next_k, next_k + 4))
                        tickets = client.submit_batch_nowait([order_request(k) for k in ks])
                        cids = [c for t in tickets for c in t.cids]
                        for k, cid in zip(ks, cids, strict=True):
                            store.record_intent(f"o{k}", "limit_order", f"{k}", cid=cid)
                        live.update(cids, (t.cid for t in tickets))
                        next_k += 4
                    else:
                        req = order_request(next_k)
                        cid = client.submit_nowait(req)
                        store.record_intent(f"o{next_k}", req.TYPE, f"{next_k}", cid=cid)
                        live.add(cid)
                        next_k += 1
                await anyio.sleep(0.002)
                if next_k < args.orders:
                    continue
                tracked = store.messages()
                if not tracked and all(i.outcome is not None for i in store.intents()):
                    break
                resting = [m for m in tracked if isinstance(m.request, LimitOrder)
                           and m.mid is not None and m.state.value == "open"]
                now = anyio.current_time()
                if not (len(resting) == len(tracked)
                        and len({m.request.side for m in resting}) <= 1):
                    idle_since = now
                elif now - idle_since > 1.0:
                    for m in resting:
                        k = int(next(i.key for i in store.intents() if i.cid == m.cid)[1:])
                        if k not in cancelled:
                            cancelled.add(k)
                            req = CancelOrder(order_mid=m.mid)  # type: ignore[arg-type]
                            cid = client.submit_nowait(req)
                            store.record_intent(f"x{k}", req.TYPE, str(m.mid), cid=cid)

    anyio.run(trade, backend=args.backend)
    store.close()
    side.write("D")


def _default_transport() -> str:
    try:
        import sessionkit_zmq  # noqa: F401
    except ImportError:
        return "tcp"
    return "zmq"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=10_000)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--durability", choices=["fast", "safe"], default="fast")
    p.add_argument("--transport", choices=["zmq", "tcp"], default=_default_transport(),
                   help="zmq: the ZeroMQ simulator and the runtime (the default when "
                        "sessionkit-zmq is installed); tcp: length-prefixed frames on a socket "
                        "and the core driven from a plain loop")
    p.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio",
                   help="zmq: the event loop the simulator and the client run on")
    p.add_argument("--window", type=int, default=64, help="orders in flight at most")
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite",
                   help="the journal: a SQLite file, or PostgreSQL (a throwaway server)")
    p.add_argument("--pg-url", default=None,
                   help="with --store postgres: this database instead of a throwaway server")
    p.add_argument("--lease-ttl", type=float, default=2.0,
                   help="PostgreSQL: seconds a client's lease lasts without renewal")
    p.add_argument("--standby", action="store_true",
                   help="PostgreSQL: a standby client waits for the lease; the active one is "
                        "killed (SIGKILL) or paused (SIGSTOP) and the standby takes over")
    p.add_argument("--acquire-timeout", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=600.0, help="for the last client, s")
    p.add_argument("--workdir", help="where the journal and logs go (default: a temp dir)")
    p.add_argument("--role", choices=["harness", "sim", "client"], default="harness",
                   help=argparse.SUPPRESS)
    p.add_argument("--address", help=argparse.SUPPRESS)
    p.add_argument("--journal", help=argparse.SUPPRESS)
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--dump", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.orders < 1 or args.kills < 0:
        p.error("--orders must be at least 1 and --kills at least 0")
    if args.standby and args.store != "postgres":
        p.error("--standby needs --store postgres (a lease to take over)")
    if args.role == "sim":
        (run_sim_zmq if args.transport == "zmq" else run_sim)(args)
        return 0
    if args.role == "client":
        from sessionkit.store import LeaseLostError

        try:
            (run_client_runtime if args.transport == "zmq" else run_client)(args)
        except Exception as exc:
            cause = exc if isinstance(exc, LeaseLostError) else exc.__cause__
            if isinstance(cause, LeaseLostError):  # taken over while paused: it stops
                print(f"fenced: {cause}", file=sys.stderr, flush=True)
                return 3
            raise
        return 0
    return run_harness(args, os.path.abspath(__file__))


if __name__ == "__main__":
    sys.exit(main())
