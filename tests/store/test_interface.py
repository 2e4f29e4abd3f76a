"""The SessionStore interface: the in-memory and the SQLite journal pass the same tests."""

from __future__ import annotations

import pytest

from sessionkit import Batch, CancelOrder, GetContracts, Handoff, LimitOrder, MessageState, Outcome
from sessionkit.store import (
    IdempotencyConflictError,
    IntentRecord,
    JobRecord,
    JournalError,
    JournalLockedError,
    JournalMismatchError,
    SessionStore,
)


def order(cid: str, side: str = "buy") -> LimitOrder:
    return LimitOrder(cid=cid, contract_id=1, side=side, size=1, price_in_cents=100)


def test_a_fresh_journal_has_nothing_to_resume(store_factory):
    store = store_factory()
    assert isinstance(store, SessionStore)
    assert store.load_handoff() is None
    report = store.recovery_report()
    assert report.fresh and report.incarnation == 1 and report.last_event_id == 0
    assert (report.account, report.session_id) == ("acct", "2026-05-04")


def test_committed_state_survives_a_restart_and_becomes_a_handoff(store_factory):
    store = store_factory()
    store.run_changed("run-1")
    store.message_submitted(order("c-1"))
    store.message_submitted(order("c-2", "sell"))
    store.message_submitted(GetContracts(cid="c-3"))
    store.message_sent("c-1")
    store.message_sent("c-2")
    store.message_acked("c-1", 11, "run-1")
    store.message_acked("c-3", None, None)  # answered without a mid: ACKED, nothing to replay
    store.event_handled(5)
    store.commit()
    store.close()

    store = store_factory()
    assert store.incarnation == 2
    handoff = store.load_handoff("c")
    assert isinstance(handoff, Handoff)
    assert (handoff.run_id, handoff.last_event_id) == ("run-1", 5)
    assert (handoff.cid_prefix, handoff.next_cid) == ("c.2", 1)
    assert [(t.request.cid, t.state, t.mid, t.run_id) for t in handoff.tracked] == [
        ("c-1", MessageState.OPEN, 11, "run-1"),
        ("c-2", MessageState.SENT, None, None),
        ("c-3", MessageState.ACKED, None, "run-1"),
    ]
    assert handoff.tracked[0].request == order("c-1")
    assert [m.attempts for m in store.messages()] == [1, 1, 0]
    assert store.awaiting_response() == [("c-1", 11)]
    report = store.recovery_report()
    assert report.resend == ("c-2",)
    assert report.replay == (("c-1", 11),)
    assert report.last_event_id == 5 and not report.fresh


def test_what_was_not_committed_is_lost_in_a_crash(store_factory):
    store = store_factory()
    store.message_submitted(order("c-1"))
    store.event_handled(3)
    store.commit()
    store.message_acked("c-1", 7, "run-1")
    store.message_submitted(order("c-2"))
    store.event_handled(4)
    assert store.pending
    store.close(commit=False)

    store = store_factory()
    assert store.last_event_id == 3
    assert [(m.cid, m.state, m.mid) for m in store.messages()] == [
        ("c-1", MessageState.QUEUED, None)]


def test_a_finished_message_leaves_the_journal(store_factory):
    store = store_factory()
    store.message_submitted(order("c-1"))
    store.message_submitted(order("c-2"))
    store.commit()
    store.message_acked("c-1", 1, "r")
    store.message_finished("c-1", Outcome.DONE)
    store.message_finished("c-2", Outcome.REJECTED, "status 404")
    store.message_submitted(order("c-3"))  # submitted and final within one commit
    store.message_finished("c-3", Outcome.UNKNOWN)
    store.commit()
    store.close()
    assert store_factory().messages() == []


def test_a_batch_is_journalled_with_its_messages(store_factory):
    store = store_factory()
    batch = Batch(cid="b-1", messages=(order("c-1"), CancelOrder(cid="c-2", order_mid=4)))
    store.message_submitted(batch)
    store.message_sent("b-1")
    store.commit()
    store.close()

    store = store_factory()
    msgs = store.messages()
    assert [(m.cid, m.parent, m.state, m.attempts) for m in msgs] == [
        ("b-1", None, MessageState.SENT, 1),
        ("c-1", "b-1", MessageState.SENT, 1),
        ("c-2", "b-1", MessageState.SENT, 1),
    ]
    assert msgs[0].request == batch
    assert store.recovery_report().resend == ("b-1",)  # the messages go again inside it


def test_acks_and_sends_of_unknown_or_final_messages_are_ignored(store_factory):
    store = store_factory()
    store.message_sent("nope")
    store.message_acked("nope", 1, None)
    store.message_finished("nope", Outcome.DONE)
    store.message_submitted(order("c-1"))
    store.message_acked("c-1", 1, "r")
    store.message_acked("c-1", 2, "r")  # a duplicate ACK changes nothing
    store.message_sent("c-1")  # a resend after the ACK does not count
    assert [(m.mid, m.attempts) for m in store.messages()] == [(1, 0)]


def test_the_cursor_only_moves_forward(store_factory):
    store = store_factory()
    store.event_handled(9)
    store.event_handled(4)
    assert store.last_event_id == 9


def test_bad_submissions_name_what_is_wrong(store_factory):
    store = store_factory()
    with pytest.raises(ValueError, match="cid=None"):
        store.message_submitted(order(None))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Request"):
        store.message_submitted("c-1")  # type: ignore[arg-type]
    store.message_submitted(order("c-1"))
    with pytest.raises(ValueError, match="'c-1' is already in the journal"):
        store.message_submitted(order("c-1"))
    with pytest.raises(ValueError, match="same cid twice"):
        store.message_submitted(Batch(cid="b", messages=(order("x"), order("x"))))
    with pytest.raises(ValueError, match="'c-1' is already"):
        store.message_submitted(Batch(cid="b", messages=(order("c-1"),)))
    assert [m.cid for m in store.messages()] == ["c-1"]  # nothing half-recorded


def test_idempotency_keys_keep_their_operation_and_outcome(store_factory):
    store = store_factory()
    assert store.record_intent("order-1", "limit_order", "h1", cid="c-1") is None
    assert store.record_intent("order-2", "create_job", "h2") is None
    assert store.record_intent("order-1", "limit_order", "h1") == IntentRecord(
        "order-1", "limit_order", "h1", "c-1", None)
    with pytest.raises(IdempotencyConflictError, match="'order-1' was recorded for limit_order h1"):
        store.record_intent("order-1", "limit_order", "other")
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        store.record_intent("", "x", "h")
    with pytest.raises(ValueError, match="cid 'c-1' already carries the open intent 'order-1'"):
        store.record_intent("order-9", "limit_order", "h9", cid="c-1")
    store.message_submitted(order("c-1"))
    store.commit()
    store.message_finished("c-1", Outcome.DONE)  # resolves the intent that names c-1
    store.resolve_intent("order-2", "created")
    with pytest.raises(ValueError, match="no intent with key 'order-3'"):
        store.resolve_intent("order-3", "x")
    store.commit()
    store.close()

    store = store_factory()
    assert store.intents() == [IntentRecord("order-1", "limit_order", "h1", "c-1", "done"),
                               IntentRecord("order-2", "create_job", "h2", None, "created")]
    assert store.recovery_report().open_intents == ()


def test_open_intents_are_reported_after_a_restart(store_factory):
    store = store_factory()
    store.record_intent("k", "place", "h", cid="c-1")
    store.message_submitted(order("c-1"))
    store.commit()
    store.close(commit=False)
    store = store_factory()
    assert store.recovery_report().open_intents == ("k",)
    store.message_finished("c-1", Outcome.REJECTED)
    assert store.intent("k").outcome == "rejected"


def test_async_jobs_are_journalled_until_finished(store_factory):
    store = store_factory()
    store.add_job("job-1", "prepare")
    store.add_job("job-2", "prepare")
    with pytest.raises(ValueError, match="'job-1' is already"):
        store.add_job("job-1", "prepare")
    store.commit()
    store.finish_job("job-1")
    store.add_job("job-3", "export")
    store.finish_job("job-3")  # added and finished within one commit
    with pytest.raises(ValueError, match="no job 'job-9'"):
        store.finish_job("job-9")
    store.commit()
    store.close()
    store = store_factory()
    assert store.jobs() == [JobRecord("job-2", "prepare")]
    assert store.recovery_report().jobs == ("job-2",)


def test_one_writer_per_session(store_factory):
    store = store_factory()
    with pytest.raises(JournalLockedError, match="one writer at a time"):
        store_factory()
    store.close()
    store_factory().close()


def test_a_journal_of_another_session_is_refused(store_factory):
    if store_factory.kind == "postgres":
        # one database holds the journal of every session, keyed by account and session id:
        # another key opens that session's own journal, there is nothing to mismatch
        with store_factory() as store:
            store.event_handled(3)
        with store_factory(account="other") as other:
            assert other.fresh and other.last_event_id == 0
            other.event_handled(9)
        with store_factory() as store:
            assert (store.last_event_id, store.incarnation) == (3, 2)
        return
    store_factory().close()
    with pytest.raises(JournalMismatchError, match="belongs to account 'acct' session "
                                                   "'2026-05-04', not account 'other'"):
        store_factory(account="other")
    with pytest.raises(JournalMismatchError, match="not account 'acct' session '2026-05-05'"):
        store_factory(session_id="2026-05-05")


def test_a_closed_store_refuses_writes(store_factory):
    store = store_factory()
    store.close()
    with pytest.raises(JournalError, match="closed"):
        store.message_submitted(order("c-1"))
    with pytest.raises(JournalError, match="closed"):
        store.commit()
    store.close()  # idempotent


def test_a_store_is_a_context_manager_that_commits(store_factory):
    with store_factory() as store:
        store.event_handled(3)
    assert store.closed
    with store_factory() as store:
        assert store.last_event_id == 3
