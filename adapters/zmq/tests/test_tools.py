"""tools/bench_zmq.py and tools/trace_zmq_latency.py run and end with their JSON line
(tiny runs; no timing is asserted)."""

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
    assert any(line.startswith("plain: throughput session") for line in lines)


def test_bench_zmq_says_which_core_it_measured() -> None:
    """Figures of a compiled core and of a pure-Python one are told apart."""
    compiled = sessionkit.compiled_modules()
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "100",
                      "--pings", "10", "--modes", "plain")
    assert out["core"] == ("compiled" if compiled else "pure")
    lines, out = _run(str(TOOLS / "bench_zmq.py"), "--runs", "1", "--orders", "100",
                      "--pings", "10", "--modes", "plain", env={"SESSIONKIT_PURE": "1"})
    assert out["core"] == "pure"
    assert "session core: pure Python" in lines


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


def test_bench_zmq_latency_takes_raw_and_session_turn_about_in_blocks() -> None:
    sys.path.insert(0, str(TOOLS))
    try:
        import bench_zmq as bench
        import trio

        order: list[str] = []
        raw_pings, session_pings = bench.raw_pings, bench.session_pings

        async def raw(c: object, n: int) -> list[float]:
            order.append(f"raw {n}")
            return await raw_pings(c, n)

        async def ses(c: object, n: int) -> list[float]:
            order.append(f"session {n}")
            return await session_pings(c, n)

        bench.raw_pings, bench.session_pings = raw, ses
        proc, endpoint, _ = bench.start_responder(False)
        try:
            got_raw, got_ses = trio.run(bench.latency, endpoint, None, 25, 10)
        finally:
            bench.raw_pings, bench.session_pings = raw_pings, session_pings
            proc.kill()
            proc.wait()
    finally:
        sys.path.remove(str(TOOLS))
    assert len(got_raw) == len(got_ses) == 25 and min(got_raw + got_ses) > 0
    assert order == ["raw 10", "session 10", "session 10", "raw 10", "raw 5", "session 5"]
