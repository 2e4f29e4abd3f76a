"""Python client <-> simulator hub server, over real WebSockets on 127.0.0.1 (port 0).

Every test runs on asyncio and on trio (the ``run`` fixture below); the trio-websocket
library runs under trio only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from sessionkit_mesolive.signalr import (
    AuthenticationError,
    ConnectionClosedError,
    ConnectionLostError,
    ConnectionState,
    HubConnection,
    HubError,
    Reconnected,
    ReconnectPolicy,
    TransportError,
)
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.hubserver import HubServer, ServerConnection
from sessionkit_mesolive.sim.hubserver_asgi import HubServerApp
from sessionkit_mesolive.sim.hubserver_echo import ECHO_HUB_PATH, EchoStats, build_echo_server

TOKEN = "test-token"
FAST = ReconnectPolicy(initial=0.05, max=0.2, jitter=0.1, first_immediate=True)


@pytest.fixture
def run(run_on: Any) -> Any:
    """This module's tests run once per event loop (see conftest's ``backend``)."""
    return run_on


def need_loop_for(library: str, backend: str) -> None:
    if library == "trio-websocket" and backend != "trio":
        pytest.skip("trio-websocket runs under trio only (its refusal under asyncio is tested)")


def stats(server: HubServer) -> EchoStats:
    return server.echo_stats  # type: ignore[attr-defined,no-any-return]


def connect(base: str, **kwargs: Any) -> HubConnection:
    kwargs.setdefault("token_factory", lambda: TOKEN)
    kwargs.setdefault("reconnect", FAST)
    return HubConnection(base + ECHO_HUB_PATH, **kwargs)


def only_connection(server: HubServer) -> ServerConnection:
    [conn] = server.echo_hub.connections.values()  # type: ignore[attr-defined]
    return conn


async def eventually(check: Callable[[], bool], what: str) -> None:
    with anyio.fail_after(10):
        while not check():
            await anyio.sleep(0.01)


@pytest.mark.parametrize("library", ["websockets", "trio-websocket"])
def test_invoke_send_and_result_types(run: Any, library: str, backend: str) -> None:
    need_loop_for(library, backend)
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, websocket=library) as conn:
            assert conn.state is ConnectionState.CONNECTED and conn.websocket_library == library
            assert await conn.invoke("Echo", {"nested": [1, 2.5, None, "ü"]}) == {
                "nested": [1, 2.5, None, "ü"]
            }
            assert await conn.invoke("Add", 2, 3) == 5
            await conn.send("Record", "fire-and-forget")
            await eventually(lambda: stats(server).recorded == ["fire-and-forget"], "send arrives")
            results = []

            async def call(i: int) -> None:
                results.append((i, await conn.invoke("Echo", i)))

            async with anyio.create_task_group() as nursery:
                for i in range(50):
                    nursery.start_soon(call, i)
            assert sorted(results) == [(i, i) for i in range(50)]

    run(main)


def test_hub_error_raises_and_the_connection_stays_usable(run: Any) -> None:
    async def main() -> None:
        async with running(build_echo_server()) as base, connect(base) as conn:
            with pytest.raises(HubError, match="HubException: account 7 not found") as info:
                await conn.invoke("Fail", "account 7 not found")
            assert info.value.method == "Fail"
            with pytest.raises(HubError, match="Method does not exist"):
                await conn.invoke("NoSuchMethod")
            with pytest.raises(HubError, match="Invocation provides 3 argument"):
                await conn.invoke("Add", 1, 2, 3)
            assert await conn.invoke("Echo", "still fine") == "still fine"

    run(main)


def test_stream_items_in_order_and_cancel_on_early_exit(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base) as conn:
            assert [i async for i in conn.stream("Counter", 20)] == list(range(20))
            got = []
            async with conn.stream("Counter", -1, 0.001) as items:  # endless
                async for i in items:
                    got.append(i)
                    if i == 5:
                        break
            assert got == list(range(6))
            await eventually(lambda: stats(server).cancelled_streams == 1, "server saw the cancel")
            # Plain async-for without a context manager cancels too (when the stream is dropped).
            async for i in conn.stream("Counter", -1, 0.001):
                if i == 2:
                    break
            await eventually(lambda: stats(server).cancelled_streams == 2, "second cancel")
            with pytest.raises(HubError, match="Method does not exist"):
                async for _ in conn.stream("NoSuchStream"):
                    pass
            assert await conn.invoke("Echo", 1) == 1

    run(main)


def test_server_callbacks_reach_handlers_in_order(run: Any) -> None:
    async def main() -> None:
        async with running(build_echo_server()) as base, connect(base) as conn:
            callbacks: list[Any] = []
            ticks: list[int] = []
            got_callback = anyio.Event()

            async def on_callback(value: Any) -> None:
                callbacks.append(value)
                got_callback.set()

            conn.on("Callback", on_callback)
            conn.on("tick", ticks.append)  # method names are case-insensitive
            assert await conn.invoke("EchoThenCallback", "hello") == "hello"
            await got_callback.wait()
            assert callbacks == ["hello"]
            assert await conn.invoke("Notify", 100) == 100
            await eventually(lambda: len(ticks) == 100, "ticks")
            assert ticks == list(range(100))

    run(main)


def test_bad_or_missing_token_is_rejected_clearly(run: Any) -> None:
    async def main() -> None:
        async with running(build_echo_server()) as base:
            with pytest.raises(AuthenticationError, match="HTTP 401.*bearer token"):
                async with connect(base, token_factory=lambda: "wrong"):
                    pass
            with pytest.raises(AuthenticationError, match="HTTP 401"):
                async with connect(base, token_factory=None):
                    pass

    run(main)


def test_token_in_query_string_is_accepted(run: Any) -> None:
    async def main() -> None:
        async def token() -> str:  # async token factories work too
            return TOKEN

        async with (
            running(build_echo_server()) as base,
            connect(base, token_factory=token, token_transport="query") as conn,
        ):
            assert await conn.invoke("Echo", "q") == "q"

    run(main)


@pytest.mark.parametrize("library", ["websockets", "trio-websocket"])
def test_dropped_connection_is_resumed_without_loss_or_duplicates(
    run: Any, library: str, backend: str
) -> None:
    """Messages in both directions straddle two drops; each arrives exactly once, in order."""
    need_loop_for(library, backend)

    async def main() -> None:
        server = build_echo_server()
        async with (
            running(server) as base,
            connect(base, stateful_reconnect=True, websocket=library) as conn,
        ):
            assert conn.stateful
            first_id = conn.connection_id
            reconnects: list[Reconnected] = []
            conn.on_reconnected(reconnects.append)
            ticks: list[int] = []

            def on_tick(i: int) -> None:
                ticks.append(i)
                if i in (30, 120):  # the server's socket dies while it is still sending
                    only_connection(server).drop()

            conn.on("Tick", on_tick)
            assert await conn.invoke("Notify", 200) == 200
            # Client -> server: fire-and-forget sends across a client-side drop.
            for i in range(100):
                await conn.send("Record", i)
                if i == 50:
                    conn.drop_transport()
            await eventually(
                lambda: len(ticks) >= 200 and len(stats(server).recorded) >= 100, "all"
            )
            await anyio.sleep(0.2)  # anything duplicated would show up now
            assert ticks == list(range(200))
            assert stats(server).recorded == list(range(100))
            assert reconnects and all(not r.new_connection for r in reconnects)
            assert conn.connection_id == first_id
            assert await conn.invoke("Echo", "after") == "after"

    run(main)


@pytest.mark.parametrize("library", ["websockets", "trio-websocket"])
def test_refused_token_leads_to_a_fresh_negotiate(run: Any, library: str, backend: str) -> None:
    need_loop_for(library, backend)
    async def main() -> None:
        server = build_echo_server()
        async with (
            running(server) as base,
            connect(base, stateful_reconnect=True, websocket=library) as conn,
        ):
            first_id = conn.connection_id
            events: list[Any] = []
            reconnected = anyio.Event()
            conn.on_reconnecting(
                lambda error: events.append(("reconnecting", type(error).__name__))
            )

            def on_reconnected(info: Reconnected) -> None:
                events.append(("reconnected", info.new_connection))
                reconnected.set()

            conn.on_reconnected(on_reconnected)
            server.faults.refuse_resume = True
            only_connection(server).drop()
            await reconnected.wait()
            assert events[-1] == ("reconnected", True)
            assert events[0][0] == "reconnecting"
            assert conn.connection_id != first_id
            assert await conn.invoke("Echo", "new") == "new"

    run(main)


def test_invocation_in_flight_during_a_drop_completes_with_stateful_reconnect(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, stateful_reconnect=True) as conn:
            # The server drops the socket before answering: the answer waits in its replay
            # buffer and arrives after the resume.
            assert await conn.invoke("DropBeforeReply", "kept") == "kept"

            async def drop_soon() -> None:
                await anyio.sleep(0.1)
                conn.drop_transport()

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(drop_soon)
                assert await conn.invoke("Sleep", 0.3, "slow") == "slow"
            assert stats(server).calls["Sleep"] == 1  # replay did not run it twice

    run(main)


def test_invocation_in_flight_fails_clearly_without_stateful_reconnect(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, stateful_reconnect=False) as conn:
            reconnected = anyio.Event()
            conn.on_reconnected(lambda info: reconnected.set())
            with pytest.raises(ConnectionLostError, match="outcome is unknown"):
                await conn.invoke("DropBeforeReply", "lost")
            await reconnected.wait()
            assert await conn.invoke("Echo", "back") == "back"

    run(main)


def test_invocation_in_flight_fails_clearly_when_resume_is_refused(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, stateful_reconnect=True) as conn:
            server.faults.refuse_resume = True
            with pytest.raises(ConnectionLostError, match="outcome is unknown"):
                await conn.invoke("DropBeforeReply", "lost")
            await conn.wait_connected()
            assert await conn.invoke("Echo", "back") == "back"

    run(main)


def test_server_close_message_closes_or_reconnects(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base:
            async with connect(base, stateful_reconnect=True) as conn:
                closed: list[BaseException | None] = []
                conn.on_closed(closed.append)
                await only_connection(server).close("maintenance")
                error = await conn.wait_closed()
                assert isinstance(error, ConnectionClosedError) and "maintenance" in str(error)
                with pytest.raises(ConnectionClosedError, match="maintenance"):
                    await conn.invoke("Echo", 1)
                assert closed == [error]
            async with connect(base) as conn:
                reconnected = anyio.Event()
                infos: list[Reconnected] = []
                conn.on_reconnected(lambda info: (infos.append(info), reconnected.set()))
                await only_connection(server).close("rebalancing", allow_reconnect=True)
                await reconnected.wait()
                assert infos[0].new_connection
                assert await conn.invoke("Echo", 2) == 2

    run(main)


def test_silent_server_is_detected_and_resumed(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server(keepalive_interval=1000.0)  # the server never pings
        async with (
            running(server) as base,
            connect(base, stateful_reconnect=True, server_timeout=0.3) as conn,
        ):
            reconnecting: list[BaseException | None] = []
            reconnected = anyio.Event()
            conn.on_reconnecting(reconnecting.append)
            conn.on_reconnected(lambda info: reconnected.set())
            await reconnected.wait()
            assert "no message from the server" in str(reconnecting[0])
            assert await conn.invoke("Echo", "ok") == "ok"

    run(main)


def test_keepalive_pings_keep_an_idle_connection_up(run: Any) -> None:
    async def main() -> None:
        # Timeouts of 1 s with pings every 0.1 s: generous enough for a loaded CI machine.
        server = build_echo_server(keepalive_interval=0.1, client_timeout=1.0)
        async with (
            running(server) as base,
            connect(base, keepalive_interval=0.1, server_timeout=1.0) as conn,
        ):
            drops: list[Any] = []
            conn.on_reconnecting(drops.append)
            await anyio.sleep(2.5)  # well past both timeouts with no application traffic
            assert drops == [] and conn.state is ConnectionState.CONNECTED
            assert await conn.invoke("Echo", "alive") == "alive"

    run(main)


def test_full_replay_buffer_applies_backpressure_without_loss(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with (
            running(server) as base,
            connect(base, stateful_reconnect=True, buffer_size=250) as conn,
        ):
            for i in range(12):  # ~55 bytes each: the buffer holds 4, acks free it each second
                await conn.send("Record", i)
                buf = conn._proto.replay_buffer
                assert buf is not None and buf.buffered_bytes <= 250
            await eventually(lambda: len(stats(server).recorded) == 12, "all recorded")
            assert stats(server).recorded == list(range(12))

    run(main)


def test_aclose_fails_pending_calls_and_reports_closed(run: Any) -> None:
    async def main() -> None:
        async with running(build_echo_server()) as base:
            closed: list[Any] = []
            outcome: list[BaseException] = []
            async with connect(base) as conn:
                conn.on_closed(closed.append)

                async def pending() -> None:
                    try:
                        await conn.invoke("Sleep", 5, "never")
                    except ConnectionClosedError as exc:
                        outcome.append(exc)

                async with anyio.create_task_group() as nursery:
                    nursery.start_soon(pending)
                    await anyio.sleep(0.1)
                    await conn.aclose()  # from any task
            assert len(outcome) == 1 and closed == [None]
            assert conn.state is ConnectionState.CLOSED
            with pytest.raises(ConnectionClosedError):
                await conn.invoke("Echo", 1)

    run(main)


def test_no_automatic_reconnect_closes_on_loss(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, reconnect=None) as conn:
            only_connection(server).drop()
            error = await conn.wait_closed()
            assert error is not None and conn.state is ConnectionState.CLOSED

    run(main)


@pytest.mark.parametrize(
    ("library", "where"),
    [
        ("websockets", "header"),
        ("websockets", "query"),
        ("trio-websocket", "header"),
        ("trio-websocket", "query"),
    ],
)
def test_tokens_never_reach_the_logs(
    run: Any, caplog: pytest.LogCaptureFixture, library: str, where: str, backend: str
) -> None:
    need_loop_for(library, backend)
    secret = "s3cr3t-T0KEN-value"

    async def main() -> None:
        server = build_echo_server(token=secret)
        async with (
            running(server) as base,
            connect(
                base,
                token_factory=lambda: secret,
                websocket=library,
                token_transport=where,
                stateful_reconnect=True,
            ) as conn,
        ):
            await conn.invoke("Echo", "x")
            conn.drop_transport()  # the resume opens a second socket with the token again
            await conn.invoke("Echo", "y")

    with caplog.at_level(logging.DEBUG):
        run(main)
    assert (
        "Authorization" in caplog.text or "access_token" in caplog.text or library != "websockets"
    )
    assert secret not in caplog.text


def test_client_close_ends_the_server_connection_at_once(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()  # resume window 15 s: a silent disconnect would wait
        ended: list[Any] = []
        server.echo_hub.on_disconnected(lambda c, error: ended.append(error))  # type: ignore[attr-defined]
        async with running(server) as base:
            async with connect(base, stateful_reconnect=True) as conn:
                await conn.invoke("Echo", 1)
            await eventually(lambda: ended == [None], "server-side close")
            assert server.connections == []

    run(main)


def test_cancelled_invoke_ignores_the_late_answer(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, stateful_reconnect=True) as conn:
            server.faults.response_delay = 0.3
            with anyio.move_on_after(0.05) as scope:
                await conn.invoke("Echo", "too late")
            assert scope.cancelled_caught
            server.faults.response_delay = 0.0
            # The late Completion of the abandoned call arrives meanwhile and is dropped.
            assert await conn.invoke("Echo", "next") == "next"
            assert conn._proto.pending_count == 0 and conn.state is ConnectionState.CONNECTED

    run(main)


def test_token_rejected_while_reconnecting_closes_with_authentication_error(run: Any) -> None:
    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, stateful_reconnect=True) as conn:
            server.faults.reject_tokens = True
            only_connection(server).drop()
            error = await conn.wait_closed()
            assert isinstance(error, AuthenticationError) and "401" in str(error)
            with pytest.raises(ConnectionClosedError, match="401"):
                await conn.invoke("Echo", 1)

    run(main)


def test_trio_websocket_under_asyncio_is_refused_naming_the_way_out() -> None:
    async def main() -> None:
        async with running(build_echo_server()) as base:
            with pytest.raises(TransportError, match="trio only.*websocket='websockets'"):
                async with connect(base, websocket="trio-websocket", reconnect=None):
                    pass

    anyio.run(main, backend="asyncio")


async def _hang(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await anyio.sleep_forever()


@pytest.mark.parametrize("where", ["negotiate", "websocket"])
def test_a_connect_cancelled_midway_leaves_nothing_behind(run: Any, where: str) -> None:
    """Cancelling ``async with HubConnection(...)`` while the server does not answer the
    negotiate POST, or the WebSocket upgrade, ends at once: the connection is closed, no task
    of it is left (the block's task group ends) and the same loop serves a new connection."""

    async def main() -> None:
        server = build_echo_server()
        hub_app = HubServerApp(server)

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            hang = scope["type"] == "websocket" if where == "websocket" else (
                scope["type"] == "http" and scope["path"].endswith("/negotiate"))
            await (_hang if hang else hub_app)(scope, receive, send)

        async with running(app) as base:
            conn = connect(base, stateful_reconnect=True)
            with anyio.move_on_after(0.5) as scope:
                async with conn:
                    pytest.fail("connected although the server never answered")
            assert scope.cancelled_caught
            assert conn.state is ConnectionState.CLOSED
            with pytest.raises(ConnectionClosedError):
                await conn.invoke("Echo", 1)
        async with running(server) as base, connect(base) as again:
            assert await again.invoke("Echo", "still fine") == "still fine"

    run(main)


def test_a_cancelled_invoke_sends_nothing_more_and_reports_nothing(run: Any) -> None:
    """An invoke cancelled while it waits for the answer raises the loop's own cancellation
    (caught by its scope), leaves no pending call, and its late answer reaches nobody."""

    async def main() -> None:
        server = build_echo_server()
        async with running(server) as base, connect(base, stateful_reconnect=True) as conn:
            server.faults.response_delay = 0.3
            seen: list[type[BaseException]] = []
            with anyio.CancelScope() as scope:
                async def cancel_soon() -> None:
                    await anyio.sleep(0.05)
                    scope.cancel()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(cancel_soon)
                    try:
                        await conn.invoke("Add", 1, 2)
                    except BaseException as exc:
                        seen.append(type(exc))
                        raise
            assert seen == [anyio.get_cancelled_exc_class()]
            assert conn._proto.pending_count == 0
            await anyio.sleep(0.4)  # the late Completion arrives and is dropped
            server.faults.response_delay = 0.0
            assert await conn.invoke("Add", 2, 2) == 4
            assert conn.state is ConnectionState.CONNECTED

    run(main)
