"""tools/crash_test.py: a client SIGKILLed at random points loses nothing and repeats nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "crash_test.py"


def run_crash_test(tmp_path: Path, *args: str, timeout: float) -> dict[str, object]:
    proc = subprocess.run([sys.executable, str(TOOL), "--workdir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=timeout)
    last = proc.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert proc.returncode == 0, (result, proc.stderr[-3000:])
    return result


def check(result: dict[str, object], orders: int, kills: int) -> None:
    assert result["orders"] == orders and result["kills"] == kills, result
    assert result["final_states"] == orders, result
    assert result["lost"] == 0, result
    assert result["double_executed"] == 0, result
    assert result["double_handled"] == 0, result
    assert result["journal_left"] == 0 and result["finished_cleanly"] is True, result


def _zmq_missing() -> bool:
    try:
        import sessionkit_zmq  # noqa: F401
    except ImportError:
        return True
    return False


_NEEDS_ZMQ = pytest.mark.skipif(_zmq_missing(), reason="sessionkit-zmq is not installed")


@pytest.mark.parametrize(("transport", "backend"), [
    pytest.param("zmq", "asyncio", marks=_NEEDS_ZMQ),
    pytest.param("zmq", "trio", marks=_NEEDS_ZMQ),
    ("tcp", "asyncio"),
])
def test_short_form(tmp_path, transport, backend):
    """The ZeroMQ form runs the simulator and the client on each event loop."""
    result = run_crash_test(tmp_path, "--orders", "300", "--kills", "3", "--timeout", "50",
                            "--transport", transport, "--backend", backend, timeout=60)
    check(result, 300, 3)
    assert result["transport"] == transport and result["backend"] == backend


@pytest.mark.parametrize("transport", [pytest.param("zmq", marks=_NEEDS_ZMQ), "tcp"])
def test_short_form_on_postgres(tmp_path, postgres_server, transport):
    """Each restarted client takes the lease over; the fencing tokens show one writer."""
    url = postgres_server.create_database()
    result = run_crash_test(tmp_path, "--orders", "300", "--kills", "3", "--timeout", "50",
                            "--transport", transport, "--store", "postgres", "--pg-url", url,
                            timeout=90)
    check(result, 300, 3)
    assert result["store"] == "postgres" and result["owners_interleaved"] == 0
    assert result["leases_taken"] >= 2


def test_standby_takes_over_from_killed_and_paused_owners(tmp_path, postgres_server):
    """--standby: SIGKILL and SIGSTOP of the active client; the standby takes the lease over
    and resumes; a paused client woken after the takeover is refused and stops."""
    url = postgres_server.create_database()
    result = run_crash_test(tmp_path, "--orders", "600", "--kills", "4", "--timeout", "60",
                            "--transport", "tcp", "--store", "postgres", "--pg-url", url,
                            "--standby", "--lease-ttl", "1.0", "--seed", "3", timeout=180)
    check(result, 600, result["kills"])  # type: ignore[arg-type]
    assert result["kills"] >= 1 and result["takeovers"] == result["kills"]
    assert result["owners_interleaved"] == 0 and result["woken_not_fenced"] == 0
    assert result["fenced_writes_refused"] == result["sigstops"]
    assert result["takeover_max_s"] is not None


@pytest.mark.slow
def test_full_form_safe(tmp_path):
    check(run_crash_test(tmp_path, "--orders", "10000", "--kills", "20", "--durability", "safe",
                         timeout=900), 10000, 20)
