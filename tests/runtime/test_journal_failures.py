"""A journal failing under a running session: the engine gets one clear exception, once.

Through ``open_session(..., store=SqliteStore(...))`` on the memory adapter: a
full disk (SQLite's ``max_page_count``; a real full file system is in
``tests/store/test_unwritable.py``) and an event id the journal cannot hold end
the session with one journal error naming the file (not a group, not a raw
SQLite error), the journal keeps what it had committed, and the next process
opened on it resumes: no crash loop. The requests the failed commit held were
never sent: each is reported once, UNKNOWN "never sent", and never sent later.
A request the journal refuses at submit is refused by the submit: never taken,
never sent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from msgspec.structs import force_setattr, replace

from sessionkit import GetBookState, JsonCodec, LimitOrder, SessionConfig, Status
from sessionkit.runtime import SessionFailedError, open_session
from sessionkit.store import (
    JournalError,
    JournalFullError,
    JournalValueError,
    MemoryStore,
    SqliteStore,
)
from sessionkit.testing import ReferenceExchange

CFG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")
ACCOUNT, DAY = "acct", "2026-05-04"


def resting(i: int) -> LimitOrder:
    return LimitOrder(contract_id=1, side="buy", size=1, price_in_cents=10 + i)


def crossing() -> LimitOrder:
    return LimitOrder(contract_id=1, side="sell", size=1, price_in_cents=10)


def run(main: Any) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def journal_error(exc_info: Any, kind: type[BaseException]) -> BaseException:
    """The one exception out of open_session (a SessionFailedError naming the journal as
    the part that failed, not a group), and the journal's own error as its cause."""
    err = exc_info.value
    assert not isinstance(err, BaseExceptionGroup), f"a group, not one exception: {err!r}"
    assert "the journal failed" in str(err)
    assert isinstance(err.__cause__, kind), repr(err.__cause__)
    return err.__cause__


def test_a_full_disk_ends_the_session_with_one_journal_full_and_a_restart_resumes(
        parts: Any, tmp_path: Path) -> None:
    path = tmp_path / "acct.journal"
    exchange = ReferenceExchange()
    log = parts.Log()
    store = SqliteStore(path, account=ACCOUNT, session_id=DAY)
    first: list[str] = []

    async def main() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=store) as client:
            first.append(await client.submit(resting(0)))
            await trio.sleep(1)
            # the journal may not grow any more: the next write-ahead commit fails
            pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
            store._conn.execute(f"PRAGMA max_page_count = {pages}")
            for i in range(1, 300):
                await client.submit(resting(i))

    with pytest.raises(SessionFailedError) as info:
        run(main)
    err = journal_error(info, JournalFullError)
    assert str(path) in str(err) and "is full" in str(err) and "free space" in str(err)
    assert [m.cid for m in store.messages() if m.cid in first] == first  # still journalled
    # what the failed commit held was never sent: each is reported once, "never sent", and
    # the journal does not hold it (was: nothing told; tests below)
    never = [cid for cid, (_, why) in log.finished().items() if why.startswith("never sent")]
    assert never and first[0] not in never and not store.not_durable()
    store.close()  # what is left to commit (the cursor...) needs no room: no wedge

    # the next process on the same journal (the disk has room again) carries the order on
    again = SqliteStore(path, account=ACCOUNT, session_id=DAY)
    log2 = parts.Log()

    async def restart() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log2, account=ACCOUNT, config=CFG, store=again) as client:
            await client.submit(crossing())
            with trio.fail_after(100):
                while first[0] not in log2.finished():
                    await trio.sleep(0.5)

    run(restart)
    assert log2.finished()[first[0]][0] == "done"
    assert again.recovery_report().incarnation == 2
    assert not {cid for cid, _, _ in exchange.executions} & set(never)
    again.close()


class AbsurdIds:
    """A codec that decodes one status with event id 2**63 (valid JSON; a codec may allow it)."""

    name = "json-absurd"

    def __init__(self) -> None:
        self.inner = JsonCodec()
        self.max_frame_size = self.inner.max_frame_size
        self.armed = True

    def encode(self, msg: Any) -> bytes:
        return self.inner.encode(msg)

    def decode(self, frame: bytes) -> Any:
        msg = self.inner.decode(frame)
        if self.armed and isinstance(msg, Status) and msg.event_id is not None:
            self.armed = False
            return replace(msg, event_id=1 << 63)
        return msg


def test_an_event_id_the_journal_cannot_hold_is_one_clear_error_and_the_journal_goes_on(
        parts: Any, tmp_path: Path) -> None:
    path = tmp_path / "acct.journal"
    exchange = ReferenceExchange()
    store = SqliteStore(path, account=ACCOUNT, session_id=DAY)

    async def main() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, parts.Log(), account=ACCOUNT, config=CFG, store=store,
                                codec=AbsurdIds()) as client:
            await client.submit(resting(0))
            await trio.sleep(10)

    with pytest.raises(SessionFailedError) as info:
        run(main)
    err = journal_error(info, JournalValueError)
    assert str(path) in str(err) and "cannot hold event_id=9223372036854775808" in str(err)
    store.close()  # the commit that used to wedge on this value works
    again = SqliteStore(path, account=ACCOUNT, session_id=DAY)
    log = parts.Log()

    async def restart() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=again) as client:
            cid = await client.submit(resting(1))
            with trio.fail_after(100):
                while not any(item[1] == cid for item in log.of("status")):
                    await trio.sleep(0.5)

    run(restart)
    assert again.last_event_id > 0
    again.close()


def fill_the_disk(store: SqliteStore) -> None:
    """From now on the journal may not grow: the next commit that writes fails as on a
    full disk (SQLite's max_page_count, this connection only: a store opened again has
    room)."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_requests_a_failed_commit_held_are_reported_never_sent_once_and_never_sent(
        parts: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Was: the requests submitted since the last commit were in no journal, never sent,
    and never reported (the engine waited for them for ever)."""
    path = tmp_path / "acct.journal"
    exchange = ReferenceExchange()
    log = parts.Log()
    store = SqliteStore(path, account=ACCOUNT, session_id=DAY)
    sent: list[str] = []
    lost: list[str] = []
    batches: list[str] = []

    async def main() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=store) as client:
            sent.append(await client.submit(resting(0)))
            with trio.fail_after(100):
                while not log.of("status"):
                    await trio.sleep(0.5)
            fill_the_disk(store)
            # taken by the session and recorded, not yet committed: the owner's next
            # write-ahead commit fails before it sends them
            lost.append(client.submit_nowait(GetBookState(contract_id=1)))
            for i in range(1, 300):  # enough that the commit needs pages the disk lacks
                lost.append(client.submit_nowait(resting(i)))
            for ticket in client.submit_batch_nowait([resting(2), resting(3)]):
                lost.extend(ticket.cids)
                batches.append(ticket.cid)
            await trio.sleep(10)

    caplog.set_level(logging.DEBUG, logger="sessionkit")
    with pytest.raises(SessionFailedError) as info:
        run(main)
    journal_error(info, JournalFullError)
    finished = log.finished()  # (it also checks that no request is reported twice)
    assert set(finished) == set(lost + batches)  # the batch itself is reported too
    for cid in lost + batches:
        outcome, why = finished[cid]
        assert outcome == "not_sent"
        assert why.startswith(f"never sent: the journal could not record it (JournalFullError: "
                              f"journal {path}: "), why
        assert why.endswith("the exchange never received it")
    assert sent[0] not in finished  # it was journalled and sent: the next process has it
    # nothing of them reached the exchange, and the journal does not hold them
    executed = {cid for cid, _, _ in exchange.executions}
    assert sent[0] in executed and not executed & set(lost)
    assert not store.not_durable()
    assert not {m.cid for m in store.messages()} & set(lost + batches)
    # the failure is one error line naming the journal, without a traceback
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in errors] == ["the session failed"], errors
    assert "JournalFullError: journal " in errors[0].getMessage()
    assert errors[0].exc_info is None
    store.close()

    # the next process on the journal (room again) carries the one sent order on, and
    # sends none of those the engine was told were never sent
    again = SqliteStore(path, account=ACCOUNT, session_id=DAY)
    assert [m.cid for m in again.messages()] == sent
    log2 = parts.Log()

    async def restart() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log2, account=ACCOUNT, config=CFG, store=again) as client:
            await client.submit(crossing())
            with trio.fail_after(100):
                while sent[0] not in log2.finished():
                    await trio.sleep(0.5)

    run(restart)
    assert log2.finished()[sent[0]][0] == "done"
    assert not {cid for cid, _, _ in exchange.executions} & set(lost)
    again.close()


def forged(**fields: Any) -> LimitOrder:
    """A LimitOrder made past its constructor's checks (as a buggy caller could)."""
    made = resting(0)
    for name, value in fields.items():
        force_setattr(made, name, value)
    return made


@pytest.mark.parametrize("batch", [False, True], ids=["submit", "submit_batch"])
def test_a_request_the_journal_refuses_is_refused_by_the_submit_never_taken_nor_sent(
        parts: Any, tmp_path: Path, batch: bool) -> None:
    """Was: the session took the request, then the journal refused it: the submit raised,
    yet the request stayed tracked (and queued for the transport without being journalled,
    or resent until it ended UNKNOWN)."""
    path = tmp_path / "acct.journal"
    exchange = ReferenceExchange()
    log = parts.Log()
    store = SqliteStore(path, account=ACCOUNT, session_id=DAY)
    bad = forged(price_in_cents=1 << 64)  # more than a journal (and JSON) can hold

    async def main() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=store) as client:
            before = client.statistics()
            with pytest.raises(JournalValueError) as info:
                if batch:
                    await client.submit_batch([resting(1), bad])
                else:
                    await client.submit(bad)
            assert "price_in_cents" in str(info.value) and str(1 << 64) in str(info.value)
            after = client.statistics()
            assert (after.submitted, after.in_flight) == (before.submitted, before.in_flight)
            assert not list(client.session.tracked())
            # the session goes on: a good order is taken, journalled, sent and ACKed
            good = await client.submit(resting(2))
            with trio.fail_after(100):
                while not any(item[1] == good for item in log.of("status")):
                    await trio.sleep(0.5)
            await trio.sleep(2000)  # past every ACK timeout: nothing else is reported

    run(main)
    assert len(exchange.executions) == 1  # the good order only
    assert set(log.finished()) <= {exchange.executions[0][0]}
    assert [m.request.price_in_cents for m in store.messages()] == [12]
    store.close()


class RefusingStore(MemoryStore):
    """A store of one's own whose recording fails although its check let the request
    through (a bug of its own): the session has taken a request the journal does not hold."""

    refuse = False

    def message_submitted(self, request: Any, **kw: Any) -> None:
        if self.refuse:
            raise JournalError(None, "cannot record it (test)")
        super().message_submitted(request, **kw)


def test_a_request_taken_but_not_journalled_is_never_sent_the_session_ends(
        parts: Any) -> None:
    exchange = ReferenceExchange()
    log = parts.Log()
    store = RefusingStore(ACCOUNT, DAY)

    async def main() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=store) as client:
            await client.submit(resting(0))
            with trio.fail_after(100):
                while not log.of("status"):
                    await trio.sleep(0.5)
            store.refuse = True
            with pytest.raises(JournalError, match="cannot record it"):
                client.submit_nowait(resting(1))
            await trio.sleep(10)

    with pytest.raises(SessionFailedError) as info:
        run(main)
    err = info.value
    assert "the journal failed" in str(err) and "was taken by the session but the journal " \
                                                 "refused it" in str(err)
    assert [c for c, _, _ in exchange.executions] == ["c-1"]  # c-2 never went out
    assert "c-2" not in log.finished()  # the submit's error was its one report
