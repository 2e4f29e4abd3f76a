"""A session whose journal lease was taken over stops acting and says why (PostgreSQL).

Through ``open_session(..., store=PostgresStore(...))`` on the memory adapter: another
process takes the session's lease over (here: the owner's database connection is cut, so
the lease is free at once, and a second store opens it). The owner's next write-ahead commit
is refused by the database; the session ends with one ``SessionFailedError`` whose cause is
the :class:`LeaseLostError` naming the session, its token and the new owner's; nothing it
submitted after the takeover reaches the exchange (each is reported "never sent"), and the
new owner holds what was journalled before.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import trio
import trio.testing

from sessionkit import LimitOrder, Request, SessionConfig
from sessionkit.runtime import ReconnectPolicy, SessionFailedError, open_session
from sessionkit.store import LeaseLostError, PostgresStore
from sessionkit.testing import ReferenceExchange

CFG = SessionConfig(ack_timeout=1000.0, ack_timeout_max=1000.0, cid_prefix="c")
ACCOUNT, DAY = "acct", "2026-05-04"


class Recording(ReferenceExchange):
    """Notes the client id of every request the exchange is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handle(self, msg: Any) -> None:
        if isinstance(msg, Request) and msg.cid is not None:
            self.seen.append(msg.cid)
        super().handle(msg)


def resting(i: int) -> LimitOrder:
    return LimitOrder(contract_id=1, side="buy", size=1, price_in_cents=10 + i)


def test_a_session_whose_lease_was_taken_over_stops_and_reports_it(parts, postgres_url):
    exchange = Recording()
    log = parts.Log()
    store = PostgresStore(postgres_url, account=ACCOUNT, session_id=DAY, owner="A",
                          renew=False)
    first: list[str] = []
    taken: list[PostgresStore] = []

    async def main() -> None:
        emb = parts.EmbeddedExchange(exchange)
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=store) as client:
            first.append(await client.submit(resting(0)))
            await trio.sleep(1)
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (store._conn.info.backend_pid,))
            taken.append(PostgresStore(postgres_url, account=ACCOUNT, session_id=DAY,
                                       owner="B", acquire_timeout=30, renew=False))
            for i in range(1, 4):
                client.submit_nowait(resting(i))
            await trio.sleep(100)

    with pytest.raises(SessionFailedError) as info:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    err = info.value
    assert not isinstance(err, BaseExceptionGroup)
    assert "the journal failed: LeaseLostError" in str(err)
    lost = err.__cause__
    assert isinstance(lost, LeaseLostError)
    assert (lost.token, lost.new_token, lost.new_owner) == (1, 2, "B")
    # the old owner acted no more: only what it journalled before the takeover was sent
    assert exchange.seen == first
    never = sorted(cid for cid, (_, why) in log.finished().items()
                   if why.startswith("never sent"))
    assert len(never) == 3 and first[0] not in never
    # the new owner holds the journalled order, to resend under its own cid
    b = taken[0]
    assert [m.cid for m in b.messages()] == first and b.recovery_report().resend == ()
    store.close()
    b.close()


def test_a_paused_owner_woken_after_a_takeover_does_not_reconnect(parts, postgres_url):
    """The owner's connection drops; before it reconnects the whole process stands still
    longer than its lease (a blocking sleep: a pause, as SIGSTOP or a long GC) and another
    process takes the lease. Woken, the owner asks the database before connecting: it does
    not connect again (which would push the new owner's connection off the exchange), sends
    nothing, and ends with the LeaseLostError."""
    exchange = Recording()
    log = parts.Log()
    store = PostgresStore(postgres_url, account=ACCOUNT, session_id=DAY, owner="A",
                          lease_ttl=0.5, renew=False)
    first: list[str] = []
    taken: list[PostgresStore] = []
    emb = parts.EmbeddedExchange(exchange)

    async def main() -> None:
        async with open_session(emb, log, account=ACCOUNT, config=CFG, store=store,
                                reconnect=ReconnectPolicy(initial=1.0, max=1.0)) as client:
            first.append(await client.submit(resting(0)))
            await trio.sleep(0.1)  # the exchange has it
            emb.drop()
            await trio.sleep(0.5)  # the client is waiting to reconnect
            time.sleep(1.0)  # the pause: nothing in this process runs; the lease expires
            taken.append(PostgresStore(postgres_url, account=ACCOUNT, session_id=DAY,
                                       owner="B", acquire_timeout=30, renew=False))
            await trio.sleep(100)

    with pytest.raises(SessionFailedError) as info:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    lost = info.value.__cause__
    assert isinstance(lost, LeaseLostError)
    assert (lost.new_token, lost.new_owner) == (2, "B")
    assert emb.attempts == 1  # it never connected again
    assert exchange.seen == first
    b = taken[0]
    assert [m.cid for m in b.messages()] == first  # the new owner's to resend
    store.close()
    b.close()
