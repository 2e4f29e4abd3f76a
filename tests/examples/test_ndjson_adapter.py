"""The example third-party adapter (examples/ndjson_adapter, the walk-through of
docs/adapters.md): it type-checks with mypy --strict, passes the whole conformance suite,
and the commands run it from its directory without installing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionkit.conformance import format_table, load_scenarios, run_suite
from sessionkit.runtime import load_adapter

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ndjson_adapter"
SESSIONKIT = Path(sys.executable).with_name("sessionkit")


def test_the_example_adapter_type_checks_strictly(tmp_path: Path) -> None:
    # MYPYPATH: sessionkit is installed here in editable mode, through an import hook mypy
    # does not follow; it finds an ordinary installation (py.typed) by itself
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "ndjson_adapter.py",
                          "--cache-dir", str(tmp_path / "mypy")],
                         capture_output=True, text=True, cwd=EXAMPLE, timeout=240,
                         env={**os.environ, "MYPYPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found in 1 source file" in out.stdout


def test_the_example_adapter_passes_the_whole_conformance_suite(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    report = run_suite(load_adapter("ndjson_adapter:adapter"))
    assert report.ok, format_table(report)
    assert report.skipped == 0  # it claims every capability but streaming (no scenario)
    assert report.passed == len(load_scenarios())


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(SESSIONKIT), *args], capture_output=True, text=True,
                          cwd=EXAMPLE, timeout=240, env=env)


def test_the_conformance_command_runs_an_adapter_given_as_module_attribute() -> None:
    out = _run("conformance", "--adapter", "ndjson_adapter:adapter", "--json",
               "-k", "login_accepted")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["adapter"] == "ndjson" and data["passed"] == 2 and data["failed"] == 0


def test_the_demo_runs_over_an_adapter_given_as_module_attribute() -> None:
    out = _run("demo", "--quick", "--adapter", "ndjson_adapter:adapter")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "over the ndjson adapter's transport" in out.stdout
    assert "reconnected after" in out.stdout
    assert "resend complete" in out.stdout
    assert "none twice" in out.stdout


def test_an_unknown_adapter_path_is_a_usage_error_naming_it() -> None:
    out = _run("demo", "--adapter", "ndjson_adapter:nope")
    assert out.returncode == 2
    assert "module 'ndjson_adapter' has no attribute 'nope'" in out.stderr
