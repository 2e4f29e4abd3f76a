#!/usr/bin/env python3
"""Benchmark the SignalR client against the simulator on loopback.

One run measures sequential invocation round trips (one call in flight at a time) against the
same simulator process:

* this package's HubConnection, with each WebSocket library (websockets, trio-websocket),
  on the event loop(s) chosen with ``--backend`` (``asyncio``, ``trio`` or ``both``;
  trio-websocket runs under trio only; websockets is driven over AnyIO streams on both, and
  ``--one-path`` adds websockets' own asyncio and trio clients' raw floors for comparison);
* a raw WebSocket echo of the very same frames (the floor for each library and loop);
* pysignalr (asyncio) calling the same hub method.

Each figure is the median of ``--runs`` runs (5 by default, 3 with ``--quick``), the candidates
interleaved so that load from elsewhere on the machine hits them alike. Readable lines first;
the LAST line is one JSON object: invocations_per_s, p50_ms (this client, winning library),
ratio_to_raw_ws, ratio_to_pysignalr, websocket_library, and the details.

    .venv/bin/python tools/bench_signalr.py            # full run
    .venv/bin/python tools/bench_signalr.py --quick    # short run
    .venv/bin/python tools/bench_signalr.py --backend asyncio
    .venv/bin/python tools/bench_signalr.py --backend both   # the two loops in one run:
                                    # the JSON adds asyncio_to_trio (calls/s) and p50 ratios
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import trio

TOKEN = "bench-token"
HUB = "/hubs/echo"
RAW = "/raw-echo"
#: the WebSocket libraries of each loop (trio-websocket is trio's only)
LIBRARIES = {"asyncio": ("websockets",), "trio": ("websockets", "trio-websocket")}
PAYLOAD = {"Symbol": "SPX", "Price": 4512.25, "Qty": 3, "Side": "B", "Tags": ["a", "b"]}


# --- server (runs in a child process so the client has a core of its own) -----------------


def serve_forever() -> None:
    from sessionkit_mesolive.sim.app import serve
    from sessionkit_mesolive.sim.hubserver_asgi import HubServerApp
    from sessionkit_mesolive.sim.hubserver_echo import build_echo_server

    hub_app = HubServerApp(build_echo_server(token=TOKEN))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"] == RAW:
            await receive()
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                await send(
                    {
                        "type": "websocket.send",
                        "text": text if text is not None else message["bytes"].decode(),
                    }
                )
        else:
            await hub_app(scope, receive, send)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve, app)
            print(json.dumps({"port": port}), flush=True)

    trio.run(run)


# --- measurements ---------------------------------------------------------------------------


def summarize(latencies: list[float], elapsed: float, cpu: float) -> dict[str, float]:
    return {
        "invocations_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000.0,
        # CPU the calling process spent per call: the client's own cost, far less sensitive
        # than wall time to load from other processes on the machine.
        "cpu_us_per_call": cpu / len(latencies) * 1e6,
    }


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    for _ in range(max(20, n // 20)):  # warm-up
        await call()
    latencies = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return summarize(latencies, elapsed, time.process_time() - cpu0)


def bench_client(base: str, library: str, n: int, backend: str = "trio") -> dict[str, float]:
    from sessionkit_mesolive.signalr import HubConnection

    async def main() -> dict[str, float]:
        async with HubConnection(
            base + HUB, token_factory=lambda: TOKEN, websocket=library
        ) as conn:

            async def call() -> None:
                assert await conn.invoke("Echo", PAYLOAD) == PAYLOAD

            return await timed(n, call)

    return anyio.run(main, backend=backend)


def bench_raw(base: str, library: str, n: int, backend: str = "trio") -> dict[str, float]:
    from sessionkit_mesolive.signalr import Invocation, encode_message
    from sessionkit_mesolive.signalr._transport import open_websocket

    frame = encode_message(Invocation("Echo", (PAYLOAD,), "1"))

    async def main() -> dict[str, float]:
        url = base.replace("http", "ws", 1) + RAW
        async with open_websocket(url, [], library=library) as channel:

            async def call() -> None:
                await channel.send_text(frame)
                await channel.receive()

            return await timed(n, call)

    return anyio.run(main, backend=backend)


def bench_raw_anyio(base: str, n: int, backend: str) -> dict[str, float]:
    """The floor of a one-code-path WebSocket client: websockets' sans-IO protocol (the same
    one its asyncio and trio clients drive) over AnyIO's TCP streams, on either loop."""
    import socket

    from sessionkit_mesolive.signalr import Invocation, encode_message
    from websockets.client import ClientProtocol
    from websockets.frames import Frame
    from websockets.http11 import Response
    from websockets.uri import parse_uri

    frame = encode_message(Invocation("Echo", (PAYLOAD,), "1"))

    async def main() -> dict[str, float]:
        url = base.replace("http", "ws", 1) + RAW
        uri = parse_uri(url)
        proto = ClientProtocol(uri, max_size=4 * 1024 * 1024)
        proto.send_request(proto.connect())
        async with await anyio.connect_tcp(uri.host, uri.port) as stream:
            sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await stream.send(b"".join(proto.data_to_send()))
            pending: list[Any] = []
            while not pending:
                proto.receive_data(await stream.receive())
                pending = proto.events_received()
            assert isinstance(pending.pop(0), Response) and proto.handshake_exc is None

            async def call() -> None:
                proto.send_text(frame)
                await stream.send(b"".join(proto.data_to_send()))
                while not pending:
                    proto.receive_data(await stream.receive())
                    pending.extend(proto.events_received())
                    out = proto.data_to_send()  # pongs, if any
                    if out:
                        await stream.send(b"".join(out))
                assert isinstance(pending.pop(0), Frame)

            return await timed(n, call)

    return anyio.run(main, backend=backend)


def bench_raw_native(base: str, n: int, backend: str) -> dict[str, float]:
    """The raw floor of websockets' own client for the loop (websockets.asyncio or
    websockets.trio): the per-loop alternative to the one code path."""
    from sessionkit_mesolive.signalr import Invocation, encode_message

    if backend == "trio":
        from websockets.trio.client import connect
    else:
        from websockets.asyncio.client import connect  # type: ignore[assignment]

    frame = encode_message(Invocation("Echo", (PAYLOAD,), "1"))

    async def main() -> dict[str, float]:
        url = base.replace("http", "ws", 1) + RAW
        async with connect(url, compression=None, ping_interval=None, max_queue=64) as ws:

            async def call() -> None:
                await ws.send(frame, text=True)
                await ws.recv(decode=False)

            return await timed(n, call)

    return anyio.run(main, backend=backend)


def bench_pysignalr(base: str, n: int) -> dict[str, float]:
    import logging

    from pysignalr.client import SignalRClient

    logging.getLogger("pysignalr").setLevel(logging.WARNING)

    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        # pysignalr sends its token factory only on the WebSocket: give negotiate the header too.
        client = SignalRClient(base + HUB, headers={"Authorization": f"Bearer {TOKEN}"})
        opened = asyncio.Event()

        async def on_open() -> None:
            opened.set()

        client.on_open(on_open)
        runner = asyncio.create_task(client.run())
        await asyncio.wait_for(opened.wait(), 10)

        async def call() -> None:
            done: asyncio.Future[Any] = loop.create_future()

            async def on_completion(message: Any) -> None:
                done.set_result(message.result)

            await client.send("Echo", [PAYLOAD], on_invocation=on_completion)
            assert await done == PAYLOAD

        try:
            return await timed(n, call)
        finally:
            runner.cancel()
            try:
                await runner
            except (asyncio.CancelledError, Exception):
                pass

    return asyncio.run(main())


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (300 calls, 3 runs)")
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per candidate (5; 3 with --quick)"
    )
    parser.add_argument("--calls", type=int, default=None, help="invocations per run")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="trio",
                        help="the event loop(s) the client runs on (default trio)")
    parser.add_argument("--one-path", action="store_true",
                        help="also the raw floors of a minimal one-code-path WebSocket "
                             "client (websockets' sans-IO protocol over AnyIO streams) and "
                             "of websockets' own asyncio / trio clients")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever()
        return
    calls = args.calls or (300 if args.quick else 2000)
    args.runs = args.runs or (3 if args.quick else 5)

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        base = f"http://127.0.0.1:{port}"
        print(
            f"simulator on {base} (separate process); {args.runs} runs x {calls} sequential calls"
        )
        backends = ("asyncio", "trio") if args.backend == "both" else (args.backend,)
        candidates: dict[str, Callable[[], dict[str, float]]] = {}
        for b in backends:
            for lib in LIBRARIES[b]:
                candidates[f"client[{lib}]@{b}"] = functools.partial(
                    bench_client, base, lib, calls, b)
                candidates[f"raw_ws[{lib}]@{b}"] = functools.partial(
                    bench_raw, base, lib, calls, b)
            if args.one_path:
                candidates[f"raw_ws[sans-io+anyio]@{b}"] = functools.partial(
                    bench_raw_anyio, base, calls, b)
                candidates[f"raw_ws[websockets.{b}]@{b}"] = functools.partial(
                    bench_raw_native, base, calls, b)
        candidates["pysignalr"] = lambda: bench_pysignalr(base, calls)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in candidates}
        for _ in range(args.runs):  # interleave candidates so drift hits them all alike
            for name, fn in candidates.items():
                results[name].append(fn())
        medians = {name: median_of(runs) for name, runs in results.items()}
        for name, m in medians.items():
            print(
                f"{name:32s} {m['invocations_per_s']:7.0f} calls/s   p50 {m['p50_ms']:.3f} ms   "
                f"client CPU {m['cpu_us_per_call']:6.1f} us/call"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)

    # The library is chosen on the client's CPU per call: wall-clock throughput on a shared
    # machine is dominated by the server and by other processes, and flips with noise.
    main_backend = "trio" if "trio" in backends else backends[0]
    winner = min(
        LIBRARIES[main_backend],
        key=lambda lib: medians[f"client[{lib}]@{main_backend}"]["cpu_us_per_call"],
    )
    ours = medians[f"client[{winner}]@{main_backend}"]
    raw = medians[f"raw_ws[{winner}]@{main_backend}"]
    pysig = medians["pysignalr"]
    to_raw = ours["invocations_per_s"] / raw["invocations_per_s"]
    to_pysignalr = ours["invocations_per_s"] / pysig["invocations_per_s"]
    print(
        f"{main_backend}: winner (least client CPU per call): {winner}; calls/s {to_raw:.2f}x "
        f"the raw WebSocket echo, {to_pysignalr:.2f}x pysignalr"
    )
    summary: dict[str, Any] = {
        "invocations_per_s": round(ours["invocations_per_s"], 1),
        "p50_ms": round(ours["p50_ms"], 4),
        "ratio_to_raw_ws": round(to_raw, 3),
        "ratio_to_pysignalr": round(to_pysignalr, 3),
        "backend": main_backend,
        "websocket_library": winner,
        "client_cpu_us_per_call": round(ours["cpu_us_per_call"], 1),
    }
    if len(backends) == 2:
        on_asyncio = medians["client[websockets]@asyncio"]
        on_trio = medians["client[websockets]@trio"]
        summary["asyncio_to_trio"] = {
            "invocations_per_s": round(
                on_asyncio["invocations_per_s"] / on_trio["invocations_per_s"], 3),
            "p50_ms": round(on_asyncio["p50_ms"] / on_trio["p50_ms"], 3),
            "client_cpu_us_per_call": round(
                on_asyncio["cpu_us_per_call"] / on_trio["cpu_us_per_call"], 3),
        }
        print(f"asyncio / trio (websockets client): {summary['asyncio_to_trio']}")
    summary.update(
        runs=args.runs,
        calls_per_run=calls,
        details={k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in medians.items()},
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
