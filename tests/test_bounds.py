"""The session core's own bounds under a flood (docs/failures.md, "Bounded queues").

Each bound is shown by a count the public API gives (``statistics()``, ``handoff()``) or, where
none does, by the memory a session keeps (tracemalloc), never by time: live events held
during a replay (``max_replay_buffer``: past it the connection fails, naming it), delivered
events remembered (``recent_window``), finished requests remembered (``recent_window``) and
frames waiting for the transport (``max_send_buffer``: past it a submit is refused with
``SessionBusyError``).
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from sessionkit import (
    BookTop,
    CancelOrder,
    ConnectionFailed,
    LoginAck,
    MessageReceived,
    Session,
    SessionBusyError,
    SessionConfig,
    SessionState,
    Status,
)


def logged_in(config: SessionConfig, *, resume: int | None = None,
              last_event_id: int = 0) -> Session:
    session = Session(config)
    session.login(0.0, account="acct", resume_event_id=resume)
    session.receive_message(LoginAck(run_id="r1", last_event_id=last_event_id), 0.0)
    return session


def live(event_id: int) -> BookTop:
    return BookTop(contract_id=1, bid_in_cents=10, event_id=event_id, run_id="r1")


def test_a_replay_that_never_ends_while_live_events_pour_in_holds_at_most_the_bound() -> None:
    """The exchange starts no replay (or never ends it) and floods live events: they are
    held up to max_replay_buffer, then the connection fails naming the bound (the next
    connection replays them); the held events never exceed it, none is delivered early."""
    bound = 500
    session = logged_in(SessionConfig(cid_prefix="c", max_replay_buffer=bound,
                                      replay_timeout=1e9), resume=1, last_event_id=10)
    session.messages_to_send()
    peak, fed = 0, 0
    for event_id in range(11, 11 + 20 * bound):
        if session.state is not SessionState.ACTIVE:
            break
        session.receive_message(live(event_id), 0.1)
        fed += 1
        peak = max(peak, session.statistics().held_events)
    assert peak == bound and fed == bound + 1
    events = session.events()
    assert not [e for e in events if isinstance(e, MessageReceived)]  # none out of order
    failed = [e for e in events if isinstance(e, ConnectionFailed)]
    assert len(failed) == 1
    assert "max_replay_buffer" in failed[0].reason and str(bound) in failed[0].reason
    assert session.last_event_id == 0  # the next connection resumes before the held ones


def test_delivered_events_remembered_are_at_most_recent_window() -> None:
    window = 64
    session = logged_in(SessionConfig(cid_prefix="c", recent_window=window))
    for event_id in range(1, 50 * window):
        session.receive_message(live(event_id), 0.1)
        session.events()
    assert session.statistics().events_delivered == 50 * window - 1
    recent = session.handoff().recent
    assert len(recent) == window
    assert [event_id for event_id, _ in recent] == list(range(49 * window, 50 * window))


def finish_cancels(session: Session, first: int, count: int) -> None:
    """Submit ``count`` cancels and ACK each (a cancel is final on its ACK), as a driver
    loop does: send, feed, drain the events, ask for the next deadline."""
    for i in range(first, first + count):
        cid = session.submit(CancelOrder(order_mid=i), 0.0)
        session.messages_to_send()
        session.receive_message(Status(cid=cid, mid=10_000 + i, status=200, event_id=i,
                                       run_id="r1"), 0.0)
        session.events()
        session.next_deadline()


def test_finished_requests_remembered_are_at_most_recent_window() -> None:
    """A repeated ACK of a finished request is told from news while the request is among
    the last recent_window finished; older ones are forgotten (so the memory a session
    keeps does not grow with the requests it finished)."""
    window = 32
    session = logged_in(SessionConfig(cid_prefix="c", recent_window=window))
    finish_cancels(session, 1, 3 * window)
    before = session.statistics()
    # the newest finished request is remembered: its ACK again is a duplicate
    session.receive_message(Status(cid=f"c-{3 * window}", mid=10_000 + 3 * window,
                                   status=200, run_id="r1"), 0.0)
    # the oldest is not any more: its ACK again is news (delivered, prev_msg None)
    session.receive_message(Status(cid="c-1", mid=10_001, status=200, run_id="r1"), 0.0)
    after = session.statistics()
    assert after.duplicate_acks == before.duplicate_acks + 1
    assert after.unmatched_responses == before.unmatched_responses + 1
    [news] = [e for e in session.events() if isinstance(e, MessageReceived)]
    assert news.msg.cid == "c-1" and news.prev_msg is None


def kept(session: Session, first: int, count: int) -> int:
    finish_cancels(session, first, count)
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_the_memory_a_session_keeps_does_not_grow_with_the_requests_it_finished() -> None:
    window = 128
    session = logged_in(SessionConfig(cid_prefix="c", recent_window=window))
    finish_cancels(session, 1, 2 * window)  # the window is full
    tracemalloc.start()
    try:
        base = kept(session, 2 * window + 1, 2 * window)
        grown = kept(session, 4 * window + 1, 40 * window)
    finally:
        tracemalloc.stop()
    # 40 windows more of finished requests (each a request, its ACK and bookkeeping: some
    # hundreds of bytes): what is kept grows by far less than one window's worth would
    assert grown - base < 20_000, (base, grown)
    assert session.statistics().finished["completed"] == 44 * window


def test_frames_waiting_for_the_transport_are_at_most_max_send_buffer() -> None:
    """A caller that submits and never lets the transport take the frames: past
    max_send_buffer each submit is refused (SessionBusyError, reason send_buffer), nothing
    is queued beyond it."""
    bound = 50
    session = logged_in(SessionConfig(cid_prefix="c", max_send_buffer=bound))
    session.messages_to_send()
    taken = 0
    for i in range(20 * bound):
        try:
            session.submit(CancelOrder(order_mid=i + 1), 0.0)
            taken += 1
        except SessionBusyError as err:
            assert err.reason == "send_buffer"
        assert session.statistics().send_buffer <= bound
    assert taken == bound and session.statistics().send_buffer == bound
    assert len(session.messages_to_send()) == bound
    session.submit(CancelOrder(order_mid=1), 0.0)  # room again once the transport took them


@pytest.mark.parametrize("name", ["max_replay_buffer", "recent_window", "max_send_buffer"])
def test_every_bound_is_a_positive_integer(name: str) -> None:
    from sessionkit import ConfigError

    for value in (0, -1, 1.5, None):
        with pytest.raises((ConfigError, TypeError, ValueError)):
            SessionConfig(**{name: value})


def test_a_dropped_session_whose_callbacks_refer_to_it_is_collected() -> None:
    """Requests in flight whose callbacks refer back to their session (a cycle through the
    tracking records) do not keep a dropped session alive: the cycle collector reclaims it
    (a record with a callback is one it scans; one without holds nothing it needs to)."""
    import weakref

    session = logged_in(SessionConfig(cid_prefix="c"))
    for i in range(3):
        session.submit(CancelOrder(order_mid=i + 1), 0.0,
                       callback=lambda msg, prev, s=session: s.statistics())
    session.submit(CancelOrder(order_mid=9), 0.0)  # and one without a callback
    ref = weakref.ref(session)
    del session
    gc.collect()
    assert ref() is None
