"""A journal failing under a running session: the engine gets one clear exception, once.

Through ``open_session(..., store=SqliteStore(...))`` on the memory adapter: a
full disk (SQLite's ``max_page_count``; a real full file system is in
``tests/store/test_unwritable.py``) and an event id the journal cannot hold end
the session with one journal error naming the file (not a group, not a raw
SQLite error), the journal keeps what it had committed, and the next process
opened on it resumes: no crash loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from sessionkit import JsonCodec, LimitOrder, SessionConfig, Status
from sessionkit.runtime import SessionFailedError, open_session
from sessionkit.store import JournalFull, JournalValueError, SqliteStore
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
    err = journal_error(info, JournalFull)
    assert str(path) in str(err) and "is full" in str(err) and "free space" in str(err)
    assert [m.cid for m in store.messages() if m.cid in first] == first  # still journalled
    # what the failed commit held was never sent, and the store can say which requests
    assert store.not_durable() and first[0] not in store.not_durable()
    with pytest.raises(JournalFull):
        store.close()  # what was never committed cannot be now: said again, and released

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
            return attrs.evolve(msg, event_id=1 << 63)
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
