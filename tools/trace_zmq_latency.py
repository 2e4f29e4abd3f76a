#!/usr/bin/env python3
"""Where a lone order's ACK latency goes: a timeline of one order at a time over ZeroMQ.

A development aid for ``tools/bench_zmq.py``'s latency figure. It runs a session against
the benchmark's responder (plain, no CURVE) one order at a time and stamps, per order:
when the frame left (``sent``), when trio's run loop went to sleep in its I/O wait and
woke from it, when the owner task's step began, and when the ACK reached its callback. A
trio instrument records the run loop's part; the transport's ``send_frames_nowait`` is
wrapped for the send. It prints the median and deciles of each stamp (microseconds after
``submit()`` was called), and the raw loop's p50 for comparison. Its last line is one
JSON object with the medians.

It runs on trio only: the run loop's stamps come from a trio instrument (``trio.abc.
Instrument``), which asyncio has no twin of. The session and the transport it traces are
the same AnyIO code on either loop; ``tools/bench_zmq.py --backends`` compares the loops.

    .venv/bin/python tools/trace_zmq_latency.py [--orders 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import bench_zmq as bench  # noqa: E402 - a sibling script (tools/ is on sys.path when run)
import trio
from sessionkit_zmq import _client as zmq_client

import sessionkit as sk
from sessionkit.runtime import open_session

STAMPS = ("sent", "io_wait>", "io_wait<", "step", "ack")


class _Timeline(trio.abc.Instrument):
    """Collects (name, perf_counter) of the current order; the first of each name counts."""

    def __init__(self) -> None:
        self.stamps: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.stamps.setdefault(name, time.perf_counter())

    def before_io_wait(self, timeout: float) -> None:
        self.mark("io_wait>")

    def after_io_wait(self, timeout: float) -> None:
        self.mark("io_wait<")

    def before_task_step(self, task: Any) -> None:
        if "io_wait<" in self.stamps:  # the first step after the wake-up
            self.mark("step")


async def _trace(endpoint: str, n: int) -> list[dict[str, float]]:
    timeline = _Timeline()
    send_now = zmq_client.ZmqTransport.send_frames_nowait

    def traced_send(self: Any, frames: Any) -> int:
        sent: int = send_now(self, frames)
        timeline.mark("sent")
        return sent

    zmq_client.ZmqTransport.send_frames_nowait = traced_send
    rows = []
    try:
        config = sk.SessionConfig(ack_timeout=30.0, ack_timeout_max=30.0)
        async with open_session(bench.session_connector(endpoint, None), sk.MessageProcessor(),
                                account="bench", config=config) as client:
            trio.lowlevel.add_instrument(timeline)
            for _ in range(n):
                final = trio.Event()
                order = sk.LimitOrder(contract_id=bench.CONTRACT, size=1, price_in_cents=100)

                def cb(msg: Any, prev: Any, final: trio.Event = final) -> None:
                    if isinstance(msg, sk.Status):
                        timeline.mark("ack")
                    elif isinstance(msg, sk.ActionReport) and msg.size == 0:
                        final.set()

                timeline.stamps.clear()
                t0 = time.perf_counter()
                await client.submit(order, callback=cb)
                await final.wait()
                rows.append({k: (v - t0) * 1e6 for k, v in timeline.stamps.items()})
            trio.lowlevel.remove_instrument(timeline)
    finally:
        zmq_client.ZmqTransport.send_frames_nowait = send_now
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=2000)
    args = ap.parse_args()
    proc, endpoint, _ = bench.start_responder(False)
    try:
        rows = trio.run(_trace, endpoint, args.orders)
        raw = trio.run(bench.raw_latency, endpoint, None, args.orders)
    finally:
        proc.kill()
        proc.wait()
    out: dict[str, Any] = {"orders": args.orders}
    print(f"{'stamp':10s} {'median':>8s}   deciles (us after submit() was called)")
    for name in STAMPS:
        values = [r[name] for r in rows if name in r]
        if len(values) < 2:
            continue
        out[name] = round(statistics.median(values), 1)
        deciles = " ".join(f"{q:.0f}" for q in statistics.quantiles(values, n=10))
        print(f"{name:10s} {out[name]:8.1f}   {deciles}")
    out["raw_ack_p50_us"] = round(bench.pct(raw, 50) * 1e6, 1)
    print(f"raw loop ACK p50: {out['raw_ack_p50_us']} us")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
