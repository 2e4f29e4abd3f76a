"""``sessionkit conformance --adapter mesolive --json``: every scenario of every capability
the adapter claims passes over real SignalR connections on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sessionkit_mesolive import adapter

from sessionkit.conformance import load_scenarios


def test_the_whole_suite_passes_over_signalr() -> None:
    exe = Path(sys.executable).with_name("sessionkit")
    run = subprocess.run([str(exe), "conformance", "--adapter", "mesolive", "--json"],
                         capture_output=True, text=True, timeout=1200)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON report:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    report = json.loads(lines[-1])
    assert report["adapter"] == "mesolive"
    assert report["failures"] == [] and report["failed"] == 0, json.dumps(report, indent=1)
    claimed = [s for s in load_scenarios() if s.capabilities <= adapter.capabilities]
    assert report["skipped"] == 0 and report["passed"] == len(claimed) == report["scenarios"]
    assert run.returncode == 0
