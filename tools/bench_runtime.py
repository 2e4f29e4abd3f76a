#!/usr/bin/env python3
"""Lifecycles per second through the runtime (trio or asyncio), against the bare core, in one run.

A lifecycle is one request from submit to its final response: submit ->
ACK (status) -> final response (a book state snapshot), with the processor
called for each. Both sides use the same codec, the same session config and
the same sans-IO ReferenceExchange:

* core: a Session driven directly against the exchange (frames encoded and
  decoded, no transport, no event loop): the ceiling;
* runtime: ``open_session`` over the in-memory transport to
  ``serve_reference_exchange``, one user task submitting with ``await
  client.submit`` (waiting while the window is full).

``--backend`` picks the event loop the runtime runs on (``trio``, the default, ``asyncio``,
or ``uvloop``: asyncio on uvloop's loop); ``--backend all`` measures each in the same run.

Prints readable lines, then as the last line one JSON object with
``runtime_per_s``, ``core_per_s`` and ``ratio`` (medians over the runs; with ``all``, one
``<backend>_per_s`` and ``<backend>_ratio`` each, and ``runtime_per_s`` trio's).

    .venv/bin/python tools/bench_runtime.py [--quick] [--runs N] [--lifecycles N]
                                            [--backend trio|asyncio|uvloop|all]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio  # noqa: E402

from sessionkit import (  # noqa: E402
    GetBookState,
    JsonCodec,
    MessageFinished,
    MessageProcessor,
    Session,
    SessionBusyError,
    SessionConfig,
    dispatch,
)
from sessionkit.runtime import open_session, serve_reference_exchange  # noqa: E402
from sessionkit.runtime.memory import adapter  # noqa: E402
from sessionkit.testing import ReferenceExchange  # noqa: E402

WINDOW = 1000
REQUEST = GetBookState(contract_id=1)


def config() -> SessionConfig:
    return SessionConfig(cid_prefix="bench", max_in_flight=WINDOW, ack_timeout=60.0,
                         ack_timeout_max=60.0)


def exchange() -> ReferenceExchange:
    return ReferenceExchange(heartbeat_interval_ms=10**9)


class Counter(MessageProcessor):
    def __init__(self, target: int) -> None:
        self.target = target
        self.finished = 0
        self.done: anyio.Event | None = None

    def on_message_finished(self, event: MessageFinished) -> None:
        self.finished += 1
        if self.finished == self.target and self.done is not None:
            self.done.set()


def bench_core(n: int) -> float:
    """The bare core against the sans-IO exchange; returns lifecycles per second."""
    codec = JsonCodec()
    ex = exchange()
    conn = ex.connect()
    proc = Counter(n)
    session = Session(config(), codec=codec)
    now = 0.0
    session.login(now, account="bench")
    encode, decode = codec.encode, codec.decode

    def pump() -> None:
        for frame in session.data_to_send():
            conn.receive(decode(frame))
        for msg in conn.outbox():
            session.receive_data(encode(msg), now)
        for ev in session.events():
            dispatch(ev, proc)

    pump()
    submitted = 0
    t0 = time.perf_counter()
    while proc.finished < n:
        while submitted < n:
            try:
                session.submit(REQUEST, now)
            except SessionBusyError:
                break
            submitted += 1
        pump()
    return n / (time.perf_counter() - t0)


BACKENDS = ("trio", "asyncio", "uvloop")


def run_on(backend: str, fn: Any) -> None:
    """``anyio.run(fn)`` on ``backend`` (uvloop: asyncio with uvloop's loop)."""
    if backend == "uvloop":
        anyio.run(fn, backend="asyncio", backend_options={"use_uvloop": True})
    else:
        anyio.run(fn, backend=backend)


def bench_runtime(n: int, backend: str = "trio") -> float:
    """open_session over the in-memory transport; returns lifecycles per second."""
    result: list[float] = []

    async def main() -> None:
        proc = Counter(n)
        proc.done = anyio.Event()
        async with adapter.serve() as ep, anyio.create_task_group() as tasks:
            await tasks.start(serve_reference_exchange, ep, exchange(), JsonCodec())
            async with open_session(ep.connector(), proc, account="bench",
                                    config=config(), submit_timeout=60.0) as client:
                t0 = time.perf_counter()
                for _ in range(n):
                    await client.submit(REQUEST)
                await proc.done.wait()
                result.append(n / (time.perf_counter() - t0))
            tasks.cancel_scope.cancel()

    run_on(backend, main)
    return result[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (for CI)")
    parser.add_argument("--runs", type=int, default=None, help="runs of each (median taken)")
    parser.add_argument("--lifecycles", type=int, default=None, help="lifecycles per run")
    parser.add_argument("--backend", default="trio", choices=(*BACKENDS, "all"),
                        help="the event loop of the runtime (default trio); all: each")
    args = parser.parse_args(argv)
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    runs = args.runs or (3 if args.quick else 5)
    n = args.lifecycles or (2_000 if args.quick else 20_000)
    if runs < 1 or n < 1:
        parser.error(f"--runs and --lifecycles must be positive, got {runs} and {n}")
    bench_core(min(n, 500))  # warm up imports and caches
    for backend in backends:
        bench_runtime(min(n, 500), backend)
    core: list[float] = []
    runtime: dict[str, list[float]] = {b: [] for b in backends}
    for i in range(runs):
        core.append(bench_core(n))
        for backend in backends:
            runtime[backend].append(bench_runtime(n, backend))
        each = "  ".join(f"{b} {runtime[b][-1]:,.0f}/s" for b in backends)
        print(f"run {i + 1}/{runs}: core {core[-1]:,.0f}/s  {each}", flush=True)
    core_med = statistics.median(core)
    med = {b: statistics.median(runtime[b]) for b in backends}
    print(f"lifecycles (submit -> ACK -> final response), {n} per run, window {WINDOW}, "
          f"JSON codec, median of {runs} runs")
    print(f"  bare core vs sans-IO exchange    : {core_med:12,.0f} /s")
    for b in backends:
        print(f"  {b + ' runtime, memory transport':33}: {med[b]:12,.0f} /s"
              f"  ({med[b] / core_med:.2f} of the core)")
    out: dict[str, Any] = {"runtime_per_s": round(med[backends[0]], 1),
                           "core_per_s": round(core_med, 1),
                           "ratio": round(med[backends[0]] / core_med, 3)}
    if len(backends) > 1 or backends != ["trio"]:
        out["backend"] = backends[0] if len(backends) == 1 else "all"
        for b in backends:
            out[f"{b}_per_s"] = round(med[b], 1)
            out[f"{b}_ratio"] = round(med[b] / core_med, 3)
    out.update({"lifecycles": n, "runs": runs, "window": WINDOW, "codec": "json"})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
