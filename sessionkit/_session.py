"""The sans-IO session: a pure state machine between an engine and an exchange.

Nothing here reads a clock, opens a socket or starts a thread. The caller
feeds in what arrives (``receive_data`` / ``receive_message``), what the
transport reports (``connection_lost``) and the time (``now`` on every call;
``next_deadline()`` / ``handle_timer(now)`` for timers, as aioquic does), and
drains what the session produces (``data_to_send()``, ``events()``).

>>> from sessionkit import LimitOrder, LoginAck, Session, SessionConfig
>>> s = Session(SessionConfig(cid_prefix="demo"))
>>> s.login(0.0, account="acct")
>>> [m.TYPE for m in s.messages_to_send()]
['login']
>>> s.receive_message(LoginAck(run_id="r1", last_event_id=0), 0.1)
>>> s.events()
[LoginAccepted(event_id=0, run_id='r1')]
>>> cid = s.submit(LimitOrder(contract_id=7, size=1, price_in_cents=100), 0.2)
>>> cid
'demo-1'
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from msgspec.structs import replace

from ._codec import Codec
from ._config import EventIdScope, SessionConfig, ViolationPolicy
from ._errors import (
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
    SessionClosedError,
)
from ._events import (
    Closed,
    ConnectionAvailable,
    ConnectionBusy,
    ConnectionFailed,
    Event,
    ExchangeOffline,
    ExchangeOnline,
    LoginAccepted,
    LoginFailed,
    MessageReceived,
    Outcome,
    ProtocolError,
    ResendCompleted,
    RunChanged,
)
from ._flow import FlowControl
from ._handoff import BatchTicket, Handoff
from ._heartbeat import HeartbeatMonitor
from ._messages import (
    ActionReport,
    BatchAck,
    BookStateSnapshot,
    Congestion,
    ContractDetail,
    EventReplay,
    Heartbeat,
    Login,
    LoginAck,
    LoginReject,
    Logout,
    Message,
    Request,
    ResendComplete,
    Status,
)
from ._sequencing import Sequencer, Verdict
from ._state import CLOSED_STATES, NEXT, TOLERATED_REMOTE, Input, SessionState, next_state
from ._stats import SessionStatistics
from ._submitting import Submitting
from ._tracking import MessageState, Tracked, Tracker, same_content

__all__ = ["Session", "Handoff", "BatchTicket"]  # the last two from ._handoff

_T = TypeVar("_T")

#: run ids remembered after the exchange left them (to tell a stale one from a new run)
_RUN_HISTORY = 64

logger = logging.getLogger(__name__)

#: the state table's input of a message from the exchange (any other: Input.MESSAGE)
_INPUTS: dict[type, Input] = {LoginAck: Input.LOGIN_ACK, LoginReject: Input.LOGIN_REJECT}


class Session(Submitting):
    """One session with an exchange. See the module docstring for the contract."""

    def __init__(self, config: SessionConfig | None = None, *, codec: Codec | None = None,
                 handoff: Handoff | None = None) -> None:
        self.config = config = config or SessionConfig()
        self._codec = codec
        self._state = SessionState.IDLE
        self._events: list[Event] = []
        self._out: deque[Message] = deque()
        self._tracker = Tracker(config, self._events.append, self._violation)
        self._seq = Sequencer(
            config.gap_policy, config.max_replay_buffer,
            handoff.last_event_id if handoff else 0, run=handoff.run_id if handoff else None,
            window=config.recent_window, same=same_content,
            recent=[(m.run_id or handoff.run_id, i, m) for i, m in handoff.recent]
            if handoff else (),
            old_runs=handoff.old_runs if handoff else (),
            floors=handoff.recent_floors if handoff else ())
        self._flow = FlowControl(config.max_in_flight, config.max_send_buffer, config.low_water,
                                 lambda reason: self._events.append(ConnectionBusy(reason)))
        self._hb = HeartbeatMonitor(config.heartbeat_grace, config.heartbeat_interval)
        self._run_id = handoff.run_id if handoff else None
        #: run ids the exchange has left, oldest first: a live message carrying one is stale
        self._old_runs: list[str] = list(handoff.old_runs) if handoff else []
        #: a new run seen while a replay of the old one runs: applied when the replay ends
        self._pending_run: str | None = None
        #: when a running replay that delivers nothing more is a violation
        self._replay_deadline: float | None = None
        #: send the automatic MessageReplay when the event replay ends
        self._message_replay_due = False
        #: after the login's replay, replay a new run from its start up to this id (0: no)
        self._run_replay_due = 0
        #: the login_ack that opened this session and the resend_complete that ended the
        #: last replay (the same frame again is a network repeat, dropped)
        self._login_answer: LoginAck | None = None
        self._replay_answer: ResendComplete | None = None
        self._resumed = handoff is not None
        self._cid_prefix = prefix = (handoff.cid_prefix if handoff else
                                     config.cid_prefix or secrets.token_hex(4))
        if not (isinstance(prefix, str) and prefix.isprintable() and 0 < len(prefix) <= 32):
            raise LocalProtocolError(  # (a cid made from it is not checked again: _with_cid)
                f"handoff cid_prefix must be 1-32 printable characters, got {prefix!r}")
        self._next_cid = handoff.next_cid if handoff else 1
        self._resume_token = 0
        self._login_deadline: float | None = None
        self._submitted = 0
        self._protocol_errors = 0
        self._run_changes = 0
        self.close_reason: str | None = None
        if handoff is not None:
            self._tracker.restore(handoff.tracked)
        tracker = self._tracker
        tracker.run_id = self._run_id
        #: how each message type is applied (_handle); a type not here takes its nearest
        #: base's route (_nearest)
        self._routes: dict[type, Callable[[Any, float], None]] = {
            Status: tracker.on_status, BatchAck: tracker.on_batch_ack,
            ActionReport: tracker.on_response, ContractDetail: tracker.on_response,
            BookStateSnapshot: tracker.on_response, Heartbeat: self._on_heartbeat,
            ResendComplete: self._on_resend_complete, Congestion: self._on_congestion,
            Request: self._on_client_message, Login: self._on_client_message,
            Logout: self._on_client_message, EventReplay: self._on_client_message,
            Message: self._on_other}

    # -- properties ---------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def last_event_id(self) -> int:
        """The highest event id delivered; resume with ``last_event_id + 1``."""
        return self._seq.last

    @property
    def busy(self) -> bool:
        return self._flow.busy

    # -- local calls ----------------------------------------------------------------

    def _require(self, inp: Input) -> SessionState:
        if self._state in CLOSED_STATES:
            raise SessionClosedError(self.close_reason or self._state.value)
        nxt = next_state(self._state, inp)
        if nxt is None:
            raise LocalProtocolError(f"cannot {inp.value} while the session is "
                                     f"{self._state.value}")
        return nxt

    def login(self, now: float, *, account: str, token: str = "",
              resume_event_id: int | None = None) -> None:
        """Queue the login. ``resume_event_id``: 0 no replay, 1 replay all, N after N-1.

        By default a fresh session resumes with 0 and a session built from a
        :class:`Handoff` resumes after the last event it delivered.
        """
        nxt = self._require(Input.LOGIN)
        if not isinstance(account, str) or not account:
            raise LocalProtocolError(f"login account must be a non-empty string, got {account!r}")
        if resume_event_id is None:
            resume_event_id = self._seq.last + 1 if self._resumed else 0
        if (not isinstance(resume_event_id, int) or isinstance(resume_event_id, bool)
                or resume_event_id < 0):
            raise LocalProtocolError(
                f"resume_event_id must be an integer >= 0, got {resume_event_id!r}")
        self._resume_token = resume_event_id
        self._state = nxt
        self._login_deadline = now + self.config.login_timeout
        self._push(Login(account=account, token=token, resume_event_id=resume_event_id), now)

    def close(self, now: float) -> None:
        """Log out (ACTIVE) or close at once (before login). Idempotent while closing."""
        nxt = self._require(Input.CLOSE)
        was = self._state
        self._state = nxt
        if was is SessionState.ACTIVE:
            self._push(Logout(), now)
        elif nxt is SessionState.CLOSED:
            self.close_reason = "closed by the local side"
            self._events.append(Closed(self.close_reason))

    def _push(self, msg: Message, now: float) -> None:
        self._out.append(msg)
        self._hb.last_outbound = now

    def _send(self, t: Tracked, now: float) -> None:
        self._tracker.mark_sent(t, now)
        self._push(t.request, now)

    # -- inbound ----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed one frame; a frame that does not decode is reported, never raised."""
        self.receive_frames((data,), now)

    def receive_frames(self, frames: Iterable[bytes], now: float) -> None:
        """:meth:`receive_data` for each frame, in order: one call for what a transport
        read at once. Raises :class:`SessionClosedError` at the first frame after the session
        closed (a frame before it may have closed it)."""
        codec = self._codec
        if codec is None:
            raise LocalProtocolError("receiving frames needs a codec; pass codec= to Session")
        decode, receive = codec.decode, self._receive
        heard = False
        for data in frames:
            if self._state in CLOSED_STATES:
                raise SessionClosedError(self.close_reason or self._state.value)
            if not heard:  # once for what came at once (not once a frame: 0.1 us each)
                heard = True
                self._heard(now)
            try:
                msg = decode(data)
            except DecodeError as err:
                if err.offending is None:
                    err.offending = data
                # it may have been about any request: none is inferred about any more
                self._tracker.doubt_all(f"whether it filled before then is not known: a "
                                        f"frame that did not decode came ({err})")
                self._report(err)
                continue
            receive(msg, now)

    def receive_message(self, msg: Message, now: float) -> None:
        """Feed one decoded message from the exchange."""
        if self._state in CLOSED_STATES:
            raise SessionClosedError(self.close_reason or self._state.value)
        if not isinstance(msg, Message):
            self._violation(f"expected a protocol message, got {type(msg).__name__}", msg)
            return
        self._heard(now)
        self._receive(msg, now)

    def _heard(self, now: float) -> None:
        """The exchange sent something at ``now``: a sign of life."""
        if self._hb.inbound(now):
            self._events.append(ExchangeOnline())

    def _receive(self, msg: Message, now: float) -> None:
        """A message from the exchange, as the state table lets it in; in a session, its
        run and event id judged, then applied (:meth:`_handle`)."""
        cls, state = type(msg), self._state
        inp = _INPUTS.get(cls) or _nearest(_INPUTS, cls, Input.MESSAGE)
        nxt = NEXT[state].get(inp)
        if nxt is None:
            if state is SessionState.IDLE:
                self._violation(f"{msg.TYPE} message arrived before the login was sent", msg)
            elif msg == self._login_answer:  # the same frame again (a network repeat)
                self._seq.duplicates += 1
            else:
                assert (state, inp) in TOLERATED_REMOTE
                self._violation(f"{msg.TYPE} message arrived while the session is "
                                f"{state.value}", msg)
            return
        if nxt is not state:  # the first message after the login: it must answer it
            if isinstance(msg, LoginAck):
                self._on_login_ack(msg, now)
            elif isinstance(msg, LoginReject):
                self._fail(LoginFailed(msg.reason), f"login failed: {msg.reason}")
            else:  # fatal whatever the policy: the table has (LOGGING_IN, MESSAGE) -> FAILED
                self._report(RemoteProtocolError(
                    f"first message after the login was {msg.TYPE!r}, not a login answer",
                    offending=msg), fatal=True)
            return
        rid, pending = msg.run_id, self._pending_run
        if rid is not None and (rid != self._run_id or pending is not None) and not msg.replay:
            if rid in self._old_runs or rid == self._run_id:  # (left for the pending one)
                self._violation(f"{msg.TYPE} carries run id {rid!r}, a run the exchange left "
                                f"for {pending or self._run_id!r}", msg)
                return
            if rid != pending:
                self._new_run(rid, msg, now)
        eid = msg.event_id
        # the commonest case first: the next live event id, delivered at once
        if eid is not None and (msg.replay or not self._seq.take_next(eid, msg)):
            seq = self._seq
            was_replaying = seq.replaying
            try:
                verdict = seq.offer(eid, msg.replay, msg, msg.run_id)
            except OverflowError as err:
                self._fail(ConnectionFailed(str(err)), str(err))
                return
            if verdict is not Verdict.DELIVER:
                if verdict is Verdict.HELD:
                    if not was_replaying:  # a gap under the REQUEST policy: ask for it
                        self._start_replay(seq.last + 1, eid - 1, now)
                elif verdict is Verdict.VIOLATION:
                    self._violation(f"{msg.TYPE}: {seq.problem}", msg)
                return
            if was_replaying and msg.replay:  # the replay makes progress
                self._replay_deadline = now + self.config.replay_timeout
        self._handle(msg, now)

    def _handle(self, msg: Message, now: float) -> None:
        """Apply a message delivered in order, by its type's route (a subclass's: its
        base's); then the window may have room again."""
        cls = type(msg)
        routes = self._routes
        route = routes.get(cls) or _nearest(routes, cls, routes[Message])
        route(msg, now)
        if self._flow.busy:
            self._maybe_available()

    def _on_other(self, msg: Message, now: float) -> None:
        """Any other message: an answer if it names a request, else handed on as it is."""
        if getattr(msg, "mid", None) is not None or getattr(msg, "cid", None) is not None:
            self._tracker.on_response(msg, now)
        else:
            self._events.append(MessageReceived(msg, None, None))

    def _on_resend_complete(self, msg: ResendComplete, now: float) -> None:
        if not self._seq.replaying:
            if same_content(msg, self._replay_answer):  # the same frame again
                self._seq.duplicates += 1
            else:
                self._violation(f"resend_complete({msg.begin}, {msg.end}) arrived with "
                                f"no replay running", msg)
            return
        self._replay_answer = msg
        self._events.append(ResendCompleted(msg.begin, msg.end))
        self._end_replay(now)

    def _on_heartbeat(self, msg: Heartbeat, now: float) -> None:
        self._hb.heard_interval(msg.interval_ms)
        self._events.append(MessageReceived(msg, None, None))

    def _on_congestion(self, msg: Congestion, now: float) -> None:
        self._flow.congested = msg.busy
        if msg.busy:
            self._flow.enter_busy("congestion")

    def _on_client_message(self, msg: Message, now: float) -> None:
        self._violation(f"{msg.TYPE} is a client message; the exchange may not send it", msg)

    def _end_replay(self, now: float, *, complete: bool = True) -> None:
        """The replay is over (or abandoned). The live events held are judged again, in id
        order (repeats of replayed events are dropped, and a gap the replay did not fill
        is not asked for again): the old run's first; then a run change seen meanwhile
        takes effect; the automatic MessageReplay after a reconnect goes out (for what is
        left without a final answer; a repeat of an answer delivered is dropped); then the
        new run's events."""
        released = self._seq.release_held()
        self._replay_deadline = None
        pending = self._pending_run
        self._release([m for m in released if not isinstance(m, Message)
                       or pending is None or m.run_id != pending], now)
        if pending is not None and self._state not in CLOSED_STATES:
            self._pending_run = None
            self._change_run(pending, missed="" if complete else
                             "whether it filled before then is not known: the replay that "
                             "would have told did not end")
            self._seq.switch_run(pending)
        if self._run_replay_due and self._state not in CLOSED_STATES:
            self._start_replay(1, self._run_replay_due, now)
            self._run_replay_due = 0
        elif self._message_replay_due and self._state not in CLOSED_STATES:
            self._message_replay_due = False
            self.request_message_replay(now)
        if pending is not None:
            self._release([m for m in released
                           if isinstance(m, Message) and m.run_id == pending], now)

    def _release(self, held: list[object], now: float) -> None:
        """Live events held during a replay, judged as asked for (their run was judged
        when they came)."""
        seq = self._seq
        for msg in held:
            if self._state in CLOSED_STATES:
                return
            assert isinstance(msg, Message) and msg.event_id is not None
            late = msg.event_id <= seq.last and msg.run_id == seq.run
            verdict = seq.offer(msg.event_id, True, msg, msg.run_id)
            if verdict is Verdict.DELIVER:
                if late and not msg.replay:
                    # a live event held while the replay ran, delivered after later ones
                    # (the replay lost its copy): it says it is late, as a replayed one does
                    msg = replace(msg, replay=True)
                self._handle(msg, now)
            elif verdict is Verdict.VIOLATION:
                self._violation(f"{msg.TYPE}: {seq.problem}", msg)

    def _on_login_ack(self, msg: LoginAck, now: float) -> None:
        self._state = SessionState.ACTIVE
        self._login_answer = msg
        self._login_deadline = None
        token, exchange_last, seq = self._resume_token, msg.last_event_id, self._seq
        rid = msg.run_id
        problem = None
        if rid is None or rid == self._run_id or self._run_id is None:
            if rid is not None:
                if self._run_id is None:
                    self._change_run(rid)  # the first run id seen is learnt, not a change
                seq.switch_run(rid)
            problem = seq.start(token, exchange_last)
        elif rid in self._old_runs:
            self._violation(f"login_ack carries run id {rid!r}, a run the exchange left for "
                            f"{self._run_id!r}", msg)
            if self._state in CLOSED_STATES:
                return
            problem = seq.start(token, exchange_last)
        elif self.config.event_id_scope is EventIdScope.RUN:
            # the new run's ids started again: the old run's last events are beyond any
            # replay, and the new run is replayed from its start once the login's replay
            # (of ids counted in the old run) is over
            self._change_run(rid, missed=f"whether it filled before then is not known: "
                                         f"event ids start again with each run, so the "
                                         f"old run's events after {seq.last} cannot be "
                                         f"replayed")
            if token:
                seq.new_run(rid, 0, replaying=True)
                self._run_replay_due = exchange_last
            else:  # no replay asked for: the new run from its newest event on
                seq.new_run(rid, exchange_last)
        elif token and seq.last < exchange_last and token <= exchange_last:
            # a new run, and events to replay: they may be the old run's, and go to its
            # requests first; the change takes effect when the replay ends
            self._pending_run = rid
            seq.expect_run(rid)
            problem = seq.start(token, exchange_last)
        else:
            # the change takes effect now. Nothing of the old run was missed only if the
            # exchange's newest event is the last one delivered (its ids go on across runs,
            # as the protocol says); if they started again, or no replay covers what came
            # after the last event delivered, the old run's last events cannot be known
            missed = ("" if exchange_last == seq.last else
                      f"its event ids started again (newest {exchange_last}, below "
                      f"{seq.last})" if exchange_last < seq.last else
                      f"no replay covers its events after {seq.last}")
            self._change_run(rid, missed=missed and f"whether it filled before then is not "
                                                    f"known: {missed}")
            seq.new_run(rid, exchange_last, replaying=token != 0)
        if problem is not None:
            self._violation(f"login_ack: {problem}", msg)
            if self._state in CLOSED_STATES:
                return
        if seq.replaying:
            self._replay_deadline = now + self.config.replay_timeout
        self._events.append(LoginAccepted(exchange_last, self._run_id))
        tracker = self._tracker
        for t in tracker.requeue_unacked() if self._resumed else tracker.queued():
            self._send(t, now)
        if self._resumed and self.config.auto_message_replay:
            if seq.replaying:  # after the event replay: what it brings is not asked for
                self._message_replay_due = True
            else:
                self.request_message_replay(now)

    def _new_run(self, run_id: str, msg: Message, now: float) -> None:
        """A live message of a run never seen: the exchange restarted. While a replay of
        the old run runs, the change waits for its end (:meth:`_end_replay`); so it does
        when ``msg``'s event id skips ids after the last delivered (they may hold the old
        run's last events: a fill must not be reported cancelled), and they are asked
        for first."""
        seq = self._seq
        if seq.replaying:
            if self._pending_run is not None:  # yet another run: the one pending is left
                self._old_runs.append(self._pending_run)
            self._pending_run = run_id
            seq.expect_run(run_id)
        elif msg.event_id is not None and msg.event_id > seq.last + 1 and not seq.fresh:
            self._pending_run = run_id
            seq.expect_run(run_id)
            self._start_replay(seq.last + 1, msg.event_id - 1, now)
        else:
            self._change_run(run_id)
            seq.new_run(run_id)  # its first event sets the cursor

    def _start_replay(self, first: int, last: int, now: float) -> None:
        """Ask for events ``first`` .. ``last``; live events wait for it to end."""
        self._seq.replaying = True
        self._replay_deadline = now + self.config.replay_timeout
        self._push(EventReplay(from_event_id=first, to_event_id=last), now)

    def _change_run(self, run_id: str, *, missed: str = "") -> None:
        """The exchange's run changed: report it once and end the old run's requests.
        ``missed``: why the old run's last events may be unknown (its open orders then end
        unknown). The caller moves the event cursor to the new run."""
        prev = self._run_id
        self._run_id = self._tracker.run_id = run_id
        if prev is None:  # the first run id seen: learnt, not changed
            return
        self._old_runs.append(prev)
        del self._old_runs[:-_RUN_HISTORY]
        self._run_changes += 1
        logger.info("exchange run changed from %s to %s", prev, run_id)
        self._events.append(RunChanged(run_id, prev))
        self._tracker.cancel_old_run(run_id, missed)
        self._tracker.new_run()

    def connection_lost(self, reason: str, now: float) -> None:
        """The transport closed or failed. Deactivates the session (idempotent)."""
        if self._state in CLOSED_STATES:
            return
        nxt = next_state(self._state, Input.CONNECTION_LOST)
        if nxt is SessionState.CLOSED:
            self._state = nxt
            self.close_reason = f"connection closed after logout: {reason}"
            self._events.append(Closed(self.close_reason))
        else:
            self._fail(ConnectionFailed(reason), f"connection failed: {reason}")

    def _fail(self, event: Event, reason: str) -> None:
        logger.info("session deactivated: %s", reason)
        self._state = SessionState.FAILED
        self.close_reason = reason
        self._login_deadline = None
        self._events.append(event)

    def _violation(self, problem: str, offending: object) -> None:
        """The exchange broke the protocol: report it with the offending message (which is
        not applied) and, under the "disconnect" policy, end the connection. A request the
        message names is not inferred about any more (see ``Tracker.doubt``)."""
        if isinstance(offending, Message):
            self._tracker.doubt(offending, problem)
        self._report(RemoteProtocolError(problem, offending=offending))

    def _report(self, err: RemoteProtocolError, *, fatal: bool = False) -> None:
        """Report a violation once; it ends the connection when ``fatal`` or when the
        policy is "disconnect" and the state table allows it."""
        self._protocol_errors += 1
        logger.warning("protocol violation by the exchange: %s", err)
        if not fatal and self.config.on_violation is ViolationPolicy.DISCONNECT:
            fatal = next_state(self._state, Input.VIOLATION) is not None
        self._events.append(ProtocolError(err, fatal=fatal))
        if fatal:
            reason = f"protocol violation: {err}"
            self._fail(ConnectionFailed(reason), reason)

    def _maybe_available(self) -> None:
        if (self._flow.busy and self._state not in CLOSED_STATES
                and self._flow.drained(self._tracker.unacked, len(self._out))):
            self._events.append(ConnectionAvailable())

    # -- timers -------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called (None: no timer armed)."""
        state = self._state
        if state is SessionState.LOGGING_IN:
            return self._login_deadline
        if state not in (SessionState.ACTIVE, SessionState.CLOSING):
            return None
        best = self._tracker.next_deadline()
        d = self._replay_deadline
        if d is not None and (best is None or d < best):
            best = d
        hb = self._hb
        d = hb.offline_deadline()
        if d is not None and (best is None or d < best):
            best = d
        d = hb.send_deadline()
        if d is not None and (best is None or d < best):
            best = d
        return best

    def handle_timer(self, now: float) -> None:
        state = self._state
        if state is SessionState.LOGGING_IN:
            if self._login_deadline is not None and now >= self._login_deadline:
                reason = (f"no answer to the login within {self.config.login_timeout} s")
                self._fail(ConnectionFailed(reason), reason)
            return
        if state not in (SessionState.ACTIVE, SessionState.CLOSING):
            return
        if self._replay_deadline is not None and now >= self._replay_deadline:
            self._replay_stalled(now)
            if self._state in CLOSED_STATES:
                return
        max_attempts = self.config.max_send_attempts
        for t in self._tracker.expired(now):
            if t.attempts >= max_attempts:
                self._tracker.finish(t, Outcome.UNKNOWN,
                                     f"no ACK after {t.attempts} sends")
            else:
                self._send(t, now)
        silence = self._hb.check_offline(now)
        if silence is not None:
            self._events.append(ExchangeOffline(silence))
        if self._hb.heartbeat_due(now):
            self._push(Heartbeat(), now)
        self._maybe_available()

    def _replay_stalled(self, now: float) -> None:
        """A replay delivered nothing for ``replay_timeout`` and did not end: a violation.
        Under the "report" policy the replay is abandoned (the held live events go on, and
        the events it did not bring are missing: the report says from where)."""
        self._violation(f"the replay did not end: nothing replayed for "
                        f"{self.config.replay_timeout} s and no resend_complete; events after "
                        f"{self._seq.last} may be missing", None)
        if self._state not in CLOSED_STATES:
            self._end_replay(now, complete=False)

    # -- output -----------------------------------------------------------------------------

    def messages_to_send(self) -> list[Message]:
        """Drain the outgoing messages (for transports that encode themselves)."""
        out = list(self._out)
        self._out.clear()
        if self._flow.busy:
            self._maybe_available()
        return out

    def data_to_send(self) -> list[bytes]:
        """Drain the outgoing messages as encoded frames."""
        if self._codec is None:
            raise LocalProtocolError("data_to_send needs a codec; pass codec= to Session")
        encode = self._codec.encode
        return [encode(m) for m in self.messages_to_send()]

    @property
    def has_events(self) -> bool:
        """True when :meth:`events` has something to drain (a check, no copy)."""
        return bool(self._events)

    def events(self) -> list[Event]:
        """Drain the events produced so far, in order."""
        out = self._events[:]
        self._events.clear()
        return out

    # -- views ---------------------------------------------------------------------------------

    def awaiting_response(self) -> list[tuple[str, int | None, Request]]:
        """S2: (cid, mid, request) of every request ACKed without its final response."""
        return [(t.cid, t.mid, t.request) for t in self._tracker.awaiting_response()]

    def tracked(self) -> Iterable[tuple[str, MessageState, Request]]:
        return [(t.cid, MessageState(t.state), t.request) for t in self._tracker.by_cid.values()]

    def handoff(self) -> Handoff:
        """Everything a new session needs to go on where this one stopped."""
        return Handoff(self._run_id, self._seq.last, self._tracker.snapshot(),
                       self._cid_prefix, self._next_cid, tuple(self._old_runs),
                       self._recent_events(), self._seq.floors())

    def _recent_events(self) -> tuple[tuple[int, Message], ...]:
        out = []
        for event_id, msg in self._seq.recent():
            assert isinstance(msg, Message)
            out.append((event_id, msg))
        return tuple(out)

    def statistics(self) -> SessionStatistics:
        tr, seq, flow = self._tracker, self._seq, self._flow
        return SessionStatistics(
            state=self._state.value, run_id=self._run_id, last_event_id=seq.last,
            in_flight=tr.unacked, awaiting_response=len(tr.awaiting_response()),
            send_buffer=len(self._out), submitted=self._submitted, acked=tr.acked,
            resends=tr.resends, finished=dict(tr.finished),
            duplicate_acks=tr.duplicate_acks, duplicate_responses=tr.duplicate_responses,
            unmatched_responses=tr.unmatched,
            events_delivered=seq.delivered, duplicate_events=seq.duplicates, gaps=seq.gaps,
            held_events=seq.held, busy=flow.busy, busy_count=flow.busy_count,
            rejected_busy=flow.rejected, protocol_errors=self._protocol_errors,
            offline_count=self._hb.offline_count,
            ack_latency_mean=(tr.ack_latency_total / tr.acked) if tr.acked else None,
            ack_latency_max=tr.ack_latency_max if tr.acked else None,
            run_changes=self._run_changes,
        )


def _nearest(table: dict[type, _T], cls: type, default: _T) -> _T:
    """``table``'s entry for ``cls`` or its nearest base (``default`` for none),
    remembered for ``cls``."""
    table[cls] = found = next((table[b] for b in cls.__mro__ if b in table), default)
    return found
