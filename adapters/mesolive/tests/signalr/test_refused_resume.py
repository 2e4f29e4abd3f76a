"""A stateful resume the server refuses -- by HTTP 404, or by accepting the WebSocket and closing
it before acknowledging the resume (a real third-party server does this) -- is the connection
lost: the client negotiates a new one under its reconnect policy, with backoff, and tells the
truth (``Reconnected(new_connection=True)``, pending calls fail as "outcome unknown"); never a
hot loop of WebSockets, each announced as "resumed, nothing lost".

Real WebSockets on 127.0.0.1 against the simulator's hub server. Nothing is timed: the tests
count the WebSockets the server saw and the delays the policy was asked for.


Each test runs on asyncio and on trio.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import attrs
import pytest
from sessionkit_mesolive.signalr import (
    ConnectionLostError,
    ConnectionState,
    HubConnection,
    Reconnected,
    ReconnectPolicy,
)
from sessionkit_mesolive.sim.app import running
from sessionkit_mesolive.sim.hubserver import HubServer, ServerConnection
from sessionkit_mesolive.sim.hubserver_echo import ECHO_HUB_PATH, build_echo_server

TOKEN = "test-token"
#: far more WebSockets than any correct run opens: the old hot loop made hundreds a second
RUNAWAY = 40


@pytest.fixture
def run(run_on: Any) -> Any:
    """This module's tests run once per event loop (see conftest's ``backend``)."""
    return run_on



@attrs.frozen
class RecordingPolicy(ReconnectPolicy):
    """A ReconnectPolicy that records the delay it gave for each attempt."""

    delays: list[tuple[int, float]] = attrs.field(factory=list, eq=False)

    def delay(self, attempt: int, rng: random.Random) -> float:
        value = super().delay(attempt, rng)
        self.delays.append((attempt, value))
        return value


def only_connection(server: HubServer) -> ServerConnection:
    [conn] = server.echo_hub.connections.values()  # type: ignore[attr-defined]
    return conn


async def settle(server: HubServer, conn: HubConnection, done: Any) -> None:
    """Wait until ``done()`` or the WebSocket count runs away (then the asserts say so)."""
    with anyio.fail_after(20):
        while not done() and server.websocket_requests <= RUNAWAY:
            await anyio.sleep(0.01)


@pytest.mark.parametrize("refusal", ["http404", "close", "close_message"])
def test_a_refused_resume_negotiates_a_new_connection_and_says_so(run: Any,
                                                                   refusal: str) -> None:
    async def main() -> None:
        server = build_echo_server()
        policy = ReconnectPolicy(initial=0.01, max=0.1, jitter=0.0, first_immediate=True)
        async with running(server) as base, HubConnection(
            base + ECHO_HUB_PATH, token_factory=lambda: TOKEN, stateful_reconnect=True,
            reconnect=policy,
        ) as conn:
            assert conn.stateful and await conn.invoke("Echo", 1) == 1
            first_id = conn.connection_id
            seen: list[Any] = []
            conn.on_reconnecting(lambda error: seen.append("reconnecting"))
            conn.on_reconnected(seen.append)
            server.faults.refuse_resume = True
            server.faults.resume_refusal = refusal
            outcome: list[BaseException] = []

            async def in_flight() -> None:
                try:
                    await conn.invoke("Sleep", 5.0, "never")
                except ConnectionLostError as exc:
                    outcome.append(exc)

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(in_flight)
                await anyio.sleep(0.05)
                only_connection(server).drop()
                await settle(server, conn, lambda: len(seen) >= 2 and outcome)

            # one refused resume, then one new connection: three WebSockets in all
            assert server.websocket_requests == 3
            assert seen[0] == "reconnecting"
            [info] = [s for s in seen if isinstance(s, Reconnected)]
            assert info.new_connection and conn.connection_id == info.connection_id != first_id
            assert "outcome is unknown" in str(outcome[0])
            assert conn.state is ConnectionState.CONNECTED
            assert await conn.invoke("Echo", "new") == "new"
            assert server.websocket_requests == 3

    run(main)


def test_a_server_that_refuses_every_resume_and_cuts_every_new_connection_is_retried_with_backoff(
    run: Any,
) -> None:
    """Each refused resume and each connection cut right after its handshake is one attempt of
    the policy: the delays grow and the client gives up when ``max_attempts`` is spent."""

    async def main() -> None:
        server = build_echo_server()
        policy = RecordingPolicy(initial=0.01, max=1.0, jitter=0.0, max_attempts=4,
                                 first_immediate=True)
        async with running(server) as base, HubConnection(
            base + ECHO_HUB_PATH, token_factory=lambda: TOKEN, stateful_reconnect=True,
            reconnect=policy,
        ) as conn:
            assert await conn.invoke("Echo", 1) == 1
            infos: list[Reconnected] = []
            conn.on_reconnected(infos.append)
            server.faults.refuse_resume = True
            server.faults.resume_refusal = "close"
            server.faults.drop_after_handshake = True
            only_connection(server).drop()
            await settle(server, conn, lambda: conn.state is ConnectionState.CLOSED)
            error = await conn.wait_closed()

        # the first WebSocket, then: resume refused (1), new connection cut (2), resume
        # refused (3), new connection cut (4); attempt 5 is beyond max_attempts
        assert server.websocket_requests == 5
        assert policy.delays == [(1, 0.0), (2, 0.01), (3, 0.02), (4, 0.04)]
        assert "gave up reconnecting after 4 attempts" in str(error)
        assert [i.new_connection for i in infos] == [True, True]  # never "resumed"

    run(main)
