"""``sessionkit sim mesolive``: one port with the three MesoLive hubs and the session hub,
a JSON line when ready, fault knobs checked up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sessionkit_mesolive import MesoLiveClient, adapter
from sessionkit_mesolive.sim.cli import apply_fault, build_simulator

from .conftest import run

EXE = str(Path(sys.executable).with_name("sessionkit"))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_simulator_serves_every_hub_on_one_port(backend: str) -> None:
    proc = subprocess.Popen([EXE, "sim", "mesolive", "--port", "0", "--token", "T",
                             "--fault", "duplicate-events=2", "--tick", "0.02",
                             "--backend", backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["hubs"] == ["/hubs/control/v1", "/hubs/data/v1", "/hubs/event/v1",
                                 "/hubs/session/v1"]

        async def main() -> None:
            async with MesoLiveClient(ready["url"], token_factory=lambda: "T") as client:
                accounts = await client.control.list_accounts()
                assert {a.broker_account_id for a in accounts.accounts} == {"ML1234",
                                                                            "U1234567"}
            transport = await adapter.connector(ready["url"] + "/hubs/session/v1",
                                                token="T").connect()
            await transport.aclose()

        run(main)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_bad_fault_is_refused_naming_the_knob() -> None:
    out = subprocess.run([EXE, "sim", "mesolive", "--fault", "stall=NoSuchMethod:1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "NoSuchMethod" in out.stderr
    sim = build_simulator()
    with pytest.raises(ValueError, match="unknown fault .explode.; known: corrupt-events, dup"):
        apply_fault(sim, "explode")
    apply_fault(sim, "fail-next-job=entry:boom")
    assert sim.domain.faults.failing_jobs == [("Entry", "boom")]
    with pytest.raises(ValueError, match="resume_refusal must be one of"):
        apply_fault(sim, "refuse-resume=shrug")
    apply_fault(sim, "refuse-resume=close")
    assert sim.server.faults.refuse_resume and sim.server.faults.resume_refusal == "close"
    apply_fault(sim, "corrupt-events=2")
    assert sim.domain.faults.corrupt_deliveries == 2

