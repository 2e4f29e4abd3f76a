"""Inbound bounds: an exchange that floods the client cannot grow its memory past the bound
(the exchange's sends wait instead, nothing is dropped), and a message too big for the
bound is reported to the engine, never dropped in silence."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from typing import Any

import anyio
import pytest
from sessionkit_zmq import SocketOptions, ZmqConnector, adapter

import sessionkit as sk
from sessionkit.runtime import TransportClosedError, open_session

from .conftest import BACKENDS, fast_options

MiB = 1 << 20

#: a hostile exchange in a process of its own (so that its send queue is not counted as the
#: client's memory): a ROUTER that answers the client's hello with COUNT messages of SIZE
#: bytes as fast as it can, each starting with its index. It prints "stuck N" once a send has
#: waited a second (the client's bounds reached: TCP pushes back), or "done".
FLOODER = r"""
import sys, zmq
count, size = int(sys.argv[1]), int(sys.argv[2])
ctx = zmq.Context()
router = ctx.socket(zmq.ROUTER)
router.setsockopt(zmq.ROUTER_MANDATORY, 1)
router.setsockopt(zmq.SNDHWM, 2)
port = router.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
ident, *_ = router.recv_multipart()
body = b"." * (size - 8)
stuck = False
for i in range(count):
    while not stuck and not router.poll(1000, zmq.POLLOUT):
        print("stuck", i, flush=True)
        stuck = True
    router.send_multipart([ident, b"%08d" % i + body])
print("done", flush=True)
sys.stdin.read()
"""


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("bound, count", [(8 * MiB, 256), (None, 512)],
                         ids=["8MiB-bound", "default-64MiB-bound"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_flooding_exchange_cannot_grow_the_client_past_its_inbound_bound(
        backend: str, bound: int | None, count: int) -> None:
    """The client reads nothing while the exchange floods it with 1 MiB messages (a
    multiple of the bound in all): the client's memory grows by no more than the bound
    (ZeroMQ holds at most RCVHWM x MAXMSGSIZE <= max_inbound_bytes; the exchange's sends
    wait). Then every message arrives, once, in order, each read batch within the bound."""
    options = fast_options() if bound is None else fast_options(max_inbound_bytes=bound)
    limit = options.max_inbound_bytes
    assert options.effective_rcvhwm * options.max_message_size <= limit
    size = MiB
    flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(count), str(size)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert flooder.stdout is not None and flooder.stdin is not None
    try:
        port = int(flooder.stdout.readline())

        async def main() -> None:
            baseline = _rss()
            client = await ZmqConnector(f"tcp://127.0.0.1:{port}", options=options).connect()
            state = await anyio.to_thread.run_sync(flooder.stdout.readline)  # type: ignore
            flooded = _rss() - baseline
            # what ZeroMQ holds, plus the allocator's and the I/O thread's slack
            assert flooded < limit + 16 * MiB, f"grew {flooded / MiB:.0f} MiB while flooded"
            assert state.startswith("stuck"), f"the flood was never held back: {state!r}"
            tracemalloc.start()
            try:
                got = 0
                peak_rss = 0
                while got < count:
                    batch = await client.receive_frames()
                    assert sum(map(len, batch)) <= limit + size
                    for frame in batch:
                        assert frame[:8] == b"%08d" % got and len(frame) == size
                        got += 1
                    del batch
                    peak_rss = max(peak_rss, _rss() - baseline)
                _, peak_py = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # one batch at a time in Python, ZeroMQ's bounded queue beside it
            assert peak_py < limit + 2 * size, f"Python held {peak_py / MiB:.0f} MiB"
            assert peak_rss < 2 * limit + 16 * MiB, f"grew {peak_rss / MiB:.0f} MiB reading"
            await client.aclose()

        anyio.run(main, backend=backend)
    finally:
        flooder.stdin.close()
        flooder.kill()
        flooder.wait()


class _Recorder(sk.MessageProcessor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.changed = anyio.Event()

    def _note(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        self.changed.set()
        self.changed = anyio.Event()

    def on_protocol_error(self, error: Exception, fatal: bool) -> None:
        self._note("on_protocol_error", error)

    def on_connection_failed(self, reason: str) -> None:
        self._note("on_connection_failed", reason)

    def handle_heartbeat(self, msg: Any, prev_msg: Any) -> None:
        self._note("handle_heartbeat", msg)

    def named(self, name: str) -> list[Any]:
        return [v for n, v in self.calls if n == name]

    async def wait_for(self, name: str) -> Any:
        with anyio.fail_after(10):
            while not self.named(name):
                await self.changed.wait()
        return self.named(name)[0]


@pytest.mark.parametrize("size", ["over the frame limit", "over MAXMSGSIZE"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_message_too_big_is_reported_to_the_engine(backend: str, size: str) -> None:
    """Over max_frame_size (and within MAXMSGSIZE) the frame reaches the codec, which refuses
    it: one on_protocol_error naming the size. Over MAXMSGSIZE libzmq drops the connection
    before it allocates the message: one on_connection_failed naming MAXMSGSIZE. Neither is
    a silent drop."""
    options = fast_options(max_frame_size=64 * 1024)
    big = b'{"type":"heartbeat","pad":"' + b"x" * (
        options.max_frame_size + 10 if size == "over the frame limit"
        else options.max_message_size + 10) + b'"}'

    async def main() -> None:
        processor = _Recorder()
        codec = sk.JsonCodec(options.max_frame_size)
        servers: list[Any] = []

        async def exchange(ep: Any) -> None:  # accept the login, then the script below
            server = await ep.accept()
            (login,) = await server.receive_frames()
            assert codec.decode(login).TYPE == "login"
            await server.send_frames([codec.encode(sk.LoginAck(run_id="r1", last_event_id=0))])
            servers.append(server)

        async with adapter.serve(options=options) as ep:
            async with anyio.create_task_group() as nursery:
                nursery.start_soon(exchange, ep)
                # "report": the refused frame is the only report (by default it would also
                # end the connection, for a reconnect and the replay to repair)
                async with open_session(ep.connector(), processor, account="a", codec=codec,
                                        config=sk.SessionConfig(on_violation="report")
                                        ) as client:
                    await servers[0].send_frames([big])
                    if size == "over the frame limit":
                        error = await processor.wait_for("on_protocol_error")
                        assert f"frame of {len(big)} bytes exceeds max_frame_size" in str(error)
                    else:
                        reason = await processor.wait_for("on_connection_failed")
                        assert "MAXMSGSIZE" in reason and "lost" in reason
                    await anyio.sleep(0.2)
                    assert (client.error is None) == (size == "over the frame limit")
                    nursery.cancel_scope.cancel()  # no logout: this exchange would not answer
                    assert len(processor.named("on_protocol_error")
                               + processor.named("on_connection_failed")) == 1, processor.calls

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_server_drops_a_client_that_floods_it_past_its_inbound_bound(backend: str
                                                                         ) -> None:
    """The server side cannot hold a client back by itself (one ROUTER for all clients): a
    connection whose unread frames pass max_inbound_bytes is closed, and the client is told
    why."""
    options = fast_options(max_inbound_bytes=4 * MiB)

    async def main() -> None:
        async with adapter.serve(curve=False, options=options) as ep:
            client = await ZmqConnector(ep.endpoint, options=fast_options()).connect()
            await client.send_frames([b"hello"])
            server = await ep.accept()
            with anyio.fail_after(20):
                for _ in range(16):
                    await client.send_frames([b"y" * MiB])
                with pytest.raises(TransportClosedError, match="max_inbound_bytes"):
                    while True:
                        await client.receive_frames()
            with pytest.raises(TransportClosedError, match="did not read"):
                await server.receive_frames()

    anyio.run(main, backend=backend)


def test_the_bound_is_checked_and_applied() -> None:
    assert SocketOptions().effective_rcvhwm == 32  # 64 MiB of 2 MiB messages
    assert SocketOptions(rcvhwm=10).effective_rcvhwm == 10
    assert SocketOptions(rcvhwm=0).effective_rcvhwm == 32  # "no limit" is still bounded
    assert SocketOptions(max_inbound_bytes=1).effective_rcvhwm == 1
    with pytest.raises(sk.ConfigError, match="max_inbound_bytes must be a positive"):
        SocketOptions(max_inbound_bytes=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_codec_over_the_sockets_message_limit_is_refused_at_open(backend: str) -> None:
    """The connector declares what its socket carries (MAXMSGSIZE, from SocketOptions):
    a session whose codec makes or takes larger frames is refused before it connects,
    naming both limits, instead of losing its connection on the first such frame."""
    options = SocketOptions(max_frame_size=32 * 1024)  # the socket carries twice that
    connector = ZmqConnector("tcp://127.0.0.1:9", options=options)
    assert connector.max_frame_size == 64 * 1024

    async def main() -> None:
        with pytest.raises(sk.ConfigError, match=r"max_frame_size 1048576 .*65536"):
            async with open_session(connector, sk.MessageProcessor(), account="a"):
                pass  # pragma: no cover - refused before

    anyio.run(main, backend=backend)
