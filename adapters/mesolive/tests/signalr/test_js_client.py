"""Interop: Microsoft's official JavaScript client (@microsoft/signalr) against the simulator.

The node script (tests/js/interop.js) connects with ``withStatefulReconnect()`` and a token
factory, invokes, reads a stream, receives a callback and survives a server-side drop; it
prints a JSON summary that this test checks together with the server's own record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.hubserver_echo import ECHO_HUB_PATH, build_echo_server

ADAPTER_DIR = Path(__file__).resolve().parents[2]
SCRIPT = ADAPTER_DIR / "tests" / "js" / "interop.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the JS interop test needs Node.js"
)


def _ensure_js_client() -> None:
    if (ADAPTER_DIR / "node_modules" / "@microsoft" / "signalr").is_dir():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: run tools/dev setup to install @microsoft/signalr"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=ADAPTER_DIR,
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_official_js_client_against_the_simulator(run: Any) -> None:
    _ensure_js_client()
    assert NODE is not None
    server = build_echo_server(token="js-token")
    ended: list[tuple[int, BaseException | None]] = []
    server.echo_hub.on_disconnected(  # type: ignore[attr-defined]
        lambda conn, error: ended.append((conn.transports_served, error))
    )

    async def main() -> subprocess.CompletedProcess[bytes]:
        async with running(server) as base:
            process = await trio.run_process(
                [NODE, str(SCRIPT), base + ECHO_HUB_PATH, "js-token"],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            with trio.move_on_after(5):
                while not ended:
                    await trio.sleep(0.01)
            return process

    process = run(main, limit=60)
    assert process.returncode == 0, process.stderr.decode()
    result = json.loads(process.stdout.decode().strip().splitlines()[-1])

    assert result["echo"] == {"Text": "hé", "Values": [1, 2.5, None]}
    assert "HubException: bad request" in result["hubError"]
    assert result["stream"] == [0, 1, 2, 3, 4]
    assert result["callbackReturn"] == "ping" and result["callbacks"] == ["ping"]
    assert result["drop"] == "dropping"
    # The drop was survived by stateful reconnect: same connection, nothing lost or doubled.
    assert result["connectionIdAfter"] == result["connectionIdBefore"]
    assert result["closedEarly"] == [] and result["stateBeforeStop"] == "Connected"
    assert result["notified"] == 20 and result["ticks"] == list(range(20))
    stats = server.echo_stats  # type: ignore[attr-defined]
    assert stats.recorded == [*range(100), "final"]
    assert result["recordedCount"] == 101
    assert stats.calls["Drop"] == 1
    # The server saw a second WebSocket for the same connection, and the client's stop() sent a
    # Close message that ended the connection at once (no resume window).
    assert ended == [(2, None)]
    assert process.stderr == b"", process.stderr.decode()
