"""The core demo runs from a fresh checkout and tells the story it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_demo_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "core_demo.py")],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert "login accepted" in out
    assert "recorded MID 2" in out
    assert "batch ACK for demo-6: 3 ACKs" in out
    assert "RUN CHANGE run-1 -> run-2" in out
    assert out.count("final: demo-") == 6  # 2 completed, 4 open orders cancelled by the restart
    assert "'cancelled_by_run_change': 4" in out
    assert "resend complete: events 1..15" in out
    assert "none twice" in out
