"""The ZMQ simulator and sessions over it: the runtime, the reference exchange, real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from sessionkit_zmq import CurveClient, KeyPair, ZmqConnector, adapter
from sessionkit_zmq.sim import serve_simulator

import sessionkit as sk
from sessionkit.runtime import ReconnectPolicy, open_session

from .conftest import BACKENDS, fast_options


class Recorder(sk.MessageProcessor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.changed: anyio.Event | None = None  # set at each call; until() renews it

    def _add(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        if self.changed is not None:
            self.changed.set()

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    async def until(self, name: str, count: int = 1) -> None:
        with anyio.fail_after(10):
            while self.names().count(name) < count:
                changed = self.changed = anyio.Event()
                await changed.wait()

    def handle_status_message(self, msg: Any, prev: Any) -> None:
        self._add("status", msg)

    def handle_action_report(self, msg: Any, prev: Any) -> None:
        self._add("action_report", msg)

    def handle_batch_message(self, msg: Any, prev: Any) -> None:
        self._add("batch", msg)

    def handle_contract_detail(self, msg: Any, prev: Any) -> None:
        self._add("contract", msg)

    def handle_book_top(self, msg: Any, prev: Any) -> None:
        self._add("book_top", msg)

    def handle_run_change(self, run_id: str, prev_run_id: str | None) -> None:
        self._add("run_change", (run_id, prev_run_id))

    def on_resend_complete(self, begin: int, end: int) -> None:
        self._add("resend_complete", (begin, end))

    def on_protocol_error(self, error: Exception, fatal: bool) -> None:
        self._add("protocol_error", (str(error), fatal))

    def on_message_finished(self, event: sk.MessageFinished) -> None:
        self._add("finished", event)

    def on_reconnected(self, attempt: int) -> None:
        self._add("reconnected", attempt)


@pytest.mark.parametrize("codec", [sk.JsonCodec(), sk.MsgpackCodec()], ids=["json", "msgpack"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trading_session_with_run_change_and_replay(backend: str, codec: sk.Codec) -> None:
    async def main() -> None:
        async with serve_simulator(options=fast_options()) as sim:
            rec = Recorder()
            policy = ReconnectPolicy(initial=0.01, max=0.1, jitter=0.0)
            async with open_session(sim.connector(), rec, account="acct", codec=codec,
                                    reconnect=policy) as client:
                await client.submit(sk.GetContracts())
                await rec.until("contract", 3)
                cid = await client.submit(sk.LimitOrder(contract_id=1, size=1,
                                                        price_in_cents=5000))
                tickets = await client.submit_batch(
                    [sk.LimitOrder(contract_id=2, size=1, price_in_cents=100 + i)
                     for i in range(5)])
                await rec.until("batch")
                await rec.until("action_report", 6)
                sim.restart("run-9")
                sim.publish_book_top(1)  # while the client is away: replayed on resume
                await rec.until("resend_complete")
                await rec.until("finished", 8)
            cancelled = [e for n, e in rec.calls if n == "finished"
                         and e.outcome is sk.Outcome.CANCELLED_BY_RUN_CHANGE]
            assert {e.cid for e in cancelled} == {cid, *tickets[0].cids}
            assert ("run_change", ("run-9", "run-1")) in rec.calls
            tops = [m for n, m in rec.calls if n == "book_top"]
            assert tops and tops[0].replay
            assert sim.bad_frames == 0

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_frames_from_the_exchange_are_reported_and_the_session_goes_on(backend: str) -> None:
    """Garbled, oversize and stray multi-part messages become protocol errors."""
    async def main() -> None:
        async with serve_simulator(options=fast_options(max_frame_size=4096)) as sim:
            rec = Recorder()
            codec = sk.JsonCodec(max_frame_size=4096)
            # "report": the session goes on after each (by default the first ends the
            # connection, for a reconnect and the replay to repair)
            async with open_session(sim.connector(), rec, account="acct", codec=codec,
                                    config=sk.SessionConfig(on_violation="report")) as client:
                (conn,) = sim.server.connections_open()
                await conn.send_frames([b"\x00garbled", b'{"type":"heartbeat","pad":"'
                                        + b"x" * 5000 + b'"}'])
                sim.server._sock.send_multipart([conn.identity, b'{"type":', b'1}'])
                # the stray multi-part's two parts are judged one by one: two errors
                await rec.until("protocol_error", 4)
                errors = [e for n, (e, fatal) in rec.calls if n == "protocol_error"]
                assert any("exceeds max_frame_size 4096" in e for e in errors)
                assert not any(fatal for n, (e, fatal) in rec.calls if n == "protocol_error")
                await client.submit(sk.GetContracts())
                await rec.until("contract", 3)
                assert client.statistics().protocol_errors == 4

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_window_rejects_before_zeromq_could_drop_anything(backend: str) -> None:
    """A silent exchange: the session's window fills and rejects (SessionBusyError); every frame
    sent reached the exchange (nothing was dropped on the way)."""
    async def main() -> None:
        async with serve_simulator(options=fast_options(sndhwm=10, rcvhwm=10)) as sim:
            config = sk.SessionConfig(max_in_flight=50, ack_timeout=30.0, ack_timeout_max=30.0)
            async with open_session(sim.connector(options=fast_options(sndhwm=10, rcvhwm=10)),
                                    sk.MessageProcessor(), account="acct",
                                    config=config) as client:
                sim.silent = True
                for _ in range(50):
                    client.submit_nowait(sk.LimitOrder(contract_id=1, size=1,
                                                       price_in_cents=100))
                with pytest.raises(sk.SessionBusyError) as info:
                    client.submit_nowait(sk.LimitOrder(contract_id=1, size=1,
                                                       price_in_cents=100))
                assert info.value.reason == "window"
                (conn,) = sim.server.connections_open()
                with anyio.fail_after(10):
                    while conn.frames_received < 51:  # the login and the 50 orders
                        await anyio.sleep(0.01)
                sim.silent = False

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_client_of_the_simulator_with_msgpack_and_plain_sockets(backend: str) -> None:
    async def main() -> None:
        async with serve_simulator(curve=False, options=fast_options()) as sim:
            assert sim.server_key is None
            rec = Recorder()
            async with open_session(ZmqConnector(sim.endpoint, options=fast_options()), rec,
                                    account="acct", codec=sk.MsgpackCodec()) as client:
                await client.submit(sk.GetContracts())
                await rec.until("contract", 3)

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_connection_replaces_the_old_one(backend: str) -> None:
    async def main() -> None:
        async with serve_simulator(options=fast_options()) as sim:
            first = await sim.connector().connect()
            await first.send_frames([sk.JsonCodec().encode(sk.Login(account="a"))])
            await first.receive_frames()
            second = await sim.connector().connect()
            await second.send_frames([sk.JsonCodec().encode(sk.Login(account="a"))])
            await second.receive_frames()
            with anyio.fail_after(5), pytest.raises(sk.runtime.TransportClosedError,
                                                   match="replaced"):
                while True:
                    await first.receive_frames()
            await second.aclose()

    anyio.run(main, backend=backend)


SESSIONKIT = str(Path(sys.executable).with_name("sessionkit"))


def _sim_process(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([SESSIONKIT, "sim", "zmq", "--bind", "tcp://127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "ZMQ simulator listening on tcp://127.0.0.1:" in line, (line, proc.stderr.read())
    return proc, line.split(" on ", 1)[1].split(" ", 1)[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_simulator_command_with_curve_files(backend: str, tmp_path: Path) -> None:
    server_pub, server_sec = KeyPair.generate().save_certificate(tmp_path / "server.key")
    client_pub, client_sec = KeyPair.generate().save_certificate(tmp_path / "client.key")
    proc, endpoint = _sim_process(["--curve", "--key", str(server_sec), "--allow",
                                   str(client_pub), "--backend", backend])
    try:
        curve = CurveClient.from_files(client_sec, server_pub)

        async def main() -> None:
            rec = Recorder()
            async with open_session(ZmqConnector(endpoint, curve=curve,
                                                 options=fast_options()),
                                    rec, account="acct") as client:
                await client.submit(sk.GetContracts())
                await rec.until("contract", 3)
            stranger = CurveClient(keypair=KeyPair.generate(), server_key=curve.server_key)
            with pytest.raises(sk.runtime.ConnectError, match="allow-list"):
                await ZmqConnector(endpoint, curve=stranger, options=fast_options()).connect()

        anyio.run(main, backend=backend)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for kp in (KeyPair.load_certificate(server_sec), KeyPair.load_certificate(client_sec)):
        assert kp.secret is not None and kp.secret.decode() not in out + err


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_simulator_command_allow_any_and_plain(backend: str) -> None:
    proc, endpoint = _sim_process(["--curve", "--allow-any", "--backend", backend])
    try:
        assert proc.stdout is not None
        key_line = proc.stdout.readline()
        assert key_line.startswith("server public key")
        server_key = key_line.rsplit(" ", 1)[1].strip().encode()

        async def main() -> None:
            curve = CurveClient(keypair=KeyPair.generate(), server_key=server_key)
            t = await ZmqConnector(endpoint, curve=curve, options=fast_options()).connect()
            await t.aclose()

        anyio.run(main, backend=backend)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    run = subprocess.run([sys.executable, "-m", "sessionkit_zmq", "sim", "zmq", "--allow-any"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "need --curve" in run.stderr


def test_keygen_command(tmp_path: Path) -> None:
    name = tmp_path / "trader.key"
    run = subprocess.run([SESSIONKIT, "keygen", str(name)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    kp = KeyPair.load_certificate(tmp_path / "trader.key_secret")
    assert kp.secret is not None and kp.secret.decode() not in run.stdout
    assert os.stat(tmp_path / "trader.key_secret").st_mode & 0o777 == 0o600
    again = subprocess.run([sys.executable, "-m", "sessionkit_zmq", "keygen", str(name)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr
    assert KeyPair.load_certificate(tmp_path / "trader.key_secret") == kp


def test_adapter_entry_point_and_options() -> None:
    from sessionkit.runtime import CAPABILITIES, load_adapter

    a = load_adapter("zmq")
    assert a is adapter and a.name == "zmq"
    assert a.capabilities <= CAPABILITIES
    assert a.capabilities == CAPABILITIES - {"streaming"}
    with pytest.raises(sk.ConfigError, match="endpoint"):
        a.connector()
    with pytest.raises(sk.ConfigError, match="got \\['bogus'\\]"):
        a.connector("tcp://127.0.0.1:1", bogus=1)
    assert isinstance(a.connector("tcp://127.0.0.1:1"), ZmqConnector)
