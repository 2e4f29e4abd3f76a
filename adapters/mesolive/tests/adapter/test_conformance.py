"""``sessionkit conformance --adapter mesolive --backend B --json``: every scenario of every
capability the adapter claims passes over real SignalR connections on 127.0.0.1, on asyncio
and on trio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sessionkit_mesolive import adapter

from sessionkit.conformance import load_scenarios

#: the suite runs on each event loop
BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_whole_suite_passes_over_signalr(backend: str) -> None:
    exe = Path(sys.executable).with_name("sessionkit")
    run = subprocess.run([str(exe), "conformance", "--adapter", "mesolive", "--backend",
                          backend, "--json"],
                         capture_output=True, text=True, timeout=1200)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON report:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    report = json.loads(lines[-1])
    assert report["adapter"] == "mesolive" and report["backend"] == backend
    assert report["failures"] == [] and report["failed"] == 0, json.dumps(report, indent=1)
    claimed = [s for s in load_scenarios() if s.capabilities <= adapter.capabilities]
    assert report["skipped"] == 0 and report["passed"] == len(claimed) == report["scenarios"]
    assert run.returncode == 0
