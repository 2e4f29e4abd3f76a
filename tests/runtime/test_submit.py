"""How a submit reaches the transport (sessionkit/runtime/_client.py), over the memory
transport: sent at once from the submitting task while the owner task is parked and the
transport can send without waiting (``NonBlockingTransport``), else by the owner task; and
``await submit()`` as a trio checkpoint.

The exchange here is the far side of a :func:`memory_transport_pair`, driven by the test:
a task answers the login, and a hook can answer a request *during* its send (as a fast
exchange does while the sender is descheduled).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from sessionkit import (
    ActionReport,
    JsonCodec,
    LimitOrder,
    Login,
    LoginAck,
    MessageProcessor,
    SessionBusyError,
    SessionConfig,
    Status,
)
from sessionkit.runtime import NonBlockingTransport, open_session
from sessionkit.runtime.memory import MemoryTransport, memory_transport_pair
from sessionkit.store import MemoryStore

CODEC = JsonCodec()


def order(price: int = 100) -> LimitOrder:
    return LimitOrder(contract_id=1, size=1, price_in_cents=price)


class Exchange:
    """The far side: answers the login; records every frame the client sent."""

    def __init__(self, far: MemoryTransport) -> None:
        self.far = far
        self.got: list[Any] = []
        self.mid = 0
        self.logged_in = False

    def take(self) -> list[Any]:
        """Read what the client sent so far, without waiting (login answered)."""
        msgs = [CODEC.decode(f) for f in self.far.receive_frames_nowait()]
        for m in msgs:
            if isinstance(m, Login):
                self.far.send_frames_nowait([CODEC.encode(LoginAck(run_id="r1"))])
                self.logged_in = True
        self.got += msgs
        return msgs

    def answer(self, msg: Any, *, final: bool = True) -> None:
        """ACK ``msg`` (and fill it when ``final``) at once."""
        self.mid += 1
        out = [Status(cid=msg.cid, mid=self.mid, run_id="r1")]
        if final:
            out.append(ActionReport(mid=self.mid, cid=msg.cid, contract_id=1, size=0,
                                    status_type="filled", run_id="r1"))
        self.far.send_frames_nowait([CODEC.encode(m) for m in out])


class Near:
    """The client's side: the memory transport, with a hook on its synchronous send and
    counters of how frames went out."""

    def __init__(self, near: MemoryTransport, *, room: int | None = None) -> None:
        self.near = near
        self.on_send_now: Callable[[list[bytes]], None] | None = None
        self.on_owner_send: Callable[[], None] | None = None
        self.sent_now: list[bytes] = []
        self.sent_by_owner: list[list[bytes]] = []
        self.room = room  # at most this many frames go out without waiting (None: all)

    def send_frames_nowait(self, frames: list[bytes]) -> int:
        if self.room is not None:
            frames = frames[:self.room]
            self.room -= len(frames)
        n = self.near.send_frames_nowait(frames)
        self.sent_now += frames[:n]
        if self.on_send_now is not None:
            self.on_send_now(frames[:n])
        return n

    async def send_frames(self, frames: list[bytes]) -> None:
        self.sent_by_owner.append(list(frames))
        await self.near.send_frames(frames)
        if self.on_owner_send is not None:
            self.on_owner_send()

    async def receive_frames(self) -> list[bytes]:
        return await self.near.receive_frames()

    async def aclose(self) -> None:
        await self.near.aclose()


class Blocking(Near):
    """A transport without ``send_frames_nowait``: the owner task sends everything."""

    send_frames_nowait = None  # type: ignore[assignment]


class Log(MessageProcessor):
    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self.fail_on: str | None = None

    def handle_status_message(self, msg: Any, prev: Any) -> None:
        self.items.append(("status", msg.cid))
        if self.fail_on == "status":
            raise RuntimeError("strategy bug")

    def handle_action_report(self, msg: Any, prev: Any) -> None:
        self.items.append(("report", msg.cid, msg.size))

    def on_message_finished(self, event: Any) -> None:
        self.items.append(("finished", event.cid, event.outcome.value))


def run(body: Callable[[Any, Exchange, Near, Log], Any], *, log: Any = None,
        config: SessionConfig | None = None, room: int | None = None,
        transport: type[Near] = Near, **options: Any) -> Log:
    """Run ``body(client, exchange, near, log)`` in a session over a memory pair (virtual
    time); returns the processor's log."""
    log = log or Log()
    trio.run(_run, body, log, config, room, transport, options,
             clock=trio.testing.MockClock(autojump_threshold=0))
    return log


async def _run(body: Any, log: Log, config: SessionConfig | None, room: int | None,
               transport: type[Near], options: dict[str, Any]) -> None:
    near, far = memory_transport_pair()
    ex, wrapped = Exchange(far), transport(near, room=room)

    class Connector:
        async def connect(self) -> Near:
            return wrapped

    def answer_login() -> None:  # as the login goes out
        if not ex.logged_in:
            ex.take()
            wrapped.sent_by_owner.clear()

    wrapped.on_owner_send = answer_login
    async with open_session(Connector(), log, account="a",
                            config=config or SessionConfig(cid_prefix="c"),
                            **options) as client:
        await trio.testing.wait_all_tasks_blocked()  # the owner is parked
        await body(client, ex, wrapped, log)


def test_a_lone_submit_is_on_the_wire_before_submit_yields() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        sent: list[list[Any]] = []
        near.on_send_now = lambda frames: sent.append(ex.take())  # during the submit
        cid = await client.submit(order())
        assert [[m.cid for m in msgs] for msgs in sent] == [[cid]]
        assert near.sent_by_owner == []  # the owner task was not woken to send it

    run(body)


def test_await_submit_is_a_checkpoint_and_submit_nowait_is_not() -> None:
    """As trio's own ``send``: a cancellation point and a schedule point."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        with trio.testing.assert_checkpoints():
            await client.submit(order())
        with trio.testing.assert_checkpoints():
            await client.submit(order(), timeout=1.0)
        with trio.testing.assert_checkpoints():
            await client.submit_batch([order(), order()])
        with trio.testing.assert_no_checkpoints():
            client.submit_nowait(order())
        assert client.statistics().in_flight == 5

    run(body)


@pytest.mark.parametrize("how", ["submit", "submit with a timeout", "submit_batch"])
def test_a_cancelled_submit_submits_nothing(how: str) -> None:
    """Cancelled before it is taken: nothing sent, nothing tracked, no outcome reported
    for it, and the session goes on."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            if how == "submit":
                await client.submit(order())
            elif how == "submit with a timeout":
                await client.submit(order(), timeout=1.0)
            else:
                await client.submit_batch([order(), order()])
        assert scope.cancelled_caught
        await trio.sleep(5)  # past every timer a request would have had
        assert ex.take() == [] and near.sent_now == [] and near.sent_by_owner == []
        stats = client.statistics()
        assert stats.in_flight == 0 and stats.submitted == 0
        assert log.items == []  # no outcome for a request never taken
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        cid = await client.submit(order())
        await trio.testing.wait_all_tasks_blocked()
        assert ("finished", cid, "done") in log.items

    run(body, config=SessionConfig(cid_prefix="c", ack_timeout=1.0, ack_timeout_max=1.0))


def test_a_submit_cancelled_during_its_schedule_point_is_still_submitted() -> None:
    """Once taken, a request is never lost to a cancellation: the call returns its cid."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        with trio.CancelScope() as scope:
            near.on_send_now = lambda frames: scope.cancel()  # while the submit runs
            cid = await client.submit(order())
        assert not scope.cancelled_caught
        assert [m.cid for m in ex.take()] == [cid]

    run(body)


def test_answers_are_handed_to_the_processor_by_the_owner_task() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        cid = client.submit_nowait(order())
        assert near.sent_now and log.items == []  # sent at once; the answers wait
        await trio.testing.wait_all_tasks_blocked()
        assert log.items == [("status", cid), ("report", cid, 0), ("finished", cid, "done")]
        assert client.statistics().in_flight == 0

    run(body)


def test_a_burst_goes_out_as_it_is_made_in_order() -> None:
    """Submits made without a schedule point in between each send their frame at once:
    the exchange starts on the first while the rest are made."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cids = []
        for i in range(5):
            cids.append(client.submit_nowait(order(100 + i)))
            assert [m.cid for m in ex.take()] == cids[-1:]
        assert near.sent_by_owner == [] and len(near.sent_now) == 5

    run(body)


def test_what_does_not_fit_at_once_is_sent_by_the_owner_in_order() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cids = [client.submit_nowait(order()) for _ in range(5)]
        assert [m.cid for m in ex.take()] == cids[:2]  # what the transport took at once
        await trio.testing.wait_all_tasks_blocked()
        assert [m.cid for m in ex.take()] == cids[2:]  # each once, in order
        assert [len(frames) for frames in near.sent_by_owner] == [3]  # in one call

    run(body, room=2)


def test_a_transport_that_cannot_send_without_waiting_has_the_owner_send() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        assert not isinstance(near, NonBlockingTransport)
        near.on_owner_send = lambda: [ex.answer(m) for m in ex.take()
                                     if isinstance(m, LimitOrder)]
        cid = await client.submit(order())
        await trio.testing.wait_all_tasks_blocked()
        assert near.sent_now == [] and log.items == [
            ("status", cid), ("report", cid, 0), ("finished", cid, "done")]

    run(body, transport=Blocking)


def test_a_request_that_cannot_be_encoded_is_logged_and_tracked_and_the_next_goes_out(
        caplog: pytest.LogCaptureFixture) -> None:
    """A frame over ``max_frame_size`` is not sent: the error is logged, the request stays
    tracked (resent until ``max_send_attempts``, then ended unknown), the session goes on."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        big = LimitOrder(cid="x" * 128, contract_id=1, size=1, price_in_cents=100)
        assert await client.submit(big) == big.cid
        assert near.sent_now == [] and ex.take() == []
        assert "over max_frame_size 200" in caplog.text
        assert [cid for cid, _, _ in client.session.tracked()] == [big.cid]
        cid = await client.submit(order())  # sent at once
        assert [m.cid for m in ex.take()] == [cid]
        await trio.sleep(10)  # the big one's ACK timer runs out max_send_attempts times
        assert ("finished", big.cid, "unknown") in log.items

    run(body, codec=JsonCodec(max_frame_size=200),  # a cid is at most 128 characters
        config=SessionConfig(cid_prefix="c", ack_timeout=1.0, ack_timeout_max=1.0,
                             max_send_attempts=2))


def test_a_full_window_met_at_once_raises_and_the_processor_hears_busy() -> None:
    busy: list[str] = []

    class Busy(Log):
        def on_connection_busy(self) -> None:
            busy.append("busy")

    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        await client.submit(order())  # sent at once; the exchange does not answer
        await trio.testing.wait_all_tasks_blocked()  # the owner parked
        with pytest.raises(SessionBusyError, match="max_in_flight 1"):
            client.submit_nowait(order())
        assert busy == []  # not from the submitting task: the owner dispatches it
        await trio.testing.wait_all_tasks_blocked()
        assert busy == ["busy"]

    run(body, log=Busy(), config=SessionConfig(cid_prefix="c", max_in_flight=1))


@pytest.mark.parametrize("how", ["submit", "submit_nowait"])
def test_the_ack_timer_of_a_request_sent_at_once_is_armed(how: str) -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        if how == "submit":
            cid = await client.submit(order())  # the exchange never answers it
        else:
            cid = client.submit_nowait(order())
        assert near.sent_now  # sent at once, with the owner parked (its deadline: none)
        await trio.sleep(1.5)
        assert [m.cid for m in ex.take()] == [cid, cid]  # sent at once, then resent

    run(body, config=SessionConfig(cid_prefix="c", ack_timeout=1.0, ack_timeout_max=1.0))


def test_with_a_journal_the_owner_sends_every_request() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cid = client.submit_nowait(order())
        assert near.sent_now == [] and ex.take() == []
        await trio.testing.wait_all_tasks_blocked()
        assert [m.cid for m in ex.take()] == [cid]

    run(body, store=MemoryStore("a", "day-1"))
