"""tools/bench_streams.py runs and ends with its JSON line (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick_ends_with_one_json_object() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench_streams.py"), "--quick", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["fields_per_s"] > 0 and result["ratio_to_dict_update"] > 0
    assert result["quick"] is True and result["runs"] == 1
    assert any(line.startswith("dict.update:") for line in lines[:-1])
