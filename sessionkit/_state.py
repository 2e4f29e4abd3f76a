"""The session's lifecycle state machine, as an explicit table (in the manner of h11).

Every (state, input) pair either leads to a next state or is a protocol
error: a :class:`LocalProtocolError` for a call the local side may not make
now, a remote protocol failure for an inbound message the exchange may not
send now. The table is the single source of truth for ``Session``.
"""

from __future__ import annotations

import enum

__all__ = ["SessionState", "Input", "TRANSITIONS", "NEXT", "next_state", "CLOSED_STATES"]


class SessionState(enum.Enum):
    """Where a :class:`~sessionkit.Session` is in its life (``Session.state``): idle, then
    logging in, active, closing, and closed or failed (both final)."""

    #: created; submits are queued until login succeeds
    IDLE = "idle"
    #: login sent, waiting for the exchange's answer
    LOGGING_IN = "logging_in"
    #: logged in: messages flow
    ACTIVE = "active"
    #: logout sent: responses still flow, no new submits
    CLOSING = "closing"
    #: closed by the local side; deactivated
    CLOSED = "closed"
    #: login failed, connection failed or lost; deactivated
    FAILED = "failed"

    # Enum hashes a member by its name in Python code; members are singletons compared
    # by identity, so the identity hash (C, no call) is equivalent. ``state in
    # CLOSED_STATES`` and the table lookups run on every frame and every loop.
    __hash__ = object.__hash__


class Input(enum.Enum):
    LOGIN = "login"                      # local: send the login
    SUBMIT = "submit"                    # local: submit a request or a batch
    CLOSE = "close"                      # local: log out
    LOGIN_ACK = "login_ack"              # remote: login accepted
    LOGIN_REJECT = "login_reject"        # remote: login refused
    MESSAGE = "message"                  # remote: any other message
    LOGIN_TIMEOUT = "login_timeout"      # timer: no answer to the login
    CONNECTION_LOST = "connection_lost"  # transport: the connection failed or closed
    #: remote: a protocol violation under the "disconnect" policy (see ViolationPolicy)
    VIOLATION = "violation"

    __hash__ = object.__hash__  # as SessionState's


S, In = SessionState, Input
#: (state, input) -> next state. Pairs absent from the table are protocol errors.
TRANSITIONS: dict[tuple[SessionState, Input], SessionState] = {
    (S.IDLE, In.LOGIN): S.LOGGING_IN,
    (S.IDLE, In.SUBMIT): S.IDLE,
    (S.IDLE, In.CLOSE): S.CLOSED,
    (S.IDLE, In.CONNECTION_LOST): S.FAILED,
    (S.LOGGING_IN, In.SUBMIT): S.LOGGING_IN,
    (S.LOGGING_IN, In.LOGIN_ACK): S.ACTIVE,
    (S.LOGGING_IN, In.LOGIN_REJECT): S.FAILED,
    (S.LOGGING_IN, In.MESSAGE): S.FAILED,  # the first message must answer the login
    (S.LOGGING_IN, In.LOGIN_TIMEOUT): S.FAILED,
    (S.LOGGING_IN, In.CLOSE): S.CLOSED,
    (S.LOGGING_IN, In.CONNECTION_LOST): S.FAILED,
    (S.LOGGING_IN, In.VIOLATION): S.FAILED,
    (S.ACTIVE, In.SUBMIT): S.ACTIVE,
    (S.ACTIVE, In.MESSAGE): S.ACTIVE,
    (S.ACTIVE, In.CLOSE): S.CLOSING,
    (S.ACTIVE, In.CONNECTION_LOST): S.FAILED,
    (S.ACTIVE, In.VIOLATION): S.FAILED,
    (S.CLOSING, In.MESSAGE): S.CLOSING,
    (S.CLOSING, In.CLOSE): S.CLOSING,
    (S.CLOSING, In.CONNECTION_LOST): S.CLOSED,
    (S.CLOSING, In.VIOLATION): S.FAILED,
}
del S, In

#: the same table by state, then input: what the session reads on every message and submit
#: (two lookups of identity-hashed members and no tuple made: 27 ns instead of 52)
NEXT: dict[SessionState, dict[Input, SessionState]] = {s: {} for s in SessionState}
for (_state, _input), _next in TRANSITIONS.items():
    NEXT[_state][_input] = _next

CLOSED_STATES = frozenset({SessionState.CLOSED, SessionState.FAILED})

#: remote inputs that are tolerated (reported, state kept) where the table has no entry
TOLERATED_REMOTE = frozenset({(SessionState.ACTIVE, Input.LOGIN_ACK),
                              (SessionState.ACTIVE, Input.LOGIN_REJECT),
                              (SessionState.CLOSING, Input.LOGIN_ACK),
                              (SessionState.CLOSING, Input.LOGIN_REJECT)})


def next_state(state: SessionState, inp: Input) -> SessionState | None:
    """The next state, or None when the pair is not allowed."""
    return NEXT[state].get(inp)
