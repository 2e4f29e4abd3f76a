"""tools/bench_core.py runs and ends with its JSON line (no figure's value is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_core_ends_with_its_figures_and_the_memory_per_request_in_flight() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench_core.py"), "--runs", "1", "--n", "200"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("lifecycles_per_s", "lifecycles_json_per_s", "events_per_s",
                "bytes_per_inflight"):
        assert result[key] > 0, key
    assert result["inflight"] == 10_000 and result["runs"] == 1
    assert any(line.startswith("bytes per request in flight:") for line in lines[:-1])
