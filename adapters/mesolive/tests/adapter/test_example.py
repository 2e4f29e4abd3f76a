"""examples/mesolive_automation.py: the automation loop survives a SIGKILL mid-flow (the
paper fill in flight) and recovers from its SQLite journal without executing anything twice,
on asyncio and on trio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "mesolive_automation.py"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_automation_example_recovers_from_a_kill(tmp_path: Path, backend: str) -> None:
    out = subprocess.run([sys.executable, str(EXAMPLE), "--journal",
                          str(tmp_path / "automation.journal"), "--backend", backend],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["backend"] == backend
    assert result["first_engine_exit"] == -9 and result["second_engine_exit"] == 0
    assert result["signal_handled_by"] == [1, 2]  # replayed after the kill
    assert result["paper_fill_executions"] == 1 and result["positions"] == 1
    assert "open_intents=['entry_" in out.stdout  # the journal held the fill's key
