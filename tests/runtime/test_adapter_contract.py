"""The Adapter contract (sessionkit.runtime.Adapter and friends) is one mypy --strict can
check, the shipped adapters keep it, and the runtime honours what a transport declares."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

from sessionkit import ConfigError, JsonCodec, MessageProcessor, SessionkitError
from sessionkit.runtime import load_adapter, open_session, serve_reference_exchange
from sessionkit.testing import ReferenceExchange

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ndjson_adapter"
MYPYPATH = ":".join(str(ROOT / p) for p in ("adapters/zmq", "adapters/mesolive",
                                              "examples/ndjson_adapter"))


def mypy_strict(*targets: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on the targets only (what they import is read, not reported on)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-error-summary", "--cache-dir", str(cache), *map(str, targets)],
        capture_output=True, text=True, cwd=ROOT, timeout=240,
        env={**os.environ, "MYPYPATH": MYPYPATH})


def test_every_shipped_adapter_satisfies_the_contract_under_mypy_strict(tmp_path: Path) -> None:
    out = mypy_strict(Path(__file__).with_name("typed_adapters.py"), cache=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_names_what_an_adapter_lacks(tmp_path: Path) -> None:
    """The contract can fail: an adapter without max_frame_size whose serve() needs an
    argument, and a tcp endpoint without tcp_address, are named by mypy."""
    bad = tmp_path / "bad_adapter.py"
    bad.write_text(textwrap.dedent("""\
        from collections.abc import AsyncIterator
        from contextlib import asynccontextmanager

        from ndjson_adapter import NdjsonConnector, NdjsonEndpoint
        from sessionkit.runtime import Adapter, TcpServerEndpoint


        class Bad:
            name = "bad"
            capabilities = frozenset({"session"})
            conformance_clock = None

            def connector(self) -> NdjsonConnector:
                return NdjsonConnector("127.0.0.1", 1)

            @asynccontextmanager
            async def serve(self, port: int) -> AsyncIterator[NdjsonEndpoint]:
                raise NotImplementedError
                yield


        class NoAddress:
            def connector(self, *, via: tuple[str, int] | None = None) -> NdjsonConnector:
                return NdjsonConnector("127.0.0.1", 1)

            async def accept(self) -> None:
                pass


        adapter: Adapter = Bad()
        endpoint: TcpServerEndpoint = NoAddress()
        """))
    out = mypy_strict(bad, cache=tmp_path / "cache")
    assert out.returncode == 1
    assert 'missing following "Adapter" protocol member' in out.stdout
    assert "max_frame_size" in out.stdout
    assert "def serve(self, port: int)" in out.stdout
    assert "tcp_address" in out.stdout
    assert "accept" in out.stdout  # returns None, not a Transport


def test_load_adapter_takes_a_module_attribute_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    adapter = load_adapter("ndjson_adapter:adapter")
    assert adapter.name == "ndjson" and "tcp" in adapter.capabilities
    with pytest.raises(SessionkitError, match="cannot import the adapter module 'no_such_mod'"):
        load_adapter("no_such_mod:adapter")
    with pytest.raises(SessionkitError, match="module 'ndjson_adapter' has no attribute 'nope'"):
        load_adapter("ndjson_adapter:nope")
    with pytest.raises(SessionkitError, match="is not a sessionkit adapter: it has no name, "
                                              "capabilities, connector, serve"):
        load_adapter("ndjson_adapter:NdjsonConnector")
    with pytest.raises(SessionkitError, match="'module:attribute', got ':adapter'"):
        load_adapter(":adapter")


class _Quiet(MessageProcessor):
    pass


def test_the_runtime_refuses_a_codec_over_what_the_connector_carries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A connector declaring max_frame_size gets no codec making or taking larger frames
    (ConfigError naming both sizes, before any connection); one within it runs."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    adapter: Any = load_adapter("ndjson_adapter:adapter")
    logins: list[int] = []

    class Processor(MessageProcessor):
        def on_login_accepted(self, event_id: int) -> None:
            logins.append(event_id)

    async def main() -> None:
        async with adapter.serve() as endpoint, trio.open_nursery() as nursery:
            await nursery.start(serve_reference_exchange, endpoint, ReferenceExchange())
            small = type(endpoint.connector())(*endpoint.tcp_address, max_frame_size=1000)
            with pytest.raises(ConfigError, match=r"the codec's max_frame_size 1048576 is "
                                                  r"over what the transport carries "
                                                  r"\(NdjsonConnector.max_frame_size 1000\)"):
                async with open_session(small, _Quiet(), account="a"):
                    pass
            with pytest.raises(ConfigError, match="max_frame_size 2000 is over"):
                async with open_session(small, _Quiet(), account="a",
                                        codec=JsonCodec(max_frame_size=2000)):
                    pass
            async with open_session(small, Processor(), account="a",
                                    codec=JsonCodec(max_frame_size=1000)):
                assert len(logins) == 1
            nursery.cancel_scope.cancel()

    trio.run(main)
