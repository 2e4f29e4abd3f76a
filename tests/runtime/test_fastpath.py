"""The submit side's fast path (sessionkit/runtime/_fastpath.py), over the memory transport.

The exchange here is the far side of a :func:`memory_transport_pair`, driven by the test:
a task answers the login, and a hook can answer a request *during* its send (as a fast
exchange does while the sender is descheduled), so its answers are there to be read when
``await submit()`` goes on to read.
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
    SessionBusy,
    SessionConfig,
    Status,
)
from sessionkit.runtime import HandlerError, open_session
from sessionkit.runtime._fastpath import _SLICE
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
    """The client's side: the memory transport, with a hook on its fast-path send and
    counters of how frames went out."""

    def __init__(self, near: MemoryTransport, *, room: int | None = None) -> None:
        self.near = near
        #: receive_frames hands over the first frame alone (the rest waits in ``held``)
        self.first_alone = False
        self.held: list[bytes] = []
        self.receives = 0  # receive_frames calls
        self.on_send_now: Callable[[list[bytes]], None] | None = None
        self.on_owner_send: Callable[[], None] | None = None
        self.sent_now: list[bytes] = []
        self.sent_by_owner: list[list[bytes]] = []
        self.room = room  # at most this many frames go out at once (None: all that fit)

    def send_frames_nowait(self, frames: list[bytes]) -> int:
        frames = frames if self.room is None else frames[:self.room]
        n = self.near.send_frames_nowait(frames)
        self.sent_now += frames[:n]
        if self.on_send_now is not None:
            self.on_send_now(frames[:n])
        return n

    def receive_frames_nowait(self) -> list[bytes]:
        frames, self.held = self.held + self.near.receive_frames_nowait(), []
        return frames

    async def send_frames(self, frames: list[bytes]) -> None:
        self.sent_by_owner.append(list(frames))
        await self.near.send_frames(frames)
        if self.on_owner_send is not None:
            self.on_owner_send()

    async def receive_frames(self) -> list[bytes]:
        self.receives += 1
        if self.held:
            frames, self.held = self.held, []
        else:
            frames = await self.near.receive_frames()
        if self.first_alone:
            self.held = frames[1:]
            return frames[:1]
        return frames

    async def aclose(self) -> None:
        await self.near.aclose()


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
        config: SessionConfig | None = None, room: int | None = None, **options: Any) -> Log:
    """Run ``body(client, exchange, near, log)`` in a session over a memory pair (virtual
    time); returns the processor's log."""
    log = log or Log()
    trio.run(_run, body, log, config, room, options,
             clock=trio.testing.MockClock(autojump_threshold=0))
    return log


async def _run(body: Any, log: Log, config: SessionConfig | None, room: int | None,
               options: dict[str, Any]) -> None:
    near, far = memory_transport_pair()
    ex, wrapped = Exchange(far), Near(near, room=room)

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


def test_a_lone_submit_is_on_the_wire_before_submit_returns() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cid = await client.submit(order())
        # no schedule point passed, and the frame is already in the exchange's buffer
        assert [m.cid for m in ex.take()] == [cid]
        assert len(near.sent_now) == 1 and near.sent_by_owner == []

    run(body)


def test_answers_there_when_the_submit_reads_are_handled_before_it_returns() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        cid = await client.submit(order())
        assert log.items == [("status", cid), ("report", cid, 0), ("finished", cid, "done")]
        assert client.statistics().in_flight == 0

    run(body)


def test_submit_nowait_never_runs_a_handler() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        cid = client.submit_nowait(order())
        assert near.sent_now and log.items == []  # sent at once; the answers wait
        await trio.testing.wait_all_tasks_blocked()
        assert log.items == [("status", cid), ("report", cid, 0), ("finished", cid, "done")]

    run(body)


def test_a_transport_that_hands_over_the_first_frame_alone_has_the_rest_read_at_once(
        ) -> None:
    """A transport may return the first frame after a wake-up alone (the ZeroMQ one does,
    so that it reaches its handler sooner): the owner reads the rest without waiting, in
    the same pass, in order."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        near.first_alone = True
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        before = near.receives  # the owner is parked in one of these
        cid = client.submit_nowait(order())
        await trio.testing.wait_all_tasks_blocked()
        assert log.items == [("status", cid), ("report", cid, 0), ("finished", cid, "done")]
        # the wait that returned the ACK, then the owner parked again in a new one: the
        # final report did not cost a receive_frames call of its own
        assert near.receives == before + 1 and near.held == []

    run(body)


def test_a_burst_sends_its_first_at_once_and_the_rest_together_in_order() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cids = [await client.submit(order(100 + i)) for i in range(5)]  # no checkpoint
        assert [m.cid for m in ex.take()] == cids[:1]
        await trio.testing.wait_all_tasks_blocked()
        assert [m.cid for m in ex.take()] == cids[1:]
        assert len(near.sent_by_owner) == 1  # one write for the rest of the burst
        # after a schedule point the next submit is a burst of its own again
        cid = await client.submit(order())
        assert [m.cid for m in ex.take()] == [cid]

    run(body)


def test_without_trio_s_count_a_burst_lasts_until_the_owner_parks_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionkit.runtime import _fastpath

    monkeypatch.setattr(_fastpath, "_schedule_points", lambda task: None)

    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        first = await client.submit(order())
        await trio.sleep(0)  # a schedule point, but nothing says so: still the same burst
        second = await client.submit(order())
        assert [m.cid for m in ex.take()] == [first]
        await trio.testing.wait_all_tasks_blocked()  # the owner sent it and parked again
        assert [m.cid for m in ex.take()] == [second] and len(near.sent_by_owner) == 1
        third = await client.submit(order())
        assert [m.cid for m in ex.take()] == [third] and len(near.sent_now) == 2

    run(body)


def test_what_does_not_fit_at_once_is_sent_by_the_owner_in_order() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        first = await client.submit(order())  # nothing fits now
        assert ex.take() == [] and near.sent_now == []
        second = client.submit_nowait(order())
        await trio.testing.wait_all_tasks_blocked()
        assert [m.cid for m in ex.take()] == [first, second]

    run(body, room=0)


def test_a_long_burst_goes_out_in_slices_while_it_runs() -> None:
    """The frames of a burst do not wait for its end: each time ``_SLICE`` wait, the
    submitting task sends them, in order, before its next submit."""
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        first = await client.submit(order())
        cids = [first]
        for _ in range(2 * _SLICE):  # no schedule point in between
            cids.append(await client.submit(order()))
            if len(cids) == 1 + _SLICE:  # the first slice has just gone
                assert [m.cid for m in ex.take()] == cids
        assert [m.cid for m in ex.take()] == cids[1 + _SLICE:]  # the second, as it filled
        tail = [await client.submit(order()) for _ in range(3)]
        assert ex.take() == [] and near.sent_by_owner == []  # a slice is not full yet
        await trio.testing.wait_all_tasks_blocked()
        assert [m.cid for m in ex.take()] == tail  # the owner writes the rest at once
        assert [len(frames) for frames in near.sent_by_owner] == [3]
        assert client.statistics().in_flight == len(cids) + 3

    run(body, config=SessionConfig(cid_prefix="c", max_in_flight=1000))


def test_a_slice_the_transport_cannot_take_whole_is_finished_by_the_owner_in_order(
        ) -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cids = [await client.submit(order()) for _ in range(2 * _SLICE + 5)]
        got = [m.cid for m in ex.take()]
        assert got == cids[:1 + 3]  # the first at once; 3 of the first slice
        await trio.testing.wait_all_tasks_blocked()
        got += [m.cid for m in ex.take()]
        assert got == cids  # each once, in order

    run(body, room=3, config=SessionConfig(cid_prefix="c", max_in_flight=1000))


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
        await trio.testing.wait_all_tasks_blocked()
        cid = await client.submit(order())  # a new burst: sent at once
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
        await trio.testing.wait_all_tasks_blocked()  # a new burst, the owner parked
        with pytest.raises(SessionBusy, match="max_in_flight 1"):
            client.submit_nowait(order())
        assert busy == []  # not from the submitting task: the owner dispatches it
        await trio.testing.wait_all_tasks_blocked()
        assert busy == ["busy"]

    run(body, log=Busy(), config=SessionConfig(cid_prefix="c", max_in_flight=1))


def test_a_handler_stop_during_the_read_ends_the_session_not_the_submit() -> None:
    returned: list[str] = []
    log = Log()

    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        log.fail_on = "status"
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        returned.append(await client.submit(order()))  # the handler raises inside
        await trio.sleep_forever()  # the owner ends the session with the error

    with pytest.raises(HandlerError, match="strategy bug") as info:
        run(body, log=log, handler_errors="stop")
    assert len(returned) == 1  # submit returned normally
    # the final report read with the ACK was fed to the session, but the stop kept it
    # from the processor (HandlerError.undelivered): the order is reported unknown, not
    # done (the engine never saw the fill a "done" would stand for)
    assert log.items == [("status", returned[0]), ("finished", returned[0], "unknown")]
    assert [type(e.msg).__name__ for e in info.value.undelivered] == ["ActionReport"]


def test_the_ack_timer_of_a_request_sent_at_once_is_armed() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cid = await client.submit(order())  # the exchange never answers it
        await trio.sleep(1.5)
        assert [m.cid for m in ex.take()] == [cid, cid]  # sent at once, then resent

    run(body, config=SessionConfig(cid_prefix="c", ack_timeout=1.0, ack_timeout_max=1.0))


def test_the_ack_timer_of_a_request_submit_nowait_sent_at_once_is_armed() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cid = client.submit_nowait(order())
        assert near.sent_now  # sent at once, with no read after it
        await trio.sleep(1.5)
        assert [m.cid for m in ex.take()] == [cid, cid]

    run(body, config=SessionConfig(cid_prefix="c", ack_timeout=1.0, ack_timeout_max=1.0))


def test_with_a_journal_the_owner_sends_every_request() -> None:
    async def body(client: Any, ex: Exchange, near: Near, log: Log) -> None:
        cid = await client.submit(order())
        assert near.sent_now == [] and ex.take() == []
        await trio.testing.wait_all_tasks_blocked()
        assert [m.cid for m in ex.take()] == [cid]

    run(body, store=MemoryStore("a", "day-1"))


class OnlyFinished(MessageProcessor):
    """Handles nothing but final states (what a throughput-minded engine might do)."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []

    def on_message_finished(self, event: Any) -> None:
        self.items.append(("finished", event.cid, event.outcome.value))


def test_answers_the_processor_leaves_to_the_defaults_make_no_events_but_callbacks_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sessionkit import Session

    told: list[frozenset[type]] = []
    original = Session.set_unobserved

    def spy(self: Any, types: Any) -> None:
        types = frozenset(types)
        told.append(types)
        original(self, types)

    monkeypatch.setattr(Session, "set_unobserved", spy)
    calls: list[Any] = []

    async def body(client: Any, ex: Exchange, near: Near, log: Any) -> None:
        near.on_send_now = lambda frames: [ex.answer(m) for m in ex.take()]
        plain = await client.submit(order())
        await trio.sleep(0)  # a burst of its own: sent at once, answered at once
        traced = await client.submit(order(), callback=lambda m, p: calls.append(m.TYPE))
        await trio.testing.wait_all_tasks_blocked()
        assert [i for i in log.items if i[0] == "finished"] == [
            ("finished", plain, "done"), ("finished", traced, "done")]
        assert calls[-2:] == ["status", "action_report"]

    run(body, log=OnlyFinished())
    assert told and Status in told[0] and ActionReport in told[0]
    told.clear()
    run(body, log=Log())  # it handles both: nothing is left out
    assert told and Status not in told[0] and ActionReport not in told[0]
    told.clear()
    run(lambda *a: trio.sleep(0), log=OnlyFinished(), store=MemoryStore("a", "day-2"))
    assert told == []  # a journal records every event handled: all are made
