"""The pytest plugin: --sessionkit-adapter and the pytest_sessionkit_adapters conftest hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def run_pytest(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (where / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(where),
         "-c", str(where / "pytest.ini"), str(where), *args],
        capture_output=True, text=True, cwd=where, timeout=240)


def test_option_adds_one_item_per_scenario(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "--sessionkit-adapter=memory", "--collect-only", "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("conformance[memory]/")]
    assert len(lines) >= 60
    assert "conformance[memory]/batch/batch_of_1000" in lines
    assert f"{len(lines)} tests collected" in out.stdout


def test_unknown_adapter_is_a_usage_error(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "--sessionkit-adapter=carrier-pigeon")
    assert out.returncode == 4
    assert "no sessionkit adapter named 'carrier-pigeon'" in out.stderr


def test_option_and_conftest_hook_run_scenarios_and_report_failures(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(f"""\
import sys
sys.path.insert(0, {str(HERE)!r})
import broken_adapters

def pytest_sessionkit_adapters(config):
    return [broken_adapters.drops_every_third_frame(), broken_adapters.without_batch()]
""")
    out = run_pytest(tmp_path, "--sessionkit-adapter=memory", "-k",
                     "batch_of_201 or login_accepted", "--sessionkit-time-limit=30", "-v")
    text = out.stdout
    assert out.returncode == 1, text + out.stderr
    assert "conformance[memory]/login/login_accepted PASSED" in text
    assert "conformance[memory]/batch/batch_of_201 PASSED" in text
    # the frame-dropping adapter fails batch_of_201 with the runner's report
    assert "scenario batch_of_201 failed against adapter drops-every-third" in text
    assert "line 13: expect-send batch" in text
    # the adapter without batch skips it; all three pass the login scenarios
    assert "1 failed, 7 passed, 1 skipped" in text, text


def test_the_documented_conftest_hook_copes_without_the_plugin(tmp_path: Path) -> None:
    """docs/adapters.md's conftest hook (optionalhook=True) runs the suite with the plugin
    and is ignored under ``-p no:sessionkit`` (a bare hook is an INTERNALERROR there:
    pytest refuses a hook it has no specification for)."""
    (tmp_path / "conftest.py").write_text("""\
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_sessionkit_adapters(config):
    return ["memory"]
""")
    (tmp_path / "test_own.py").write_text("def test_own():\n    pass\n")
    with_plugin = run_pytest(tmp_path, "-k", "login_accepted or test_own", "-q")
    assert with_plugin.returncode == 0, with_plugin.stdout + with_plugin.stderr
    assert "3 passed" in with_plugin.stdout
    without = run_pytest(tmp_path, "-p", "no:sessionkit", "-q")
    assert without.returncode == 0, without.stdout + without.stderr
    assert "INTERNALERROR" not in without.stdout + without.stderr
    assert "1 passed" in without.stdout


def test_backend_option_adds_the_scenarios_once_per_backend(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "--sessionkit-adapter=memory", "--sessionkit-backend=asyncio",
                     "--sessionkit-backend=trio", "--collect-only", "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    on = {b: [ln.split("/", 1)[1] for ln in out.stdout.splitlines()
              if ln.startswith(f"conformance[memory-{b}]/")] for b in ("asyncio", "trio")}
    assert len(on["trio"]) >= 60 and on["asyncio"] == on["trio"]
    bad = run_pytest(tmp_path, "--sessionkit-adapter=memory", "--sessionkit-backend=curio")
    assert bad.returncode == 4 and "invalid choice: 'curio'" in bad.stderr
