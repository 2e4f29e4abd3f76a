"""Values a journal cannot hold are refused at the call, naming field and value; it goes on.

An event id or a MID of 2**63 and more is valid JSON but not a SQLite INTEGER.
Handed to a journal it used to raise a raw ``OverflowError`` at the commit and
leave the transaction open and the value pending: every later commit failed,
and the process restarted into the same failure. Now the call that hands the
value over raises :class:`JournalValueError` before recording anything; both
stores refuse the same values; the next commit and a restart work.
"""

from __future__ import annotations

import sqlite3

import pytest
from msgspec.structs import force_setattr

from sessionkit import Batch, LimitOrder, LoginAck, Outcome, SessionConfig, Status
from sessionkit._events import MessageReceived
from sessionkit.store import (
    JournalError,
    JournalValueError,
    JournalWriteError,
    Recorder,
    SqliteStore,
)

BIG = 1 << 63  # one past SQLite's largest INTEGER
HUGE = (1 << 64) - 1


def order(cid: str, **kw: object) -> LimitOrder:
    """A limit order with these fields, made without the constructor's checks: the request
    constructors refuse such values already; the store must refuse them on its own too
    (a request of a subclass, or read from elsewhere, reaches it unchecked)."""
    made = LimitOrder(cid="c-0", contract_id=1, size=1, price_in_cents=100)
    for name, value in {"cid": cid, **kw}.items():
        force_setattr(made, name, value)
    return made


@pytest.fixture
def journal(store_factory):
    """A journal holding c-1 (sent), a cursor at 4, then reopened: (store, reopen)."""
    store = store_factory()
    store.message_submitted(order("c-1"))
    store.message_sent("c-1")
    store.event_handled(4)
    store.commit()

    current = [store]

    def reopen():
        current[0].close(commit=False)
        current[0] = store_factory()
        return current[0]

    yield store, reopen
    current[0].close(commit=False)


def refused(call, field: str, value: object) -> JournalValueError:
    with pytest.raises(JournalValueError) as info:
        call()
    err = info.value
    assert (err.field, err.value) == (field, value)
    assert f"cannot hold {field}={value!r}" in str(err)
    assert isinstance(err, ValueError)
    return err


@pytest.mark.parametrize("event_id", [BIG, HUGE, -(1 << 63) - 1])
def test_an_event_id_beyond_sqlite_integers_is_refused_and_the_journal_goes_on(journal,
                                                                              event_id):
    store, reopen = journal
    err = refused(lambda: store.event_handled(event_id), "event_id", event_id)
    assert "from -2**63 to 2**63-1 (SQLite INTEGER)" in str(err)
    if store.path is not None:
        assert store.path in str(err)
    assert store.last_event_id == 4 and not store.pending  # nothing was recorded
    store.event_handled(5)
    store.commit()  # the next commit works
    store = reopen()  # and so does a restart
    assert store.last_event_id == 5
    store.event_handled(6)
    store.commit()
    assert reopen().last_event_id == 6


def test_a_mid_beyond_sqlite_integers_is_refused_and_the_request_stays_sent(journal):
    store, reopen = journal
    refused(lambda: store.message_acked("c-1", BIG, "run-1"), "mid", BIG)
    assert store.message("c-1").state.value == "sent" and not store.pending
    store.message_acked("c-1", 17, "run-1")
    store.commit()
    assert reopen().message("c-1").mid == 17


def test_text_that_is_not_unicode_is_refused(journal):
    store, reopen = journal
    bad = "run-\ud800"
    err = refused(lambda: store.run_changed(bad), "run_id", bad)
    assert "not valid Unicode (surrogates not allowed at index 4)" in str(err)
    refused(lambda: store.record_intent("k\udfff", "op", "h"), "key", "k\udfff")
    refused(lambda: store.add_job("j", "kind\ud800"), "kind", "kind\ud800")
    refused(lambda: store.message_submitted(order("c-\ud800")), "cid", "c-\ud800")
    assert not store.pending
    store.run_changed("run-2")
    store.commit()
    assert reopen().run_id == "run-2"


def test_a_request_with_a_field_json_cannot_carry_is_refused_whole(journal):
    store, reopen = journal
    batch = Batch(cid="b-1", messages=(order("c-2"), order("c-3", contract_id=1 << 64)))
    err = refused(lambda: store.message_submitted(batch),
                  "batch 'b-1' field messages[1].contract_id", 1 << 64)
    assert "from -2**63 to 2**64-1" in str(err)
    assert [m.cid for m in store.messages()] == ["c-1"] and not store.pending  # no half batch
    # the largest id the protocol has (docs/protocol.md "Ranges") is kept and read back
    store.message_submitted(order("c-4", contract_id=2**63 - 1))
    store.commit()
    assert reopen().message("c-4").request.contract_id == 2**63 - 1


def test_a_recorder_refuses_an_absurd_event_id_and_keeps_what_the_batch_recorded(journal):
    """Through the recorder, as the runtime records a drained batch."""
    store, reopen = journal
    recorder = Recorder(store)
    recorder.handled(MessageReceived(Status(cid="c-1", mid=17, run_id="run-1", event_id=5),
                                     order("c-1")))
    with pytest.raises(JournalValueError, match=r"cannot hold event_id=9223372036854775808"):
        recorder.handled(MessageReceived(Status(cid="c-9", mid=18, run_id="run-1",
                                                event_id=BIG), None))
    recorder.commit()  # the events before it commit
    store = reopen()
    assert store.last_event_id == 5 and store.message("c-1").mid == 17


class _Raising:
    """A connection whose ``fail_at``-th statement raises ``exc`` (not a sqlite3.Error)."""

    def __init__(self, conn: sqlite3.Connection, fail_at: int, exc: BaseException) -> None:
        self.conn, self.fail_at, self.exc, self.calls = conn, fail_at, exc, 0

    def execute(self, sql: str, *args: object) -> object:
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.exc
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> object:
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.exc
        return self.conn.executemany(sql, *args)


@pytest.mark.parametrize("exc", [OverflowError("Python int too large to convert to SQLite "
                                               "INTEGER"),
                                 UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates")])
def test_whatever_fails_inside_a_commit_leaves_no_transaction_open(tmp_path, exc):
    """The wedge itself: a failure that is not a sqlite3.Error used to leave BEGIN open, so
    every later commit failed with "cannot start a transaction within a transaction"."""
    store = SqliteStore(tmp_path / "j", account="acct", session_id="2026-05-04")
    store.message_submitted(order("c-1"))
    store.event_handled(3)
    real = store._conn
    store._conn = _Raising(real, 2, exc)
    with pytest.raises(JournalWriteError, match=f"commit failed and was rolled back: "
                                                f"{type(exc).__name__}"):
        store.commit()
    store._conn = real
    assert not real.in_transaction and store.pending
    store.commit()  # the same changes, whole
    store.close()
    with SqliteStore(tmp_path / "j", account="acct", session_id="2026-05-04") as again:
        assert again.last_event_id == 3 and [m.cid for m in again.messages()] == ["c-1"]


def test_check_submitted_refuses_what_message_submitted_would_and_records_nothing(journal):
    """What the runtime asks before the session takes a request (Recorder.check): a request
    the journal refuses is never taken, so never sent (tests/runtime/test_journal_failures.py)."""
    store, reopen = journal
    store.check_submitted(order("c-2"))
    unnamed = LimitOrder(contract_id=1, size=1, price_in_cents=100)  # the session names it
    store.check_submitted(unnamed)
    assert [m.cid for m in store.messages()] == ["c-1"] and not store.pending
    bad = order("c-2", price_in_cents=1 << 64)
    force_setattr(bad, "cid", None)
    refused(lambda: store.check_submitted(bad), "limit_order field price_in_cents", 1 << 64)
    with pytest.raises(ValueError, match="cid 'c-1' is already in the journal"):
        store.check_submitted(order("c-1"))
    batch = Batch(cid="b-1", messages=(order("c-2"), order("c-3", contract_id=1 << 64)))
    refused(lambda: store.check_submitted(batch), "batch 'b-1' field messages[1].contract_id",
            1 << 64)
    assert [m.cid for m in store.messages()] == ["c-1"] and not store.pending
    store.close()
    with pytest.raises(JournalError, match="the store is closed"):
        store.check_submitted(order("c-2"))


def test_a_recorder_reports_each_request_a_failed_commit_held_never_sent_and_forgets_it(
        journal):
    """After a failed commit (here: never made), Recorder.never_sent gives one UNKNOWN "never
    sent" per request the journal does not hold (a batch and its messages); handling each
    drops it, so no later commit journals it."""
    store, reopen = journal
    recorder = Recorder(store)
    session = recorder.new_session(SessionConfig(cid_prefix="c"))
    session.login(0.0, account="acct")
    session.receive_message(LoginAck(run_id="run-2", last_event_id=4), 0.0)
    cid = session.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100), 0.0)
    recorder.submitted(LimitOrder(contract_id=1, size=1, price_in_cents=100), cid)
    requests = [LimitOrder(contract_id=1, size=1, price_in_cents=p) for p in (5, 6)]
    tickets = session.submit_batch(requests, 0.0)
    recorder.submitted_batch(requests, tickets)
    assert store.not_durable() == [cid, tickets[0].cid, *tickets[0].cids]
    events = recorder.never_sent(session, "JournalFullError: test")
    assert [(e.cid, e.outcome) for e in events] == [
        (c, Outcome.NOT_SENT) for c in (cid, tickets[0].cid, *tickets[0].cids)]
    assert all(e.reason == "never sent: the journal could not record it (JournalFullError: test); "
                          "the exchange never received it" for e in events)
    for e in events:
        recorder.handled(e)
    assert store.not_durable() == [] and [m.cid for m in store.messages()] == ["c-1"]
    store.commit()
    assert [m.cid for m in reopen().messages()] == ["c-1"]


def test_a_request_the_session_took_but_the_journal_refused_is_never_sent(journal):
    """A recorder whose submitted() failed lets nothing more reach the transport."""
    store, _ = journal
    recorder = Recorder(store)
    with pytest.raises(JournalValueError):
        recorder.submitted(order("c-2", price_in_cents=1 << 64), "c-2")
    with pytest.raises(JournalError, match="request 'c-2' was taken by the session but the "
                                           "journal refused it"):
        recorder.before_send([])
