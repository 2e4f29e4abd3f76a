"""The examples and the demo run as a user runs them, and say what they should."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from .conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[3]

#: the examples and the demo are AnyIO code: each runs on both event loops
pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def _run(*args: str) -> str:
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_trading_session_example(backend: str) -> None:
    out = _run("examples/zmq_trading_session.py", "--backend", backend)
    assert "contracts: 3" in out
    m = re.search(r"order's ID \(MID\): (\d+)", out)
    assert m, out
    assert f"MID {m.group(1)})" in out  # the ACK the callback took it from
    assert "action report: MID" in out


def test_orders_batch_example(backend: str) -> None:
    out = _run("examples/zmq_orders_batch.py", "--backend", backend)
    assert "batch message: 10 ACKs" in out
    placed = re.findall(r"order no\.(\d) placed successfully, MID (\d+)", out)
    assert sorted(int(n) for n, _ in placed) == list(range(10))
    assert len({mid for _, mid in placed}) == 10
    assert "all 10 orders ACKed" in out


def test_run_change_example(backend: str) -> None:
    out = _run("examples/zmq_run_change.py", "--backend", backend)
    assert "open orders before the restart: 1 (run run-1)" in out
    assert "run change run-1 -> run-2: purging 1 open order(s)" in out
    assert "open orders after the run change: 0 (run run-2)" in out
    assert "reconnected" in out


def test_demo_module(backend: str) -> None:
    lines: list[str] = []

    async def main() -> dict:
        from sessionkit_zmq import demo

        return await demo.run(lines.append)

    summary = anyio.run(main, backend=backend)
    text = "\n".join(lines)
    assert summary["contracts"] == 3 and isinstance(summary["mid"], int)
    assert summary["run_changes"] == [("run-2", "run-1")]
    assert summary["cancelled"] == 4 and summary["logins"] == 2
    assert summary["resends"] and summary["resends"][0][0] <= summary["resends"][0][1]
    assert {m for name, m in summary["modes"].items() if name.endswith("_secret")} == {"0o600"}
    for words in ("contract 1", "order MID", "batch ACK", "run change: run-1 -> run-2",
                  "cancelled by the run change", "resend complete", "(replayed)"):
        assert words in text, words


@pytest.mark.parametrize("args", [["-m", "sessionkit_zmq", "demo"]])
def test_demo_command(backend: str, args: list[str]) -> None:
    out = _run(*args, "--backend", backend)
    assert "resend complete" in out and "run change: run-1 -> run-2" in out

