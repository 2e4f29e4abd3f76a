"""What the core infers about orders, and when it refuses to infer (issue 14).

Each test drives a real :class:`~sessionkit.Session` with the messages an exchange would
send, through the public API, and checks the one truthful report: a run change cancels
only what it can know was open; a refused message leaves its order "unknown" rather than
guessed; a late ACK is news, not a duplicate.
"""

from __future__ import annotations

from typing import Any

from sessionkit import (
    ActionReport,
    EventReplay,
    Heartbeat,
    JsonCodec,
    LimitOrder,
    LoginAck,
    MessageFinished,
    MessageReceived,
    Outcome,
    ProtocolError,
    ResendComplete,
    RunChanged,
    Session,
    SessionConfig,
    Status,
)


def logged_in(**config: Any) -> Session:
    s = Session(SessionConfig(cid_prefix="c", **config))
    s.login(0.0, account="a")
    s.receive_message(LoginAck(run_id="r1", last_event_id=0), 0.0)
    s.messages_to_send()
    s.events()
    return s


def order(s: Session, mid: int, event_id: int) -> str:
    cid = s.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100), 0.0)
    s.messages_to_send()
    s.receive_message(Status(cid=cid, mid=mid, run_id="r1", event_id=event_id), 0.0)
    s.events()
    return cid


def finished(events: list[Any]) -> dict[str, MessageFinished]:
    return {e.cid: e for e in events if isinstance(e, MessageFinished)}


def test_a_run_change_whose_first_event_skips_ids_asks_for_them_before_cancelling() -> None:
    s = logged_in()
    cid = order(s, 101, 1)
    # the new run's first event is 4: ids 2 and 3 may hold the old run's last fills
    s.receive_message(Heartbeat(run_id="r2", event_id=4), 0.0)
    assert [e for e in s.events() if isinstance(e, (RunChanged, MessageFinished))] == []
    assert s.messages_to_send() == [EventReplay(from_event_id=2, to_event_id=3)]
    # the replay brings a fill of the old run: the order is done, not cancelled
    s.receive_message(ActionReport(mid=101, cid=cid, contract_id=1, size=0, run_id="r1",
                                   event_id=2, replay=True), 0.0)
    s.receive_message(ResendComplete(begin=2, end=3, run_id="r2"), 0.0)
    events = s.events()
    assert finished(events)[cid].outcome is Outcome.DONE
    assert [type(e) for e in events if isinstance(e, RunChanged)] == [RunChanged]
    assert s.run_id == "r2" and s.last_event_id == 4  # the held event came after


def test_a_restart_found_at_a_login_no_replay_can_cover_ends_open_orders_unknown() -> None:
    s = logged_in(event_id_scope="run")
    cid = order(s, 101, 1)
    s.connection_lost("dropped", 0.0)
    again = Session(SessionConfig(cid_prefix="c", event_id_scope="run"), handoff=s.handoff())
    again.login(1.0, account="a")
    again.messages_to_send()
    # the exchange restarted meanwhile, its ids starting again: run r1's last events are
    # beyond any replay, so whether the order filled before the restart is not known
    again.receive_message(LoginAck(run_id="r2", last_event_id=1), 1.0)
    end = finished(again.events())[cid]
    assert end.outcome is Outcome.UNKNOWN and "not known" in end.reason
    # and the new run is replayed from its start once the login's replay is over
    again.receive_message(ResendComplete(begin=2, end=1, run_id="r2"), 1.0)
    assert EventReplay(from_event_id=1, to_event_id=1) in again.messages_to_send()


def test_the_same_restart_with_ids_going_on_cancels_what_was_open() -> None:
    s = logged_in()
    cid = order(s, 101, 1)
    s.connection_lost("dropped", 0.0)
    again = Session(SessionConfig(cid_prefix="c"), handoff=s.handoff())
    again.login(1.0, account="a")
    # ids go on across runs (the protocol): the exchange's newest is the last delivered,
    # so nothing happened to the order before the restart
    again.receive_message(LoginAck(run_id="r2", last_event_id=1), 1.0)
    assert finished(again.events())[cid].outcome is Outcome.CANCELLED_BY_RUN_CHANGE


def reporting() -> Session:
    """Logged in under the "report" policy, with a codec, in run r1 after r0 was left."""
    s = Session(SessionConfig(cid_prefix="c", on_violation="report"), codec=JsonCodec())
    s.login(0.0, account="a")
    s.receive_message(LoginAck(run_id="r0", last_event_id=0), 0.0)
    s.receive_message(Heartbeat(run_id="r1", event_id=1), 0.0)
    s.events()
    return s


def test_after_a_refused_fill_a_run_change_does_not_guess_cancelled() -> None:
    s = reporting()
    cid = order(s, 101, 2)
    # a fill under the run the exchange left: refused, not applied
    s.receive_message(ActionReport(mid=101, cid=cid, contract_id=1, size=0, run_id="r0"), 0.0)
    assert [type(e) for e in s.events()] == [ProtocolError]
    s.receive_message(Heartbeat(run_id="r9", event_id=3), 0.0)  # the exchange restarted
    end = finished(s.events())[cid]
    assert end.outcome is Outcome.UNKNOWN and "was refused" in end.reason


def test_after_a_frame_that_did_not_decode_a_run_change_does_not_guess_cancelled() -> None:
    s = reporting()
    cid = order(s, 101, 2)
    s.receive_data(b'{"type":"action_report","mid":', 0.0)  # maybe that order's fill
    assert [type(e) for e in s.events()] == [ProtocolError]
    s.receive_message(Heartbeat(run_id="r9", event_id=3), 0.0)
    end = finished(s.events())[cid]
    assert end.outcome is Outcome.UNKNOWN and "did not decode" in end.reason


def test_an_ack_for_a_request_that_ended_unknown_is_news_not_a_duplicate() -> None:
    s = logged_in(ack_timeout=0.5, ack_timeout_max=0.5, max_send_attempts=1)
    cid = s.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100), 0.0)
    s.messages_to_send()
    s.handle_timer(1.0)
    assert finished(s.events())[cid].outcome is Outcome.UNKNOWN
    ack = Status(cid=cid, mid=101, run_id="r1", event_id=1)
    s.receive_message(ack, 2.0)
    [news] = s.events()
    assert isinstance(news, MessageReceived) and news.msg is ack and news.prev_msg is None


def test_a_repeat_of_an_ack_after_the_finish_is_dropped() -> None:
    s = logged_in()
    cid = s.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100), 0.0)
    s.messages_to_send()
    s.receive_message(Status(cid=cid, mid=101, run_id="r1", event_id=1), 0.0)
    s.receive_message(ActionReport(mid=101, cid=cid, contract_id=1, size=0, run_id="r1",
                                   event_id=2), 0.0)
    s.events()
    # a resend of it, answered again under a new event id
    s.receive_message(Status(cid=cid, mid=101, run_id="r1", event_id=3), 0.0)
    assert s.events() == []
    assert s.statistics().duplicate_acks == 1
