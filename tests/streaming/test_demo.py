"""examples/streaming_demo.py runs and prints the merged state."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "streaming_demo.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_demo_prints_the_merged_state() -> None:
    proc = run_demo()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "snapshot eurusd (+" in out
    assert "reset eurusd -> eurusd-1 (server_request)" in out
    assert re.search(r"EURUSD  bid \d\.\d{5}  ask \d\.\d{5}  mid \d\.\d{5}", out)
    assert re.search(r"positions: \d+\n(  +P\d+  amount .*\n)+", out)
    assert out.rstrip().endswith("merged state matches the simulated server: yes")


def test_demo_is_deterministic_per_seed() -> None:
    first, second = (
        run_demo("--seed", "3", "--ticks", "15"),
        run_demo("--seed", "3", "--ticks", "15"),
    )
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
