"""ACK timers of the tracker (sessionkit/_tracking.py), against a plain model.

A request is tracked and sent either in one step (``add_sent``, the submit path) or in
two (``add`` then ``mark_sent``); both must arm the same timer. First sends wait the same
time, so their deadlines come in order and are kept in a FIFO; resends (with backoff) and
anything sent with a clock that went back go to a heap. Either way ``next_deadline``
must be the earliest deadline of a request still waiting for its ACK, and
``expired(now)`` exactly the requests whose deadline passed, earliest first (in no
promised order among exactly equal deadlines), each once.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit import LimitOrder, SessionConfig, Status
from sessionkit._tracking import MessageState, Tracked, Tracker

CONFIG = SessionConfig(ack_timeout=1.0, ack_backoff=2.0, ack_timeout_max=5.0)

steps = st.lists(st.one_of(
    # a new request, time moves by dt; tracked by add_sent (True) or add + mark_sent
    st.tuples(st.just("send"), st.floats(-0.5, 2.0), st.booleans()),
    st.tuples(st.just("ack"), st.integers(0, 30)),         # the ACK of the i-th request
    st.tuples(st.just("expire"), st.floats(0.0, 3.0)),     # time moves on; resend what ran out
), max_size=60)


def deadline_of(attempt: int, sent_at: float) -> float:
    """The plain model of an ACK timer: the k-th send waits ack_timeout * backoff^(k-1),
    at most ack_timeout_max."""
    wait = CONFIG.ack_timeout * CONFIG.ack_backoff ** (attempt - 1)
    return sent_at + min(wait, CONFIG.ack_timeout_max)


def model_due(tracker: Tracker, sent_order: dict[str, int], deadlines: dict[str, float],
              now: float) -> list[str]:
    waiting = [t.cid for t in tracker.by_cid.values() if t.state == MessageState.SENT.value]
    due = [cid for cid in waiting if deadlines[cid] <= now]
    return sorted(due, key=lambda cid: (deadlines[cid], sent_order[cid]))


@settings(max_examples=300, deadline=None)
@given(steps)
def test_ack_timers_fire_earliest_first_each_once_as_a_plain_model_says(
        ops: list[tuple[str, float] | tuple[str, float, bool]]) -> None:
    tracker = Tracker(CONFIG, lambda event: None, lambda problem, msg: None)
    now, n = 10.0, 0
    cids: list[str] = []
    sent_order: dict[str, int] = {}  # the latest send of each request, in send order
    deadlines: dict[str, float] = {}  # the model's deadline of each request's latest send
    sends = 0

    def send(t: Tracked) -> None:
        nonlocal sends
        sends += 1
        sent_order[t.cid] = sends
        tracker.mark_sent(t, now)
        deadlines[t.cid] = deadline_of(t.attempts, now)

    for op, arg, *in_one in ops:
        if op == "send":
            now += arg  # may go back: the caller's clock is not trusted to be monotonic
            n += 1
            request = LimitOrder(cid=f"c-{n}", contract_id=1, size=1, price_in_cents=100)
            if in_one[0]:
                t = tracker.add_sent(request, None, now)
                sends += 1
                sent_order[t.cid] = sends
                deadlines[t.cid] = deadline_of(1, now)
                assert (t.state, t.attempts, t.first_sent) == (MessageState.SENT.value, 1, now)
            else:
                t = tracker.add(request, None)
                send(t)
            cids.append(t.cid)
        elif op == "ack" and cids:
            cid = cids[int(arg) % len(cids)]
            tracker.on_status(Status(cid=cid, mid=int(arg) + 1000 * n, run_id="r1"), now)
        elif op == "expire":
            now += arg
            expected = model_due(tracker, sent_order, deadlines, now)
            got = tracker.expired(now)
            # the same requests, earliest deadline first (the order among exactly equal
            # deadlines is not promised)
            assert sorted(t.cid for t in got) == sorted(expected)
            assert [deadlines[t.cid] for t in got] == sorted(deadlines[c] for c in expected)
            for t in got:  # the session resends each: a new timer, with backoff
                send(t)
        waiting = [deadlines[t.cid] for t in tracker.by_cid.values()
                   if t.state == MessageState.SENT.value]
        assert tracker.next_deadline() == (min(waiting) if waiting else None)
        # the window's fill: every request not yet ACKed, however it was added
        assert tracker.unacked == sum(t.state == MessageState.SENT.value
                                      for t in tracker.by_cid.values())
