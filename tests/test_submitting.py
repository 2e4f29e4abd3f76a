"""Submitting (sessionkit/_submitting.py): ``submit`` cut in two for the runtime's fast path.

``_admit`` lets a request through and gives it its cid; its frame is handed over; then
``_track`` starts its tracking. The request must end exactly as a submitted one does,
and ``_admit`` must refuse what ``submit`` refuses, and decline (None) whatever cannot
go at once, so that nothing overtakes output queued before it.
"""

from __future__ import annotations

import pytest

from sessionkit import (
    Batch,
    ConnectionBusy,
    LimitOrder,
    LocalProtocolError,
    MessageFinished,
    MessageReceived,
    SessionBusyError,
    SessionConfig,
    Status,
)
from sessionkit.testing import CoreLoop


def order(price: int = 100) -> LimitOrder:
    return LimitOrder(contract_id=1, size=1, price_in_cents=price)


def at_once(loop: CoreLoop, request: LimitOrder, *, sent: bool = True) -> str:
    """What the runtime's fast path does: admit, hand the frame over, track."""
    admitted = loop.session._admit(request)
    assert admitted is not None and admitted.cid is not None
    if sent:
        loop.to_exchange.put(loop.codec.encode(admitted), loop.now)
    loop.session._track(admitted, None, loop.now)
    loop.pump()
    return admitted.cid


def answers(loop: CoreLoop, cid: str) -> list[str]:
    return [type(e.msg).__name__ for e in loop.events
            if isinstance(e, MessageReceived) and getattr(e.msg, "cid", None) == cid]


def ends(loop: CoreLoop) -> dict[str, str]:
    return {e.cid: e.outcome.value for e in loop.events if isinstance(e, MessageFinished)}


@pytest.fixture
def loop() -> CoreLoop:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", ack_timeout=1.0, max_send_attempts=3))
    lp.login()
    return lp


def test_a_request_sent_at_once_is_acked_and_answered_as_a_submitted_one(
        loop: CoreLoop) -> None:
    fast = at_once(loop, order(105))  # crosses nothing: rests on the book, open
    usual = loop.submit(order(105))
    assert (fast, usual) == ("c-1", "c-2")  # one cid sequence for both ways
    assert answers(loop, fast) == answers(loop, usual) == ["Status", "ActionReport"]
    tracked = {cid: state.value for cid, state, _ in loop.session.tracked()}
    assert tracked == {fast: "open", usual: "open"}
    stats = loop.session.statistics()
    assert (stats.submitted, stats.acked, stats.in_flight) == (2, 2, 0)


def test_a_frame_lost_on_the_way_is_resent_on_its_ack_timer(loop: CoreLoop) -> None:
    cid = at_once(loop, order(), sent=False)
    assert answers(loop, cid) == []
    loop.advance(1.5)  # past ack_timeout: the session sends it again
    assert answers(loop, cid)[0] == "Status"
    assert loop.session.statistics().resends == 1


def test_admit_declines_before_the_login_is_answered() -> None:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c"))
    assert lp.session._admit(order()) is None
    stats = lp.session.statistics()
    assert (stats.submitted, stats.in_flight) == (0, 0)
    lp.login()
    assert at_once(lp, order()) == "c-1"  # the declined call took no cid


def test_admit_declines_while_output_is_queued_so_nothing_overtakes_it(
        loop: CoreLoop) -> None:
    first = loop.session.submit(order(), loop.now)  # queued, not drained yet
    assert loop.session._admit(order()) is None
    second = loop.session.submit(order(), loop.now)  # the usual way: after the first
    assert [m.cid for m in loop.session.messages_to_send()] == [first, second]


def test_admit_declines_while_busy_and_submit_then_reports_why(loop: CoreLoop) -> None:
    loop.exchange.set_congested(True)
    loop.pump()
    assert loop.session._admit(order()) is None
    with pytest.raises(SessionBusyError, match="congestion"):
        loop.session.submit(order(), loop.now)


def test_admit_refuses_what_submit_refuses() -> None:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", max_in_flight=1))
    lp.login()
    with pytest.raises(LocalProtocolError, match="submit_batch"):
        lp.session._admit(Batch(messages=(order(),)))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="must be a sessionkit Request"):
        lp.session._admit(Status(cid="x"))  # type: ignore[arg-type]
    cid = at_once(lp, LimitOrder(cid="mine", contract_id=1, size=1, price_in_cents=100))
    assert cid == "mine"
    with pytest.raises(LocalProtocolError, match="'mine' is already tracked"):
        lp.session._admit(LimitOrder(cid="mine", contract_id=1, size=1, price_in_cents=100))


def test_admit_refuses_a_full_window_and_reports_busy_once() -> None:
    lp = CoreLoop(config=SessionConfig(cid_prefix="c", max_in_flight=1))
    lp.login()
    admitted = lp.session._admit(order())
    assert admitted is not None  # its room is taken before it is tracked
    with pytest.raises(SessionBusyError, match="max_in_flight 1"):
        lp.session._admit(order())
    assert lp.session.events() == [ConnectionBusy("window")]
    lp.session._track(admitted, None, lp.now)
    assert ends(lp) == {}
