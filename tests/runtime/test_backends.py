"""The same session on asyncio and on trio: every test runs on both, through the public API
over the memory adapter, and asserts the same outcome on each (what the engine was told,
what was sent, the exception raised).

Cancellation: a submit, a login and a close each cancelled (or timed out) mid-way.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from sessionkit import (
    GetBookState,
    JsonCodec,
    LimitOrder,
    MessageProcessor,
    SessionConfig,
)
from sessionkit.runtime import (
    ClientState,
    Context,
    ReconnectPolicy,
    open_session,
    serve_reference_exchange,
)
from sessionkit.runtime.memory import MemoryEndpoint, MemoryTransport, adapter
from sessionkit.testing import ReferenceExchange

BACKENDS = ["asyncio", "trio"]
CFG = SessionConfig(cid_prefix="b", ack_timeout=600.0, ack_timeout_max=600.0)
BOOK = GetBookState(contract_id=1)


def sent_types(server_side: MemoryTransport) -> list[str]:
    """The types of the frames the client sent that the server side has not read."""
    codec = JsonCodec()
    return [codec.decode(f).TYPE for f in server_side.receive_frames_nowait()]


async def wait_until(check: Any, what: str) -> None:
    with anyio.fail_after(10):
        while not check():
            await anyio.sleep(0.001)


# -- a basic session ---------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_login_submit_ack_event_and_reconnect(parts: Any, backend: str) -> None:
    log = parts.Log()
    exchange = ReferenceExchange(run_id="r1", heartbeat_interval_ms=3_600_000)
    policy = ReconnectPolicy(initial=0.01, max=0.01, jitter=0.0)

    async def main() -> dict[str, Any]:
        async with adapter.serve() as ep, anyio.create_task_group() as tasks:
            server = await tasks.start(serve_reference_exchange, ep, exchange)
            async with open_session(ep.connector(), log, account="acct", config=CFG,
                                    reconnect=policy) as client:
                assert client.state is ClientState.ACTIVE
                order = await client.submit(LimitOrder(contract_id=1, side="buy", size=1,
                                                       price_in_cents=100))
                book = await client.submit(BOOK)
                await wait_until(lambda: book in log.finished(), "the book's response")
                before = client.statistics().last_event_id
                server.drop("dropped by the test")
                exchange.publish_book_top(1)  # an event while the client is away
                await wait_until(lambda: log.of("reconnected") and log.of("resend_complete"),
                                 "the reconnect")
                after = await client.submit(BOOK)
                await wait_until(lambda: after in log.finished(), "the last response")
                st = client.statistics()
                result = {"order_acked": order in [i[1] for i in log.of("status")],
                          "finished": sorted(v[0] for v in log.finished().values()),
                          "reconnects": client.reconnects, "connections": client.connections,
                          "events_after_drop": st.last_event_id > before,
                          "duplicates": st.duplicate_events}
            tasks.cancel_scope.cancel()
        assert client.state is ClientState.CLOSED
        return result

    result = anyio.run(main, backend=backend)
    assert result == {"order_acked": True, "finished": ["completed"] * 3,
                      "reconnects": 1, "connections": 2, "events_after_drop": True,
                      "duplicates": 0}
    kinds = log.kinds()
    assert kinds.count("login") == 2 and kinds.count("connection_failed") == 1
    assert kinds.count("closed") == 1


# -- cancellation --------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cancelled_submit_sends_tracks_and_reports_nothing(parts: Any, backend: str) -> None:
    """A submit waiting for room (the window is full) is cancelled mid-way; a submit called
    in a cancelled scope never starts. Neither is sent, tracked or reported."""
    log = parts.Log()
    config = SessionConfig(cid_prefix="b", ack_timeout=600.0, ack_timeout_max=600.0,
                           max_in_flight=1)

    async def main() -> dict[str, Any]:
        async with adapter.serve() as ep, anyio.create_task_group() as tasks:
            exchange = ReferenceExchange(heartbeat_interval_ms=3_600_000)
            await tasks.start(serve_reference_exchange, ep, exchange)
            async with open_session(ep.connector(), log, account="acct",
                                    config=config) as client:
                ep.to_client.hold()  # no answer comes back: the window stays full
                first = await client.submit(BOOK)
                with anyio.move_on_after(0.05) as waiting:
                    await client.submit(LimitOrder(contract_id=1, side="buy", size=1,
                                                   price_in_cents=100), timeout=math.inf)
                with anyio.CancelScope() as before:
                    before.cancel()
                    await client.submit(BOOK)
                    pytest.fail("a submit in a cancelled scope went on")  # pragma: no cover
                stats = client.statistics()
                tracked = len(client.handoff().tracked)
                ep.to_client.release()
                await wait_until(lambda: first in log.finished(), "the first response")
            tasks.cancel_scope.cancel()
        return {"waiting_cancelled": waiting.cancelled_caught,
                "before_cancelled": before.cancelled_caught,
                "submitted": stats.submitted, "tracked": tracked,
                "finished": list(log.finished()), "orders_at_exchange": len(exchange.orders)}

    result = anyio.run(main, backend=backend)
    assert result == {"waiting_cancelled": True, "before_cancelled": True, "submitted": 1,
                      "tracked": 1, "finished": ["b-1"], "orders_at_exchange": 0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_submit_is_a_checkpoint(parts: Any, backend: str) -> None:
    """A loop of ``await submit()`` lets other tasks run, even with room at once."""
    log = parts.Log()

    async def main() -> int:
        async with adapter.serve() as ep, anyio.create_task_group() as tasks:
            await tasks.start(serve_reference_exchange, ep,
                              ReferenceExchange(heartbeat_interval_ms=3_600_000))
            async with open_session(ep.connector(), log, account="acct",
                                    config=CFG) as client:
                turns = 0

                async def other() -> None:
                    nonlocal turns
                    while True:
                        turns += 1
                        await anyio.lowlevel.checkpoint()

                tasks.start_soon(other)
                for _ in range(50):  # room for all: no submit waits
                    await client.submit(BOOK)
                result = turns
            tasks.cancel_scope.cancel()
        return result

    assert anyio.run(main, backend=backend) > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_login_cancelled_mid_way(parts: Any, backend: str) -> None:
    """The exchange never answers the login: ``fail_after`` ends the wait with the builtin
    TimeoutError; the login was sent, the engine hears the session closed, nothing else."""
    log = parts.Log()

    async def main() -> dict[str, Any]:
        ep = MemoryEndpoint()  # nobody accepts: the login frame waits there, unanswered
        raised: BaseException | None = None
        try:
            with anyio.fail_after(0.1):
                async with open_session(ep.connector(), log, account="acct", config=CFG,
                                        login_timeout=None):
                    pytest.fail("logged in without an answer")  # pragma: no cover
        except BaseException as exc:  # noqa: BLE001 - the test looks at what came out
            raised = exc
        client_side, server_side = ep.connections[0]
        return {"raised": type(raised).__name__, "sent": sent_types(server_side),
                "client_closed": not client_side.is_open}

    result = anyio.run(main, backend=backend)
    assert result == {"raised": "TimeoutError", "sent": ["login"], "client_closed": True}
    assert log.items == [("connection_failed", "session cancelled")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_close_timed_out_mid_way(parts: Any, backend: str) -> None:
    """The exchange stops answering; ``aclose`` is cut short by an outer ``fail_after``
    (TimeoutError out of the block; the request still tracked is reported UNKNOWN once),
    or bounded by its own timeout (the connection is aborted; no error)."""

    async def run(own_timeout: bool) -> dict[str, Any]:
        log = parts.Log()
        raised = None
        async with adapter.serve() as ep, anyio.create_task_group() as tasks:
            await tasks.start(serve_reference_exchange, ep,
                              ReferenceExchange(heartbeat_interval_ms=3_600_000))
            try:
                async with open_session(ep.connector(), log, account="acct",
                                        config=CFG) as client:
                    ep.to_client.hold()  # no answer comes back: neither ACK nor logout
                    cid = await client.submit(BOOK)
                    if own_timeout:
                        await client.aclose(0.05)
                    else:
                        with anyio.fail_after(0.05):
                            await client.aclose(math.inf)
            except BaseException as exc:  # noqa: BLE001 - the test looks at what came out
                raised = exc
            sent = [f for _, s in ep.connections for f in sent_types(s)]
            tasks.cancel_scope.cancel()
        return {"raised": type(raised).__name__ if raised else None,
                "finished": log.finished().get(cid, ("?",))[0],
                "n_finished": len(log.of("finished")), "state": client.state.value,
                "logout_sent": "logout" in sent or sent == [],
                "closed": len(log.of("closed"))}

    async def main() -> list[dict[str, Any]]:
        return [await run(own_timeout=False), await run(own_timeout=True)]

    outer, own = anyio.run(main, backend=backend)
    assert outer == {"raised": "TimeoutError", "finished": "unknown", "n_finished": 1,
                     "state": "closed", "logout_sent": True, "closed": 1}
    assert own == {"raised": None, "finished": "unknown", "n_finished": 1,
                   "state": "closed", "logout_sent": True, "closed": 1}


# -- Context over the in-memory exchange -----------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_context_in_memory_from_plain_threads(parts: Any, backend: str) -> None:
    log = parts.Log()
    ctx = Context.in_memory(log, account="acct", config=CFG, backend=backend,
                            reconnect=ReconnectPolicy(initial=0.01, max=0.01, jitter=0.0))
    assert ctx.backend == backend
    ctx.start()
    try:
        assert ctx.wait_logged_in(10)
        assert ctx.exchange is not None and ctx.server is not None
        cids: list[str] = []
        lock = threading.Lock()

        def engine(n: int) -> None:
            for _ in range(n):
                cid = ctx.submit(BOOK, timeout=5.0)
                with lock:
                    cids.append(cid)

        threads = [threading.Thread(target=engine, args=(20,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert log.wait_sync(lambda lg: all(c in lg.finished() for c in cids), 10)
        assert ctx.run_sync(ctx.server.drop, "dropped by the test") == 1
        assert log.wait_sync(lambda lg: bool(lg.of("reconnected")), 10)
        last = ctx.submit(BOOK)
        assert log.wait_sync(lambda lg: last in lg.finished(), 10)
        stats = ctx.statistics()
    finally:
        ctx.stop()
        ctx.join(10)
    assert not ctx.is_alive() and ctx.exception is None
    assert len(set(cids)) == 60 and stats.submitted == 61
    assert {v[0] for v in log.finished().values()} == {"completed"}
    assert ctx.state is ClientState.CLOSED


def test_context_backend_options_are_checked() -> None:
    from sessionkit import ConfigError

    with pytest.raises(ConfigError, match="backend must be"):
        Context.in_memory(_Quiet(), account="a", backend="curio")
    with pytest.raises(ConfigError, match="needs backend='trio'"):
        Context.in_memory(_Quiet(), account="a", backend="asyncio", clock=object())
    assert Context.in_memory(_Quiet(), account="a").backend == "asyncio"
    import trio.testing

    assert Context.in_memory(_Quiet(), account="a",
                             clock=trio.testing.MockClock()).backend == "trio"


class _Quiet(MessageProcessor):
    pass
