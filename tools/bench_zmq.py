#!/usr/bin/env python3
"""Benchmark: a sessionkit session over the ZeroMQ adapter against two raw pyzmq loops.

All three clients do the same work against the same responder process (a ROUTER that
answers each limit order with its ACK and a final action report, as the simulator does):
send the same orders, keep the same window of orders in flight, match every answer to its
order. The session goes through ``sessionkit.runtime.open_session`` and the adapter's
DEALER transport. The two baselines are DEALERs on the same event loop with the same FD
discipline and no session layer (no tracking, events, processor or callbacks):

* the **raw loop** encodes and decodes with the core's ``JsonCodec`` (validated messages;
  the baseline of the older targets);
* the **floor** sends and reads the same frames as bare ``orjson`` dicts, with no
  validation: the cheapest correct loop, so session over floor is what sessionkit costs.

Measured, plain and with CURVE:

* throughput: orders completed per second (order -> ACK -> final response; three messages
  each), pipelined with the same window;
* latency: ACK round trip (submit to ACK) of one order at a time, p50 and p99; the three
  clients take turns in blocks of 100 orders, all connected at once;
* CPU per order: the client process's CPU time (user + system, every thread: ZeroMQ's I/O
  thread too) over a throughput run, per order.

Each figure is the median of several runs; the clients' runs alternate. The last line of
output is one JSON object: ``throughput_ratio`` and ``p50_ratio`` are session over raw,
``floor_throughput_ratio``, ``floor_cpu_ratio``, ``floor_p50_ratio`` and
``floor_p99_ratio`` session over floor, each the worse of plain and CURVE. A fourth
throughput client, the session submitting with ``submit_nowait()`` in bursts of up to the
window and one ``await anyio.sleep(0)`` per burst, adds ``floor_cpu_ratio_nowait_bursts``
and ``floor_throughput_ratio_nowait_bursts`` (no targets: what a user who skips the
checkpoint per order gets).

Every client runs on the event loop ``--backend`` names (AnyIO's: ``trio``, the default,
``asyncio``, or ``uvloop``, asyncio on uvloop's loop); the figures are the same under each.
``--backends asyncio,trio[,uvloop]`` measures the session (throughput, CPU, ACK round
trips) and the floor under each loop in ONE run, the loops taking turns within each run, and
adds ``backend_ratios``: each loop's session throughput and p50 over trio's (the issue's
targets: asyncio's throughput >= 0.8x trio's, its p50 <= 1.2x), with the floor's ratios next
to them (what the loop itself costs a bare client). ``--candidates`` adds, on asyncio, the
floor client on pyzmq's own ``zmq.asyncio`` sockets (the transport candidate not taken: see
docs/zmq.md).

    .venv/bin/python tools/bench_zmq.py            # full
    .venv/bin/python tools/bench_zmq.py --quick    # under a minute
    .venv/bin/python tools/bench_zmq.py --pin      # client and responder on CPUs of their own
    .venv/bin/python tools/bench_zmq.py --backend asyncio
    .venv/bin/python tools/bench_zmq.py --backends asyncio,trio,uvloop --modes plain
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import time
from typing import Any

import anyio
import orjson
import zmq
from sessionkit_zmq import CurveClient, KeyPair, SocketOptions, ZmqConnector

import sessionkit as sk
from sessionkit.runtime import open_session

CONTRACT = 1

#: the event loops: AnyIO backend name and its options
BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "trio": ("trio", {}),
    "asyncio": ("asyncio", {}),
    "uvloop": ("asyncio", {"use_uvloop": True}),
}


def run_on(backend: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` on a fresh event loop of ``backend``."""
    name, options = BACKENDS[backend]
    return anyio.run(fn, *args, backend=name, backend_options=options)


def cpu_seconds() -> float:
    """This process's CPU time, user + system, summed over its threads (ZeroMQ's I/O
    thread included): what one client costs the machine, however busy it is."""
    return time.process_time()

# -- the responder (a separate process) ------------------------------------------------------


def responder(bind: str, server_secret: str | None, ready_fd: int) -> None:
    """A minimal exchange: login -> login_ack; limit_order -> status + final action report."""
    ctx = zmq.Context()  # no ZAP handler bound: libzmq lets any CURVE client key in
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    if server_secret is not None:
        secret = server_secret.encode()
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, zmq.curve_public(secret))
    sock.bind(bind)
    os.write(ready_fd, sock.getsockopt(zmq.LAST_ENDPOINT) + b"\n")
    os.close(ready_fd)
    loads, dumps = orjson.loads, orjson.dumps
    mid = 0
    recv, send = sock.recv_multipart, sock.send_multipart
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while True:
        poller.poll()
        while True:
            try:
                parts = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            ident, frame = parts[0], parts[1]
            if not frame:  # a control message (the adapter's close notice)
                continue
            msg = loads(frame)
            kind = msg.get("type")
            if kind == "limit_order":
                mid += 1
                cid = msg["cid"]
                send([ident, dumps({"type": "status", "cid": cid, "mid": mid, "status": 200,
                                    "message": "accepted", "run_id": "bench"})])
                send([ident, dumps({"type": "action_report", "mid": mid, "cid": cid,
                                    "contract_id": msg["contract_id"], "status_type": "filled",
                                    "size": 0, "filled_size": msg["size"],
                                    "price_in_cents": msg["price_in_cents"],
                                    "run_id": "bench"})])
            elif kind == "logout":  # the adapter's close notice ends the connection
                send([ident, b"", b"close", b"logged out"])
            elif kind == "login":
                send([ident, dumps({"type": "login_ack", "run_id": "bench",
                                    "last_event_id": 0})])


#: --pin: the CPU the responder runs on (this process runs on another); None: unpinned
_RESPONDER_CPU: int | None = None


def _pin_responder() -> None:  # runs in the responder's process, before exec
    if _RESPONDER_CPU is not None:
        os.sched_setaffinity(0, {_RESPONDER_CPU})


def pin(enabled: bool) -> str:
    """With ``enabled`` and two CPUs or more (Linux), put this process (the client and
    the ZeroMQ I/O threads it starts later) on one CPU and the responder on another: the
    scheduler's placement of the four threads of a round trip otherwise changes from run
    to run, and with it the latency. Returns a description for the output."""
    global _RESPONDER_CPU
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not enabled or len(cpus) < 2:
        return "unpinned"
    os.sched_setaffinity(0, {cpus[0]})
    _RESPONDER_CPU = cpus[1]
    return f"client on CPU {cpus[0]}, responder on CPU {cpus[1]}"


def start_responder(curve: bool) -> tuple[subprocess.Popen[bytes], str, bytes | None]:
    keys = KeyPair.generate() if curve else None
    r, w = os.pipe()
    here = os.path.dirname(os.path.abspath(__file__))
    secret = keys.secret.decode() if keys and keys.secret else None
    code = (f"import sys; sys.path.insert(0, {here!r}); import bench_zmq as b; "
            f"b.responder({'tcp://127.0.0.1:*'!r}, {secret!r}, {w})")
    proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(w,),
                            preexec_fn=_pin_responder if _RESPONDER_CPU is not None else None)
    os.close(w)
    if _RESPONDER_CPU is not None and os.sched_getaffinity(proc.pid) != {_RESPONDER_CPU}:
        proc.kill()
        raise SystemExit(f"the responder is not on CPU {_RESPONDER_CPU}")
    with os.fdopen(r, "rb") as f:
        endpoint = f.readline().decode().strip()
    if not endpoint:
        raise SystemExit("the responder did not start")
    return proc, endpoint, keys.public if keys else None


# -- the raw pyzmq clients --------------------------------------------------------------------


class Dealer:
    """A DEALER with the adapter's FD discipline and no session layer."""

    def __init__(self, sock: zmq.Socket[Any]) -> None:
        self.sock = sock
        self.fd = sock.getsockopt(zmq.FD)
        self.next_cid = 0

    async def recv_all(self) -> list[bytes]:
        sock = self.sock
        while True:
            out = []
            try:
                while True:
                    out.append(sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                pass
            if out:
                return out
            if sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                continue
            await anyio.wait_readable(self.fd)

    def send_all(self, frames: list[bytes]) -> None:
        send = self.sock.send
        for f in frames:
            send(f)  # the responder reads fast; HWM is never reached here


def dealer(endpoint: str, server_key: bytes | None) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        kp = KeyPair.generate()
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, kp.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, kp.secret)
    sock.connect(endpoint)
    return sock


class RawClient(Dealer):
    """The raw loop: the core's codec (validated messages), no session layer."""

    def __init__(self, sock: zmq.Socket[Any], codec: sk.JsonCodec) -> None:
        super().__init__(sock)
        self.codec = codec

    def order(self) -> sk.LimitOrder:
        self.next_cid += 1
        return sk.LimitOrder(cid=f"raw-{self.next_cid}", contract_id=CONTRACT, size=1,
                             price_in_cents=100)


async def raw_connect(endpoint: str, server_key: bytes | None) -> RawClient:
    client = RawClient(dealer(endpoint, server_key), sk.JsonCodec())
    client.send_all([client.codec.encode(sk.Login(account="bench"))])
    for frame in await client.recv_all():
        client.codec.decode(frame)
    return client


async def raw_throughput(endpoint: str, server_key: bytes | None, n: int,
                         window: int) -> tuple[float, float]:
    c = await raw_connect(endpoint, server_key)
    encode, decode = c.codec.encode, c.codec.decode
    unacked: set[str] = set()
    open_orders: set[str] = set()
    done = sent = 0
    start, cpu = time.perf_counter(), cpu_seconds()
    while done < n:
        room = min(window - len(unacked), n - sent)
        if room > 0:
            batch = []
            for _ in range(room):
                o = c.order()
                unacked.add(o.cid)  # type: ignore[arg-type]
                open_orders.add(o.cid)  # type: ignore[arg-type]
                batch.append(encode(o))
            c.send_all(batch)
            sent += room
        for frame in await c.recv_all():
            msg = decode(frame)
            if isinstance(msg, sk.Status):
                unacked.discard(msg.cid)
            elif isinstance(msg, sk.ActionReport) and msg.size == 0:
                open_orders.discard(msg.cid)  # type: ignore[arg-type]
                done += 1
    took, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    c.sock.close(linger=0)
    return n / took, cpu / n


async def raw_pings(c: RawClient, n: int) -> list[float]:
    """ACK round trips of ``n`` orders, one at a time, on the raw client ``c``."""
    encode, decode = c.codec.encode, c.codec.decode
    out = []
    for _ in range(n):
        o = c.order()
        t0 = time.perf_counter()
        c.send_all([encode(o)])
        acked = final = False
        while not final:
            for frame in await c.recv_all():
                msg = decode(frame)
                if isinstance(msg, sk.Status) and msg.cid == o.cid:
                    out.append(time.perf_counter() - t0)
                    acked = True
                elif isinstance(msg, sk.ActionReport) and msg.size == 0:
                    final = acked
    return out


async def raw_latency(endpoint: str, server_key: bytes | None, n: int) -> list[float]:
    c = await raw_connect(endpoint, server_key)
    out = await raw_pings(c, n)
    c.sock.close(linger=0)
    return out


# -- the floor: bare orjson dicts, no validation, no session ----------------------------------


class FloorClient(Dealer):
    """The cheapest correct loop: the session's frames, made and read as bare dicts."""

    def __init__(self, sock: zmq.Socket[Any]) -> None:
        super().__init__(sock)
        self.prefix = secrets.token_hex(4)  # cids shaped as the session's

    def order(self) -> dict[str, Any]:
        """A limit order as the session sends it (the same keys, in the codec's order; the
        side is the default, left out as the codec leaves defaults out)."""
        self.next_cid += 1
        return {"type": "limit_order", "cid": f"{self.prefix}-{self.next_cid}",
                "contract_id": CONTRACT, "size": 1, "price_in_cents": 100}


async def floor_connect(endpoint: str, server_key: bytes | None) -> FloorClient:
    client = FloorClient(dealer(endpoint, server_key))
    client.send_all([orjson.dumps({"type": "login", "account": "bench", "token": "",
                                   "resume_event_id": 0})])
    for frame in await client.recv_all():
        orjson.loads(frame)
    return client


class ZmqAsyncioFloor(FloorClient):
    """The floor on pyzmq's own asyncio sockets (``zmq.asyncio``; asyncio only): the
    transport candidate (b) of docs/zmq.md, against the FD discipline's floor above."""

    async def recv_all(self) -> list[bytes]:
        sock = self.sock
        out = [await sock.recv()]
        try:
            while True:  # what is ready now: a NOBLOCK recv is a done future
                out.append(await sock.recv(zmq.NOBLOCK))
        except zmq.Again:
            pass
        return out

    def send_all(self, frames: list[bytes]) -> None:
        send = self.sock.send
        for f in frames:
            send(f)  # sent at once below the HWM (a done future), as the responder reads fast


async def zmq_asyncio_connect(endpoint: str, server_key: bytes | None) -> FloorClient:
    import zmq.asyncio

    sock: Any = zmq.asyncio.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        kp = KeyPair.generate()
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, kp.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, kp.secret)
    sock.connect(endpoint)
    client = ZmqAsyncioFloor(sock)
    client.send_all([orjson.dumps({"type": "login", "account": "bench", "token": "",
                                   "resume_event_id": 0})])
    for frame in await client.recv_all():
        orjson.loads(frame)
    return client


async def floor_throughput(endpoint: str, server_key: bytes | None, n: int,
                           window: int, connect: Any = floor_connect) -> tuple[float, float]:
    c = await connect(endpoint, server_key)
    dumps, loads = orjson.dumps, orjson.loads
    unacked: set[str] = set()
    open_orders: set[str] = set()
    done = sent = 0
    start, cpu = time.perf_counter(), cpu_seconds()
    while done < n:
        room = min(window - len(unacked), n - sent)
        if room > 0:
            batch = []
            for _ in range(room):
                o = c.order()
                unacked.add(o["cid"])
                open_orders.add(o["cid"])
                batch.append(dumps(o))
            c.send_all(batch)
            sent += room
        for frame in await c.recv_all():
            msg = loads(frame)
            kind = msg["type"]
            if kind == "status":
                unacked.discard(msg["cid"])
            elif kind == "action_report" and msg["size"] == 0:
                open_orders.discard(msg["cid"])
                done += 1
    took, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    c.sock.close(linger=0)
    return n / took, cpu / n


async def floor_pings(c: FloorClient, n: int) -> list[float]:
    """ACK round trips of ``n`` orders, one at a time, on the floor client ``c``."""
    dumps, loads = orjson.dumps, orjson.loads
    out = []
    for _ in range(n):
        o = c.order()  # made before the clock starts, encoded after, as the others' are
        cid = o["cid"]
        t0 = time.perf_counter()
        c.send_all([dumps(o)])
        acked = final = False
        while not final:
            for frame in await c.recv_all():
                msg = loads(frame)
                kind = msg["type"]
                if kind == "status" and msg["cid"] == cid:
                    out.append(time.perf_counter() - t0)
                    acked = True
                elif kind == "action_report" and msg["size"] == 0:
                    final = acked
    return out


async def zmq_asyncio_throughput(endpoint: str, server_key: bytes | None, n: int,
                                 window: int) -> tuple[float, float]:
    return await floor_throughput(endpoint, server_key, n, window, zmq_asyncio_connect)


async def candidate_latency(endpoint: str, server_key: bytes | None, n: int,
                            block: int = 100) -> dict[str, list[float]]:
    """ACK round trips of the floor on the FD discipline and on ``zmq.asyncio``, in turns
    of ``block`` orders (asyncio only)."""
    out: dict[str, list[float]] = {"floor": [], "floor_zmq_asyncio": []}
    clients = {"floor": await floor_connect(endpoint, server_key),
               "floor_zmq_asyncio": await zmq_asyncio_connect(endpoint, server_key)}
    try:
        names = list(out)
        for i in range(-(-n // block)):
            k = min(block, n - i * block)
            for name in names if i % 2 == 0 else names[::-1]:
                out[name] += await floor_pings(clients[name], k)
    finally:
        for c in clients.values():
            c.sock.close(linger=0)
    return out


# -- the session ------------------------------------------------------------------------------


class Counter(sk.MessageProcessor):
    def __init__(self) -> None:
        self.done = 0
        self.target = 0
        self.finished = anyio.Event()

    def on_message_finished(self, event: sk.MessageFinished) -> None:
        self.done += 1
        if self.done >= self.target:
            self.finished.set()


def session_connector(endpoint: str, server_key: bytes | None) -> ZmqConnector:
    curve = (CurveClient(keypair=KeyPair.generate(), server_key=server_key)
             if server_key is not None else None)
    return ZmqConnector(endpoint, curve=curve, options=SocketOptions(linger=0))


async def session_throughput(endpoint: str, server_key: bytes | None, n: int,
                             window: int) -> tuple[float, float]:
    proc = Counter()
    proc.target = n
    # low_water=window: the window refills as soon as an ACK frees a slot, as the raw loop's
    # does (the default, half the window, waits for half of it to drain first)
    config = sk.SessionConfig(max_in_flight=window, low_water=window, ack_timeout=30.0,
                              ack_timeout_max=30.0)
    async with open_session(session_connector(endpoint, server_key), proc, account="bench",
                            config=config, submit_timeout=60.0) as client:
        start, cpu = time.perf_counter(), cpu_seconds()
        submit = client.submit
        for _ in range(n):
            await submit(sk.LimitOrder(contract_id=CONTRACT, size=1, price_in_cents=100))
        await proc.finished.wait()
        took, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return n / took, cpu / n


async def session_nowait_throughput(endpoint: str, server_key: bytes | None, n: int,
                                    window: int) -> tuple[float, float]:
    """As :func:`session_throughput`, submitting with ``submit_nowait()`` in bursts of up
    to the window and one ``await anyio.sleep(0)`` per burst (what a user who skips the
    checkpoint per order pays); a burst the window cannot take waits for room with one
    ``await submit()``, which is then its checkpoint."""
    proc = Counter()
    proc.target = n
    config = sk.SessionConfig(max_in_flight=window, low_water=window, ack_timeout=30.0,
                              ack_timeout_max=30.0)
    async with open_session(session_connector(endpoint, server_key), proc, account="bench",
                            config=config, submit_timeout=60.0) as client:
        start, cpu = time.perf_counter(), cpu_seconds()
        submit, submit_nowait = client.submit, client.submit_nowait
        sent = 0
        while sent < n:
            try:
                for _ in range(min(window, n - sent)):
                    submit_nowait(sk.LimitOrder(contract_id=CONTRACT, size=1,
                                                price_in_cents=100))
                    sent += 1
            except sk.SessionBusyError:  # the window is full: wait for room
                await submit(sk.LimitOrder(contract_id=CONTRACT, size=1, price_in_cents=100))
                sent += 1
                continue
            await anyio.sleep(0)
        await proc.finished.wait()
        took, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return n / took, cpu / n


async def session_pings(client: Any, n: int) -> list[float]:
    """ACK round trips (submit to the ACK's callback) of ``n`` orders, one at a time."""
    out: list[float] = []
    for _ in range(n):
        final = anyio.Event()
        # the order is made before the clock starts, as the raw loop's is
        order = sk.LimitOrder(contract_id=CONTRACT, size=1, price_in_cents=100)
        t0 = time.perf_counter()

        def cb(msg: sk.Message, prev: sk.Message | None, t0: float = t0,
               final: anyio.Event = final) -> None:
            if isinstance(msg, sk.Status):
                out.append(time.perf_counter() - t0)
            elif isinstance(msg, sk.ActionReport) and msg.size == 0:
                final.set()

        await client.submit(order, callback=cb)
        await final.wait()
    return out


def _latency_config() -> sk.SessionConfig:
    return sk.SessionConfig(ack_timeout=30.0, ack_timeout_max=30.0)


async def session_latency(endpoint: str, server_key: bytes | None, n: int) -> list[float]:
    async with open_session(session_connector(endpoint, server_key), sk.MessageProcessor(),
                            account="bench", config=_latency_config()) as client:
        return await session_pings(client, n)


#: the clients measured, in the order of their turns in a block's first round
CLIENTS = ("raw", "session", "floor")


async def latency(endpoint: str, server_key: bytes | None, n: int,
                  block: int = 100) -> dict[str, list[float]]:
    """ACK round trips by client (raw, session, floor), ``n`` each, in turns of ``block``
    orders; the order of the turns rotates by one each round, so each client goes first,
    second and third alike. All see the same moments of a noisy machine, so a ratio does
    not follow whatever else ran during one of several long runs."""
    out: dict[str, list[float]] = {name: [] for name in CLIENTS}
    c = await raw_connect(endpoint, server_key)
    f = await floor_connect(endpoint, server_key)
    try:
        async with open_session(session_connector(endpoint, server_key),
                                sk.MessageProcessor(), account="bench",
                                config=_latency_config()) as client:
            pings = {"raw": lambda k: raw_pings(c, k),
                     "session": lambda k: session_pings(client, k),
                     "floor": lambda k: floor_pings(f, k)}
            for i in range(-(-n // block)):
                k = min(block, n - i * block)
                turn = i % len(CLIENTS)
                for name in CLIENTS[turn:] + CLIENTS[:turn]:
                    out[name] += await pings[name](k)
    finally:
        c.sock.close(linger=0)
        f.sock.close(linger=0)
    return out


# -- where the session's time goes (no I/O) ----------------------------------------------------


def breakdown(n: int = 20_000) -> dict[str, float]:
    """CPU microseconds per order of the codec, of the floor's bare orjson round trip of
    the same messages and of the bare core, measured in process."""
    codec = sk.JsonCodec()
    order = sk.LimitOrder(cid="c-1", contract_id=CONTRACT, size=1, price_in_cents=100)
    ack = orjson.dumps({"type": "status", "cid": "c-1", "mid": 1, "status": 200,
                        "message": "accepted", "run_id": "bench"})
    final = orjson.dumps({"type": "action_report", "mid": 1, "cid": "c-1", "contract_id": 1,
                          "status_type": "filled", "size": 0, "filled_size": 1,
                          "price_in_cents": 100, "run_id": "bench"})

    def per(fn: Any, count: int = n) -> float:
        t = time.process_time()
        fn(count)
        return (time.process_time() - t) / count * 1e6

    def codec_work(k: int) -> None:
        for _ in range(k):
            codec.encode(order)
            codec.decode(ack)
            codec.decode(final)

    order_dict = {"type": "limit_order", "cid": "c-1", "contract_id": CONTRACT, "size": 1,
                  "price_in_cents": 100}

    def floor_codec_work(k: int) -> None:
        dumps, loads = orjson.dumps, orjson.loads
        for _ in range(k):
            dumps(order_dict)
            loads(ack)
            loads(final)

    def core_work(k: int) -> None:
        session = sk.Session(sk.SessionConfig(cid_prefix="c", max_in_flight=k + 1,
                                              max_send_buffer=k + 1), codec=codec)
        session.login(0.0, account="bench")
        session.data_to_send()
        session.receive_data(orjson.dumps({"type": "login_ack", "run_id": "bench",
                                           "last_event_id": 0}), 0.0)
        session.events()
        acks, finals = [], []
        for i in range(1, k + 1):
            acks.append(ack.replace(b'"c-1"', b'"c-%d"' % i).replace(b'"mid":1', b'"mid":%d' % i))
            finals.append(final.replace(b'"c-1"', b'"c-%d"' % i)
                          .replace(b'"mid":1', b'"mid":%d' % i))
        t = time.process_time()
        for i in range(k):
            session.submit(sk.LimitOrder(contract_id=CONTRACT, size=1, price_in_cents=100), 0.0)
            session.data_to_send()
            session.receive_data(acks[i], 0.0)
            session.receive_data(finals[i], 0.0)
            session.events()
        core_work.took = time.process_time() - t  # type: ignore[attr-defined]

    codec_us = per(codec_work)
    floor_codec_us = per(floor_codec_work)
    core_work(n)
    core_us = core_work.took / n * 1e6  # type: ignore[attr-defined]
    return {"codec_us_per_order": round(codec_us, 1),
            "floor_codec_us_per_order": round(floor_codec_us, 2),
            "core_us_per_order_incl_codec": round(core_us, 1),
            "core_us_per_order_excl_codec": round(core_us - codec_us, 1)}


# -- driver ----------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))
    return values[k]


THROUGHPUT = {"raw": raw_throughput, "session": session_throughput, "floor": floor_throughput,
              "session_nowait": session_nowait_throughput}
#: the clients of the throughput runs: those of the latency runs, and the session
#: submitting with submit_nowait() in bursts (no target: a figure for users)
TP_CLIENTS = (*CLIENTS, "session_nowait")


def measure(mode: str, runs: int, n_tp: int, n_lat: int, window: int,
            backend: str = "trio") -> dict[str, Any]:
    proc, endpoint, server_key = start_responder(mode == "curve")
    tp: dict[str, list[float]] = {name: [] for name in TP_CLIENTS}
    cpu: dict[str, list[float]] = {name: [] for name in TP_CLIENTS}
    p50: dict[str, list[float]] = {name: [] for name in CLIENTS}
    p99: dict[str, list[float]] = {name: [] for name in CLIENTS}
    try:
        for name in TP_CLIENTS:  # warm-up (imports, caches, TCP/CURVE paths)
            run_on(backend, THROUGHPUT[name], endpoint, server_key, 2000, window)
        for run in range(runs):
            # the session runs between the two baselines, which swap places each run
            for name in TP_CLIENTS if run % 2 == 0 else TP_CLIENTS[::-1]:
                orders_per_s, cpu_per_order = run_on(backend, THROUGHPUT[name], endpoint,
                                                     server_key, n_tp, window)
                tp[name].append(orders_per_s)
                cpu[name].append(cpu_per_order)
            pings = run_on(backend, latency, endpoint, server_key, n_lat)
            for name in CLIENTS:
                p50[name].append(pct(pings[name], 50))
                p99[name].append(pct(pings[name], 99))
            print(f"  {mode} run {run + 1} ({' / '.join(CLIENTS)}): "
                  f"{' / '.join(f'{tp[c][-1]:,.0f}' for c in CLIENTS)} orders/s; ACK p50 "
                  f"{' / '.join(f'{p50[c][-1] * 1e6:.0f}' for c in CLIENTS)} us; CPU "
                  f"{' / '.join(f'{cpu[c][-1] * 1e6:.1f}' for c in CLIENTS)} us per order; "
                  f"session with submit_nowait bursts {tp['session_nowait'][-1]:,.0f} "
                  f"orders/s, {cpu['session_nowait'][-1] * 1e6:.1f} us per order",
                  flush=True)
    finally:
        proc.kill()
        proc.wait()
    m_tp, m_cpu, m_p50, m_p99 = ({k: statistics.median(v) for k, v in d.items()}
                                 for d in (tp, cpu, p50, p99))
    out: dict[str, Any] = {}
    for name in CLIENTS:
        out[f"{name}_orders_per_s"] = round(m_tp[name])
        out[f"{name}_messages_per_s"] = round(3 * m_tp[name])
        out[f"{name}_ack_p50_us"] = round(m_p50[name] * 1e6, 1)
        out[f"{name}_ack_p99_us"] = round(m_p99[name] * 1e6, 1)
        out[f"{name}_cpu_us_per_order"] = round(m_cpu[name] * 1e6, 1)
    for base, prefix in (("raw", ""), ("floor", "floor_")):  # session over each baseline
        out[f"{prefix}cpu_ratio"] = round(m_cpu["session"] / m_cpu[base], 3)
        out[f"{prefix}throughput_ratio"] = round(m_tp["session"] / m_tp[base], 3)
        out[f"{prefix}p50_ratio"] = round(m_p50["session"] / m_p50[base], 3)
        out[f"{prefix}p99_ratio"] = round(m_p99["session"] / m_p99[base], 3)
    out["session_nowait_orders_per_s"] = round(m_tp["session_nowait"])
    out["session_nowait_cpu_us_per_order"] = round(m_cpu["session_nowait"] * 1e6, 1)
    out["floor_cpu_ratio_nowait_bursts"] = round(m_cpu["session_nowait"] / m_cpu["floor"], 3)
    out["floor_throughput_ratio_nowait_bursts"] = round(
        m_tp["session_nowait"] / m_tp["floor"], 3)
    return out


#: the clients each loop runs in a --backends comparison (the floor: the loop's own cost)
COMPARED = ("session", "floor")


def measure_backends(mode: str, runs: int, n_tp: int, n_lat: int, window: int,
                     backends: list[str], candidates: bool) -> dict[str, Any]:
    """The session and the floor under each of ``backends`` in one run against one
    responder, the loops taking turns (their order rotates each run): throughput, CPU per
    order, ACK p50 and p99, medians of ``runs``. With ``candidates``, on the asyncio loops,
    the floor on ``zmq.asyncio`` too."""
    proc, endpoint, server_key = start_responder(mode == "curve")
    keys = [(b, c) for b in backends for c in COMPARED]
    if candidates:
        keys += [(b, "floor_zmq_asyncio") for b in backends if BACKENDS[b][0] == "asyncio"]
    tp: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    cpu: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    p50: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    p99: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    tput = {**THROUGHPUT, "floor_zmq_asyncio": zmq_asyncio_throughput}
    try:
        for backend, name in keys:  # warm-up
            run_on(backend, tput[name], endpoint, server_key, 2000, window)
        for run in range(runs):
            turn = run % len(backends)
            for backend in backends[turn:] + backends[:turn]:
                for b, name in keys:
                    if b == backend:
                        orders_per_s, cpu_per_order = run_on(backend, tput[name], endpoint,
                                                             server_key, n_tp, window)
                        tp[b, name].append(orders_per_s)
                        cpu[b, name].append(cpu_per_order)
                pings = run_on(backend, latency, endpoint, server_key, n_lat)
                if (backend, "floor_zmq_asyncio") in tp:
                    pings["floor_zmq_asyncio"] = run_on(
                        backend, candidate_latency, endpoint, server_key,
                        n_lat)["floor_zmq_asyncio"]
                for b, name in keys:
                    if b == backend:
                        p50[b, name].append(pct(pings[name], 50))
                        p99[b, name].append(pct(pings[name], 99))
            print(f"  {mode} run {run + 1}: " + "; ".join(
                f"{b} {name} {tp[b, name][-1]:,.0f} orders/s, p50 {p50[b, name][-1] * 1e6:.0f}"
                f" us" for b, name in keys), flush=True)
    finally:
        proc.kill()
        proc.wait()
    out: dict[str, Any] = {}
    for b, name in keys:
        r = out.setdefault(b, {})
        r[f"{name}_orders_per_s"] = round(statistics.median(tp[b, name]))
        r[f"{name}_cpu_us_per_order"] = round(statistics.median(cpu[b, name]) * 1e6, 1)
        r[f"{name}_ack_p50_us"] = round(statistics.median(p50[b, name]) * 1e6, 1)
        r[f"{name}_ack_p99_us"] = round(statistics.median(p99[b, name]) * 1e6, 1)
    return out


def backend_ratios(r: dict[str, Any], base: str = "trio") -> dict[str, dict[str, float]]:
    """Each loop's figures over ``base``'s: session and floor throughput, p50, CPU."""
    out: dict[str, dict[str, float]] = {}
    for b in r:
        if b == base or base not in r:
            continue
        ratios = out[b] = {}
        for name in r[b]:
            if not name.endswith("_orders_per_s"):
                continue
            client = name[:-len("_orders_per_s")]
            ref = client if f"{client}_orders_per_s" in r[base] else "floor"
            ratios[f"{client}_throughput_ratio"] = round(
                r[b][name] / r[base][f"{ref}_orders_per_s"], 3)
            ratios[f"{client}_p50_ratio"] = round(
                r[b][f"{client}_ack_p50_us"] / r[base][f"{ref}_ack_p50_us"], 3)
            ratios[f"{client}_cpu_ratio"] = round(
                r[b][f"{client}_cpu_us_per_order"] / r[base][f"{ref}_cpu_us_per_order"], 3)
    return out


#: the issue's targets for a loop over trio (asyncio; uvloop is reported, no target)
BACKEND_TARGETS = {"session_throughput_ratio": ">= 0.8", "session_p50_ratio": "<= 1.2"}


def report_backends(mode: str, runs: int, r: dict[str, Any]) -> None:
    print(f"{mode}, medians of {runs} runs:")
    print(f"  {'':<28}{'orders/s':>10}{'ACK p50 us':>12}{'ACK p99 us':>12}"
          f"{'CPU us/order':>14}")
    for b in r:
        for name in (k[:-len("_orders_per_s")] for k in r[b] if k.endswith("_orders_per_s")):
            print(f"  {b + ' ' + name:<28}{r[b][name + '_orders_per_s']:>10,}"
                  f"{r[b][name + '_ack_p50_us']:>12.1f}{r[b][name + '_ack_p99_us']:>12.1f}"
                  f"{r[b][name + '_cpu_us_per_order']:>14.1f}")
    for b, ratios in backend_ratios(r).items():
        print(f"  {b} over trio: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))


def report(mode: str, runs: int, r: dict[str, Any]) -> None:
    """The medians of one mode as a table: each client, then the session over each baseline."""
    print(f"{mode}, medians of {runs} runs:")
    print(f"  {'':<15}{'orders/s':>10}{'msgs/s':>9}{'ACK p50 us':>12}{'ACK p99 us':>12}"
          f"{'CPU us/order':>14}")
    for name in CLIENTS:
        print(f"  {name:<15}{r[name + '_orders_per_s']:>10,}{r[name + '_messages_per_s']:>9,}"
              f"{r[name + '_ack_p50_us']:>12.1f}{r[name + '_ack_p99_us']:>12.1f}"
              f"{r[name + '_cpu_us_per_order']:>14.1f}")
    for base, prefix in (("raw", ""), ("floor", "floor_")):
        print(f"  {'session/' + base:<15}{r[prefix + 'throughput_ratio']:>10.3f}{'':>9}"
              f"{r[prefix + 'p50_ratio']:>12.3f}{r[prefix + 'p99_ratio']:>12.3f}"
              f"{r[prefix + 'cpu_ratio']:>14.3f}")
    print(f"  session with submit_nowait() in bursts: {r['session_nowait_orders_per_s']:,} "
          f"orders/s, {r['session_nowait_cpu_us_per_order']} us CPU per order; over the "
          f"floor {r['floor_throughput_ratio_nowait_bursts']} throughput, "
          f"{r['floor_cpu_ratio_nowait_bursts']} CPU")


#: the issue's targets; session over floor first (what sessionkit costs), then over raw
TARGETS = {"floor_throughput_ratio": ">= 0.6", "floor_cpu_ratio": "<= 1.6",
           "floor_p50_ratio": "<= 1.15", "floor_p99_ratio": "<= 1.3",
           "throughput_ratio": ">= 0.8", "p50_ratio": "<= 1.15"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs (< 1 minute)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--orders", type=int, default=None, help="orders per throughput run")
    ap.add_argument("--pings", type=int, default=None, help="orders per latency run")
    ap.add_argument("--window", type=int, default=1000, help="orders in flight (every client)")
    ap.add_argument("--modes", default="plain,curve")
    ap.add_argument("--backend", choices=sorted(BACKENDS), default="trio",
                    help="the event loop every client runs on")
    ap.add_argument("--backends", default=None,
                    help="compare loops in one run, e.g. asyncio,trio,uvloop (session and "
                         "floor under each; ratios over trio)")
    ap.add_argument("--candidates", action="store_true",
                    help="with --backends: the floor on zmq.asyncio sockets too (asyncio)")
    ap.add_argument("--pin", action="store_true",
                    help="client on one CPU, responder on another (steadier latency)")
    args = ap.parse_args()
    placement = pin(args.pin)
    runs = args.runs or (3 if args.quick else 5)
    n_tp = args.orders or (20_000 if args.quick else 50_000)
    n_lat = args.pings or (1_000 if args.quick else 3_000)
    out: dict[str, Any] = {"runs": runs, "orders": n_tp, "pings": n_lat, "window": args.window,
                           "codec": "json", "placement": placement}
    print(f"placement: {placement}")
    t0 = time.perf_counter()
    if args.backends:
        compare(args, out, runs, n_tp, n_lat, t0)
        return
    out["backend"] = args.backend
    for mode in args.modes.split(","):
        print(f"{mode}: {runs} runs of {n_tp} pipelined orders and {n_lat} pings on "
              f"{args.backend}", flush=True)
        out[mode] = measure(mode, runs, n_tp, n_lat, args.window, args.backend)
        report(mode, runs, out[mode])
    out["breakdown"] = b = breakdown(5_000 if args.quick else 20_000)
    print(f"CPU per order, no I/O: codec (encode the order, decode ACK and final) "
          f"{b['codec_us_per_order']} us (the floor's orjson dicts "
          f"{b['floor_codec_us_per_order']} us); the bare core session on top of it "
          f"{b['core_us_per_order_excl_codec']} us")
    modes = [m for m in ("plain", "curve") if m in out]
    # the worse of plain and CURVE: the lower throughput ratio, the higher of the others
    for key in TARGETS:
        pick = min if key.endswith("throughput_ratio") else max
        out[key] = pick(out[m][key] for m in modes)
    for key in ("floor_cpu_ratio_nowait_bursts", "floor_throughput_ratio_nowait_bursts"):
        pick = min if "throughput" in key else max  # no target: users' figures
        out[key] = pick(out[m][key] for m in modes)
    out["targets"] = TARGETS
    for base in ("floor", "raw"):  # the worse of plain and CURVE against the targets
        which = "the worse of " + " and ".join(modes) if len(modes) > 1 else modes[0]
        print(f"session over {base} ({which}): " + ", ".join(
            f"{key} {out[key]} (target {TARGETS[key]})"
            for key in TARGETS if key.startswith("floor_") == (base == "floor")))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


def compare(args: argparse.Namespace, out: dict[str, Any], runs: int, n_tp: int, n_lat: int,
            t0: float) -> None:
    """--backends: every loop in one run; prints the ratios over trio, then the JSON line."""
    backends = args.backends.split(",")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or "trio" not in backends:
        raise SystemExit(f"--backends takes trio and others of {sorted(BACKENDS)}, "
                         f"got {args.backends!r}")
    out["backends"] = backends
    modes = args.modes.split(",")
    for mode in modes:
        print(f"{mode}: {runs} runs of {n_tp} pipelined orders and {n_lat} pings on each of "
              f"{', '.join(backends)}", flush=True)
        out[mode] = r = measure_backends(mode, runs, n_tp, n_lat, args.window, backends,
                                         args.candidates)
        report_backends(mode, runs, r)
        out[mode]["ratios"] = backend_ratios(r)
    # the worse of the modes, per loop: the lower throughput ratio, the higher p50 ratio
    out["backend_ratios"] = {
        b: {key: (min if "throughput" in key else max)(
            out[m]["ratios"][b][key] for m in modes)
            for key in out[modes[0]]["ratios"][b]}
        for b in backends if b != "trio"}
    out["backend_targets"] = BACKEND_TARGETS
    for b, ratios in out["backend_ratios"].items():
        print(f"{b} over trio (the worse of {' and '.join(modes)}): " + ", ".join(
            f"{key} {ratios[key]}" + (f" (target {BACKEND_TARGETS[key]})"
                                      if b == "asyncio" and key in BACKEND_TARGETS else "")
            for key in ratios))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
