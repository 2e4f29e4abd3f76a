"""The session hub transport's sends: ``send_frames`` queues and returns, so a network that
stalls (the loopback fault proxy holding every byte) holds up neither the session's offline
detection nor its ACK timers; the queue is bounded (a full one makes ``send_frames`` wait,
never drop); a ``SendFrames`` the hub refuses ends the connection naming the refusal; a close
lets what was queued go out first."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import trio.testing
from sessionkit_mesolive import adapter
from sessionkit_mesolive._session_hub import SEND_FRAMES
from sessionkit_mesolive.sim.hubserver import HubCallContext, HubMethodError

from sessionkit import LimitOrder, MessageProcessor, SessionConfig
from sessionkit.runtime import TransportClosedError, open_session, serve_reference_exchange
from sessionkit.testing import ReferenceExchange, open_fault_proxy

from .conftest import run

#: real sockets on trio's MockClock: time jumps ahead only once every task has been idle for
#: this long in real time (frames in flight on loopback arrive well within it)
VIRTUAL = 0.1
#: SignalR's server timeout (the client's default): a stalled connection would be given up
#: after this; the session must have told the engine long before
SIGNALR_SERVER_TIMEOUT = 30.0


def run_virtual(fn: Any) -> None:
    async def main() -> None:
        with anyio.fail_after(300):
            await fn()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=VIRTUAL))


class Engine(MessageProcessor):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures: list[str] = []
        self.acks: list[object] = []
        self.heard = anyio.Event()
        self.offline = anyio.Event()
        self.online = anyio.Event()

    def handle_heartbeat(self, msg: object, prev_msg: object) -> None:
        self.heard.set()

    def on_exchange_offline(self, silence: float) -> None:
        self.calls.append("offline")
        self.offline.set()

    def on_exchange_online(self) -> None:
        self.calls.append("online")
        self.online.set()

    def on_connection_failed(self, reason: str) -> None:
        self.calls.append("failed")
        self.failures.append(reason)

    def handle_status_message(self, msg: object, prev_msg: object) -> None:
        self.acks.append(msg)


def test_a_send_into_a_stalled_network_holds_up_neither_offline_detection_nor_ack_timers(
) -> None:
    """An order submitted while the network stalls: the engine hears "offline" from the
    exchange's silence (interval 1 s, grace 0.5) while the connection still stands, and the
    order's ACK timer resends it meanwhile. Once the network moves, the order is ACKed once
    and nothing failed."""
    engine = Engine()
    exchange = ReferenceExchange(heartbeat_interval_ms=1000)
    config = SessionConfig(heartbeat_grace=0.5, ack_timeout=1.0, ack_timeout_max=1.0,
                           max_send_attempts=50)

    async def main() -> None:
        async with adapter.serve() as endpoint, anyio.create_task_group() as nursery:
            await nursery.start(serve_reference_exchange, endpoint, exchange)
            async with open_fault_proxy(endpoint.tcp_address) as proxy, open_session(
                    endpoint.connector(via=proxy.address), engine, account="acct",
                    config=config) as client:
                await engine.heard.wait()
                proxy.stall(new=True)
                await client.submit(LimitOrder(contract_id=1, side="sell", size=1,
                                               price_in_cents=100))
                with anyio.fail_after(SIGNALR_SERVER_TIMEOUT / 2):
                    await engine.offline.wait()
                    while client.statistics().resends < 2:
                        await anyio.sleep(0.1)
                assert engine.calls == ["offline"]  # nothing failed: the connection stands
                assert client.statistics().acked == 0
                proxy.resume()
                with anyio.fail_after(SIGNALR_SERVER_TIMEOUT / 2):
                    await engine.online.wait()
                    while not engine.acks:
                        await anyio.sleep(0.1)
                await anyio.sleep(3)  # the resends' answers, if any, would be here by now
                stats = client.statistics()
                assert stats.acked == 1 and stats.offline_count == 1
            nursery.cancel_scope.cancel()
        assert engine.calls == ["offline", "online"] and engine.failures == []
        assert len(engine.acks) == 1
        assert len(exchange.orders) == 1  # the resends carried the same cid: one order

    run_virtual(main)


def test_a_full_send_queue_makes_send_frames_wait_and_drops_nothing() -> None:
    """With the network stalled, sends pile up in the send queue up to its bound; then
    ``send_frames`` waits (backpressure). When the network moves, every frame arrives once,
    in order, and the queue never held more than its bound plus one call's frames."""
    bound, per_call = 8, 3

    async def main() -> None:
        async with adapter.serve(token="t") as endpoint, open_fault_proxy(
                endpoint.tcp_address) as proxy:
            client = await endpoint.connector(via=proxy.address, max_send_queue=bound).connect()
            server = await endpoint.accept()
            proxy.stall()
            sent = 0
            with anyio.move_on_after(5) as waited:
                while True:
                    await client.send_frames([b"f%d" % (sent + i) for i in range(per_call)])
                    sent += per_call
            assert waited.cancelled_caught  # send_frames waited for room: backpressure
            assert client.send_queue_peak <= bound + per_call
            proxy.resume()
            await client.send_frames([b"last"])
            got: list[bytes] = []
            with anyio.fail_after(10):
                while got[-1:] != [b"last"]:
                    got += await server.receive_frames()
            assert got == [b"f%d" % i for i in range(sent)] + [b"last"]
            await client.aclose()

    run_virtual(main)


def test_a_send_the_hub_refuses_ends_the_connection_naming_the_refusal(backend: str) -> None:
    """``send_frames`` does not wait for the hub's answer, but what the answer says still
    counts: an error ends the connection, and the reason names the hub's refusal."""

    async def refuse(ctx: HubCallContext, items: Any = None) -> None:
        raise HubMethodError("frames over this account's quota")

    async def main() -> None:
        async with adapter.serve(token="t") as endpoint:
            client = await endpoint.connector().connect()
            await endpoint.accept()
            endpoint.hub.method(SEND_FRAMES)(refuse)
            await client.send_frames([b"one", b"two"])
            with anyio.fail_after(10), pytest.raises(TransportClosedError) as closed:
                while True:
                    await client.receive_frames()
            assert "refused 2 frames" in closed.value.reason
            assert "frames over this account's quota" in closed.value.reason
            with pytest.raises(TransportClosedError, match="quota"):
                await client.send_frames([b"three"])
            await client.aclose()

    run(main, backend=backend)


def test_frames_sent_just_before_a_close_still_go_out(backend: str) -> None:
    """A logout queued right before ``aclose`` reaches the far side, then the close."""

    async def main() -> None:
        async with adapter.serve(token="t") as endpoint:
            client = await endpoint.connector().connect()
            server = await endpoint.accept()
            await client.send_frames([b"logout"])
            await client.aclose()
            got: list[bytes] = []
            with pytest.raises(TransportClosedError, match="client closed"):
                while True:
                    got += await server.receive_frames()
            assert got == [b"logout"]

    run(main, backend=backend)


def test_send_queue_options_are_checked_naming_the_option() -> None:
    for options, name in (({"max_send_queue": 0}, "max_send_queue"),
                          ({"max_send_queue_bytes": True}, "max_send_queue_bytes"),
                          ({"linger": float("nan")}, "linger")):
        with pytest.raises(ValueError, match=name):
            adapter.connector("http://127.0.0.1:1/hubs/session/v1", **options)
