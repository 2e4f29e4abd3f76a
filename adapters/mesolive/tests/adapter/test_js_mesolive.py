"""Interop: Microsoft's @microsoft/signalr client (node) against the MesoLive simulator.

``tests/js/mesolive.js`` invokes ListAccounts on the Control Hub, reads a Data Hub stream,
subscribes on the Event Hub and receives the entry signals this test raises on the domain,
one before and one after the server drops its WebSocket (stateful reconnect resumes the same
connection: the second signal arrives once, no close).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
from sessionkit_mesolive import models as m
from sessionkit_mesolive._catalogue import Hub
from sessionkit_mesolive.sim.cli import build_simulator, run_simulator
from sessionkit_mesolive.sim.domain import DomainConfig

from .conftest import FAST, run

ADAPTER_DIR = Path(__file__).resolve().parents[2]
SCRIPT = ADAPTER_DIR / "tests" / "js" / "mesolive.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the JS interop "
                                                     "test needs Node.js")


def _ensure_js_client() -> None:
    if (ADAPTER_DIR / "node_modules" / "@microsoft" / "signalr").is_dir():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: run tools/dev setup to install @microsoft/signalr"
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ADAPTER_DIR, check=True,
                   capture_output=True, timeout=300)


def test_official_js_client_against_the_mesolive_simulator() -> None:
    _ensure_js_client()
    assert NODE is not None
    sim = build_simulator(token="js-token", tick=0.02, config=DomainConfig(**FAST))
    dropped: list[int] = []

    async def drive() -> None:
        """Signal once the JS client subscribed; drop its WebSocket; signal again."""
        hub = sim.hubs.hubs[Hub.EVENT]
        with trio.fail_after(20):
            while True:
                conns = [c for c in hub.connections.values()
                         if sim.domain.events.subscriptions(c.connection_id) is None]
                if conns:
                    break
                await trio.sleep(0.01)
            conn = conns[0]
            sim.domain.raise_entry_signal(1, "ML1234")
            await trio.sleep(0.3)
            conn.drop()
            dropped.append(conn.transports_served)
            while not (conn.connected and conn.transports_served >= 2):
                await trio.sleep(0.01)
            sim.domain.raise_entry_signal(1, "ML1234", state=m.SignalState.OFF)

    async def main() -> subprocess.CompletedProcess[bytes]:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_simulator, sim)
            nursery.start_soon(drive)
            process = await trio.run_process([NODE, str(SCRIPT), sim.url, "js-token"],
                                             capture_stdout=True, capture_stderr=True,
                                             check=False)
            nursery.cancel_scope.cancel()
        return process

    process = run(main, limit=60)
    assert process.returncode == 0, process.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(process.stdout.decode().strip().splitlines()[-1])
    assert result["accountsStatus"] == "Success"
    assert set(result["accounts"]) == {"ML1234", "U1234567"}
    assert len(result["streamItems"]) == 1
    assert result["streamItems"][0]["Prices"]["Mark"] is not None
    assert result["subscribed"] == [1]
    signals = result["signals"]
    assert [s["state"] for s in signals] == ["On", "Off"], signals
    assert len({s["id"] for s in signals}) == 2 and signals[0]["seq"] < signals[1]["seq"]
    assert dropped == [1]
    assert result["connectionIdAfter"] == result["connectionIdBefore"]  # resumed, not new
    assert result["closedEarly"] == [] and result["stateAfter"] == "Connected"
