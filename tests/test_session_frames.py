"""``Session.receive_frames``: what a transport read at once, fed in one call.

It must do exactly what feeding each frame to ``receive_data`` does, in order: the same
events, the same tracking, garbled frames reported and skipped; and a frame that ends
the session ends the batch (the frames after it are not fed, ``SessionClosedError`` says so).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit import (
    ActionReport,
    ConnectionFailed,
    Heartbeat,
    JsonCodec,
    LimitOrder,
    LocalProtocolError,
    LoginAck,
    ProtocolError,
    Session,
    SessionClosedError,
    SessionConfig,
    SessionState,
    Status,
)

CODEC = JsonCodec()
N_ORDERS = 4


def active(policy: str = "disconnect") -> Session:
    """A session logged in, with N_ORDERS orders sent (cids c-1 .. c-N)."""
    s = Session(SessionConfig(cid_prefix="c", on_violation=policy), codec=CODEC)
    s.login(0.0, account="a")
    s.receive_data(CODEC.encode(LoginAck(run_id="r1")), 0.0)
    for _ in range(N_ORDERS):
        s.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100), 0.0)
    s.data_to_send()
    s.events()
    return s


def frame(kind: str, i: int) -> bytes:
    cid, mid = f"c-{i % N_ORDERS + 1}", i % N_ORDERS + 1
    if kind == "ack":
        return CODEC.encode(Status(cid=cid, mid=mid, run_id="r1"))
    if kind == "fill":
        return CODEC.encode(ActionReport(mid=mid, cid=cid, contract_id=1, size=0,
                                         status_type="filled", run_id="r1"))
    if kind == "heartbeat":
        return CODEC.encode(Heartbeat(run_id="r1"))
    if kind == "new_run":  # the exchange restarted: open orders are cancelled
        return CODEC.encode(Heartbeat(run_id="r2"))
    return b'{"type":"status","cid":' + str(i).encode()  # garbled


def seen(events: list[Any]) -> list[Any]:
    """Events, comparable: a protocol error by its text (exceptions compare by identity)."""
    return [(type(e).__name__, str(e.error), e.fatal) if isinstance(e, ProtocolError) else e
            for e in events]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ack", "fill", "heartbeat", "new_run", "bad"]),
                          st.integers(0, 20)), max_size=25),
       st.sampled_from(["disconnect", "report"]))
def test_a_batch_does_what_its_frames_fed_one_by_one_do(
        steps: list[tuple[str, int]], policy: str) -> None:
    frames = [frame(kind, i) for kind, i in steps]
    one_by_one, batched = active(policy), active(policy)
    closed_one = closed_batch = False
    for f in frames:
        try:
            one_by_one.receive_data(f, 1.0)
        except SessionClosedError:
            closed_one = True
            break
    try:
        batched.receive_frames(frames, 1.0)
    except SessionClosedError:
        closed_batch = True
    assert closed_batch == closed_one
    assert seen(batched.events()) == seen(one_by_one.events())
    assert batched.tracked() == one_by_one.tracked()
    assert batched.statistics() == one_by_one.statistics()


def test_a_garbled_frame_in_a_batch_is_reported_and_the_next_is_fed() -> None:
    s = active("report")
    s.receive_frames([b"\xff", frame("ack", 0)], 1.0)
    err, received = s.events()
    assert isinstance(err, ProtocolError) and not err.fatal
    assert received.msg == Status(cid="c-1", mid=1, run_id="r1")


def test_by_default_a_garbled_frame_in_a_batch_ends_it() -> None:
    s = active()
    with pytest.raises(SessionClosedError):
        s.receive_frames([b"\xff", frame("ack", 0)], 1.0)
    assert [type(e) for e in s.events()] == [ProtocolError, ConnectionFailed]
    assert s.state is SessionState.FAILED


def test_a_frame_that_ends_the_session_ends_the_batch() -> None:
    s = Session(SessionConfig(cid_prefix="c"), codec=CODEC)
    s.login(0.0, account="a")
    # the first answer to a login must be a login answer: this one fails the session
    with pytest.raises(SessionClosedError):
        s.receive_frames([frame("heartbeat", 0), CODEC.encode(LoginAck(run_id="r1"))], 1.0)
    assert s.state is SessionState.FAILED
    kinds = [type(e) for e in s.events()]
    assert kinds == [ProtocolError, ConnectionFailed]  # no login accepted after it


def test_receiving_frames_needs_a_codec() -> None:
    s = Session(SessionConfig())
    with pytest.raises(LocalProtocolError, match="needs a codec"):
        s.receive_frames([b"{}"], 0.0)
