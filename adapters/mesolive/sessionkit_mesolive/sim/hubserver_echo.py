"""A tiny generic test hub served at ``/hubs/echo``.

Used by the integration tests, the Microsoft JavaScript client interop test and the benchmark.
Methods (arguments are positional):

* ``Echo(value)`` -> value
* ``Add(a, b)`` -> a + b
* ``Fail(message)`` -> hub error carrying ``message``
* ``Sleep(seconds, value)`` -> value, after sleeping
* ``EchoThenCallback(value)`` -> value; then the server calls client method ``Callback(value)``
* ``Drop()`` -> the server drops this connection's WebSocket right after answering (a fault)
* ``DropBeforeReply(value)`` -> the WebSocket is dropped first, the answer goes to the replay
  buffer and arrives after the client resumed
* ``Record(value)`` -> appends value to ``stats.recorded`` (for exactly-once checks)
* ``Notify(count)`` -> sends ``Tick(i)`` to the caller count times (fire-and-forget), returns count
* ``Counter(count, delay)`` (stream) -> 0, 1, ..., count-1; ``count`` < 0 streams forever
* ``Counter`` is cancelled by CancelInvocation; ``cancelled_streams`` counts those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel

from .hubserver import Hub, HubCallContext, HubMethodError, HubServer

__all__ = ["ECHO_HUB_PATH", "build_echo_server", "add_echo_hub", "EchoStats"]

ECHO_HUB_PATH = "/hubs/echo"


class EchoStats:
    """Counters the tests look at."""

    def __init__(self) -> None:
        self.cancelled_streams = 0
        self.calls: dict[str, int] = {}
        self.recorded: list[Any] = []

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


def add_echo_hub(server: HubServer, path: str = ECHO_HUB_PATH) -> tuple[Hub, EchoStats]:
    hub = server.add_hub(path)
    stats = EchoStats()

    @hub.method("Echo")
    def echo(ctx: HubCallContext, value: Any) -> Any:
        stats.count("Echo")
        return value

    @hub.method("Add")
    def add(ctx: HubCallContext, a: Any, b: Any) -> Any:
        stats.count("Add")
        return a + b

    @hub.method("Fail")
    def fail(ctx: HubCallContext, message: str) -> None:
        stats.count("Fail")
        raise HubMethodError(message)

    @hub.method("Sleep")
    async def sleep(ctx: HubCallContext, seconds: float, value: Any) -> Any:
        stats.count("Sleep")
        await anyio.sleep(seconds)
        return value

    @hub.method("EchoThenCallback")
    async def echo_then_callback(ctx: HubCallContext, value: Any) -> Any:
        stats.count("EchoThenCallback")

        async def later() -> None:
            await anyio.sleep(0.01)
            await ctx.connection.send("Callback", value)

        assert server.nursery is not None
        server.nursery.start_soon(later)
        return value

    @hub.method("Drop")
    async def drop(ctx: HubCallContext) -> str:
        stats.count("Drop")

        async def later() -> None:
            await anyio.sleep(0.05)
            ctx.connection.drop()

        assert server.nursery is not None
        server.nursery.start_soon(later)
        return "dropping"

    @hub.method("DropBeforeReply")
    async def drop_before_reply(ctx: HubCallContext, value: Any) -> Any:
        stats.count("DropBeforeReply")
        ctx.connection.drop()
        await anyio.sleep(0.05)
        return value

    @hub.method("Record")
    def record(ctx: HubCallContext, value: Any) -> int:
        stats.recorded.append(value)
        return len(stats.recorded)

    @hub.method("Notify")
    async def notify(ctx: HubCallContext, count: int) -> int:
        stats.count("Notify")
        for i in range(count):
            await ctx.connection.send("Tick", i)
        return count

    @hub.stream("Counter")
    async def counter(ctx: HubCallContext, count: int, delay: float = 0.0) -> AsyncIterator[int]:
        stats.count("Counter")
        i = 0
        finished = False
        try:
            while count < 0 or i < count:
                yield i
                i += 1
                if delay:
                    await anyio.sleep(delay)
                else:
                    await anyio.lowlevel.checkpoint()
            finished = True
        finally:
            if not finished:
                stats.cancelled_streams += 1

    return hub, stats


def build_echo_server(token: str | None = "test-token", **kwargs: Any) -> HubServer:
    """A HubServer with the echo hub; only ``token`` is accepted (None: no auth)."""
    validator = None if token is None else (lambda t: "tester" if t == token else None)
    server = HubServer(token_validator=validator, **kwargs)
    server.echo_hub, server.echo_stats = add_echo_hub(server)  # type: ignore[attr-defined]
    return server
