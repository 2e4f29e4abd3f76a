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
from sessionkit.store import (
    MemoryStore,
    PostgresStore,
    Recorder,
    RecoveryReport,
    SqliteStore,
    notify_recovered,
)
from sessionkit.testing import ReferenceExchange


class Crash(Exception):
    """Raised by a :class:`JournalLoop` to stop its client where a crash is injected."""


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
        #: ("event", id) and ("finish", cid) whose handling was committed, in order
        self.committed: list[tuple[str, object]] = []
        #: client ids the journal held when their frames went out
        self.durable: set[str] = set()
        #: crash after the processor returns from this many more events (None: never)
        self.crash_after: int | None = None
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

    def send(self, limit: int | None = None) -> bool:
        """Hand what the session sends to the exchange (only ``limit`` frames of it)."""
        msgs = self.session.messages_to_send()
        if not msgs:
            return False
        self.recorder.before_send(msgs)
        self.durable.update(m.cid for m in self.store.messages())
        for m in msgs[:limit]:
            self.conn.receive(self.codec.decode(self.codec.encode(m)))
        return True

    def receive(self, limit: int | None = None) -> bool:
        """Feed what the exchange sent (only ``limit`` messages; the rest stay queued)."""
        out = self.conn.outbox()
        if not out:
            return False
        if limit is not None:
            out, rest = out[:limit], out[limit:]
            self.conn._outbox[:0] = rest
        s = self.session
        for m in out:
            if s.state in CLOSED_STATES:
                break
            s.receive_data(self.codec.encode(m), self.now)
        self.drain()
        return True

    def drain(self) -> None:
        batch: list[tuple[str, object]] = []
        for ev in self.session.events():
            dispatch(ev, self.processor)
            if type(ev) is MessageReceived and ev.msg.event_id is not None:
                self.handled.append((self.store.incarnation, ev.msg.event_id))
                batch.append(("event", ev.msg.event_id))
            elif type(ev) is MessageFinished:
                batch.append(("finish", ev.cid))
            if self.on_event is not None:
                self.on_event(ev)
            if self.crash_after is not None:
                self.crash_after -= 1
                if self.crash_after <= 0:
                    self.crash_after = None
                    raise Crash("the client died after its processor returned")
            self.recorder.handled(ev)
        self.recorder.commit()
        self.committed.extend(batch)

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


def make_store_factory(kind: str, directory: Any, *, schema: str = "sessionkit",
                       **options: Any) -> Callable[..., Any]:
    """Opens the journal of one session; each call is a new process opening it.

    ``kind`` "postgres": ``directory`` is the database's URL, the journal is in ``schema``
    (``options`` go to PostgresStore).
    """
    holder: dict[str, Any] = {}

    def open_store(account: str = "acct", session_id: str = "2026-05-04") -> Any:
        if kind == "memory":
            prev = holder.get("store")
            store = (prev.reopen(account, session_id) if prev is not None
                     else MemoryStore(account, session_id))
        elif kind == "postgres":
            store = PostgresStore(directory, account=account, session_id=session_id,
                                  durability="fast", schema=schema, **options)
        else:
            store = SqliteStore(f"{directory}/session.journal", account=account,
                                session_id=session_id, durability="fast")
        holder["store"] = store
        return store

    open_store.kind = kind  # type: ignore[attr-defined]
    open_store.where = directory  # type: ignore[attr-defined]
    return open_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[..., Any]:
    """The journal of one session, in memory, in SQLite or in PostgreSQL (each test runs
    with each; PostgreSQL on a new database of the test run's server)."""
    if request.param == "postgres":
        return make_store_factory("postgres", request.getfixturevalue("postgres_url"))
    return make_store_factory(request.param, tmp_path)


@pytest.fixture
def make_loop(store_factory: Callable[..., Any]) -> Callable[..., JournalLoop]:
    """Builds a :class:`JournalLoop` on the parametrised journal (or on ``open_store``)."""

    def make(open_store: Callable[[], Any] | None = None, **kw: Any) -> JournalLoop:
        return JournalLoop(open_store or store_factory, **kw)

    return make


@pytest.fixture
def fresh_loops(store_factory: Callable[..., Any]) -> Callable[..., JournalLoop]:
    """For hypothesis tests: each call builds a loop on a journal of its own."""
    import tempfile

    kind = store_factory.kind  # type: ignore[attr-defined]
    made: list[tuple[JournalLoop, tempfile.TemporaryDirectory[str]]] = []

    def make(**kw: Any) -> JournalLoop:
        d = tempfile.TemporaryDirectory()
        if kind == "postgres":  # a schema of its own in the test's database
            factory = make_store_factory(kind, store_factory.where,  # type: ignore[attr-defined]
                                         schema=f"j{len(made)}")
        else:
            factory = make_store_factory(kind, d.name)
        loop = JournalLoop(factory, **kw)
        made.append((loop, d))
        return loop

    yield make  # type: ignore[misc]
    for loop, d in made:
        loop.store.close(commit=False)
        d.cleanup()
