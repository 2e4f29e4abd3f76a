"""A sans-IO loop for journal tests: a session, its recorder and the reference exchange.

``JournalLoop`` drives a :class:`~sessionkit.Session` the way a runtime does
(submit, journal, commit before send, dispatch, record after the processor,
commit per drained batch) and can crash the client at any point: the store
is closed without committing and a new session is built from what the
journal holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sessionkit import JsonCodec, MessageProcessor, SessionConfig, dispatch
from sessionkit._events import Event, MessageFinished, MessageReceived
from sessionkit._state import CLOSED_STATES
from sessionkit.store import MemoryStore, Recorder, RecoveryReport, SqliteStore, notify_recovered
from sessionkit.testing import ReferenceExchange


class LogProcessor(MessageProcessor):
    """Keeps what it was handed: events with ids, finished messages, recoveries, replays."""

    def __init__(self) -> None:
        self.event_ids: list[int] = []
        self.finished: dict[str, list[str]] = {}
        self.recovered: list[RecoveryReport] = []
        self.resends: list[tuple[int, int]] = []
        self.messages: list[Any] = []

    def on_recovered(self, report: RecoveryReport) -> None:
        self.recovered.append(report)

    def on_resend_complete(self, begin: int, end: int) -> None:
        self.resends.append((begin, end))

    def on_message_finished(self, event: MessageFinished) -> None:
        self.finished.setdefault(event.cid, []).append(event.outcome.value)


class JournalLoop:
    def __init__(self, open_store: Callable[[], Any], *, exchange: ReferenceExchange | None = None,
                 config: SessionConfig | None = None, processor: LogProcessor | None = None,
                 account: str = "acct") -> None:
        self.open_store = open_store
        self.exchange = exchange or ReferenceExchange()
        self.config = config or SessionConfig(cid_prefix="c")
        self.processor = processor or LogProcessor()
        self.codec = JsonCodec()
        self.account = account
        self.now = 0.0
        self.crashes = 0
        #: (incarnation, event id) of every event with an id, after the processor returned
        self.handled: list[tuple[int, int]] = []
        self.on_event: Callable[[Event], None] | None = None
        self.start()

    def start(self, resume_event_id: int | None = None) -> None:
        self.store = self.open_store()
        self.recorder = Recorder(self.store)
        self.session = self.recorder.new_session(self.config, codec=self.codec)
        notify_recovered(self.processor, self.recorder.report)
        self.conn = self.exchange.connect()
        self.session.login(self.now, account=self.account, resume_event_id=resume_event_id)
        self.pump()

    def submit(self, request: Any) -> str:
        cid = self.session.submit(request, self.now)
        self.recorder.submitted(request, cid)
        return cid

    def submit_batch(self, requests: list[Any]) -> list[Any]:
        tickets = self.session.submit_batch(requests, self.now)
        self.recorder.submitted_batch(requests, tickets)
        return tickets

    def send(self) -> bool:
        msgs = self.session.messages_to_send()
        if not msgs:
            return False
        self.recorder.before_send(msgs)
        for m in msgs:
            self.conn.receive(self.codec.decode(self.codec.encode(m)))
        return True

    def receive(self) -> bool:
        out = self.conn.outbox()
        if not out:
            return False
        s = self.session
        for m in out:
            if s.state in CLOSED_STATES:
                break
            s.receive_data(self.codec.encode(m), self.now)
        self.drain()
        return True

    def drain(self) -> None:
        for ev in self.session.events():
            if self.recorder.is_duplicate(ev):
                continue
            dispatch(ev, self.processor)
            if type(ev) is MessageReceived and ev.msg.event_id is not None:
                self.handled.append((self.store.incarnation, ev.msg.event_id))
            if self.on_event is not None:
                self.on_event(ev)
            self.recorder.handled(ev)
        self.recorder.commit()

    def pump(self, rounds: int = 10_000) -> None:
        for _ in range(rounds):
            sent = self.send()
            got = self.receive()
            if not sent and not got:
                return

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.exchange.tick(self.now)
        if self.session.state not in CLOSED_STATES:
            self.session.handle_timer(self.now)
        self.drain()
        self.pump()

    def crash(self, resume_event_id: int | None = None) -> None:
        """The client process dies: nothing pending is committed; a new one starts."""
        self.crashes += 1
        self.store.close(commit=False)
        self.conn.closed = True
        self.start(resume_event_id)

    def restart(self) -> None:
        """A clean stop (everything committed) and a new process."""
        self.store.close()
        self.conn.closed = True
        self.start()


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[..., Any]:
    """Opens the journal of one session; each call is a new process opening it."""
    holder: dict[str, Any] = {}

    def open_store(account: str = "acct", session_id: str = "2026-05-04") -> Any:
        if request.param == "memory":
            prev = holder.get("store")
            store = (prev.reopen(account, session_id) if prev is not None
                     else MemoryStore(account, session_id))
        else:
            store = SqliteStore(tmp_path / "session.journal", account=account,
                                session_id=session_id, durability="fast")
        holder["store"] = store
        return store

    open_store.kind = request.param  # type: ignore[attr-defined]
    return open_store
