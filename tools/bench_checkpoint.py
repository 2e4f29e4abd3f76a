#!/usr/bin/env python3
"""Benchmark: what a trio checkpoint per order costs a raw trio + pyzmq client (no session).

``await client.submit()`` is a checkpoint, as trio's own ``MemorySendChannel.send`` is, so
a loop of them yields to trio's scheduler once per order. This measures what that pattern
costs without sessionkit, against the responder of ``tools/bench_zmq.py``, with the floor's
bare orjson dicts and the same window of orders in flight:

* ``floor``: bench_zmq's floor (one task: send what the window allows, then read);
* ``two_tasks``: shaped as the runtime is: a receiver task parked on the socket's FD, a
  sender that sends each order at once (and wakes the receiver when its send consumed the
  read signal), never yielding while the window has room;
* ``two_tasks_checkpoint``: the same, with a checkpoint after each send.

CPU per order (this process, every thread: ZeroMQ's I/O thread too), medians of the runs;
the last line of output is one JSON object, ``checkpoint_us_per_order`` (two_tasks_checkpoint
minus two_tasks) per mode.

    .venv/bin/python tools/bench_checkpoint.py [--runs 3] [--orders 20000] [--modes plain,curve]

It runs on trio only: it measures trio's scheduler (a trio checkpoint, trio's ParkingLot and
cancel scopes driven directly), the figure behind ``await submit()`` being a checkpoint on
trio. ``tools/bench_zmq.py --backends asyncio,trio`` measures the session on both loops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

import orjson
import trio
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_zmq as bz  # noqa: E402  (the responder and floor client live there)

POLLIN, EVENTS = int(zmq.POLLIN), int(zmq.EVENTS)


async def two_tasks(endpoint: str, server_key: bytes | None, n: int, window: int,
                    checkpoint: bool) -> float:
    """CPU seconds per order of the two-task loop (see the module docstring)."""
    c = await bz.floor_connect(endpoint, server_key)
    sock = c.sock
    dumps, loads = orjson.dumps, orjson.loads
    unacked: set[str] = set()
    parked: list[trio.CancelScope] = []
    room = trio.lowlevel.ParkingLot()
    finished = trio.Event()
    done = 0

    async def receiver() -> None:
        nonlocal done
        while True:
            frames = []
            try:
                while True:
                    frames.append(sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                pass
            if not frames:
                if sock.get(EVENTS) & POLLIN:
                    continue
                with trio.CancelScope() as scope:
                    parked.append(scope)
                    await trio.lowlevel.wait_readable(c.fd)
                parked.clear()
                continue
            for frame in frames:
                msg = loads(frame)
                if msg["type"] == "status":
                    unacked.discard(msg["cid"])
                elif msg["type"] == "action_report" and msg["size"] == 0:
                    done += 1
            room.unpark_all()
            if done >= n:
                finished.set()
                return

    cpu = bz.cpu_seconds()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        for _ in range(n):
            while len(unacked) >= window:
                await room.park()
            order = c.order()
            unacked.add(order["cid"])
            sock.send(dumps(order))
            if parked and sock.get(EVENTS) & POLLIN:  # the send consumed the read signal
                parked.pop().cancel()
            if checkpoint:
                await trio.lowlevel.cancel_shielded_checkpoint()
        await finished.wait()
    cpu = bz.cpu_seconds() - cpu
    sock.close(linger=0)
    return cpu / n


def measure(curve: bool, runs: int, n: int, window: int) -> dict[str, Any]:
    proc, endpoint, server_key = bz.start_responder(curve)
    cpu: dict[str, list[float]] = {"floor": [], "two_tasks": [], "two_tasks_checkpoint": []}
    try:
        trio.run(bz.floor_throughput, endpoint, server_key, 2000, window)  # warm-up
        for _ in range(runs):
            cpu["floor"].append(trio.run(bz.floor_throughput, endpoint, server_key, n,
                                         window)[1])
            cpu["two_tasks"].append(trio.run(two_tasks, endpoint, server_key, n, window,
                                             False))
            cpu["two_tasks_checkpoint"].append(trio.run(two_tasks, endpoint, server_key, n,
                                                        window, True))
    finally:
        proc.kill()
        proc.wait()
    out: dict[str, Any] = {f"{k}_cpu_us_per_order": round(statistics.median(v) * 1e6, 1)
                           for k, v in cpu.items()}
    out["checkpoint_us_per_order"] = round(out["two_tasks_checkpoint_cpu_us_per_order"]
                                           - out["two_tasks_cpu_us_per_order"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--modes", default="plain,curve")
    args = ap.parse_args()
    out: dict[str, Any] = {"runs": args.runs, "orders": args.orders, "window": args.window}
    for mode in args.modes.split(","):
        out[mode] = r = measure(mode == "curve", args.runs, args.orders, args.window)
        print(f"{mode}: CPU us per order, medians of {args.runs} runs: " + ", ".join(
            f"{k} {v}" for k, v in r.items()), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
