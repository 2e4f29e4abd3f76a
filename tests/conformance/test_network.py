"""Real network faults in the suite: ``tcp`` scenarios run through the fault proxy, their
``inject net-*`` steps are checked at parse time, and they catch a transport that mishandles
what TCP does (a frame split across reads)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sessionkit.conformance import (
    ScenarioResult,
    ScriptError,
    load_scenarios,
    parse_scenario,
    run_suite,
)

sys.path.insert(0, str(Path(__file__).parent))
tcp = importlib.import_module("tcp_adapters")

NET = sorted(s.name for s in load_scenarios() if s.name.startswith("hostile_net_"))


def results(adapter: Any, names: list[str], backend: str = "trio"
            ) -> dict[str, ScenarioResult]:
    chosen = [s for s in load_scenarios() if s.name in names]
    assert len(chosen) == len(names), "a scenario named here no longer exists"
    return {r.name: r for r in run_suite(adapter, chosen, backend=backend).results}


BAD = [
    ("category: x\ninject net-reset\n", 2, "inject net-reset needs 'capability: tcp'"),
    ("category: x\ncapability: tcp\ninject net-delay\n", 3, "positive number of seconds"),
    ("category: x\ncapability: tcp\ninject net-split 0\n", 3, "positive piece size in bytes"),
    ("category: x\ncapability: tcp\ninject net-half-close sideways\n", 3,
     "to-client or to-server"),
    ("category: x\ncapability: tcp\ninject net-stall 3\n", 3, "takes no argument"),
]


@pytest.mark.parametrize("text, line, words", BAD, ids=[w for _, _, w in BAD])
def test_net_faults_are_checked_when_parsed(text: str, line: int, words: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_scenario(text, path="net.skt")
    assert str(info.value).startswith(f"net.skt:{line}: ") and words in str(info.value)


def test_the_net_scenarios_exist_and_need_tcp() -> None:
    assert len(NET) >= 9
    for sc in load_scenarios():
        if sc.name in NET:
            assert sc.category == "hostile" and "tcp" in sc.capabilities, sc.name


BOTH = pytest.mark.parametrize("backend", ["asyncio", "trio"])


def test_memory_has_no_tcp_and_skips_them() -> None:
    got = results("memory", NET)
    assert {r.status for r in got.values()} == {"skipped"}
    assert all("lacks capability tcp" in r.detail for r in got.values())


@BOTH
def test_a_tcp_adapter_passes_them_through_the_proxy(backend: str) -> None:
    """A plain length-prefixed TCP transport that reassembles frames passes every network
    fault (the refused connect's "exactly once" is the runtime's, checked on zmq/mesolive)."""
    names = [n for n in NET if n != "hostile_net_refused_connect"]
    got = results(tcp.TcpAdapter(), names, backend)
    failed = {n: r.detail for n, r in got.items() if not r.passed}
    assert not failed, failed


@BOTH
def test_a_transport_taking_each_read_for_a_frame_fails_the_split_scenario(backend: str
                                                                          ) -> None:
    got = results(tcp.TcpAdapter(naive=True), ["hostile_net_split_frames",
                                               "hostile_net_reset"], backend)
    assert got["hostile_net_split_frames"].status == "failed"
    assert got["hostile_net_reset"].passed  # the naive transport is fine when reads are whole


@BOTH
def test_a_tcp_adapter_without_the_hooks_is_told_what_is_missing(backend: str) -> None:
    class NoAddress(tcp.TcpAdapter):  # type: ignore[misc,name-defined]
        def serve(self, **options: Any) -> Any:
            inner = super().serve(**options)

            class Wrapped:
                async def __aenter__(self) -> Any:
                    ep = await inner.__aenter__()
                    return type("Endpoint", (), {"connector": ep.connector,
                                                 "accept": ep.accept})()

                async def __aexit__(self, *exc: Any) -> Any:
                    return await inner.__aexit__(*exc)

            return Wrapped()

    got = results(NoAddress(), ["hostile_net_reset"], backend)
    assert got["hostile_net_reset"].status == "failed"
    assert "has no tcp_address" in got["hostile_net_reset"].detail


TRANSPORT = sorted(s.name for s in load_scenarios() if s.category == "transport")


@BOTH
def test_the_transport_rules_hold_over_tcp_on_either_backend(backend: str) -> None:
    """The transport scenarios drive the adapter's own transport (no runtime): the AnyIO
    TCP adapter passes them on asyncio as on trio, on each backend's virtual clock."""
    assert len(TRANSPORT) >= 4
    got = results(tcp.TcpAdapter(), TRANSPORT, backend)
    failed = {n: r.detail for n, r in got.items() if not r.passed}
    assert not failed, failed
    assert {r.backend for r in got.values()} == {backend}


@BOTH
def test_a_receive_that_loses_frames_when_cancelled_fails_on_either_backend(backend: str
                                                                           ) -> None:
    got = results(tcp.TcpAdapter(lossy=True), ["transport_receive_cancel_safe",
                                               "transport_frames_in_order"], backend)
    assert got["transport_frames_in_order"].passed
    bad = got["transport_receive_cancel_safe"]
    assert bad.status == "failed" and "receive_frames is not cancel-safe" in bad.message


@BOTH
def test_the_command_runs_the_suite_on_the_backend_asked_for(backend: str) -> None:
    exe = Path(sys.executable).with_name("sessionkit")
    run = subprocess.run([str(exe), "conformance", "--adapter", "tcp_adapters:adapter",
                          "--backend", backend, "--category", "transport", "--json"],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"adapter tcp on {backend} " in run.stdout
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend and report["passed"] == len(TRANSPORT)
