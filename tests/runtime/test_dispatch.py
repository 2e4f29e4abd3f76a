"""Handler isolation: every consumer of an event gets it whatever another consumer raised.

An answer goes to the processor's handler, then to its request's callback; a finished
request to ``on_message_finished``. Under ``on_handler_error="log"`` a raising call is
logged and counted and delivery goes on; under ``"stop"`` the event still reaches its
other consumers, then the session stops, and with a journal the resume cursor never
passes an event that was not handed to every consumer (a session opened on the journal
again is handed it). Everything here goes through ``open_session`` (and ``Context``, the
``driver`` fixture) on the memory adapter, against the reference exchange.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessionkit import GetBookState, MessageProcessor, SessionClosedError, SessionConfig
from sessionkit.runtime import ClientState, HandlerError, open_session
from sessionkit.store import MemoryStore
from sessionkit.testing import ReferenceExchange

CFG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")


class Boom(Exception):
    """What a consumer raises in these tests."""


class Consumers(MessageProcessor):
    """Records every consumer call in one list, in order; raises where ``plan`` says.

    ``plan`` holds ``(consumer, n)``: the n-th call (from 0) of that consumer raises, after
    it was recorded. Consumers: ``handler`` (any message handler), ``callback`` (any
    request's callback), ``finished`` (on_message_finished).
    """

    def __init__(self, plan: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.plan = plan
        self.calls: list[tuple[Any, ...]] = []
        self.counts = {"handler": 0, "callback": 0, "finished": 0}
        #: the calls that raised, in order
        self.raised: list[tuple[tuple[Any, ...], Boom]] = []

    def _call(self, consumer: str, *item: Any) -> None:
        n = self.counts[consumer]
        self.counts[consumer] = n + 1
        call = (consumer, *item)
        self.calls.append(call)
        if (consumer, n) in self.plan:
            exc = Boom(f"{consumer} call {n}")
            self.raised.append((call, exc))
            raise exc

    def handle_status_message(self, msg: Any, prev: Any) -> None:
        self._call("handler", msg.event_id, "status", msg.cid)

    def handle_book_state_snapshot(self, msg: Any, prev: Any) -> None:
        self._call("handler", msg.event_id, "snapshot", getattr(prev, "cid", None))

    def handle_action_report(self, msg: Any, prev: Any) -> None:
        self._call("handler", msg.event_id, "report", msg.cid)

    def on_message_finished(self, event: Any) -> None:
        self._call("finished", event.cid, event.outcome.value)

    def callback(self) -> Any:
        def callback(msg: Any, prev: Any) -> None:
            self._call("callback", msg.event_id, msg.TYPE)

        return callback

    # views
    def of(self, consumer: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == consumer]

    def finishes(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for _, cid, outcome in self.of("finished"):
            out.setdefault(cid, []).append(outcome)
        return out


def session(parts: Any, proc: Consumers, n: int, exchange: ReferenceExchange | None = None,
            **options: Any) -> dict[str, Any]:
    """Submit ``n`` book requests (each with a callback) through ``open_session`` and wait
    until each request submitted (or carried on from a journal) finished or the session
    ended; what happened."""
    got: dict[str, Any] = {"cids": [], "error": None, "client": None}
    emb = parts.EmbeddedExchange(exchange or ReferenceExchange())
    store = options.get("store")
    carried = [m.cid for m in store.messages()] if store is not None else []

    async def main() -> None:
        try:
            async with open_session(emb, proc, account="acct", config=CFG,
                                    **options) as client:
                got["client"] = client
                for _ in range(n):
                    try:
                        got["cids"].append(await client.submit(GetBookState(contract_id=1),
                                                               proc.callback()))
                    except SessionClosedError:
                        break
                while (len(proc.finishes()) < len(got["cids"]) + len(carried)
                       and client.state is ClientState.ACTIVE):
                    await trio.sleep(0.01)
        except HandlerError as exc:
            got["error"] = exc

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return got


def test_a_raising_handler_still_lets_the_callback_see_the_ack(
        driver: Any, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(h: Any) -> None:
        h.log.fail = lambda item: Boom("bad handler") if item[0] == "status" else None
        seen: list[str] = []
        await h.open(config=CFG)
        cid = await h.submit(GetBookState(contract_id=1), lambda m, p: seen.append(m.TYPE))
        await h.wait_for(lambda log: bool(log.of("finished")))
        assert seen == ["status", "book_state_snapshot"]
        assert h.log.finished()[cid] == ("completed", "")
        stats = await h.statistics()
        assert stats.finished["completed"] == 1
        await h.close()

    with caplog.at_level(logging.ERROR, logger="sessionkit.runtime"):
        driver.run(scenario)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "handle_status_message raised" in errors[0].getMessage()


def test_a_raising_callback_costs_neither_the_handler_nor_the_finish(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        def callback(msg: Any, prev: Any) -> None:
            raise Boom("bad callback")

        await h.open(config=CFG)
        first = await h.submit(GetBookState(contract_id=1), callback)
        second = await h.submit(GetBookState(contract_id=2))
        await h.wait_for(lambda log: len(log.of("finished")) == 2)
        assert [i[1] for i in h.log.of("status")] == [first, second]
        assert len(h.log.of("snapshot")) == 2
        assert h.log.finished() == {first: ("completed", ""), second: ("completed", "")}
        await h.close()

    driver.run(scenario)


def test_a_raising_on_message_finished_costs_no_other_report(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.log.fail = lambda item: Boom("bad finish") if item[0] == "finished" else None
        await h.open(config=CFG)
        cids = [await h.submit(GetBookState(contract_id=c)) for c in (1, 2, 3)]
        await h.wait_for(lambda log: len(log.of("finished")) == 3)
        assert sorted(h.log.finished()) == sorted(cids)
        assert [i[1] for i in h.log.of("status")] == cids
        await h.close()

    driver.run(scenario)


def test_under_stop_the_event_reaches_every_consumer_then_the_session_stops(
        driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.log.fail = lambda item: Boom("strategy bug") if item[0] == "status" else None
        seen: list[str] = []
        await h.open(config=CFG, on_handler_error="stop")
        cid = await h.submit(GetBookState(contract_id=1), lambda m, p: seen.append(m.TYPE))
        err = await h.finish()
        assert type(err) is HandlerError
        assert err.consumer == "handle_status_message" and isinstance(err.original, Boom)
        assert seen[:1] == ["status"]  # the callback got the ACK its handler raised on
        assert "book_state_snapshot" not in seen  # nothing after the stopping event
        # one report; "completed" only if the engine saw the answer it stands for
        assert h.log.finished() == {cid: ("unknown", h.log.finished()[cid][1])}
        assert "stopped by a handler error" in h.log.finished()[cid][1]
        assert await h.state() is ClientState.FAILED

    driver.run(scenario)


def test_under_stop_a_withheld_answer_makes_its_request_unknown(parts: Any) -> None:
    proc = Consumers(frozenset({("handler", 0)}))  # the first ACK's handler raises
    got = session(parts, proc, 1, on_handler_error="stop")
    err = got["error"]
    assert isinstance(err, HandlerError) and err.consumer == "handle_status_message"
    (cid,) = got["cids"]
    # the ACK reached its callback too; its answer (the snapshot) reached no one
    assert [c[0] for c in proc.calls] == ["handler", "callback", "finished"]
    assert proc.finishes() == {cid: ["unknown"]}
    assert [e.msg.TYPE for e in err.undelivered] == ["book_state_snapshot"]


def test_under_stop_with_a_journal_the_cursor_stays_before_the_event_and_it_is_replayed(
        parts: Any) -> None:
    store = MemoryStore("acct", "2026-05-04")
    proc = Consumers(frozenset({("handler", 1)}))  # the first answer's handler raises
    exchange = ReferenceExchange()
    got = session(parts, proc, 1, exchange, on_handler_error="stop", store=store)
    assert isinstance(got["error"], HandlerError)
    stopping = got["error"].event.msg.event_id
    handed = [c[1] for c in proc.of("handler")]
    assert handed[-1] == stopping  # the handler got it (and raised)
    assert [c[1] for c in proc.of("callback")] == handed  # so did the callback
    store.close()
    again = store.reopen()
    assert again.last_event_id == stopping - 1  # not past the event that stopped it
    assert [m.cid for m in again.messages()] == got["cids"]  # the request carried on

    # a session opened on the journal is handed the event again, then the rest
    proc2 = Consumers()
    session(parts, proc2, 0, exchange, store=again)
    assert stopping in [c[1] for c in proc2.of("handler")]
    assert proc2.finishes()[got["cids"][0]] == ["completed"]  # (and its MessageReplay)


# -- which consumers raise: a property over every plan ------------------------------------

CONSUMERS = ("handler", "callback", "finished")
PLANS = st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.just(n),
    st.frozensets(st.tuples(st.sampled_from(CONSUMERS), st.integers(0, 2 * n - 1)),
                  max_size=4)))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=PLANS, mode=st.sampled_from(["log", "stop"]), journal=st.booleans())
def test_every_consumer_gets_every_event_once_in_order_whoever_raises(
        parts: Any, plan: tuple[int, frozenset[tuple[str, int]]], mode: str,
        journal: bool) -> None:
    """Handlers, callbacks and on_message_finished raise on ACKs, answers and finishes as
    the plan says. Under "log" every consumer (the raising ones too) gets exactly what it
    gets when nothing raises, once each, in order. Under "stop" each gets a prefix of it
    that ends with the event that raised (every consumer of that event had it), each
    request ends once (a final state only when its messages all reached the processor;
    with a journal it stays there), and the journal's cursor never passes an event some
    consumer was not handed."""
    n, raises = plan
    store = MemoryStore("acct", "day") if journal else None
    ref_store = MemoryStore("acct", "day") if journal else None
    reference = Consumers()
    session(parts, reference, n, store=ref_store, on_handler_error=mode)
    proc = Consumers(raises)
    got = session(parts, proc, n, store=store, on_handler_error=mode)
    event(f"{mode}, {'journal' if journal else 'no journal'}, "
          f"{'stopped' if got['error'] else 'raised ' + str(len(proc.raised))}")
    cids = got["cids"]
    assert cids == list(reference.finishes())
    messages = [c for c in reference.calls if c[0] != "finished"]
    per_cid = {cid: [c[1] for c in reference.of("handler") if cid in (c[3], None)]
               for cid in cids}

    if mode == "log" or not proc.raised:
        assert got["error"] is None
        assert proc.calls == reference.calls  # each consumer: every event, once, in order
        assert got["client"].handler_errors == len(proc.raised)
    else:
        err = got["error"]
        (first_call, first_exc), *_ = proc.raised
        assert isinstance(err, HandlerError) and err.original is first_exc
        stop_at = proc.calls.index(first_call)
        delivered = [c for c in proc.calls if c[0] != "finished"]
        # messages: a prefix of the reference, ending with every consumer of the event
        # that raised; nothing after it
        assert delivered == messages[:len(delivered)]
        if first_call[0] != "finished":
            eid = first_call[1]
            assert delivered and delivered[-1][1] == eid
            assert [c for c in messages if c[1] == eid] == [c for c in delivered
                                                            if c[1] == eid]
        assert all(c[0] == "finished" for c in proc.calls[stop_at + 1:]
                   if c[1] != first_call[1])
        handed = {c[1] for c in delivered}
        for cid, outcomes in proc.finishes().items():
            assert len(outcomes) == 1, f"{cid} finished {outcomes}"
            if outcomes[0] != "unknown":  # a final state: its messages all reached it
                assert set(per_cid[cid]) <= handed
        if store is None:
            assert sorted(proc.finishes()) == sorted(cids)  # each request ends once

    if store is not None:
        store.close()
        again = store.reopen()
        for c in messages:  # the cursor never passes an event not handed to all
            if c[1] <= again.last_event_id:
                assert c in proc.calls, f"the cursor {again.last_event_id} passed {c}"
        err = got["error"]
        if err is not None and err.consumer != "on_message_finished":
            assert err.event.msg.event_id > again.last_event_id  # it is handed again
        kept = {m.cid for m in again.messages()}
        raised_on = {c[1] for c, _ in proc.raised if c[0] == "finished"}
        reported = set(proc.finishes())
        assert set(cids) - reported <= kept  # not reported: the journal carries it on
        assert not (reported - raised_on) & kept  # reported and returned: recorded
        if mode == "log":
            assert kept == set()
