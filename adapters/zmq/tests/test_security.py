"""CURVE end to end: refused keys are reported clearly and soon; keys never reach the logs."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from sessionkit_zmq import (
    CurveClient,
    CurveServer,
    KeyPair,
    ZmqConnector,
    adapter,
    serve_endpoint,
)
from sessionkit_zmq.sim import serve_simulator

import sessionkit as sk
from sessionkit.runtime import ConnectError, ConnectionFailedError, open_session

from .conftest import BACKENDS, fast_options

BOUND = 5.0  # every refusal must come well within this (the real figure is milliseconds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_client_key_is_refused_with_the_reason(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            stranger = CurveClient(keypair=KeyPair.generate(), server_key=ep.server_key)
            with anyio.fail_after(BOUND), pytest.raises(ConnectError) as info:
                await ZmqConnector(ep.endpoint, curve=stranger,
                                   options=fast_options(connect_timeout=30.0)).connect()
            reason = info.value.reason
            assert "refused this client's CURVE key" in reason and "allow-list" in reason
            assert stranger.keypair.public[:8].decode() in reason
            with anyio.fail_after(BOUND):  # the server side saw it too (its monitor)
                while not ep.handshake_failures:
                    await anyio.sleep(0.01)
            assert "refused" in ep.handshake_failures[-1]
            # the allowed key still gets in
            t = await ep.connector().connect()
            await t.aclose()

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_server_key_fails_with_the_reason(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            wrong = CurveClient(keypair=ep.connector().curve.keypair,
                                server_key=KeyPair.generate().public)
            with anyio.fail_after(BOUND), pytest.raises(ConnectError) as info:
                await ZmqConnector(ep.endpoint, curve=wrong,
                                   options=fast_options(connect_timeout=30.0)).connect()
            assert "server public key" in info.value.reason
            assert "not this server's" in info.value.reason

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plain_client_against_curve_server_and_back(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            with anyio.fail_after(BOUND), pytest.raises(ConnectError, match="CURVE"):
                await ZmqConnector(ep.endpoint, options=fast_options(connect_timeout=30.0)
                                   ).connect()
        async with adapter.serve(curve=False, options=fast_options()) as ep:
            kp = KeyPair.generate()
            with anyio.fail_after(BOUND), pytest.raises(ConnectError, match="CURVE"):
                await ZmqConnector(ep.endpoint, curve=CurveClient(keypair=kp,
                                                                  server_key=kp.public),
                                   options=fast_options(connect_timeout=30.0)).connect()

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keys_from_0600_files_and_the_allow_list_end_to_end(backend: str,
                                                            tmp_path: Path) -> None:
    """The deployment path: key pairs saved as certificates (secret files mode 0600), the
    server's allow-list loaded from the client's public certificate. The allowed client is
    let in (the server sees its key as the User-Id) and frames travel both ways; a client
    whose key is not on the list is refused by ZAP, with the reason, on each event loop."""
    server_pub, server_sec = KeyPair.generate().save_certificate(tmp_path / "exchange.key")
    client_pub, client_sec = KeyPair.generate().save_certificate(tmp_path / "trader.key")
    _, stranger_sec = KeyPair.generate().save_certificate(tmp_path / "stranger.key")
    assert server_sec is not None and client_sec is not None and stranger_sec is not None
    for secret in (server_sec, client_sec, stranger_sec):
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    curve = CurveServer.from_files(server_sec, [client_pub])
    allowed = CurveClient.from_files(client_sec, server_pub)
    stranger = CurveClient.from_files(stranger_sec, server_pub)

    async def main() -> None:
        async with serve_endpoint(curve=curve, options=fast_options()) as ep:
            client = await ZmqConnector(ep.endpoint, curve=allowed,
                                        options=fast_options()).connect()
            with anyio.fail_after(BOUND):
                server = await ep.accept()
                assert server.user_id == allowed.keypair.public.decode()
                await client.send_frames([b"order"])
                assert await server.receive_frames() == [b"order"]
                await server.send_frames([b"ack"])
                assert await client.receive_frames() == [b"ack"]
            with anyio.fail_after(BOUND), pytest.raises(ConnectError) as info:
                await ZmqConnector(ep.endpoint, curve=stranger,
                                   options=fast_options(connect_timeout=30.0)).connect()
            assert "refused this client's CURVE key" in info.value.reason
            assert "ZAP status 400" in info.value.reason
            with anyio.fail_after(BOUND):  # the server's side of the refusal
                while not ep.handshake_failures:
                    await anyio.sleep(0.01)
            assert "refused" in ep.handshake_failures[-1]
            await client.aclose()

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_session_reports_a_refused_key_as_a_connection_failure(backend: str) -> None:
    async def main() -> None:
        async with serve_simulator(options=fast_options()) as sim:
            stranger = CurveClient(keypair=KeyPair.generate(), server_key=sim.server_key)
            with anyio.fail_after(BOUND), pytest.raises(ConnectionFailedError,
                                                       match="allow-list"):
                async with open_session(sim.connector(curve=stranger), sk.MessageProcessor(),
                                        account="a"):
                    pass

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keys_never_reach_the_logs(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """A whole session with CURVE, a refused key and a wrong server key, all logged at
    DEBUG: no secret key appears anywhere, nor any full public key."""
    server_keys, client_keys, stranger = (KeyPair.generate() for _ in range(3))
    secrets_ = [k.secret.decode() for k in (server_keys, client_keys, stranger) if k.secret]
    publics = [k.public.decode() for k in (server_keys, client_keys, stranger)]

    async def main() -> None:
        curve = CurveServer(keypair=server_keys, allow=[client_keys.public])
        async with serve_simulator(curve=curve, options=fast_options()) as sim:
            good = CurveClient(keypair=client_keys, server_key=server_keys.public)
            async with open_session(sim.connector(curve=good), sk.MessageProcessor(),
                                    account="a", token="hunter2") as client:
                await client.submit(sk.GetContracts())
            for bad in (CurveClient(keypair=stranger, server_key=server_keys.public),
                        CurveClient(keypair=client_keys, server_key=stranger.public)):
                with pytest.raises(ConnectError) as info:
                    await sim.connector(curve=bad).connect()
                logging.getLogger("test").error("connect failed: %s (%r)", info.value, bad)

    with caplog.at_level(logging.DEBUG):
        anyio.run(main, backend=backend)
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "ZAP: accepted" in text and "ZAP: refused" in text  # it did log
    for s in secrets_:
        assert s not in text
    for p in publics:
        assert p not in text
    assert "hunter2" not in text


def test_the_simulator_refuses_curve_without_an_allow_list(tmp_path: Path) -> None:
    KeyPair.generate().save_certificate(tmp_path / "server.key")
    cmd = [str(Path(sys.executable).with_name("sessionkit")), "sim", "zmq", "--bind",
           "tcp://127.0.0.1:0", "--curve"]
    for extra in ([], ["--key", str(tmp_path / "server.key_secret")]):
        run = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2
        assert "allow-list" in run.stderr and "allow_any" in run.stderr
    with pytest.raises(sk.ConfigError, match="allow-list"):
        CurveServer(keypair=KeyPair.generate())


class _Failures(sk.MessageProcessor):
    def __init__(self) -> None:
        self.failed: list[str] = []

    def on_connection_failed(self, reason: str) -> None:
        self.failed.append(reason)


class _Counting:
    """A connector counting its attempts and the ConnectError each raised."""

    def __init__(self, inner: ZmqConnector) -> None:
        self.inner = inner
        self.attempts = 0
        self.errors: list[ConnectError] = []

    async def connect(self) -> object:
        self.attempts += 1
        try:
            return await self.inner.connect()
        except ConnectError as exc:
            self.errors.append(exc)
            raise


@pytest.mark.parametrize("fault, words", [
    ("client key not on the allow-list", "refused this client's CURVE key"),
    ("wrong server key", "server public key given"),
    ("nothing listening", "no TCP connection"),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_connect_failure_reaches_the_engine_once_with_its_reason(backend: str, fault: str,
                                                                       words: str) -> None:
    """One failed connect is one ConnectError from the adapter, and the engine hears it
    once: one on_connection_failed and one ConnectionFailedError, both with the reason."""
    async def attempt(endpoint: str, curve: CurveClient) -> None:
        connector = _Counting(ZmqConnector(endpoint, curve=curve,
                                           options=fast_options(connect_timeout=0.5)))
        processor = _Failures()
        with anyio.fail_after(BOUND), pytest.raises(ConnectionFailedError) as info:
            async with open_session(connector, processor, account="a"):
                pass
        assert connector.attempts == 1 and len(connector.errors) == 1
        assert words in connector.errors[0].reason
        assert words in info.value.reason
        assert len(processor.failed) == 1, processor.failed
        assert words in processor.failed[0]

    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            mine = ep.connector().curve
            assert mine is not None and ep.server_key is not None
            if fault == "client key not on the allow-list":
                await attempt(ep.endpoint, CurveClient(keypair=KeyPair.generate(),
                                                       server_key=ep.server_key))
            elif fault == "wrong server key":
                await attempt(ep.endpoint, CurveClient(keypair=mine.keypair,
                                                       server_key=KeyPair.generate().public))
            endpoint = ep.endpoint
        if fault == "nothing listening":  # the server is gone: its port refuses
            await attempt(endpoint, mine)

    anyio.run(main, backend=backend)
