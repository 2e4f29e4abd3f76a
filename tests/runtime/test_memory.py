"""The in-memory transport pair, its fault hooks, the endpoint and the ``memory`` adapter."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit import ConfigError, Heartbeat, JsonCodec, Logout
from sessionkit.runtime import (
    CAPABILITIES,
    ConnectError,
    NonBlockingTransport,
    Transport,
    TransportClosedError,
    load_adapter,
)
from sessionkit.runtime.memory import (
    Faults,
    MemoryEndpoint,
    adapter,
    memory_transport_pair,
    message_type,
)


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_frames_arrive_in_order_and_in_one_batch() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        await a.send_frames([b"1", b"2"])
        await a.send_frames([b"3"])
        assert await b.receive_frames() == [b"1", b"2", b"3"]
        await b.send_frames([b"back"])
        assert await a.receive_frames() == [b"back"]
        assert (a.frames_sent, b.frames_received) == (3, 3)

    run(main)


def test_send_frames_nowait_sends_what_fits_and_never_waits() -> None:
    async def main() -> None:
        a, b = memory_transport_pair(max_buffer=3)
        assert isinstance(a, NonBlockingTransport)
        with trio.testing.assert_no_checkpoints():
            assert a.send_frames_nowait([b"1", b"2"]) == 2
            assert a.send_frames_nowait([b"3", b"4", b"5"]) == 1  # the buffer holds 3
            assert a.send_frames_nowait([b"4"]) == 0
        assert await b.receive_frames() == [b"1", b"2", b"3"]
        a.close("done")
        with pytest.raises(TransportClosedError, match="done"):
            a.send_frames_nowait([b"late"])

    run(main)


def test_a_full_buffer_makes_the_sender_wait() -> None:
    async def main() -> None:
        a, b = memory_transport_pair(max_buffer=2)
        sent = trio.Event()

        async def sender() -> None:
            await a.send_frames([b"1", b"2", b"3", b"4", b"5"])
            sent.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
            assert b.buffered == 2 and not sent.is_set()
            got: list[bytes] = []
            while len(got) < 5:
                got += await b.receive_frames()
            assert got == [b"1", b"2", b"3", b"4", b"5"]
        assert sent.is_set()

    run(main)


def test_close_delivers_what_was_sent_then_the_reason() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        await a.send_frames([b"last words"])
        a.close("logged out")
        assert await b.receive_frames() == [b"last words"]
        with pytest.raises(TransportClosedError, match="logged out"):
            await b.receive_frames()
        with pytest.raises(TransportClosedError, match="peer closed the connection: logged out"):
            await b.send_frames([b"x"])
        with pytest.raises(TransportClosedError, match="this side is closed"):
            await a.receive_frames()
        await a.aclose()  # idempotent
        assert not a.is_open and not b.is_open

    run(main)


def test_abort_loses_buffered_frames_both_ways() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        await a.send_frames([b"lost"])
        b.abort("cable cut")
        for side in (a, b):
            with pytest.raises(TransportClosedError, match="cable cut"):
                await side.receive_frames()
        with pytest.raises(TransportClosedError, match="cable cut"):
            await a.send_frames([b"x"])

    run(main)


def test_a_waiting_receiver_wakes_on_close_and_abort() -> None:
    async def main() -> None:
        for how in ("close", "abort"):
            a, b = memory_transport_pair()
            reasons: list[str] = []

            async def reader(b: Any = b, reasons: list[str] = reasons) -> None:
                try:
                    await b.receive_frames()
                except TransportClosedError as exc:
                    reasons.append(exc.reason)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                await trio.testing.wait_all_tasks_blocked()
                getattr(a, how)(f"by {how}")
            assert reasons == [f"by {how}"]

    run(main)


def test_a_cancelled_receive_loses_no_frame() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        with trio.move_on_after(1):
            await b.receive_frames()
        await a.send_frames([b"kept"])
        with trio.CancelScope() as scope:
            scope.cancel()
            await b.receive_frames()  # cancelled before it takes anything
        assert await b.receive_frames() == [b"kept"]

    run(main)


def test_faults_drop_duplicate_garble_by_match() -> None:
    codec = JsonCodec()
    hb, bye = codec.encode(Heartbeat()), codec.encode(Logout())

    async def main() -> None:
        a, b = memory_transport_pair()
        a.faults.drop(1, match=message_type("logout"))
        a.faults.duplicate(1, match=message_type("heartbeat"))
        await a.send_frames([bye, hb, bye])
        assert await b.receive_frames() == [hb, hb, bye]
        a.faults.garble(1)
        await a.send_frames([hb])
        (garbled,) = await b.receive_frames()
        assert garbled != hb
        f = a.faults
        assert (f.dropped, f.duplicated, f.garbled) == (1, 1, 1)

    run(main)


def test_delay_holds_later_frames_behind() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        a.faults.delay(2.0)
        t0 = trio.current_time()
        await a.send_frames([b"slow", b"behind"])
        assert await b.receive_frames() == [b"slow", b"behind"]
        assert trio.current_time() - t0 == pytest.approx(2.0)

    run(main)


def test_hold_and_release() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        a.faults.hold()
        await a.send_frames([b"1"])
        with trio.move_on_after(5):
            await b.receive_frames()
            raise AssertionError("a held frame was delivered")
        a.faults.release()
        assert await b.receive_frames() == [b"1"]

    run(main)


def test_disconnect_after_n_frames() -> None:
    async def main() -> None:
        a, b = memory_transport_pair()
        a.faults.disconnect(after=2, reason="cut at the third")
        with pytest.raises(TransportClosedError, match="cut at the third"):
            await a.send_frames([b"1", b"2", b"3", b"4"])
        with pytest.raises(TransportClosedError, match="cut at the third"):
            await b.receive_frames()  # an abort: what was buffered is lost too
        with pytest.raises(TransportClosedError, match="cut at the third"):
            await a.send_frames([b"5"])
        assert a.faults.disconnects == 1

    run(main)


def test_probabilistic_faults_are_seeded() -> None:
    def sample() -> list[bytes]:
        async def main() -> list[bytes]:
            f = Faults(rng=random.Random(3), p_drop=0.3, p_duplicate=0.3)
            a, b = memory_transport_pair(faults_a_to_b=f)
            await a.send_frames([bytes([i]) for i in range(50)])
            return await b.receive_frames()

        return run(main)  # type: ignore[no-any-return]

    first = sample()
    assert first == sample() and len(first) != 50


@pytest.mark.parametrize("build, field", [
    (lambda: Faults(p_drop=2.0), "p_drop"),
    (lambda: Faults().delay(-1.0), "seconds"),
    (lambda: Faults().drop(-1), "count"),
    (lambda: memory_transport_pair(max_buffer=0), "max_buffer"),
    (lambda: message_type(), "type names"),
])
def test_bad_fault_arguments_are_named(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        build()


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.lists(st.binary(max_size=4), max_size=7), max_size=12),
       max_buffer=st.integers(1, 5), dup_every=st.integers(0, 4))
def test_what_is_sent_is_received_in_order(chunks: list[list[bytes]], max_buffer: int,
                                           dup_every: int) -> None:
    """A property of the pair as a channel: bounded, ordered, nothing lost, faults counted."""
    sent = [f for chunk in chunks for f in chunk]

    async def main() -> list[bytes]:
        faults = Faults()
        n = len(sent)
        if dup_every:
            faults.duplicate(n // dup_every)
        a, b = memory_transport_pair(max_buffer=max_buffer, faults_a_to_b=faults)
        got: list[bytes] = []

        async def sender() -> None:
            for chunk in chunks:
                await a.send_frames(chunk)
                assert b.buffered <= max_buffer
            a.close("done")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            try:
                while True:
                    got += await b.receive_frames()
            except TransportClosedError as exc:
                assert exc.reason == "done"
        return got

    got = run(main)
    dups = min(len(sent) // dup_every, len(sent)) if dup_every else 0
    expected: list[bytes] = []
    for i, f in enumerate(sent):
        expected += [f, f] if i < dups else [f]
    assert got == expected


# -- the endpoint and the adapter -----------------------------------------------------------


def test_the_entry_point_yields_the_memory_adapter() -> None:
    assert load_adapter("memory") is adapter
    assert adapter.name == "memory"
    assert adapter.capabilities == CAPABILITIES - {"streaming", "tcp"}
    a, b = memory_transport_pair()
    assert isinstance(a, Transport) and isinstance(b, Transport)


def test_serve_accepts_what_connectors_connect() -> None:
    async def main() -> None:
        async with adapter.serve(address="desk-1") as ep:
            client = await adapter.connector(address="desk-1").connect()
            server = await ep.accept()
            await client.send_frames([b"hello"])
            assert await server.receive_frames() == [b"hello"]
            assert ep.open_connections() == [(client, server)]
            ep.refuse(1, "not today")
            with pytest.raises(ConnectError, match="not today"):
                await ep.connector().connect()
            assert ep.drop_connections("bye") == 1
            with pytest.raises(TransportClosedError, match="bye"):
                await client.receive_frames()
        with pytest.raises(ConnectError, match="no in-memory endpoint at 'desk-1'"):
            await adapter.connector(address="desk-1").connect()

    run(main)


@pytest.mark.parametrize("first_backend, second_backend",
                         [("trio", "trio"), ("asyncio", "asyncio"), ("asyncio", "trio")])
def test_an_endpoint_is_refused_to_another_run(first_backend: str,
                                               second_backend: str) -> None:
    import anyio

    holder: list[MemoryEndpoint] = []

    async def first() -> None:
        holder.append(MemoryEndpoint())

    async def second() -> None:
        with pytest.raises(ConnectError, match=f"another {first_backend} run"):
            await holder[0].connector().connect()

    async def same() -> str:
        ep = MemoryEndpoint()
        client = await ep.connector().connect()
        return type(client).__name__

    anyio.run(first, backend=first_backend)
    anyio.run(second, backend=second_backend)
    assert anyio.run(same, backend=second_backend) == "MemoryTransport"


def test_bad_adapter_options_are_named() -> None:
    async def main() -> None:
        with pytest.raises(ConfigError, match="colour"):
            async with adapter.serve(colour="blue"):
                pass
        async with adapter.serve(address="twice"):
            with pytest.raises(ConfigError, match="already serves 'twice'"):
                async with adapter.serve(address="twice"):
                    pass
        with pytest.raises(ConfigError, match="address"):
            adapter.connector(address="")

    run(main)


# -- bounds: every inbound queue of the adapter (docs/failures.md, "Bounded queues") --------


def test_connections_not_yet_accepted_are_bounded_and_a_refusal_names_the_bound() -> None:
    """Was: an endpoint nobody accepts from held every connection made to it."""

    async def main() -> None:
        async with adapter.serve(max_pending=3) as ep:
            connector = ep.connector()
            made = [await connector.connect() for _ in range(3)]
            for _ in range(1000):  # a client that connects again and again
                with pytest.raises(ConnectError) as info:
                    await connector.connect()
            assert info.value.reason == (f"connection refused: in-memory endpoint "
                                         f"{ep.address!r} has 3 connections not accepted yet "
                                         f"(max_pending 3)")
            assert len(ep.connections) == 3
            server = await ep.accept()  # room for one more
            await connector.connect()
            await made[0].send_frames([b"hello"])
            assert await server.receive_frames() == [b"hello"]
        with pytest.raises(ConfigError, match=r"max_pending must be a positive integer "
                                              r"\(connections\), got 0"):
            MemoryEndpoint(max_pending=0)

    run(main)


def test_the_faults_of_an_endpoint_let_go_of_connections_that_ended() -> None:
    """An endpoint's Faults outlive its connections; what it keeps of each must not (was:
    both pipes of every connection ever made, for as long as the endpoint lived)."""

    async def cycles(ep: MemoryEndpoint, n: int) -> int:
        for _ in range(n):
            client = await ep.connector().connect()
            server = await ep.accept()
            await client.send_frames([b"x"])
            assert await server.receive_frames() == [b"x"]
            client.abort("done")
        ep.connections.clear()  # the test's own list of pairs: not what is measured
        gc.collect()  # (a pair refers to itself: freed by the collector)
        return tracemalloc.get_traced_memory()[0]

    async def main() -> None:
        async with adapter.serve() as ep:
            ep.to_server.delay(0.0, 0)  # an armed Faults, as a test that injects faults has
            await cycles(ep, 50)
            tracemalloc.start()
            try:
                base = await cycles(ep, 50)
                grown = await cycles(ep, 1000)
            finally:
                tracemalloc.stop()
            # 1000 connections more: a leak of their pipes would be hundreds of KiB
            assert grown - base < 50_000, (base, grown)

    run(main)
