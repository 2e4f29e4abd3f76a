"""``serve_reference_exchange`` over a server endpoint, seen from a bare transport."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
import trio.testing

from sessionkit import (
    GetBookState,
    Heartbeat,
    JsonCodec,
    Login,
    LoginAck,
    LoginReject,
    Logout,
    Status,
)
from sessionkit.runtime import TransportClosedError, serve_reference_exchange
from sessionkit.runtime.memory import adapter
from sessionkit.testing import ReferenceExchange

codec = JsonCodec()


async def read(transport: Any, n: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < n:
        out += [codec.decode(f) for f in await transport.receive_frames()]
    return out


def serve(body: Any, exchange: ReferenceExchange | None = None, **kwargs: Any) -> None:
    ex = exchange or ReferenceExchange()

    async def main() -> None:
        async with adapter.serve() as ep, trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(serve_reference_exchange, ep, ex, codec, **kwargs))
            await body(ep, ex, server)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_login_request_and_heartbeats() -> None:
    async def body(ep: Any, ex: ReferenceExchange, server: Any) -> None:
        t = await ep.connector().connect()
        await t.send_frames([codec.encode(Login(account="a"))])
        (ack,) = await read(t, 1)
        assert isinstance(ack, LoginAck) and ack.run_id == "run-1"
        await t.send_frames([codec.encode(GetBookState(contract_id=1, cid="x-1"))])
        status, snapshot = await read(t, 2)
        assert isinstance(status, Status) and status.cid == "x-1" and status.ok
        assert snapshot.mid == status.mid
        await trio.sleep(3.5)
        beats = await read(t, 3)
        assert all(isinstance(m, Heartbeat) for m in beats)

    serve(body)


def test_a_bad_frame_is_skipped_and_the_connection_goes_on() -> None:
    async def body(ep: Any, ex: ReferenceExchange, server: Any) -> None:
        t = await ep.connector().connect()
        await t.send_frames([b"{not json", codec.encode(Login(account="a"))])
        (ack,) = await read(t, 1)
        assert isinstance(ack, LoginAck)
        assert server.bad_frames == 1

    serve(body, heartbeats=False)


def test_logout_and_refused_login_close_the_connection_after_the_answer() -> None:
    async def body(ep: Any, ex: ReferenceExchange, server: Any) -> None:
        t = await ep.connector().connect()
        await t.send_frames([codec.encode(Login(account="a", token="bad"))])
        (rej,) = await read(t, 1)
        assert isinstance(rej, LoginReject)
        with pytest.raises(TransportClosedError):
            await t.receive_frames()
        t2 = await ep.connector().connect()
        await t2.send_frames([codec.encode(Login(account="a", token="good")),
                              codec.encode(Logout())])
        with pytest.raises(TransportClosedError):
            await read(t2, 10)

    serve(body, exchange=ReferenceExchange(accounts={"a": "good"}))


def test_a_new_connection_replaces_the_old_one() -> None:
    async def body(ep: Any, ex: ReferenceExchange, server: Any) -> None:
        old = await ep.connector().connect()
        await old.send_frames([codec.encode(Login(account="a"))])
        await read(old, 1)
        new = await ep.connector().connect()
        with pytest.raises(TransportClosedError):
            await read(old, 10)
        await new.send_frames([codec.encode(Login(account="a"))])
        (ack,) = await read(new, 1)
        assert isinstance(ack, LoginAck) and server.connections == 2
        assert server.drop("gone") == 1
        with pytest.raises(TransportClosedError, match="gone"):
            await new.receive_frames()

    serve(body)
