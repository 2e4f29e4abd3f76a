"""The README's demo command: `sessionkit demo` runs the ZMQ simulator and a CURVE client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SESSIONKIT = Path(sys.executable).with_name("sessionkit")


@pytest.mark.skipif(not SESSIONKIT.exists(),
                    reason="the sessionkit console script is not installed")
def test_sessionkit_demo_defaults_to_zmq_with_curve() -> None:
    out = subprocess.run([str(SESSIONKIT), "demo"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "CURVE keys" in out and "mode 0o600" in out
    assert "ZMQ simulator on tcp://127.0.0.1:" in out
    for words in ("MID", "batch", "resend complete"):
        assert words in out, words
    assert "run" in out.lower()


def test_unknown_demo_adapter_is_a_clear_error() -> None:
    res = subprocess.run([str(SESSIONKIT), "demo", "--adapter", "carrier-pigeon"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "no demo for adapter 'carrier-pigeon'" in res.stderr
