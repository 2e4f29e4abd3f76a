"""examples/asyncio_engine.py: a plain asyncio program with a session among its own tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str) -> str:
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_asyncio_engine_example() -> None:
    """A plain asyncio program (asyncio.run, asyncio.TaskGroup, no trio imported) embeds a
    session next to a timer-driven strategy and a market-data consumer: every trade it makes
    is filled on both sides, every order ends once, no event comes twice."""
    check = ("import runpy, sys; sys.argv = ['asyncio_engine.py', '--round-trips', '4'];"
             "runpy.run_path('examples/asyncio_engine.py', run_name='__main__');"
             "print('trio imported' if 'trio' in sys.modules else 'trio not imported')")
    out = _run("-c", check)
    assert out.splitlines()[-1] == "trio not imported", out
    summary = json.loads(out.splitlines()[-2])
    assert summary["trades"] == 4 and summary["fills"] == 8, summary
    assert summary["submitted"] == summary["acked"] == 8, summary
    assert summary["outcomes"] == {"done": 8} and summary["duplicate_events"] == 0, summary
    assert out.count("strategy: sell into the bid") == 4, out
