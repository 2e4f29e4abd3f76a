"""Every inbound queue of a hub connection is bounded: a fast server flooding a slow client
costs a bounded amount of memory, with a stated policy -- back-pressure where every item
matters (server-to-client invocations, ``overflow="wait"`` streams), drop-oldest with the drops
reported in the items for level-triggered streams. Real WebSockets on 127.0.0.1; nothing timed.


Each test runs on asyncio and on trio.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from sessionkit_mesolive.signalr import (
    HandlerBlockedError,
    HubConnection,
    ItemsDropped,
    ReconnectPolicy,
)
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.hubserver_echo import ECHO_HUB_PATH, build_echo_server

TOKEN = "test-token"
#: one WebSocket message may carry a few records beyond the bound before reading stops
SLACK = 8


@pytest.fixture
def run(run_on: Any) -> Any:
    """This module's tests run once per event loop (see conftest's ``backend``)."""
    return run_on



def connect(base: str, **options: Any) -> HubConnection:
    options.setdefault("reconnect", ReconnectPolicy(initial=0.02, max=30.0, jitter=0.0,
                                                    first_immediate=True))
    return HubConnection(base + ECHO_HUB_PATH, token_factory=lambda: TOKEN, **options)


@pytest.mark.parametrize("stateful", [False, True])
def test_invocations_flooding_a_slow_handler_wait_in_a_bounded_queue_and_none_is_lost(
    run: Any, stateful: bool
) -> None:
    async def main() -> None:
        server = build_echo_server(keepalive_interval=0.05)
        async with running(server) as base, connect(
            base, stateful_reconnect=stateful, max_pending_invocations=20, server_timeout=0.3
        ) as conn:
            ticks: list[int] = []
            gate = anyio.Event()
            lost: list[Any] = []
            conn.on_reconnecting(lost.append)

            async def slow(i: int) -> None:
                await gate.wait()  # the handler is stuck until the flood has piled up
                ticks.append(i)

            conn.on("Tick", slow)
            async with anyio.create_task_group() as nursery:
                nursery.start_soon(conn.invoke, "Notify", 2000)
                with anyio.fail_after(20):
                    while conn.peak_queued_invocations < 20:
                        await anyio.sleep(0.01)
                    # the server goes on sending, for longer than the server timeout: nothing
                    # more piles up, and a server we do not listen to is not declared silent
                    await anyio.sleep(0.6)
                assert conn.peak_queued_invocations <= 20 + SLACK
                gate.set()
            with anyio.fail_after(20):
                while len(ticks) < 2000:
                    await anyio.sleep(0.01)
            assert ticks == list(range(2000))  # back-pressure lost nothing
            assert conn.peak_queued_invocations <= 20 + SLACK
            assert lost == []

    run(main)


def test_a_handler_waiting_on_its_own_connection_behind_a_full_queue_is_told_not_deadlocked(
    run: Any,
) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, max_pending_invocations=5) as conn:
            seen: list[int] = []
            blocked: list[BaseException] = []

            async def echo_back(i: int) -> None:
                seen.append(i)
                try:
                    await conn.invoke("Echo", i)  # answered only after the whole flood
                except HandlerBlockedError as exc:
                    blocked.append(exc)

            conn.on("Tick", echo_back)
            assert await conn.invoke("Notify", 300) == 300
            with anyio.fail_after(20):
                while len(seen) < 300:
                    await anyio.sleep(0.01)
            assert seen == list(range(300))
            assert blocked and "outcome is unknown" in str(blocked[0])
            assert "max_pending_invocations 5" in str(blocked[0])
            assert await conn.invoke("Echo", "alive") == "alive"

    run(main)


def test_a_wait_stream_keeps_every_item_in_a_bounded_buffer(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base) as conn:
            got: list[int] = []
            async with conn.stream("Counter", 3000, 0.0, max_buffered=16) as items:
                async for i in items:
                    got.append(i)
                    if i % 100 == 0:
                        await anyio.sleep(0.02)  # a slow reader
                peak = items.peak_buffered
            assert got == list(range(3000))
            assert peak <= 16 + SLACK

    run(main)


def test_a_drop_oldest_stream_reports_every_drop_in_its_items(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base) as conn:
            got: list[int] = []
            dropped = 0
            async with conn.stream(
                "Counter", 3000, 0.0, max_buffered=4, overflow="drop_oldest"
            ) as items:
                async for item in items:
                    if isinstance(item, ItemsDropped):
                        dropped += item.count
                        assert item.total == dropped
                        continue
                    got.append(item)
                    await anyio.sleep(0.001)  # slower than the server
                peak = items.peak_buffered
            assert got == sorted(got) and got[-1] == 2999  # the newest always arrives
            assert dropped > 0 and len(got) + dropped == 3000  # every gap was reported
            assert peak <= 4

    run(main)


def test_bad_buffer_options_are_refused_naming_the_option(run: Any) -> None:
    async def main() -> None:
        async with running(build_echo_server()) as base:
            with pytest.raises(ValueError, match="max_pending_invocations must be an integer"):
                connect(base, max_pending_invocations=0)
            async with connect(base) as conn:
                with pytest.raises(ValueError, match="overflow must be one of"):
                    conn.stream("Counter", 1, overflow="drop_newest")
                with pytest.raises(ValueError, match="max_buffered must be an integer"):
                    conn.stream("Counter", 1, max_buffered=0)

    run(main)
