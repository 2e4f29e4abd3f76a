"""The conformance suite over real ZeroMQ sockets on tcp loopback, with CURVE on, on asyncio
and on trio."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from sessionkit_zmq import adapter

from sessionkit.conformance import format_table, load_scenarios, run_suite

#: the suite runs on each event loop
BACKENDS = ["asyncio", "trio"]


def test_serve_uses_curve_by_default() -> None:
    """The suite calls adapter.serve() and endpoint.connector() with no options: CURVE."""
    import trio

    async def main() -> None:
        async with adapter.serve() as ep:
            assert ep.curve is not None and ep.server_key is not None
            assert ep.connector().curve is not None

    trio.run(main)


def _cli_report(backend: str) -> dict | None:
    """``sessionkit conformance --adapter zmq --backend B --json`` once the CLI has it,
    else None."""
    exe = shutil.which("sessionkit") or str(
        __import__("pathlib").Path(sys.executable).with_name("sessionkit"))
    try:
        run = subprocess.run([exe, "conformance", "--adapter", "zmq", "--backend", backend,
                              "--json"],
                             capture_output=True, text=True, timeout=1200)
    except (FileNotFoundError, PermissionError):
        return None
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        if "No such command" in run.stderr or "Error" in run.stderr and not run.stdout:
            return None
        pytest.fail(f"sessionkit conformance printed no JSON:\n{run.stdout}\n{run.stderr}")
    report: dict = json.loads(lines[-1])
    report["_returncode"] = run.returncode
    return report


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_whole_suite_passes_over_zmq(backend: str) -> None:
    """Every scenario of every claimed capability runs; the zmq adapter fails none that the
    in-memory reference transport passes (a failure of both is the runtime's, not ours)."""
    report = _cli_report(backend)
    if report is not None:
        failed = {f["scenario"] for f in report.get("failures", [])}
        assert report.get("backend", backend) == backend
        assert report["skipped"] == 0
        assert report["passed"] + len(failed) == report["scenarios"] == len(load_scenarios())
        text = json.dumps(report, indent=1)
    else:
        r = run_suite("zmq", backend=backend)
        failed = {res.name for res in r.results if res.status == "failed"}
        assert r.skipped == 0
        text = format_table(r)
    if failed:
        memory = run_suite("memory", [s for s in load_scenarios() if s.name in failed],
                           backend=backend)
        memory_failed = {res.name for res in memory.results if res.status == "failed"}
        assert failed <= memory_failed, f"zmq-only failures: {failed - memory_failed}\n{text}"
