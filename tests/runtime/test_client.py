"""The session behaviours a trading engine relies on, through ``open_session`` and ``Context``.

Every test runs twice (the ``driver`` fixture): through the async API in one
trio run, and through :class:`Context` driven from plain threads.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionkit import (
    CancelOrder,
    GetBookState,
    LimitOrder,
    SessionBusyError,
    SessionClosedError,
    SessionConfig,
)
from sessionkit.runtime import (
    ClientState,
    ConnectionFailedError,
    HandlerError,
    LoginFailedError,
    ReconnectPolicy,
)
from sessionkit.runtime.memory import message_type
from sessionkit.testing import ReferenceExchange

BIG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")


def buy(size: int = 1, price: int = 100) -> LimitOrder:
    return LimitOrder(contract_id=1, side="buy", size=size, price_in_cents=price)


def sell(size: int = 1, price: int = 100) -> LimitOrder:
    return LimitOrder(contract_id=1, side="sell", size=size, price_in_cents=price)


def increasing(ids: list[int]) -> bool:
    return all(a < b for a, b in zip(ids, ids[1:], strict=False))


def finished(cid: str, outcome: str | None = None) -> Any:
    def pred(log: Any) -> bool:
        got = [i for i in log.of("finished") if i[1] == cid]
        return bool(got) and (outcome is None or got[0][2] == outcome)

    return pred


def has(kind: str, n: int = 1) -> Any:
    return lambda log: len(log.of(kind)) >= n


def test_login_accepted_then_graceful_close(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open()
        assert h.log.kinds()[0] == "login"
        assert await h.state() is ClientState.ACTIVE
        await h.close()
        assert h.log.of("closed")
        assert h.exchange.connection.closed  # the exchange saw the logout

    driver.run(scenario)


def test_login_refused_raises_login_failed(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        with pytest.raises(LoginFailedError) as info:
            await h.open(token="wrong")
        assert "bad account or token" in info.value.reason
        assert h.log.of("login_failed")

    driver.run(scenario, exchange=ReferenceExchange(accounts={"acct": "secret"}))


def test_connect_refused_without_reconnect_raises_connection_failed(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.emb.refusals = 1
        with pytest.raises(ConnectionFailedError) as info:
            await h.open()
        assert "connection refused (test)" in info.value.reason
        assert h.log.of("connection_failed")

    driver.run(scenario)


def test_unanswered_login_fails_after_the_login_timeout(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.exchange.silent = True
        with pytest.raises(ConnectionFailedError) as info:
            await h.open(config=SessionConfig(login_timeout=3.0))
        assert "no answer to the login within 3.0 s" in info.value.reason

    driver.run(scenario)


def test_s3_ack_and_final_response_end_tracking(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open()
        cid = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(finished(cid, "completed"))
        assert [i[0] for i in h.log.items if i[1:2] == (cid,)] == ["status", "finished"]
        assert h.log.of("snapshot")
        st = await h.statistics()
        assert (st.in_flight, st.awaiting_response, st.finished["completed"]) == (0, 0, 1)
        await h.close()

    driver.run(scenario)


def test_s1_a_dropped_ack_is_resent_and_executed_once(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(ack_timeout=1.0, cid_prefix="c"))
        order = await h.submit(buy())
        await h.wait_for(lambda log: len(log.of("report")) == 1)
        mid = h.exchange.executions[0][1]
        await h.in_loop(lambda: h.emb.to_client.drop(1, match=message_type("status")))
        cancel = await h.submit(CancelOrder(order_mid=mid))
        await h.wait_for(finished(cancel, "completed"))
        await h.wait_for(finished(order, "done"))
        st = await h.statistics()
        assert st.resends >= 1 and h.emb.to_client.dropped == 1
        assert [e[0] for e in h.exchange.executions].count(cancel) == 1
        await h.close()

    driver.run(scenario)


def test_a_response_that_overtook_its_lost_ack_is_matched_by_cid(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.emb.to_client.drop(1, match=message_type("status"))
        await h.open(config=SessionConfig(ack_timeout=1.0, cid_prefix="c"))
        cid = await h.submit(GetBookState(contract_id=1))
        # the ACK with its MID was lost; the snapshot echoes the request's cid, which
        # implies the ACK and completes the request without a resend or a replay
        await h.wait_for(finished(cid, "completed"))
        st = await h.statistics()
        assert st.awaiting_response == 0 and st.unmatched_responses == 0
        assert [e[0] for e in h.exchange.executions].count(cid) == 1
        await h.close()

    driver.run(scenario)


def test_trade_request_is_tracked_until_size_zero(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        order = await h.submit(buy(size=2))
        first = await h.submit(sell(size=1))
        await h.wait_for(finished(first, "done"))
        assert order not in h.log.finished()
        second = await h.submit(sell(size=1))
        await h.wait_for(finished(order, "done"))
        await h.wait_for(finished(second, "done"))
        sizes = [i[2] for i in h.log.of("report") if i[1] == order]
        assert sizes == [2, 1, 0]
        assert increasing(h.log.event_ids())
        await h.close()

    driver.run(scenario)


def test_a_batch_of_201_is_split_in_two(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        tickets = await h.submit_batch([GetBookState(contract_id=1)] * 201)
        assert [len(t.cids) for t in tickets] == [200, 1]
        cids = [c for t in tickets for c in t.cids] + [t.cid for t in tickets]
        await h.wait_for(lambda log: all(c in log.finished() for c in cids))
        assert {v[0] for v in h.log.finished().values()} == {"completed"}
        assert [i[2] for i in h.log.of("batch_ack")] == [200, 1]
        await h.close()

    driver.run(scenario)


def test_run_change_cancels_open_orders(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        cid = await h.submit(buy())
        await h.wait_for(lambda log: any(i[1] == cid for i in log.of("report")))
        await h.in_loop(lambda: h.exchange.restart("run-9"))
        await h.wait_for(finished(cid, "cancelled_by_run_change"))
        assert h.log.of("run_change") == [("run_change", "run-9", "run-1")]
        await h.close()

    driver.run(scenario)


@pytest.mark.parametrize("resume", [0, 1, 2])
def test_resume_replays_from_the_event_id_asked(driver: Any, resume: int) -> None:
    ex = ReferenceExchange()
    for _ in range(3):
        ex.publish_book_top(1)  # event ids 1, 2, 3, logged before anyone connects

    async def scenario(h: Any) -> None:
        await h.open(resume_event_id=resume)
        if resume == 0:
            await h.sleep(0.5)
            assert not h.log.of("book_top") and not h.log.of("resend_complete")
        else:
            await h.wait_for(has("resend_complete"))
            assert [i[2] for i in h.log.of("book_top")] == list(range(resume, 4))
            (_, begin, end), = h.log.of("resend_complete")
            assert begin == resume and end >= 3
            kinds = h.log.kinds()
            assert kinds.index("login") < kinds.index("book_top") < kinds.index("resend_complete")
        await h.close()

    driver.run(scenario, exchange=ex)


def test_busy_rejects_at_once_then_available(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(max_in_flight=4, low_water=2, ack_timeout=1e6,
                                          ack_timeout_max=1e6, cid_prefix="c"),
                     frozen_time=True)
        await h.in_loop(h.emb.to_client.hold)
        cids = [await h.submit(GetBookState(contract_id=1)) for _ in range(4)]
        with pytest.raises(SessionBusyError) as info:
            await h.submit(GetBookState(contract_id=1))
        assert info.value.reason == "window"
        await h.wait_for(has("busy"))
        await h.in_loop(h.emb.to_client.release)
        await h.wait_for(has("available"))
        await h.wait_for(lambda log: all(c in log.finished() for c in cids))
        cid = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(finished(cid, "completed"))
        assert (await h.statistics()).rejected_busy == 1
        await h.close()

    driver.run(scenario, exchange=ReferenceExchange(heartbeat_interval_ms=3_600_000))


def test_a_waiting_submit_goes_through_once_the_window_frees(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(max_in_flight=2, low_water=1, ack_timeout=1e6,
                                          ack_timeout_max=1e6, cid_prefix="c"),
                     frozen_time=True)
        await h.in_loop(h.emb.to_client.hold)
        for _ in range(2):
            await h.submit(GetBookState(contract_id=1))
        got: list[str] = []
        async with trio.open_nursery() as nursery:
            async def waiting() -> None:
                got.append(await h.submit(GetBookState(contract_id=1), wait=1e9))

            nursery.start_soon(waiting)
            await h.wait_for(has("busy"))
            await h.in_loop(h.emb.to_client.release)
        await h.wait_for(finished(got[0], "completed"))
        await h.close()

    driver.run(scenario, exchange=ReferenceExchange(heartbeat_interval_ms=3_600_000))


def test_a_batch_larger_than_the_window_fails_at_once_even_when_awaited(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(max_in_flight=5, cid_prefix="c"))
        with pytest.raises(SessionBusyError, match="window"):
            await h.submit_batch([GetBookState(contract_id=1)] * 6, wait=1e9)
        st = await h.statistics()
        assert (st.submitted, st.in_flight) == (0, 0)
        await h.close()

    driver.run(scenario)


def test_a_waiting_batch_retries_on_progress_not_on_every_available(driver: Any) -> None:
    """4 in flight is below low water (5) but 4 + 7 passes the window (10): the awaited
    batch must wait for ACKs, not spin between busy and available."""
    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(max_in_flight=10, low_water=5, ack_timeout=1e6,
                                          ack_timeout_max=1e6, cid_prefix="c"),
                     frozen_time=True)
        await h.in_loop(h.emb.to_client.hold)
        for _ in range(4):
            await h.submit(GetBookState(contract_id=1))
        got: list[Any] = []
        async with trio.open_nursery() as nursery:
            async def waiting() -> None:
                got.extend(await h.submit_batch([GetBookState(contract_id=2)] * 7, wait=1e9))

            nursery.start_soon(waiting)
            await h.wait_for(has("busy"))
            await h.sleep(5.0)
            assert len(h.log.of("busy")) <= 2, "the waiting batch spins"
            await h.in_loop(h.emb.to_client.release)
        cids = [c for t in got for c in t.cids]
        await h.wait_for(lambda log: all(c in log.finished() for c in cids))
        await h.close()

    driver.run(scenario, exchange=ReferenceExchange(heartbeat_interval_ms=3_600_000))


def test_exchange_congestion_makes_submits_busy(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        await h.in_loop(lambda: h.exchange.set_congested(True))
        await h.wait_for(has("busy"))
        with pytest.raises(SessionBusyError) as info:
            await h.submit(GetBookState(contract_id=1))
        assert info.value.reason == "congestion"
        await h.in_loop(lambda: h.exchange.set_congested(False))
        await h.wait_for(has("available"))
        cid = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(finished(cid, "completed"))
        await h.close()

    driver.run(scenario)


def test_heartbeats_detect_an_exchange_gone_silent(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        await h.wait_for(lambda log: log.heartbeats >= 1)
        await h.in_loop(lambda: setattr(h.exchange, "silent", True))
        await h.wait_for(has("offline"))
        await h.in_loop(lambda: setattr(h.exchange, "silent", False))
        await h.wait_for(has("online"))
        assert (await h.statistics()).offline_count == 1
        await h.close()

    driver.run(scenario)


def test_handler_error_logged_and_the_session_goes_on(driver: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(h: Any) -> None:
        fired: list[Any] = []

        def fail(item: Any) -> BaseException | None:
            if item[0] == "status" and not fired:
                fired.append(item)
                return ValueError("bad handler")
            return None

        h.log.fail = fail
        await h.open(config=BIG)
        cid = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(finished(cid, "completed"))
        cid2 = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(finished(cid2, "completed"))
        await h.close()

    with caplog.at_level(logging.ERROR, logger="sessionkit.runtime"):
        driver.run(scenario)
    errors = [r for r in caplog.records if r.name.startswith("sessionkit.runtime")
              and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], ValueError)


def test_handler_error_stops_the_session_with_one_handler_error(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        h.log.fail = lambda item: (KeyError("boom") if item[0] == "report" else None)
        await h.open(config=BIG, on_handler_error="stop")
        cid = await h.submit(buy())
        err = await h.finish()
        assert type(err) is HandlerError
        assert isinstance(err.original, KeyError) and err.__cause__ is err.original
        assert h.log.finished()[cid] == ("unknown", "session stopped by a handler error")
        assert await h.state() is ClientState.FAILED
        with pytest.raises(SessionClosedError):
            await h.submit(buy())

    driver.run(scenario)


def test_cancellation_reports_every_unfinished_request(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        resting = [await h.submit(buy(price=p)) for p in (10, 11)]
        await h.wait_for(lambda log: len(log.of("report")) == 2)
        await h.in_loop(h.emb.to_server.hold)
        unsent = await h.submit(GetBookState(contract_id=1))
        await h.cancel()
        got = h.log.finished()
        for cid in resting + [unsent]:
            assert got[cid] == ("unknown", "session cancelled")

    driver.run(scenario)


def test_close_reports_open_orders_and_logs_out(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        cid = await h.submit(buy())
        await h.wait_for(lambda log: len(log.of("report")) == 1)
        await h.close()
        assert h.log.finished()[cid] == ("unknown", "session closed before the final response")
        assert h.log.kinds()[-2:] == ["closed", "finished"]
        assert await h.state() is ClientState.CLOSED

    driver.run(scenario)


def test_close_is_bounded_when_the_exchange_never_closes(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        await h.in_loop(lambda: setattr(h.exchange, "silent", True))
        await h.close(timeout=2.0)
        (_, reason), = h.log.of("closed")
        assert "not closed within 2.0 s" in reason
        assert await h.state() is ClientState.CLOSED

    driver.run(scenario)


def test_cancel_order_is_final_on_its_ack(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG)
        order = await h.submit(buy())
        await h.wait_for(lambda log: len(log.of("status")) == 1)
        mid = h.exchange.executions[0][1]
        cancel = await h.submit(CancelOrder(order_mid=mid))
        await h.wait_for(finished(cancel, "completed"))
        await h.wait_for(finished(order, "done"))
        await h.close()

    driver.run(scenario)


def test_a_garbled_frame_is_reported_and_the_session_goes_on(driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=attrs.evolve(BIG, on_violation="report"))
        await h.in_loop(lambda: h.emb.to_client.garble(1, match=message_type("status")))
        cid = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(has("protocol_error"))
        (_, message, fatal), = h.log.of("protocol_error")
        assert not fatal and "not valid JSON" in message
        cid2 = await h.submit(GetBookState(contract_id=2))
        await h.wait_for(finished(cid2, "completed"))
        assert await h.state() is ClientState.ACTIVE
        assert cid not in h.log.finished() or h.log.finished()[cid][0] == "completed"
        await h.close()

    driver.run(scenario)


def test_by_default_a_garbled_frame_ends_the_connection_and_the_replay_repairs_it(
        driver: Any) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=BIG, reconnect=ReconnectPolicy(initial=0.1, jitter=0.0))
        await h.in_loop(lambda: h.emb.to_client.garble(1, match=message_type("status")))
        cid = await h.submit(GetBookState(contract_id=1))
        await h.wait_for(finished(cid, "completed"))
        (_, message, fatal), = h.log.of("protocol_error")
        assert fatal and "not valid JSON" in message
        assert len(h.log.of("reconnected")) == 1
        # the garbled ACK came back with the replay: delivered once, then the answer
        assert [i[1] for i in h.log.of("status")] == [cid]
        assert await h.state() is ClientState.ACTIVE
        await h.close()

    driver.run(scenario)


def test_with_a_store_unfinished_requests_stay_in_the_journal(driver: Any) -> None:
    from sessionkit.store import MemoryStore

    store = MemoryStore("acct", "2026-05-04")
    kept: dict[str, Any] = {}

    async def first(h: Any) -> None:
        await h.open(config=BIG, store=store)
        cid = await h.submit(buy())
        await h.wait_for(lambda log: len(log.of("report")) == 1)
        kept["cid"] = cid
        await h.cancel()
        assert cid not in h.log.finished()  # not reported: the journal carries it on

    ex = ReferenceExchange()
    driver.run(first, exchange=ex)
    assert [m.cid for m in store.messages()] == [kept["cid"]]
    store.close()
    again = store.reopen()

    async def second(h: Any) -> None:
        await h.open(config=SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0),
                     store=again)
        await h.submit(sell())
        await h.wait_for(finished(kept["cid"], "done"))
        await h.close()

    driver.run(second, exchange=ex)
    assert again.messages() == []


OPS = st.sampled_from(["submit", "resting", "drop", "refuse", "sleep", "hold", "release"])


QUICK = settings(max_examples=20, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])
SOAK = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@QUICK
@given(ops=st.lists(OPS, max_size=12), ending=st.sampled_from(["close", "cancel"]))
def test_every_accepted_request_ends_in_exactly_one_report(driver: Any, ops: list[str],
                                                           ending: str) -> None:
    """Whatever happens (drops, refusals, held frames, close or cancel), each request the
    API accepted reaches on_message_finished once, and events arrive in id order."""
    one_report_each(driver, ops, ending)


@pytest.mark.slow
@SOAK
@given(ops=st.lists(OPS, max_size=30), ending=st.sampled_from(["close", "cancel"]))
def test_every_accepted_request_ends_in_exactly_one_report_soak(driver: Any, ops: list[str],
                                                                ending: str) -> None:
    one_report_each(driver, ops, ending)


def one_report_each(driver: Any, ops: list[str], ending: str) -> None:
    async def scenario(h: Any) -> None:
        await h.open(config=SessionConfig(ack_timeout=0.5, max_send_attempts=3,
                                          cid_prefix="c"),
                     reconnect=ReconnectPolicy(initial=0.1, jitter=0.0, max_attempts=2))
        accepted: list[str] = []
        for op in ops:
            if op in ("submit", "resting"):
                req = GetBookState(contract_id=1) if op == "submit" else buy(price=10)
                try:
                    accepted.append(await h.submit(req))
                except (SessionBusyError, SessionClosedError):
                    pass
            elif op == "drop":
                await h.in_loop(lambda: h.emb.drop("dropped (test)"))
            elif op == "refuse":
                await h.in_loop(lambda: setattr(h.emb, "refusals", h.emb.refusals + 2))
            elif op == "sleep":
                await h.sleep(1.0)
            elif op == "hold":
                await h.in_loop(h.emb.to_client.hold)
            else:
                await h.in_loop(h.emb.to_client.release)
        if ending == "close":
            await h.close(timeout=2.0)
        else:
            await h.cancel()
        got = h.log.finished()  # raises if a cid was reported twice
        assert set(accepted) <= set(got)
        assert increasing(h.log.event_ids())
        assert await h.state() in (ClientState.CLOSED, ClientState.FAILED)

    driver.run(scenario)
