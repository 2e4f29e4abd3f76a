"""The loopback TCP fault proxy, fault by fault, against plain trio sockets on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from sessionkit.testing import FaultProxy, ProxyConnection, open_fault_proxy

Main = Callable[[], Awaitable[None]]


def run(main: Main, *, virtual: bool = False) -> None:
    """Run ``main``; ``virtual``: on a MockClock that jumps once every task has been idle for
    50 ms of real time (so delays cost no real time, and bytes in flight land first)."""
    clock = trio.testing.MockClock(autojump_threshold=0.05) if virtual else None
    trio.run(main, clock=clock)


class Target:
    """A listening socket the proxy forwards to; ``accept()`` gives each connection."""

    def __init__(self, listener: trio.socket.SocketType) -> None:
        self.listener = listener
        self.address: tuple[str, int] = listener.getsockname()

    async def accept(self) -> trio.SocketStream:
        sock, _ = await self.listener.accept()
        return trio.SocketStream(sock)


@asynccontextmanager
async def proxied() -> AsyncIterator[tuple[FaultProxy, Target]]:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    target = Target(listener)
    try:
        async with open_fault_proxy(target.address) as proxy:
            yield proxy, target
    finally:
        listener.close()


async def connect(proxy: FaultProxy, target: Target
                  ) -> tuple[trio.SocketStream, trio.SocketStream, ProxyConnection]:
    """A client stream through the proxy, the target's end of it, and the proxy's record."""
    client = await trio.open_tcp_stream(*proxy.address)
    server = await target.accept()
    return client, server, proxy.connections[-1]


async def receive_exactly(stream: trio.SocketStream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await stream.receive_some(65536)
        assert chunk, f"EOF after {len(data)} of {n} bytes"
        data += chunk
    return data


async def receive_until_eof(stream: trio.SocketStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def nothing_arrives(stream: trio.SocketStream, seconds: float = 0.2) -> bool:
    with trio.move_on_after(seconds):
        await stream.receive_some(1)
        return False
    return True


def test_bytes_travel_both_ways_unchanged_and_eof_is_passed_on() -> None:
    payload = os.urandom(1 << 20)

    async def main() -> None:
        async with proxied() as (proxy, target):
            client, server, conn = await connect(proxy, target)
            assert proxy.address[0] == "127.0.0.1" and proxy.address[1] > 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_all, payload)
                assert await receive_exactly(server, len(payload)) == payload
            await server.send_all(b"answer")
            assert await receive_exactly(client, 6) == b"answer"
            await client.send_eof()  # the client's EOF reaches the target...
            assert await receive_until_eof(server) == b""
            await server.send_all(b"still")  # ...and the other way still flows
            assert await receive_exactly(client, 5) == b"still"
            await server.aclose()
            assert await receive_until_eof(client) == b""
            assert await conn.wait_closed() == "closed"
            assert conn.forwarded == {"to_server": len(payload), "to_client": 11}
            assert proxy.connections == [] and proxy.accepted == 1
            await client.aclose()

    run(main)


def test_refuse_closes_the_listening_socket_so_a_connect_is_refused() -> None:
    async def main() -> None:
        async with proxied() as (proxy, target):
            client, server, _ = await connect(proxy, target)
            port = proxy.port
            proxy.refuse()
            assert not proxy.listening
            with trio.socket.socket() as probe, pytest.raises(ConnectionRefusedError):
                await probe.connect(proxy.address)
            await client.send_all(b"open connections are not touched")
            assert await receive_exactly(server, 32) == b"open connections are not touched"
            await proxy.listen()  # the same port again
            assert proxy.port == port and proxy.listening
            again, server2, _ = await connect(proxy, target)
            await again.send_all(b"back")
            assert await receive_exactly(server2, 4) == b"back"
            for s in (client, server, again, server2):
                await s.aclose()

    run(main)


def test_reset_sends_an_rst_to_both_sides() -> None:
    async def main() -> None:
        async with proxied() as (proxy, target):
            client, server, conn = await connect(proxy, target)
            other, other_server, _ = await connect(proxy, target)
            await client.send_all(b"x")
            assert await receive_exactly(server, 1) == b"x"
            conn.reset()  # this connection only
            with pytest.raises(trio.BrokenResourceError) as info:
                await client.receive_some(10)
            assert isinstance(info.value.__cause__, ConnectionResetError)
            with pytest.raises(trio.BrokenResourceError) as info:
                await server.receive_some(10)
            assert isinstance(info.value.__cause__, ConnectionResetError)
            assert conn.closed == "reset by the fault proxy"
            await other.send_all(b"unharmed")
            assert await receive_exactly(other_server, 8) == b"unharmed"
            proxy.reset()  # every open connection
            with pytest.raises(trio.BrokenResourceError):
                await other.receive_some(10)
            for s in (client, server, other, other_server):
                await s.aclose()

    run(main)


def test_reset_new_resets_each_new_connection_as_it_is_accepted() -> None:
    async def main() -> None:
        async with proxied() as (proxy, _):
            proxy.reset(new=True)
            for _ in range(2):
                # the connect is accepted, then reset: seen by the connect itself when the
                # RST comes first, else by the first read
                with trio.socket.socket() as probe, pytest.raises(ConnectionResetError):
                    await probe.connect(proxy.address)
                    await probe.recv(10)
            assert proxy.accepted == 2
            await proxy.heal()
            client = await trio.open_tcp_stream(*proxy.address)
            await client.send_all(b"ok")
            assert await nothing_arrives(client, 0.05)  # open, not reset
            await client.aclose()

    run(main)


@pytest.mark.parametrize("direction", ["to_client", "to_server"])
def test_half_close_ends_one_direction_and_the_other_keeps_flowing(direction: str) -> None:
    async def main() -> None:
        async with proxied() as (proxy, target):
            client, server, conn = await connect(proxy, target)
            proxy.half_close(direction)  # type: ignore[arg-type]
            closed, open_ = (client, server) if direction == "to_client" else (server, client)
            assert await receive_until_eof(closed) == b""  # its reader sees EOF
            await closed.send_all(b"the other way flows")  # and it can still send
            assert await receive_exactly(open_, 19) == b"the other way flows"
            await open_.send_all(b"lost")  # nothing more is forwarded the closed way
            assert await receive_until_eof(closed) == b""
            assert conn.closed is None
            await closed.aclose()  # the last direction ends: the connection ends
            assert await receive_until_eof(open_) == b""
            assert await conn.wait_closed() == "closed"
            await open_.aclose()

    run(main)


def test_stall_holds_everything_with_the_sockets_open_until_resumed() -> None:
    async def main() -> None:
        async with proxied() as (proxy, target):
            client, server, conn = await connect(proxy, target)
            proxy.stall(new=True)
            assert conn.stalled
            await client.send_all(b"held")
            await server.send_all(b"held too")
            assert await nothing_arrives(server) and await nothing_arrives(client)
            assert conn.closed is None and conn.forwarded == {"to_client": 0, "to_server": 0}
            # a connection made during the stall starts stalled
            late = await trio.open_tcp_stream(*proxy.address)
            await late.send_all(b"late")
            assert len(proxy.connections) == 2 and proxy.connections[1].stalled
            proxy.resume()
            assert await receive_exactly(server, 4) == b"held"
            assert await receive_exactly(client, 8) == b"held too"
            late_server = await target.accept()
            assert await receive_exactly(late_server, 4) == b"late"
            for s in (client, server, late, late_server):
                await s.aclose()

    run(main)


def test_delay_holds_each_chunk_that_long_in_order() -> None:
    async def main() -> None:
        async with proxied() as (proxy, target):
            client, server, _ = await connect(proxy, target)
            proxy.delay(5.0)
            sent_at = trio.current_time()
            await client.send_all(b"first")
            assert await receive_exactly(server, 5) == b"first"
            assert trio.current_time() - sent_at >= 5.0  # virtual seconds
            await client.send_all(b"a")
            await trio.sleep(1.0)
            await client.send_all(b"b")
            assert await receive_exactly(server, 2) == b"ab"
            proxy.delay(0)
            await client.send_all(b"now")
            sent_at = trio.current_time()
            assert await receive_exactly(server, 3) == b"now"
            assert trio.current_time() - sent_at < 5.0
            await client.aclose()
            await server.aclose()

    run(main, virtual=True)


def test_split_forwards_each_chunk_in_pieces_across_several_reads() -> None:
    payload = bytes(range(256))

    async def main() -> None:
        async with proxied() as (proxy, target):
            proxy.split(16, pause=1.0, new=True)  # before the connection: applies to it
            client, server, conn = await connect(proxy, target)
            await client.send_all(payload)
            reads: list[bytes] = []
            while sum(map(len, reads)) < len(payload):
                reads.append(await server.receive_some(65536))
            assert b"".join(reads) == payload
            assert conn.writes["to_server"] >= len(payload) // 16
            assert len(reads) > 1 and max(map(len, reads)) < len(payload)
            proxy.split(0)  # whole again
            await server.send_all(b"y" * 100)
            assert await receive_exactly(client, 100) == b"y" * 100
            assert conn.writes["to_client"] == 1
            await client.aclose()
            await server.aclose()

    run(main, virtual=True)


def test_a_refused_target_and_a_peer_reset_are_passed_on_as_resets() -> None:
    async def main() -> None:
        free = trio.socket.socket()
        await free.bind(("127.0.0.1", 0))
        nobody = free.getsockname()
        free.close()
        async with open_fault_proxy(nobody) as proxy:
            client = await trio.open_tcp_stream(*proxy.address)
            with pytest.raises(trio.BrokenResourceError):
                await client.receive_some(10)
            await client.aclose()
        async with proxied() as (proxy, target):
            client, server, conn = await connect(proxy, target)
            server.socket.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
            await server.aclose()  # an RST from the target
            with pytest.raises(trio.BrokenResourceError):
                await client.receive_some(10)
            assert "ConnectionResetError" in await conn.wait_closed()
            await client.aclose()

    run(main)


def test_ipv6_loopback() -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def main() -> None:
        listener = trio.socket.socket(socket.AF_INET6)
        try:
            await listener.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback")
        listener.listen()
        async with open_fault_proxy(("::1", listener.getsockname()[1]), host="::1") as proxy:
            client = await trio.open_tcp_stream(*proxy.address)
            server = trio.SocketStream((await listener.accept())[0])
            await client.send_all(b"six")
            assert await receive_exactly(server, 3) == b"six"
            await client.aclose()
            await server.aclose()
        listener.close()

    run(main)


def test_bad_arguments_name_what_was_wrong() -> None:
    async def main() -> None:
        async with proxied() as (proxy, _):
            with pytest.raises(ValueError, match="direction must be"):
                proxy.half_close("up")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="delay must be .* got nan"):
                proxy.delay(float("nan"))
            with pytest.raises(ValueError, match="split size must be .* got -1"):
                proxy.split(-1)
        with pytest.raises(ValueError, match="target must be"):
            async with open_fault_proxy(("127.0.0.1", "80")):  # type: ignore[arg-type]
                pass

    run(main)


def test_the_public_names() -> None:
    import sessionkit.testing as testing

    assert testing.open_fault_proxy is open_fault_proxy
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        testing.Nope  # noqa: B018
    assert set(testing.__all__) >= {"FaultProxy", "ProxyConnection", "open_fault_proxy"}




@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_proxy_runs_on_asyncio_and_trio(backend: str) -> None:
    """Forwarding, a stall and its resume, a split, then a reset, on either event loop."""
    import anyio
    import anyio.abc

    async def main() -> list[Any]:
        seen: list[Any] = []
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            accepted: list[Any] = []
            got = anyio.Event()

            async def handle(stream: Any) -> None:
                accepted.append(stream)
                got.set()
                await anyio.sleep_forever()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listener.serve, handle)
                port = listener.extra(anyio.abc.SocketAttribute.local_port)
                async with open_fault_proxy(("127.0.0.1", port)) as proxy:
                    client = await anyio.connect_tcp(*proxy.address)
                    await got.wait()
                    server = accepted[0]
                    await client.send(b"ping")
                    seen.append(await server.receive(10))
                    proxy.stall()
                    proxy.split(1)
                    await client.send(b"held")
                    with anyio.move_on_after(0.05):
                        seen.append(await server.receive(10))
                    proxy.resume()
                    data = b""
                    while len(data) < 4:
                        data += await server.receive(10)
                    seen.append(data)
                    seen.append(proxy.connections[0].writes["to_server"])
                    proxy.reset()
                    try:
                        await client.receive(10)
                    except anyio.BrokenResourceError as exc:
                        seen.append(type(exc.__cause__).__name__)
                    except anyio.EndOfStream:  # pragma: no cover - a reset must not be EOF
                        seen.append("EOF")
                    await client.aclose()
                tasks.cancel_scope.cancel()
        return seen

    assert anyio.run(main, backend=backend) == [b"ping", b"held", 5, "ConnectionResetError"]
