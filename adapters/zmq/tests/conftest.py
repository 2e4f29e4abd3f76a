"""Shared helpers of the ZeroMQ adapter tests: everything on 127.0.0.1, ports chosen by the OS."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import zmq
from sessionkit_zmq import SocketOptions

LOOPBACK = "tcp://127.0.0.1:*"

#: the event loops the adapter runs on (AnyIO backends)
BACKENDS = ("asyncio", "trio")


@pytest.fixture
def raw_context() -> Any:
    """A pyzmq context for hand-driven peer sockets, terminated after the test."""
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def fast_options(**kw: Any) -> SocketOptions:
    """Options for tests: short connect timeout, no linger."""
    kw.setdefault("connect_timeout", 5.0)
    kw.setdefault("linger", 0.0)
    return SocketOptions(**kw)


async def receive_n(transport: Any, n: int) -> tuple[list[bytes], int]:
    """Receive until ``n`` frames arrived; returns them and the number of calls it took."""
    got: list[bytes] = []
    calls = 0
    while len(got) < n:
        got.extend(await transport.receive_frames())
        calls += 1
    return got, calls


async def wait_readable_blocking(sock: zmq.Socket[Any], timeout: float = 5.0) -> None:
    """Block this task (the whole thread) until ``sock``'s FD signals."""
    import select

    await anyio.lowlevel.checkpoint()
    select.select([sock.getsockopt(zmq.FD)], [], [], timeout)
