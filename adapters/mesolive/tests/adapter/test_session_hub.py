"""The adapter's transport: reference-protocol frames over the session hub, both ways, in
order, any bytes; closes carry their reason; a bad token fails the connect clearly; sessions
run through the runtime against the reference exchange."""

from __future__ import annotations

from importlib.metadata import entry_points

import anyio
import anyio.abc
import pytest
from sessionkit_mesolive import SessionHubEndpoint, adapter
from sessionkit_mesolive._session_hub import ON_FRAMES, decode_frames, encode_frames
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.hubserver import HubServer

from sessionkit import Heartbeat, JsonCodec, LimitOrder, MessageProcessor
from sessionkit.runtime import (
    ConnectError,
    TransportClosedError,
    open_session,
    serve_reference_exchange,
)
from sessionkit.testing import ReferenceExchange

from .conftest import run


def test_the_entry_point_is_the_adapter() -> None:
    [ep] = [e for e in entry_points(group="sessionkit.adapters") if e.name == "mesolive"]
    loaded = ep.load()
    assert loaded is adapter and loaded.name == "mesolive"
    assert {"session", "reconnect", "backpressure"} <= loaded.capabilities


def test_frame_encoding_round_trips_any_bytes() -> None:
    frames = [b'{"type":"heartbeat"}', "h\u00e9".encode(), b"\x00\xffgarbled{", b""]
    assert decode_frames(encode_frames(frames)) == frames
    with pytest.raises(ValueError, match=r"frames\[0\]"):
        decode_frames([5])


def test_frames_flow_both_ways_and_closes_carry_the_reason(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(token="t") as endpoint:
            client = await endpoint.connector().connect()
            server = await endpoint.accept()
            await client.send_frames([b"one", b"\xfftwo"])
            await client.send_frames([b"three"])
            got: list[bytes] = []
            while len(got) < 3:
                got += await server.receive_frames()
            assert got == [b"one", b"\xfftwo", b"three"]
            await server.send_frames([b"back"])
            assert await client.receive_frames() == [b"back"]
            with anyio.move_on_after(0.05):  # a cancelled receive loses nothing
                await client.receive_frames()
            await server.send_frames([b"after"])
            assert await client.receive_frames() == [b"after"]
            await server.aclose()
            with pytest.raises(TransportClosedError, match="server closed the session"):
                await client.receive_frames()
            with pytest.raises(TransportClosedError):
                await client.send_frames([b"x"])
            other = await endpoint.connector().connect()
            peer = await endpoint.accept()
            await other.aclose()
            with pytest.raises(TransportClosedError, match="client closed"):
                await peer.receive_frames()

    run(main, backend=backend)


def test_a_bad_token_fails_the_connect_with_a_clear_reason(backend: str) -> None:
    async def main() -> None:
        async with adapter.serve(token="right") as endpoint:
            with pytest.raises(ConnectError, match="refused") as info:
                await endpoint.connector(token="wrong").connect()
            assert "wrong" not in info.value.reason

    run(main, backend=backend)


def test_a_session_over_signalr_against_the_reference_exchange(backend: str) -> None:
    finished: list[str] = []

    class Fills(MessageProcessor):
        def on_message_finished(self, event: object) -> None:
            finished.append(event.outcome.value)  # type: ignore[attr-defined]

    async def main() -> None:
        async with adapter.serve() as endpoint, anyio.create_task_group() as nursery:
            await nursery.start(serve_reference_exchange, endpoint, ReferenceExchange())
            async with open_session(endpoint.connector(), Fills(), account="acct") as client:
                await client.submit(LimitOrder(contract_id=1, side="buy", size=1,
                                               price_in_cents=100))
                await client.submit(LimitOrder(contract_id=1, side="sell", size=1,
                                               price_in_cents=100))
                with anyio.fail_after(10):
                    while len(finished) < 2:
                        await anyio.sleep(0.01)
            nursery.cancel_scope.cancel()
        assert finished == ["done", "done"]

    run(main, backend=backend)


def test_one_malformed_item_costs_nothing_else_of_its_batch(backend: str) -> None:
    """An OnFrames batch with bad items in it: the valid frames arrive in order, and each bad
    item arrives in its place as the JSON text it was, for the session to report."""

    async def main() -> None:
        async with adapter.serve(token="t") as endpoint:
            client = await endpoint.connector().connect()
            server = await endpoint.accept()
            await server.connection.send(ON_FRAMES, ["fill one", 42, {"Base64": "!!"},
                                                     {"Base64": "Zm9v"}, "fill two"])
            got: list[bytes] = []
            with anyio.fail_after(10):
                while len(got) < 5:
                    got += await client.receive_frames()
            assert got == [b"fill one", b"42", b'{"Base64":"!!"}', b"foo", b"fill two"]
            await server.connection.send(ON_FRAMES, {"not": "a list"})
            assert await client.receive_frames() == [b'{"not":"a list"}']
            await client.aclose()

    run(main, backend=backend)


def test_the_session_reports_the_bad_item_and_handles_the_good_ones(backend: str) -> None:
    seen: list[object] = []

    class Watch(MessageProcessor):
        def handle_heartbeat(self, msg: object, prev_msg: object) -> None:
            if getattr(msg, "interval_ms", None) == 4321:
                seen.append("heartbeat")

        def on_protocol_error(self, error: Exception, fatal: bool) -> None:
            seen.append(error)

    async def main() -> None:
        async with adapter.serve() as endpoint, anyio.create_task_group() as nursery:
            await nursery.start(serve_reference_exchange, endpoint, ReferenceExchange())
            async with open_session(endpoint.connector(), Watch(), account="acct"):
                beat = JsonCodec().encode(Heartbeat(interval_ms=4321)).decode()
                [server] = [t for t in endpoint.transports if not t.connection.closed]
                await server.connection.send(ON_FRAMES, [beat, 42])
                with anyio.fail_after(10):
                    while len(seen) < 2:
                        await anyio.sleep(0.01)
            nursery.cancel_scope.cancel()
        assert seen[0] == "heartbeat"
        assert "must be an object, got int" in str(seen[1])

    run(main, backend=backend)


def test_both_sides_flooding_each_other_through_bounded_queues_never_deadlock(backend: str) -> None:
    """Each side's owner alternates: send a batch (the client waits for room in its small
    send queue, that is for SendFrames' answer), then take what arrived. With small bounds
    everywhere, every frame still arrives, in order, both ways."""
    batches, size = 300, 20

    async def owner(transport: object, tag: bytes, got: list[bytes]) -> None:
        for i in range(batches):
            await transport.send_frames(  # type: ignore[attr-defined]
                [tag + b"%d-%d" % (i, j) for j in range(size)])
            with anyio.move_on_after(0):
                got += await transport.receive_frames()  # type: ignore[attr-defined]
        with anyio.move_on_after(5):
            while len(got) < batches * size:
                got += await transport.receive_frames()  # type: ignore[attr-defined]

    async def main() -> None:
        server_hub = HubServer()
        endpoint = SessionHubEndpoint(server_hub, max_buffer=16)
        async with running(server_hub) as base:
            endpoint.base_url = base
            client = await endpoint.connector(max_buffer=16, max_send_queue=size,
                                              max_pending_invocations=4).connect()
            server = await endpoint.accept()
            at_client: list[bytes] = []
            at_server: list[bytes] = []
            with anyio.fail_after(60):
                async with anyio.create_task_group() as nursery:
                    nursery.start_soon(owner, client, b"c", at_client)
                    nursery.start_soon(owner, server, b"s", at_server)
            expect = [b"%d-%d" % (i, j) for i in range(batches) for j in range(size)]
            assert at_client == [b"s" + f for f in expect]
            assert at_server == [b"c" + f for f in expect]
            await client.aclose()

    run(main, limit=90, backend=backend)


def test_a_connect_cancelled_midway_abandons_the_connection_attempt(backend: str) -> None:
    """``connector.connect()`` cancelled while the server has not answered the negotiate:
    the cancellation reaches the caller at once, and the attempt it started is abandoned too
    (its socket closes now, not after the HTTP timeout)."""

    async def main() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        accepted: list[anyio.abc.SocketStream] = []
        request = anyio.Event()

        async def silent_server(stream: anyio.abc.SocketStream) -> None:
            accepted.append(stream)
            await stream.receive()  # the negotiate request: never answered
            request.set()
            await anyio.sleep_forever()

        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, silent_server)
            connector = adapter.connector(f"http://127.0.0.1:{port}/hubs/session/v1",
                                          token="t")
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(connector.connect)
                    await request.wait()
                    scope.cancel()
            [stream] = accepted
            with anyio.fail_after(5):  # well before httpx's 10 s timeout
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    while True:
                        await stream.receive()
            tg.cancel_scope.cancel()

    run(main, backend=backend)
