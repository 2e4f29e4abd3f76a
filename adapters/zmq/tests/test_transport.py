"""The client transport and the server endpoint over real sockets on tcp loopback."""

from __future__ import annotations

import select
import time
from typing import Any

import anyio
import anyio.abc
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessionkit_zmq import ZmqConnector, adapter, serve_endpoint
from sessionkit_zmq._framing import close_message

from sessionkit.runtime import ConnectError, NonBlockingTransport, Transport, TransportClosedError

from .conftest import BACKENDS, LOOPBACK, fast_options, receive_n

#: the transport is AnyIO code: every test runs on both event loops
pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def _raw_accept(router: Any) -> bytes:
    """A hand-driven ROUTER's view of a new client: its hello, and its routing id."""
    ident, *rest = router.recv_multipart()
    assert rest == [b"", b"hello"]
    return ident


async def _raw_router_and_client(ctx: Any, *, slow_reader: bool = False,
                                 **options: Any) -> tuple[Any, Any]:
    """A hand-driven ROUTER on loopback and a client transport connected to it (its hello
    not yet read). ``slow_reader``: the ROUTER holds little (RCVHWM 5, a 4 KiB buffer)."""
    router = ctx.socket(zmq.ROUTER)
    if slow_reader:
        router.setsockopt(zmq.RCVHWM, 5)
        router.setsockopt(zmq.RCVBUF, 4096)
    router.bind(LOOPBACK)
    endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
    client = await ZmqConnector(endpoint, options=fast_options(**options)).connect()
    return router, client


async def _read_at_router(router: Any, n: int) -> list[bytes]:
    """The payloads of the next ``n`` messages a hand-driven ROUTER gets, polling it
    (without blocking the event loop) while the client's send goes on in another task."""
    got: list[bytes] = []
    while len(got) < n:
        if router.poll(0):
            got.append(router.recv_multipart()[1])
        else:
            await anyio.sleep(0.001)
    return got


async def _pair(ep: Any) -> tuple[Any, Any]:
    client = await ep.connector().connect()
    await client.send_frames([b"hello"])
    server = await ep.accept()
    assert await server.receive_frames() == [b"hello"]
    return client, server


@pytest.mark.parametrize("curve", [True, False])
def test_frames_travel_both_ways_in_order(backend: str, curve: bool) -> None:
    async def main() -> None:
        async with adapter.serve(curve=curve, options=fast_options()) as ep:
            client, server = await _pair(ep)
            assert isinstance(client, Transport) and isinstance(server, Transport)
            # the client's submits send at once; the server side has no need to
            assert isinstance(client, NonBlockingTransport)
            frames = [b"%d" % i for i in range(500)]
            await client.send_frames(frames)
            got, _ = await receive_n(server, 500)
            assert got == frames
            await server.send_frames(frames)
            got, _ = await receive_n(client, 500)
            assert got == frames
            if curve:
                assert server.user_id == ep.connector().curve.keypair.public.decode()
            await client.aclose()

    anyio.run(main, backend=backend)


def test_many_frames_are_drained_in_few_wakeups(backend: str) -> None:
    """One wake-up of the edge-triggered FD returns every frame ready, not one each (with
    small frames, so that ZeroMQ's receive queue, bounded in bytes, holds thousands)."""
    async def main() -> None:
        async with adapter.serve(options=fast_options(max_frame_size=1024)) as ep:
            client, server = await _pair(ep)
            n = 20000
            await server.send_frames([b"x" * 20] * n)
            got, calls = await receive_n(client, n)
            assert len(got) == n
            assert calls < n / 20
            await client.aclose()

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("nowait", [False, True], ids=["send_frames", "send_frames_nowait"])
def test_a_send_that_consumes_the_read_signal_wakes_the_parked_reader(
        backend: str, raw_context: Any, nowait: bool) -> None:
    """A reader parks on the FD; a frame arrives; another task's send processes the socket's
    commands (clearing the FD) before the event loop looks at it: the reader must still
    wake. The same with the synchronous send_frames_nowait the runtime's submits use."""
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context)
        ident = _raw_accept(router)
        fd = client._sock.getsockopt(zmq.FD)
        got: list[bytes] = []

        async def reader() -> None:
            got.extend(await client.receive_frames())

        for round_ in range(50):
            got.clear()
            async with anyio.create_task_group() as nursery:
                nursery.start_soon(reader)
                await anyio.wait_all_tasks_blocked()
                # No checkpoint from here to the send: the loop cannot look at the FD meanwhile.
                router.send_multipart([ident, b"r%d" % round_])
                assert select.select([fd], [], [], 5.0)[0], "the frame did not arrive"
                if nowait:
                    assert client.send_frames_nowait([b"ping"]) == 1
                else:
                    await client.send_frames([b"ping"])
                with anyio.fail_after(5):
                    while not got:
                        await anyio.sleep(0)  # only checkpoints: the reader must wake
            assert got == [b"r%d" % round_]
        await client.aclose()
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_receive_is_cancel_safe(backend: str) -> None:
    """The runtime wakes its owner task by cancelling receive_frames: no frame may be lost."""
    async def main() -> None:
        async with adapter.serve(curve=False, options=fast_options()) as ep:
            client, server = await _pair(ep)
            n = 3000
            got: list[bytes] = []

            async def send() -> None:
                for i in range(0, n, 10):
                    await server.send_frames([b"%d" % j for j in range(i, i + 10)])
                    await anyio.sleep(0)

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(send)
                while len(got) < n:
                    with anyio.move_on_after(0.0005):
                        got.extend(await client.receive_frames())
            assert got == [b"%d" % j for j in range(n)]
            await client.aclose()

    anyio.run(main, backend=backend)


def test_close_during_receive_ends_the_receive(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            client, server = await _pair(ep)
            errors: list[str] = []

            async def reader() -> None:
                try:
                    await client.receive_frames()
                except TransportClosedError as exc:
                    errors.append(exc.reason)

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(reader)
                await anyio.wait_all_tasks_blocked()
                await client.aclose()
            assert errors and "closed locally" in errors[0]
            with pytest.raises(TransportClosedError):
                await client.send_frames([b"late"])
            await client.aclose()  # idempotent
            # the server is told: frames before the close, then the reason
            with anyio.fail_after(5), pytest.raises(TransportClosedError, match="client closed"):
                while True:
                    await server.receive_frames()

    anyio.run(main, backend=backend)


def test_server_close_reaches_the_client_after_its_frames(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            client, server = await _pair(ep)
            await server.send_frames([b"last words"])
            await server.aclose()
            with anyio.fail_after(5):
                assert await client.receive_frames() == [b"last words"]
                with pytest.raises(TransportClosedError, match="exchange closed the connection"):
                    await client.receive_frames()
            with pytest.raises(TransportClosedError):
                await server.send_frames([b"x"])
            with pytest.raises(TransportClosedError, match="this side is closed"):
                await server.receive_frames()
            await client.aclose()

    anyio.run(main, backend=backend)


def test_server_shutdown_and_lost_connection_are_reported(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            client, server = await _pair(ep)
        with anyio.fail_after(5), pytest.raises(TransportClosedError) as info:
            while True:
                await client.receive_frames()
        assert "server shut down" in info.value.reason or "lost" in info.value.reason
        await client.aclose()

    anyio.run(main, backend=backend)


def test_a_peer_that_vanishes_is_a_lost_connection(backend: str, raw_context: Any) -> None:
    """No close notice (the process died): the monitor's disconnect ends the transport."""
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context)
        router.close(linger=0)
        with anyio.fail_after(5), pytest.raises(TransportClosedError, match="was lost"):
            await client.receive_frames()
        with pytest.raises(TransportClosedError):
            await client.send_frames([b"x"])
        await client.aclose()

    anyio.run(main, backend=backend)


def test_oversize_and_garbled_messages(backend: str, raw_context: Any) -> None:
    """Frames past max_frame_size (below ZMQ_MAXMSGSIZE) and the parts of a stray multi-part
    message are delivered for the codec to refuse; past ZMQ_MAXMSGSIZE libzmq drops the
    connection."""
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context, max_frame_size=1000)
        ident = _raw_accept(router)
        router.send_multipart([ident, b"y" * 1500])               # over the frame limit
        router.send_multipart([ident, b"{\"type\":", b"\"x\"}"])  # a stray multi-part
        router.send_multipart([ident, b"", b"future-command"])    # unknown control: ignored
        router.send_multipart([ident, b"\xff\x00garbled"])
        got, _ = await receive_n(client, 4)
        # the stray multi-part's parts come one by one (only an empty first part says
        # that more parts belong together: a control message)
        assert got == [b"y" * 1500, b"{\"type\":", b"\"x\"}", b"\xff\x00garbled"]
        router.send_multipart([ident, b"z" * 2001])               # over ZMQ_MAXMSGSIZE
        with anyio.fail_after(5), pytest.raises(TransportClosedError, match="MAXMSGSIZE"):
            await client.receive_frames()
        await client.aclose()
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_client_hwm_makes_send_wait_never_drop(backend: str, raw_context: Any) -> None:
    """A peer that does not read: sends wait at SNDHWM; once it reads, all arrive in order."""
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context, slow_reader=True, sndhwm=5)
        _raw_accept(router)
        frames = [b"%06d" % i + b"." * 4000 for i in range(2000)]
        done = anyio.Event()

        async def send() -> None:
            await client.send_frames(frames)
            done.set()

        async with anyio.create_task_group() as nursery:
            nursery.start_soon(send)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0.2):
                await done.wait()
            assert not done.is_set()  # waiting on the high-water mark, not dropping
            got = await _read_at_router(router, len(frames))
        assert got == frames
        await client.aclose()
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_server_hwm_makes_send_wait_never_drop(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(curve=False, options=fast_options(sndhwm=5)) as ep:
            client = await ZmqConnector(ep.endpoint, options=fast_options(rcvhwm=5)).connect()
            await client.send_frames([b"hello"])
            server = await ep.accept()
            frames = [b"%06d" % i + b"." * 4000 for i in range(2000)]
            done = anyio.Event()

            async def send() -> None:
                await server.send_frames(frames)
                done.set()

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(send)
                with anyio.move_on_after(0.2):
                    await done.wait()
                assert not done.is_set()
                got, _ = await receive_n(client, len(frames))
            assert got == frames
            await client.aclose()

    anyio.run(main, backend=backend)


def test_each_connection_is_its_own_transport(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(options=fast_options()) as ep:
            clients = [await ep.connector().connect() for _ in range(3)]
            for i, c in enumerate(clients):
                await c.send_frames([b"from %d" % i])
            servers = [await ep.accept() for _ in range(3)]
            seen = {}
            for s in servers:
                (frame,) = await s.receive_frames()
                seen[frame] = s
                await s.send_frames([b"to " + frame])
            for i, c in enumerate(clients):
                assert await c.receive_frames() == [b"to from %d" % i]
                await c.aclose()
            for s in servers:
                with anyio.fail_after(5), pytest.raises(TransportClosedError):
                    await s.receive_frames()

    anyio.run(main, backend=backend)


def test_connect_refused_times_out_with_a_reason(backend: str) -> None:
    from sessionkit import ConfigError

    async def main() -> None:
        async with adapter.serve(curve=False) as ep:
            endpoint = ep.endpoint
        connector = ZmqConnector(endpoint, options=fast_options(connect_timeout=0.3))
        with pytest.raises(ConnectError, match="no TCP connection"):
            await connector.connect()
        # an address that cannot work is refused where it is given, not at connect()
        with pytest.raises(ConfigError, match="port 'notaport' is not a number"):
            ZmqConnector("tcp://127.0.0.1:notaport")

    anyio.run(main, backend=backend)


def test_bind_errors_name_the_address(backend: str) -> None:
    from sessionkit import ConfigError

    async def main() -> None:
        async with adapter.serve(curve=False) as ep:
            with pytest.raises(ConfigError, match="cannot bind"):
                async with serve_endpoint(ep.endpoint, curve=False):
                    pass
        with pytest.raises(ConfigError, match="bind 'nonsense' must look like"):
            async with serve_endpoint("nonsense"):
                pass

    anyio.run(main, backend=backend)


def test_close_message_from_the_client_is_its_reason(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(curve=False, options=fast_options()) as ep:
            client, server = await _pair(ep)
            client._sock.send_multipart(close_message("going home"))
            with anyio.fail_after(5), pytest.raises(TransportClosedError, match="going home"):
                await server.receive_frames()
            await client.aclose()

    anyio.run(main, backend=backend)


_frames = st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_frames, min_size=1, max_size=5))
def test_any_frames_arrive_whole_and_in_order(backend: str, batches: list[list[bytes]]) -> None:
    """Whatever bytes the codec makes (empty, starting with a NUL...) arrive unchanged."""
    async def main() -> None:
        async with adapter.serve(curve=False, options=fast_options()) as ep:
            client, server = await _pair(ep)
            flat = [f for b in batches for f in b]
            for b in batches:
                await client.send_frames(b)
                await server.send_frames(b)
            assert (await receive_n(server, len(flat)))[0] == flat
            assert (await receive_n(client, len(flat)))[0] == flat
            await client.aclose()

    anyio.run(main, backend=backend)


def test_frames_received_before_a_drop_are_delivered_first(backend: str, raw_context: Any) -> None:
    """The peer sends, then vanishes while the client is not reading: every frame ZeroMQ
    received is still delivered, then the close (IMMEDIATE=1 or RECONNECT_IVL=-1 would lose
    them). ZeroMQ receives up to its inbound bound (``max_inbound_bytes``, here room for the
    100 frames); what is beyond it waits in TCP's buffer (backpressure) and goes with the
    connection if that breaks first, for the session's resume to recover."""
    async def main() -> None:
        room = 100 * fast_options().max_message_size
        router, client = await _raw_router_and_client(raw_context, max_inbound_bytes=room)
        ident = _raw_accept(router)
        for i in range(100):
            router.send_multipart([ident, b"m%d" % i])
        router.close(linger=2000)
        # let the drop reach the client before it reads anything
        mon_fd = client._mon.getsockopt(zmq.FD)
        select.select([mon_fd], [], [], 5.0)
        await anyio.sleep(0.05)
        got, _ = await receive_n(client, 100)
        assert got == [b"m%d" % i for i in range(100)]
        with anyio.fail_after(5), pytest.raises(TransportClosedError, match="was lost"):
            await client.receive_frames()
        await client.aclose()

    anyio.run(main, backend=backend)


def test_frames_a_client_sent_before_it_vanished_reach_the_server(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(curve=False, options=fast_options()) as ep:
            client, server = await _pair(ep)
            await client.send_frames([b"m%d" % i for i in range(100)])
            client._teardown(2000)  # the process ends: no close notice, just the TCP close
            await anyio.sleep(0.05)
            got, _ = await receive_n(server, 100)
            assert got == [b"m%d" % i for i in range(100)]
            with anyio.fail_after(5), pytest.raises(TransportClosedError, match="disconnected"):
                await server.receive_frames()

    anyio.run(main, backend=backend)


# -- send_frames_nowait (the runtime's NonBlockingTransport) --------------------------------


def test_send_frames_nowait_on_a_closed_connection_raises_and_the_receive_says_why(backend: str,
        raw_context: Any) -> None:
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context)
        ident = _raw_accept(router)
        router.send_multipart([ident, *close_message("maintenance")])
        with pytest.raises(TransportClosedError, match="maintenance"):
            with anyio.fail_after(5):
                await client.receive_frames()
        with pytest.raises(TransportClosedError, match="maintenance"):
            client.send_frames_nowait([b"late"])
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_after_a_wake_receive_frames_returns_every_frame_ready(backend: str,
                                                               raw_context: Any) -> None:
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context)
        ident = _raw_accept(router)
        fd = client._sock.getsockopt(zmq.FD)
        async with anyio.create_task_group() as nursery:
            got: list[list[bytes]] = []

            async def reader() -> None:
                got.append(await client.receive_frames())

            nursery.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            for i in range(3):
                router.send_multipart([ident, b"f%d" % i])
            # no checkpoint until all three are in: the reader wakes to a full socket
            assert select.select([fd], [], [], 5.0)[0], "nothing arrived"
            time.sleep(0.2)
        assert got == [[b"f0", b"f1", b"f2"]]
        await client.aclose()
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_answers_to_nowait_sends_reach_the_parked_reader_each_once(
        backend: str, raw_context: Any) -> None:
    """As the runtime uses it: the owner parked in receive_frames, another task sends with
    send_frames_nowait and frames come back, some arriving after the send, some already
    there when it runs (its processing of the socket's commands may then consume the read
    signal). Each reaches the parked reader exactly once."""
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context)
        ident = _raw_accept(router)
        delivered: list[bytes] = []

        async def reader() -> None:
            while True:
                delivered.extend(await client.receive_frames())

        async with anyio.create_task_group() as nursery:
            nursery.start_soon(reader)
            for i in range(50):
                await anyio.wait_all_tasks_blocked()
                if i % 2:  # in before the send, no checkpoint in between
                    router.send_multipart([ident, b"a%d" % i])
                    time.sleep(0.02)
                assert client.send_frames_nowait([b"q%d" % i]) == 1
                assert router.poll(5000), "the request did not arrive"
                assert router.recv_multipart() == [ident, b"q%d" % i]
                if not i % 2:
                    router.send_multipart([ident, b"a%d" % i])
                with anyio.fail_after(5):
                    while len(delivered) < i + 1:
                        await anyio.sleep(0)
            await anyio.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert delivered == [b"a%d" % i for i in range(50)]
        await client.aclose()
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_send_frames_nowait_stops_at_the_high_water_mark(backend: str, raw_context: Any) -> None:
    """A peer that does not read: the nowait send returns how many went out, never waits,
    never drops; the rest goes through the waiting send, in order."""
    async def main() -> None:
        router, client = await _raw_router_and_client(raw_context, slow_reader=True, sndhwm=5)
        _raw_accept(router)
        frames = [b"%06d" % i + b"." * 4000 for i in range(2000)]
        sent = client.send_frames_nowait(frames)
        assert 0 < sent < len(frames)
        async with anyio.create_task_group() as nursery:
            nursery.start_soon(client.send_frames, frames[sent:])
            got = await _read_at_router(router, len(frames))
        assert got == frames
        await client.aclose()
        router.close(linger=0)

    anyio.run(main, backend=backend)


def test_a_connect_cancelled_mid_handshake_is_cancelled_and_leaves_the_context_usable(
        backend: str) -> None:
    """A peer that takes the TCP connection and never speaks ZMTP: the connect waits in the
    handshake; cancelled there (as a login cancelled mid-way is), the loop's own
    cancellation ends it (caught by its scope, not turned into a ConnectError), and the
    same context then connects to a real endpoint and terminates."""
    async def main() -> None:
        ctx: Any = zmq.Context()
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            connector = ZmqConnector(f"tcp://127.0.0.1:{port}", context=ctx,
                                     options=fast_options(connect_timeout=30.0))
            with anyio.move_on_after(0.3) as scope:
                await connector.connect()
            assert scope.cancelled_caught
        async with adapter.serve(curve=False, options=fast_options()) as ep:
            client = await ZmqConnector(ep.endpoint, context=ctx,
                                        options=fast_options()).connect()
            await client.send_frames([b"after"])
            server = await ep.accept()
            assert await server.receive_frames() == [b"after"]
            await client.aclose()
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(ctx.term, abandon_on_cancel=True)

    anyio.run(main, backend=backend)
