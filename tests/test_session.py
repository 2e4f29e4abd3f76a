"""Behaviour of the sans-IO session against the in-memory reference exchange."""

from __future__ import annotations

import pytest

from sessionkit import (
    ActionReport,
    BatchAck,
    CancelOrder,
    ConfigError,
    Congestion,
    ConnectionAvailable,
    ConnectionBusy,
    ConnectionFailed,
    ContractDetail,
    ExchangeOffline,
    ExchangeOnline,
    GapPolicy,
    GetContracts,
    Heartbeat,
    LimitOrder,
    LocalProtocolError,
    LoginAccepted,
    LoginAck,
    LoginFailed,
    MessageFinished,
    MessageReceived,
    MessageReplay,
    Outcome,
    ProtocolError,
    ResendCompleted,
    RunChanged,
    Session,
    SessionBusyError,
    SessionClosedError,
    SessionConfig,
    SessionState,
    Status,
)
from sessionkit.testing import CoreLoop, ReferenceExchange


def order(size: int = 1, price: int = 100, side: str = "buy", contract: int = 1) -> LimitOrder:
    return LimitOrder(contract_id=contract, side=side, size=size, price_in_cents=price)


def finished(loop: CoreLoop) -> dict[str, MessageFinished]:
    return {e.cid: e for e in loop.events if isinstance(e, MessageFinished)}


def of(loop: CoreLoop, kind: type) -> list:
    return [e for e in loop.events if isinstance(e, kind)]


@pytest.fixture
def loop() -> CoreLoop:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", ack_timeout=1.0, max_send_attempts=3))
    lp.login()
    return lp


# --- login lifecycle ----------------------------------------------------------------


def test_login_accepted_reports_event_id_and_learns_run() -> None:
    ex = ReferenceExchange(run_id="r7")
    ex._next_event_id = 42
    lp = CoreLoop(ex)
    lp.login()
    assert lp.events == [LoginAccepted(41, "r7")]
    assert lp.session.state is SessionState.ACTIVE and lp.session.run_id == "r7"
    assert not of(lp, RunChanged)  # learnt, not changed


def test_login_failed_deactivates_the_session() -> None:
    lp = CoreLoop(ReferenceExchange(accounts={"acct": "right"}), token="wrong")
    lp.login()
    assert [type(e) for e in lp.events] == [LoginFailed]
    assert "bad account or token" in lp.events[0].reason
    assert lp.session.state is SessionState.FAILED
    with pytest.raises(SessionClosedError, match="login failed"):
        lp.session.submit(order(), lp.now)
    with pytest.raises(SessionClosedError):
        lp.session.receive_data(b"{}", lp.now)


def test_connection_failed_before_login_answer() -> None:
    s = Session(SessionConfig(cid_prefix="c"))
    s.login(0.0, account="a")
    s.connection_lost("refused", 0.5)
    assert s.events() == [ConnectionFailed("refused")]
    with pytest.raises(SessionClosedError, match="refused"):
        s.close(1.0)


def test_login_timeout_fails_the_connection() -> None:
    s = Session(SessionConfig(cid_prefix="c", login_timeout=2.0))
    s.login(0.0, account="a")
    assert s.next_deadline() == 2.0
    s.handle_timer(1.9)
    assert s.state is SessionState.LOGGING_IN
    s.handle_timer(2.0)
    [ev] = s.events()
    assert isinstance(ev, ConnectionFailed) and "no answer to the login" in ev.reason


def test_first_message_not_a_login_answer_is_fatal() -> None:
    s = Session(SessionConfig(cid_prefix="c"))
    s.login(0.0, account="a")
    s.receive_message(Status(cid="x", mid=1), 0.1)
    evs = s.events()
    assert isinstance(evs[0], ProtocolError) and evs[0].fatal
    assert "not a login answer" in str(evs[0].error)
    assert isinstance(evs[1], ConnectionFailed)
    assert s.state is SessionState.FAILED


def test_submits_before_login_are_queued_and_sent_after() -> None:
    lp = CoreLoop()
    cid = lp.session.submit(order(), 0.0)
    assert lp.session.messages_to_send() == []
    lp.login()
    assert cid in finished(lp) or lp.session.statistics().awaiting_response == 1
    assert [m.cid for m in lp.messages(Status)] == [cid]


def test_bad_user_calls_raise_clear_errors(loop: CoreLoop) -> None:
    s = loop.session
    with pytest.raises(LocalProtocolError, match="must be a sessionkit Request"):
        s.submit("order", loop.now)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="resume_event_id"):
        Session().login(0.0, account="a", resume_event_id=-1)
    with pytest.raises(LocalProtocolError, match="account"):
        Session().login(0.0, account="")
    with pytest.raises(LocalProtocolError, match="cannot login while the session is active"):
        s.login(loop.now, account="a")
    cid = loop.submit(order())
    with pytest.raises(LocalProtocolError, match="already tracked"):
        s.submit(LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=1), loop.now)
    with pytest.raises(ConfigError, match="max_in_flight"):
        SessionConfig(max_in_flight=0)
    with pytest.raises(ConfigError, match="gap_policy"):
        SessionConfig(gap_policy="sometimes")  # type: ignore[arg-type]


# --- ACK/MID tracking: S1, S2, S3 ---------------------------------------------------


def test_s3_ack_and_final_response_discard(loop: CoreLoop) -> None:
    seen = []
    cid = loop.submit(GetContracts(), callback=lambda m, p: seen.append((m, p)))
    details = loop.messages(ContractDetail)
    assert len(details) == 3 and details[-1].last
    assert finished(loop)[cid].outcome is Outcome.COMPLETED
    assert loop.session.statistics().awaiting_response == 0
    # prev_msg chain: request -> ACK gets the request, first response gets the request,
    # each later response gets the one before
    assert isinstance(seen[0][0], Status) and isinstance(seen[0][1], GetContracts)
    assert isinstance(seen[1][1], GetContracts)
    assert seen[2][1] is seen[1][0] and seen[3][1] is seen[2][0]


def test_s1_resend_same_cid_with_backoff_then_unknown(loop: CoreLoop) -> None:
    loop.exchange.silent = True
    cid = loop.submit(order())
    loop.advance(0.99)
    assert loop.session.statistics().resends == 0
    loop.advance(0.02)  # 1 s: first resend
    assert loop.session.statistics().resends == 1
    loop.advance(1.9)  # backoff: the next one waits 2 s
    assert loop.session.statistics().resends == 1
    loop.advance(0.2)
    assert loop.session.statistics().resends == 2
    loop.advance(10)
    fin = finished(loop)[cid]
    assert fin.outcome is Outcome.UNKNOWN and "no ACK after 3 sends" in fin.reason
    assert loop.session.statistics().in_flight == 0


def test_s1_lost_ack_recovered_by_resend_without_double_execution(loop: CoreLoop) -> None:
    loop.to_client.drop(1)  # the ACK is lost; the action report overtakes nothing
    loop.to_client.drop(1)  # and the inserted report too
    cid = loop.submit(order())
    assert cid not in finished(loop)
    loop.advance(1.5)
    acks = [m for m in loop.messages(Status) if m.cid == cid]
    assert len(acks) == 1  # the re-ACK, delivered once
    assert [c for c, _, _ in loop.exchange.executions] == [cid]  # executed once


def test_s2_acked_without_response_replayed_after_reconnect(loop: CoreLoop) -> None:
    loop.to_client.drop(4)  # the ACK and the three contract details
    cid = loop.submit(GetContracts())
    # the ACK and responses were all dropped: resend gets a re-ACK, but responses are gone
    loop.advance(1.1)
    assert loop.session.awaiting_response() and loop.session.awaiting_response()[0][0] == cid
    loop.disconnect()
    loop.reconnect()
    replays = [m for m in loop.messages(Status) if m.cid.startswith("c-") and m.cid != cid]
    assert replays, "a MessageReplay was sent and ACKed"
    assert finished(loop)[cid].outcome is Outcome.COMPLETED


def test_trade_request_tracked_until_size_zero(loop: CoreLoop) -> None:
    buy = loop.submit(order(size=5, price=100))
    assert loop.session.statistics().awaiting_response == 1
    loop.submit(order(size=2, price=100, side="sell"))
    assert buy not in finished(loop)  # partially filled: 3 left
    loop.submit(order(size=3, price=99, side="sell"))
    assert finished(loop)[buy].outcome is Outcome.DONE
    reports = [m for m in loop.messages(ActionReport) if m.cid == buy]
    assert [r.size for r in reports] == [5, 3, 0]


def test_rejected_status_is_final(loop: CoreLoop) -> None:
    cid = loop.submit(order(contract=99))
    fin = finished(loop)[cid]
    assert fin.outcome is Outcome.REJECTED and "404" in fin.reason


def test_cancel_is_final_on_ack_and_ends_the_order(loop: CoreLoop) -> None:
    cid = loop.submit(order(size=1))
    mid = next(m.mid for m in loop.messages(Status) if m.cid == cid)
    ccid = loop.submit(CancelOrder(order_mid=mid))
    fins = finished(loop)
    assert fins[ccid].outcome is Outcome.COMPLETED
    assert fins[cid].outcome is Outcome.DONE


# --- run id ---------------------------------------------------------------------------


def test_run_change_on_heartbeat_cancels_open_orders_once(loop: CoreLoop) -> None:
    open_cid = loop.submit(order(size=1))
    loop.exchange.restart("r2")
    loop.advance(1.0)  # a heartbeat of the new run arrives
    loop.advance(1.0)
    assert of(loop, RunChanged) == [RunChanged("r2", "run-1")]
    fin = finished(loop)[open_cid]
    assert fin.outcome is Outcome.CANCELLED_BY_RUN_CHANGE
    assert loop.session.statistics().run_changes == 1


def test_run_change_first_seen_on_an_ack(loop: CoreLoop) -> None:
    old = loop.submit(order(size=1))
    loop.exchange.restart("r2")
    new = loop.submit(order(size=1, contract=2))
    assert of(loop, RunChanged) == [RunChanged("r2", "run-1")]
    # the order whose ACK carried the new run id executed in the new run: still open
    assert finished(loop)[old].outcome is Outcome.CANCELLED_BY_RUN_CHANGE
    assert new not in finished(loop)
    # the RunChanged event comes before the ACK that revealed it
    idx_change = next(i for i, e in enumerate(loop.events) if isinstance(e, RunChanged))
    idx_ack = next(i for i, e in enumerate(loop.events)
                   if isinstance(e, MessageReceived) and getattr(e.msg, "cid", None) == new)
    assert idx_change < idx_ack


def test_replayed_old_run_events_do_not_change_the_run() -> None:
    lp = CoreLoop()
    lp.login()
    lp.submit(order())
    lp.exchange.restart("r2")
    lp.disconnect()
    lp.reconnect(resume_event_id=1)  # replays run-1 events, then live run r2
    assert of(lp, RunChanged) == [RunChanged("r2", "run-1")]


# --- event ids ---------------------------------------------------------------------------


def _history(n: int = 5) -> ReferenceExchange:
    ex = ReferenceExchange(gap_every=3)
    lp = CoreLoop(ex)
    lp.login()
    for _ in range(n):
        lp.submit(order())
    return ex


@pytest.mark.parametrize("token", [0, 1, 4])
def test_resume_tokens(token: int) -> None:
    ex = _history()
    ids = [m.event_id for m in ex.log]
    assert ids != list(range(1, len(ids) + 1)), "the exchange leaves gaps"
    lp = CoreLoop(ex)
    lp.login(resume_event_id=token)
    delivered = [m.event_id for m in lp.messages()]
    expected = [] if token == 0 else [i for i in ids if i >= token]
    assert delivered == expected
    assert of(lp, ResendCompleted) == ([] if token == 0 else
                                       [ResendCompleted(token, ex.last_event_id)])
    assert lp.session.last_event_id == ex.last_event_id


def test_duplicate_and_older_events_are_dropped_and_counted(loop: CoreLoop) -> None:
    loop.to_client.duplicate(3)
    loop.submit(order())
    loop.submit(order(contract=2))
    ids = [m.event_id for m in loop.messages() if m.event_id is not None]
    assert ids == sorted(set(ids))
    assert loop.session.statistics().duplicate_events == 3


def test_replay_and_live_overlap_merged_in_order() -> None:
    ex = _history(3)
    lp = CoreLoop(ex)
    s = lp.session
    s.login(0.0, account="a", resume_event_id=1)
    for m in s.messages_to_send():
        lp.conn.receive(m)
    out = lp.conn.outbox()
    login_ack, replayed, complete = out[0], out[1:-1], out[-1]
    # live events the exchange produced meanwhile, interleaved with the replay
    lp.conn.logged_in = True
    ex.publish_book_top(1)
    ex.publish_book_top(2)
    live = lp.conn.outbox()
    s.receive_message(login_ack, 0.1)
    mixed = [replayed[0], live[1], replayed[1], live[0], *replayed[2:], live[1], complete]
    for m in mixed:
        s.receive_message(m, 0.2)
    delivered = [e.msg.event_id for e in s.events() if isinstance(e, MessageReceived)]
    assert delivered == [m.event_id for m in replayed] + [m.event_id for m in live]
    assert len(delivered) == len(set(delivered))


def test_gap_policy_request_asks_for_the_missing_range() -> None:
    ex = ReferenceExchange()
    lp = CoreLoop(ex, config=SessionConfig(cid_prefix="c", gap_policy=GapPolicy.REQUEST))
    lp.login()
    lp.to_client.drop(1)  # lose the ACK (event 1); the report (event 2) reveals the gap
    cid = lp.submit(order())
    assert of(lp, ResendCompleted) == [ResendCompleted(1, 1)]
    assert [m.event_id for m in lp.messages()] == [1, 2]
    assert lp.session.statistics().gaps == 1
    assert cid not in finished(lp)


def test_gap_policy_tolerate_goes_on() -> None:
    lp = CoreLoop()
    lp.login()
    lp.to_client.drop(1)
    lp.submit(order())
    assert [m.event_id for m in lp.messages()] == [2]
    assert lp.session.statistics().gaps == 1


def test_replay_buffer_overflow_fails_the_session_clearly() -> None:
    s = Session(SessionConfig(cid_prefix="c", max_replay_buffer=2))
    s.login(0.0, account="a", resume_event_id=1)
    s.receive_message(LoginAck(run_id="r", last_event_id=10), 0.0)
    for eid in (20, 21, 22):
        if s.state is SessionState.ACTIVE:
            s.receive_message(Heartbeat(event_id=eid, run_id="r"), 0.1)
    ev = s.events()[-1]
    assert isinstance(ev, ConnectionFailed) and "max_replay_buffer" in ev.reason


# --- batches ----------------------------------------------------------------------------


@pytest.mark.parametrize("n,batches", [(1, 1), (200, 1), (201, 2), (1000, 5)])
def test_batches_split_and_map_acks_back(n: int, batches: int) -> None:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c"))
    lp.login()
    calls: dict[int, list] = {}
    cbs = [(lambda m, p, i=i: calls.setdefault(i, []).append((m, p))) for i in range(n)]
    tickets = lp.session.submit_batch([order(contract=2, price=i + 1) for i in range(n)],
                                      lp.now, callbacks=cbs)
    lp.pump()
    assert len(tickets) == batches and all(len(t.cids) <= 200 for t in tickets)
    all_cids = [c for t in tickets for c in t.cids]
    assert len(all_cids) == n == len(set(all_cids))
    assert len(lp.messages(BatchAck)) == batches
    for i in range(n):
        st, prev = calls[i][0]
        assert isinstance(st, Status) and st.cid == all_cids[i] and prev.price_in_cents == i + 1
    # executed in the order given
    assert [c for c, _, _ in lp.exchange.executions] == all_cids
    assert lp.session.statistics().awaiting_response == n


def test_batch_partial_failure_reported_per_message(loop: CoreLoop) -> None:
    # an unknown contract and an unknown order: two refusals (an invalid order cannot be
    # made at all: LimitOrder checks its fields)
    [t] = loop.session.submit_batch([order(), order(contract=99), CancelOrder(order_mid=424242)],
                                    loop.now)
    loop.pump()
    fins = finished(loop)
    assert fins[t.cids[1]].outcome is Outcome.REJECTED
    assert fins[t.cids[2]].outcome is Outcome.REJECTED
    assert t.cids[0] not in fins
    assert fins[t.cid].outcome is Outcome.COMPLETED


def test_batch_disconnect_mid_batch_resent_once(loop: CoreLoop) -> None:
    loop.to_exchange.drop(1)
    [t] = loop.session.submit_batch([order(), order(contract=2)], loop.now)
    loop.pump()
    loop.disconnect()
    loop.reconnect()
    assert [c for c, _, _ in loop.exchange.executions] == list(t.cids)
    assert loop.session.statistics().awaiting_response == 2


def test_batch_ack_missing_a_message_is_a_protocol_error(loop: CoreLoop) -> None:
    s = loop.session
    [t] = s.submit_batch([order(), order()], loop.now)
    s.messages_to_send()
    s.receive_message(Status(cid=t.cid, mid=50, run_id="run-1"), loop.now)
    s.receive_message(BatchAck(cid=t.cid, mid=50, run_id="run-1",
                               messages=(Status(cid=t.cids[0], mid=51),)), loop.now)
    evs = s.events()
    errs = [e for e in evs if isinstance(e, ProtocolError)]
    assert errs and t.cids[1] in str(errs[0].error)
    fins = {e.cid: e for e in evs if isinstance(e, MessageFinished)}
    assert fins[t.cids[1]].outcome is Outcome.UNKNOWN


def test_batch_validation(loop: CoreLoop) -> None:
    with pytest.raises(LocalProtocolError, match="at least one"):
        loop.session.submit_batch([], loop.now)
    with pytest.raises(LocalProtocolError, match="2 requests but 1 callbacks"):
        loop.session.submit_batch([order(), order()], loop.now, callbacks=[None])


# --- backpressure -----------------------------------------------------------------------------


def test_busy_rejects_synchronously_then_available_once() -> None:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", max_in_flight=4, low_water=2))
    lp.login()
    lp.exchange.silent = True
    for _ in range(4):
        lp.submit(order())
    before = lp.session.statistics()
    with pytest.raises(SessionBusyError) as err:
        lp.session.submit(order(), lp.now)
    assert err.value.reason == "window"
    with pytest.raises(SessionBusyError):
        lp.session.submit(order(), lp.now)
    assert lp.session.statistics().submitted == before.submitted  # nothing queued
    lp._flush_events()
    assert len(of(lp, ConnectionBusy)) == 1
    lp.exchange.silent = False
    lp.advance(1.1)  # resends get ACKed
    assert len(of(lp, ConnectionAvailable)) == 1
    lp.submit(order())


def test_batch_larger_than_window_is_rejected_whole() -> None:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", max_in_flight=100))
    lp.login()
    with pytest.raises(SessionBusyError, match="max_in_flight 100"):
        lp.session.submit_batch([order()] * 101, lp.now)
    assert lp.session.statistics().submitted == 0


def test_send_buffer_bound() -> None:
    s = Session(SessionConfig(cid_prefix="c", max_send_buffer=3))
    s.login(0.0, account="a")
    s.receive_message(LoginAck(run_id="r"), 0.0)
    s.submit(order(), 0.0)
    s.submit(order(), 0.0)  # login was drained? no: login + 2 orders = 3 frames
    with pytest.raises(SessionBusyError) as err:
        s.submit(order(), 0.0)
    assert err.value.reason == "send_buffer"
    s.messages_to_send()
    assert any(isinstance(e, ConnectionAvailable) for e in s.events())


def test_exchange_congestion_signal_enters_busy(loop: CoreLoop) -> None:
    loop.exchange.set_congested(True)
    loop.pump()
    assert of(loop, ConnectionBusy) == [ConnectionBusy("congestion")]
    with pytest.raises(SessionBusyError, match="congestion"):
        loop.session.submit(order(), loop.now)
    loop.exchange.set_congested(False)
    loop.pump()
    assert len(of(loop, ConnectionAvailable)) == 1
    loop.submit(order())


# --- heartbeats ---------------------------------------------------------------------------------


def test_exchange_offline_after_interval_and_grace(loop: CoreLoop) -> None:
    loop.advance(0.1)  # first heartbeat: interval 1 s
    loop.exchange.silent = True
    loop.advance(1.4)
    assert not of(loop, ExchangeOffline)
    loop.advance(0.2)  # 1.5 s of silence = interval * (1 + 0.5 grace)
    [off] = of(loop, ExchangeOffline)
    assert off.silence == pytest.approx(1.5, abs=0.11)
    loop.exchange.silent = False
    loop.advance(1.0)
    assert len(of(loop, ExchangeOnline)) == 1


def test_session_sends_heartbeat_when_idle() -> None:
    s = Session(SessionConfig(cid_prefix="c", heartbeat_interval=5.0))
    s.login(0.0, account="a")
    s.receive_message(LoginAck(run_id="r"), 0.0)
    s.messages_to_send()
    assert s.next_deadline() == 5.0
    s.handle_timer(5.0)
    assert [m.TYPE for m in s.messages_to_send()] == ["heartbeat"]


# --- robustness ---------------------------------------------------------------------------------


@pytest.fixture
def reporting() -> CoreLoop:
    """A logged-in session whose violation policy is "report" (it goes on after one)."""
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", ack_timeout=1.0, max_send_attempts=3,
                                       on_violation="report"))
    lp.login()
    return lp


GARBLED = [b"\xff\xfe", b"[]", b'{"type": 5}', b'{"type":"status"}',
           b'{"type":"action_report","mid":"x","contract_id":1,"size":1}', b"{" * 10]


@pytest.mark.parametrize("frame", GARBLED)
def test_garbled_frames_are_reported_not_raised(reporting: CoreLoop, frame: bytes) -> None:
    loop = reporting
    cid = loop.submit(order())
    before = loop.session.tracked()
    loop.session.receive_data(frame, loop.now)
    [err] = loop.session.events()
    assert isinstance(err, ProtocolError) and not err.fatal and str(err.error)
    assert err.error.offending == frame  # type: ignore[attr-defined]
    assert loop.session.state is SessionState.ACTIVE
    assert loop.session.tracked() == before
    assert cid in [c for c, _, _ in loop.session.tracked()]


@pytest.mark.parametrize("frame", GARBLED)
def test_by_default_a_garbled_frame_ends_the_connection(loop: CoreLoop, frame: bytes) -> None:
    cid = loop.submit(order())
    before = loop.session.tracked()
    loop.session.receive_data(frame, loop.now)
    err, failed = loop.session.events()
    assert isinstance(err, ProtocolError) and err.fatal and err.error.offending == frame  # type: ignore[attr-defined]
    assert isinstance(failed, ConnectionFailed) and "protocol violation" in failed.reason
    assert loop.session.state is SessionState.FAILED
    # nothing is guessed: the request is still tracked, as it was, for the next session
    assert loop.session.tracked() == before
    assert cid in [t.request.cid for t in loop.session.handoff().tracked]


def test_oversize_frame_is_reported(loop: CoreLoop) -> None:
    loop.session.receive_data(b'{"type":"heartbeat"}' + b" " * (1 << 20), loop.now)
    err = loop.session.events()[0]
    assert isinstance(err, ProtocolError) and "exceeds max_frame_size" in str(err.error)


def test_unknown_message_type_goes_to_fallback(loop: CoreLoop) -> None:
    loop.session.receive_data(b'{"type":"weather","temp":3}', loop.now)
    [ev] = loop.session.events()
    assert isinstance(ev, MessageReceived) and ev.msg.type == "weather"


def test_client_only_message_from_exchange_is_a_protocol_error(reporting: CoreLoop) -> None:
    msg = MessageReplay(cid="x", mids=(1,))
    reporting.session.receive_message(msg, reporting.now)
    [ev] = reporting.session.events()
    assert isinstance(ev, ProtocolError) and "client message" in str(ev.error)
    assert ev.error.offending is msg  # type: ignore[attr-defined]


def test_congestion_and_statistics_are_immutable(loop: CoreLoop) -> None:
    loop.submit(order())
    st = loop.session.statistics()
    with pytest.raises(AttributeError):
        st.in_flight = 3  # type: ignore[misc]
    assert st.acked == 1 and st.ack_latency_mean == 0.0
    assert st.submitted == 1 and st.events_delivered == 2


def test_close_logs_out_then_closes_on_connection_lost(loop: CoreLoop) -> None:
    s = loop.session
    s.close(loop.now)
    assert s.state is SessionState.CLOSING
    assert [m.TYPE for m in s.messages_to_send()] == ["logout"]
    with pytest.raises(LocalProtocolError, match="cannot submit while the session is closing"):
        s.submit(order(), loop.now)
    s.connection_lost("eof", loop.now)
    assert s.state is SessionState.CLOSED
    with pytest.raises(SessionClosedError):
        s.submit(order(), loop.now)
    assert Congestion  # imported for the vocabulary check above


def test_response_overtaking_its_lost_ack_is_matched_by_cid(loop: CoreLoop) -> None:
    loop.to_client.drop(1)  # the ACK: its MID never arrives
    cid = loop.submit(GetContracts())
    fin = finished(loop)[cid]
    assert fin.outcome is Outcome.COMPLETED and fin.mid is not None
    assert loop.session.statistics().unmatched_responses == 0


def test_a_handoff_with_a_bad_cid_prefix_is_refused_naming_it() -> None:
    """The session makes each request's cid from the prefix without checking it again, so
    a handoff (read back from a journal, say) whose prefix no cid may carry is refused."""
    from sessionkit import Handoff

    with pytest.raises(LocalProtocolError, match="handoff cid_prefix.*'bad\\\\n'"):
        Session(handoff=Handoff(run_id="r", last_event_id=0, tracked=(), cid_prefix="bad\n",
                                next_cid=1))
