"""tools/bench_zmq.py and tools/trace_zmq_latency.py run and end with their JSON line
(tiny runs; no timing is asserted, nor any figure's value)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sessionkit

TOOLS = Path(__file__).resolve().parents[3] / "tools"


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[list[str], dict]:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          cwd=TOOLS.parent, check=False,
                          env=None if env is None else {**os.environ, **env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    return lines, json.loads(lines[-1])


def test_bench_zmq_ends_with_its_ratios() -> None:
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "300",
                      "--pings", "30", "--modes", "plain")
    assert out["plain"]["raw_orders_per_s"] > 0 and out["plain"]["session_orders_per_s"] > 0
    assert out["throughput_ratio"] == out["plain"]["throughput_ratio"] > 0
    assert out["p50_ratio"] == out["plain"]["p50_ratio"] > 0
    assert "plain, medians of 1 runs:" in lines
    assert any(line.split()[:1] == ["session/raw"] for line in lines)


def test_bench_zmq_measures_the_session_against_the_floor() -> None:
    """The floor baseline (bare orjson dicts, no session) and its four ratios, plain and
    CURVE, each the worse of the two at the top of the JSON line."""
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "200",
                      "--pings", "20")
    for mode in ("plain", "curve"):
        r = out[mode]
        assert r["floor_orders_per_s"] > 0 and r["floor_cpu_us_per_order"] > 0
        assert r["floor_ack_p50_us"] > 0 and r["floor_ack_p99_us"] > 0
        assert r["session_cpu_us_per_order"] > 0 and r["raw_cpu_us_per_order"] > 0
    for key in ("floor_throughput_ratio", "floor_cpu_ratio", "floor_p50_ratio",
                "floor_p99_ratio"):
        pick = min if key == "floor_throughput_ratio" else max
        assert out[key] == pick(out["plain"][key], out["curve"][key]) > 0
        assert key in out["targets"]
    assert out["throughput_ratio"] > 0 and out["p50_ratio"] > 0  # the raw loop's, kept
    assert out["breakdown"]["floor_codec_us_per_order"] > 0
    assert any(line.split()[:1] == ["session/floor"] for line in lines)


def test_bench_zmq_runs_every_client_on_asyncio() -> None:
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "200",
                      "--pings", "20", "--modes", "plain", "--backend", "asyncio")
    assert out["backend"] == "asyncio"
    for client in ("raw", "session", "floor"):
        assert out["plain"][f"{client}_orders_per_s"] > 0
        assert out["plain"][f"{client}_ack_p50_us"] > 0
    assert "on asyncio" in lines[1]


def test_bench_zmq_compares_the_loops_in_one_run() -> None:
    """--backends: the session and the floor under each loop, the ratios over trio's, the
    zmq.asyncio candidate with --candidates (asyncio loops only)."""
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "200",
                      "--pings", "20", "--modes", "plain", "--backends", "asyncio,trio",
                      "--candidates")
    assert out["backends"] == ["asyncio", "trio"]
    r = out["plain"]
    for backend in ("asyncio", "trio"):
        assert r[backend]["session_orders_per_s"] > 0 and r[backend]["floor_ack_p50_us"] > 0
    assert r["asyncio"]["floor_zmq_asyncio_orders_per_s"] > 0
    assert "floor_zmq_asyncio_orders_per_s" not in r["trio"]
    ratios = out["backend_ratios"]["asyncio"]
    assert ratios["session_throughput_ratio"] == round(
        r["asyncio"]["session_orders_per_s"] / r["trio"]["session_orders_per_s"], 3)
    assert ratios["session_p50_ratio"] == round(
        r["asyncio"]["session_ack_p50_us"] / r["trio"]["session_ack_p50_us"], 3)
    assert set(out["backend_targets"]) == {"session_throughput_ratio", "session_p50_ratio"}
    assert any(line.startswith("asyncio over trio") for line in lines)


def test_bench_zmq_floor_sends_what_the_session_sends() -> None:
    """The floor's order and login frames are the codec's, byte for byte: the floor does the
    session's exchange with the responder, only without the session."""
    sys.path.insert(0, str(TOOLS))
    try:
        import bench_zmq as bench
        import orjson
        import zmq

        ctx = zmq.Context()
        client = bench.FloorClient(ctx.socket(zmq.DEALER))
        try:
            order = client.order()
        finally:
            client.sock.close(linger=0)
            ctx.term()
    finally:
        sys.path.remove(str(TOOLS))
    codec = sessionkit.JsonCodec()
    assert orjson.dumps(order) == codec.encode(sessionkit.LimitOrder(
        cid=order["cid"], contract_id=bench.CONTRACT, size=1, price_in_cents=100))


def test_bench_zmq_pin_puts_client_and_responder_on_cpus_of_their_own() -> None:
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "200",
                      "--pings", "20", "--modes", "plain", "--pin")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        assert out["placement"] == f"client on CPU {cpus[0]}, responder on CPU {cpus[1]}"
    else:
        assert out["placement"] == "unpinned"
    assert f"placement: {out['placement']}" in lines
    assert out["plain"]["session_orders_per_s"] > 0


def test_trace_zmq_latency_ends_with_its_timeline() -> None:
    lines, out = _run(str(TOOLS / "trace_zmq_latency.py"), "--orders", "60")
    assert out["orders"] == 60 and out["raw_ack_p50_us"] > 0
    # the frame leaves before the ACK reaches its callback
    assert 0 < out["sent"] < out["ack"]


def test_bench_zmq_latency_takes_raw_session_and_floor_turn_about_in_blocks() -> None:
    sys.path.insert(0, str(TOOLS))
    try:
        import bench_zmq as bench
        import trio

        order: list[str] = []
        raw_pings, session_pings = bench.raw_pings, bench.session_pings
        floor_pings = bench.floor_pings

        async def raw(c: object, n: int) -> list[float]:
            order.append(f"raw {n}")
            return await raw_pings(c, n)

        async def ses(c: object, n: int) -> list[float]:
            order.append(f"session {n}")
            return await session_pings(c, n)

        async def floor(c: object, n: int) -> list[float]:
            order.append(f"floor {n}")
            return await floor_pings(c, n)

        bench.raw_pings, bench.session_pings, bench.floor_pings = raw, ses, floor
        proc, endpoint, _ = bench.start_responder(False)
        try:
            got = trio.run(bench.latency, endpoint, None, 25, 10)
        finally:
            bench.raw_pings, bench.session_pings = raw_pings, session_pings
            bench.floor_pings = floor_pings
            proc.kill()
            proc.wait()
    finally:
        sys.path.remove(str(TOOLS))
    assert len(got["raw"]) == len(got["session"]) == len(got["floor"]) == 25
    assert min(got["raw"] + got["session"] + got["floor"]) > 0
    # each takes each place in a round in turn
    assert order == ["raw 10", "session 10", "floor 10", "session 10", "floor 10", "raw 10",
                     "floor 5", "raw 5", "session 5"]
