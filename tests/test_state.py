"""Every (state, input) pair of the session lifecycle: a valid next state or a clear error.

The expected table is written out here independently of ``sessionkit._state``,
and each pair is driven through a real ``Session``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sessionkit import (
    Heartbeat,
    LimitOrder,
    LocalProtocolError,
    LoginAck,
    LoginReject,
    ProtocolError,
    Session,
    SessionClosedError,
    SessionConfig,
    SessionState,
)

S = SessionState
ORDER = LimitOrder(contract_id=1, size=1, price_in_cents=1)


def make(state: SessionState, policy: str = "disconnect") -> Session:
    s = Session(SessionConfig(cid_prefix="t", login_timeout=5.0, on_violation=policy))
    if state is S.IDLE:
        return s
    if state is S.CLOSED:
        s.close(0.0)
        return s
    s.login(0.0, account="a")
    if state is S.FAILED:
        s.receive_message(LoginReject(reason="no"), 0.0)
    elif state in (S.ACTIVE, S.CLOSING):
        s.receive_message(LoginAck(run_id="r"), 0.0)
        if state is S.CLOSING:
            s.close(0.0)
    assert s.state is state
    s.events()
    s.messages_to_send()
    return s


INPUTS: dict[str, Callable[[Session], None]] = {
    "login": lambda s: s.login(1.0, account="a"),
    "submit": lambda s: s.submit(ORDER, 1.0) and None,
    "close": lambda s: s.close(1.0),
    # not the login answer that opened the session (that one again is a network repeat)
    "login_ack": lambda s: s.receive_message(LoginAck(run_id="r", last_event_id=9), 1.0),
    "login_reject": lambda s: s.receive_message(LoginReject(reason="no"), 1.0),
    "message": lambda s: s.receive_message(Heartbeat(interval_ms=1000, run_id="r"), 1.0),
    "timer": lambda s: s.handle_timer(100.0),
    "connection_lost": lambda s: s.connection_lost("eof", 1.0),
}

LOCAL = "LocalProtocolError"
CLOSED = "SessionClosedError"
REMOTE = "remote error, state kept"
FATAL = "fatal remote error"
#: a violation: fatal under the "disconnect" policy (the default), state kept under "report"
VIOLATION = "violation"

EXPECTED: dict[SessionState, dict[str, object]] = {
    S.IDLE: {"login": S.LOGGING_IN, "submit": S.IDLE, "close": S.CLOSED,
             "login_ack": REMOTE, "login_reject": REMOTE, "message": REMOTE,
             "timer": S.IDLE, "connection_lost": S.FAILED},
    S.LOGGING_IN: {"login": LOCAL, "submit": S.LOGGING_IN, "close": S.CLOSED,
                   "login_ack": S.ACTIVE, "login_reject": S.FAILED, "message": FATAL,
                   "timer": S.FAILED, "connection_lost": S.FAILED},
    S.ACTIVE: {"login": LOCAL, "submit": S.ACTIVE, "close": S.CLOSING,
               "login_ack": VIOLATION, "login_reject": VIOLATION, "message": S.ACTIVE,
               "timer": S.ACTIVE, "connection_lost": S.FAILED},
    S.CLOSING: {"login": LOCAL, "submit": LOCAL, "close": S.CLOSING,
                "login_ack": VIOLATION, "login_reject": VIOLATION, "message": S.CLOSING,
                "timer": S.CLOSING, "connection_lost": S.CLOSED},
    S.CLOSED: {"login": CLOSED, "submit": CLOSED, "close": CLOSED, "login_ack": CLOSED,
               "login_reject": CLOSED, "message": CLOSED, "timer": S.CLOSED,
               "connection_lost": S.CLOSED},
    S.FAILED: {"login": CLOSED, "submit": CLOSED, "close": CLOSED, "login_ack": CLOSED,
               "login_reject": CLOSED, "message": CLOSED, "timer": S.FAILED,
               "connection_lost": S.FAILED},
}

PAIRS = [(state, name) for state in S for name in INPUTS]


def test_the_table_covers_every_pair() -> None:
    assert set(EXPECTED) == set(S)
    assert all(set(row) == set(INPUTS) for row in EXPECTED.values())


@pytest.mark.parametrize("policy", ["disconnect", "report"])
@pytest.mark.parametrize("state,name", PAIRS, ids=[f"{s.value}-{n}" for s, n in PAIRS])
def test_transition(state: SessionState, name: str, policy: str) -> None:
    s = make(state, policy)
    expected = EXPECTED[state][name]
    if expected == VIOLATION:
        expected = FATAL if policy == "disconnect" else REMOTE
    if expected == LOCAL:
        with pytest.raises(LocalProtocolError, match=f"while the session is {state.value}"):
            INPUTS[name](s)
        assert s.state is state
    elif expected == CLOSED:
        with pytest.raises(SessionClosedError, match="session is closed"):
            INPUTS[name](s)
        assert s.state is state
    elif expected == REMOTE:
        INPUTS[name](s)
        errors = [e for e in s.events() if isinstance(e, ProtocolError)]
        assert len(errors) == 1 and not errors[0].fatal and str(errors[0].error)
        assert s.state is state
    elif expected == FATAL:
        INPUTS[name](s)
        errors = [e for e in s.events() if isinstance(e, ProtocolError)]
        assert len(errors) == 1 and errors[0].fatal
        assert s.state is S.FAILED
    else:
        INPUTS[name](s)
        assert s.state is expected
