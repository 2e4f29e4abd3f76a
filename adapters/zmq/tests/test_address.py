"""Endpoint addresses are checked where they are given: one libzmq would take and then retry
until the connect timeout (port 0, 70000, an empty host), or silently wrap (a bind to port
70000 or -1), is a ConfigError naming the value, at ``connector(...)`` / ``serve(...)``."""

from __future__ import annotations

import pytest
import trio
from sessionkit_zmq import ZmqConnector, adapter, serve_endpoint

from sessionkit import ConfigError

BAD_CONNECT = [
    ("tcp://127.0.0.1:0", "port 0 is out of range (1-65535)"),
    ("tcp://127.0.0.1:70000", "port 70000 is out of range (1-65535)"),
    ("tcp://127.0.0.1:-1", "port '-1' is not a number"),
    ("tcp://127.0.0.1:abc", "port 'abc' is not a number"),
    ("tcp://127.0.0.1:", "port '' is not a number"),
    ("tcp://127.0.0.1", "must look like tcp://HOST:PORT"),
    ("tcp://:5555", "must look like tcp://HOST:PORT"),
    ("tcp://*:5555", "host * is for a bind"),
    ("tcp://127.0.0.1:5555 ", "must look like tcp://HOST:PORT"),
    ("udp://127.0.0.1:5555", "must look like tcp://HOST:PORT"),
    ("127.0.0.1:5555", "must look like tcp://HOST:PORT"),
    ("ipc://", "ipc:// needs a path"),
]


@pytest.mark.parametrize("endpoint, words", BAD_CONNECT, ids=[e for e, _ in BAD_CONNECT])
def test_a_bad_endpoint_is_refused_by_the_connector_naming_it(endpoint: str, words: str) -> None:
    for make in (adapter.connector, ZmqConnector):
        with pytest.raises(ConfigError) as info:
            make(endpoint)
        assert repr(endpoint) in str(info.value) and words in str(info.value)


def test_a_non_string_endpoint_names_its_type() -> None:
    with pytest.raises(ConfigError, match="must be a string like tcp://HOST:PORT, got int 5555"):
        adapter.connector(5555)  # type: ignore[arg-type]


def test_good_endpoints_are_taken() -> None:
    for endpoint in ("tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:65535",
                     "ipc:///tmp/sessionkit.sock"):
        assert adapter.connector(endpoint).endpoint == endpoint


BAD_BIND = [
    ("tcp://127.0.0.1:70000", "port 70000 is out of range"),  # libzmq would bind 4464
    ("tcp://127.0.0.1:-1", "port '-1' is not a number"),      # libzmq would bind 65535
    ("tcp://127.0.0.1:abc", "port 'abc' is not a number"),
    ("nonsense", "must look like tcp://HOST:PORT"),
]


@pytest.mark.parametrize("bind, words", BAD_BIND, ids=[b for b, _ in BAD_BIND])
def test_a_bad_bind_is_refused_by_serve_naming_it(bind: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        adapter.serve(bind)  # at the call, before the block is entered
    assert repr(bind) in str(info.value) and words in str(info.value)

    async def main() -> None:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
            async with serve_endpoint(bind):
                pass

    trio.run(main)


def test_port_0_and_star_bind_a_free_port_and_via_routes_the_connector() -> None:
    async def main() -> None:
        for bind in ("tcp://127.0.0.1:0", "tcp://127.0.0.1:*"):
            async with adapter.serve(bind, curve=False) as ep:
                host, port = ep.tcp_address
                assert host == "127.0.0.1" and port > 0
                assert ep.connector().endpoint == f"tcp://127.0.0.1:{port}"
                assert ep.connector(via=("127.0.0.1", 4242)).endpoint == "tcp://127.0.0.1:4242"
                assert ep.connector(via=("::1", 4242)).endpoint == "tcp://[::1]:4242"
                with pytest.raises(ConfigError, match="port 70000 is out of range"):
                    ep.connector(via=("127.0.0.1", 70000))

    trio.run(main)
