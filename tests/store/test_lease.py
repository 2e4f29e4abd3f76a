"""One owner per session, enforced by the database: leases and fencing tokens.

Two real owners (two stores, two connections; a third process where a death is needed) on
one PostgreSQL database. An owner that stops renewing (here: ``renew=False``, as a process
paused with SIGSTOP) keeps its lease until it expires; then another takes it over, the
fencing token goes up, and every write of the old owner is refused whole in its own
transaction: no split brain, even though the old owner is alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from sessionkit import LimitOrder
from sessionkit.store import JournalLockedError, LeaseLostError, PostgresStore

ACCOUNT, DAY = "acct", "2026-05-04"


def order(cid: str) -> LimitOrder:
    return LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100)


def owner(url: str, name: str, **kw: object) -> PostgresStore:
    return PostgresStore(url, account=ACCOUNT, session_id=DAY, owner=name,  # type: ignore[arg-type]
                         **kw)


def leases(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT token, owner, took_over, acquired "
                            "FROM sessionkit.leases ORDER BY token").fetchall()


def intent_tokens(url: str) -> list[tuple[str, int]]:
    """(key, token of the commit that wrote it), in the order the journal took them."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT key, token FROM sessionkit.intents ORDER BY ord"
                            ).fetchall()


def test_a_paused_owner_whose_lease_was_taken_over_cannot_write(postgres_url):
    a = owner(postgres_url, "A", lease_ttl=0.5, renew=False)  # "paused": it never renews
    a.message_submitted(order("a-1"))
    a.record_intent("a-1", "order", "h")
    a.event_handled(1)
    a.commit()
    with pytest.raises(JournalLockedError, match="its lease is held by A .*fencing token 1"):
        owner(postgres_url, "B")  # held: refused at once
    b = owner(postgres_url, "B", acquire_timeout=30)  # a standby: waits for the expiry
    assert (b.token, b.incarnation) == (2, 2)
    assert [m.cid for m in b.messages()] == ["a-1"] and b.last_event_id == 1

    # the old owner wakes up and goes on as if nothing happened: refused, whole
    a.message_submitted(order("a-2"))
    a.record_intent("a-2", "order", "h")
    a.event_handled(2)
    with pytest.raises(LeaseLostError) as info:
        a.commit()
    err = info.value
    assert (err.account, err.session_id, err.token, err.new_token, err.new_owner) == (
        ACCOUNT, DAY, 1, 2, "B")
    assert "session acct/2026-05-04 was lost: this process held it with fencing token 1, " \
           "now held by B with fencing token 2" in str(err)
    assert "nothing of it was recorded" in str(err)
    # final: every later write, and the check before a send, is refused without asking
    with pytest.raises(LeaseLostError):
        a.commit()
    with pytest.raises(LeaseLostError):
        a.check_lease()
    a.close()  # its pending changes are dropped; it releases nothing of B's

    b.message_submitted(order("b-1"))
    b.record_intent("b-1", "order", "h")
    b.event_handled(5)
    b.commit()
    b.close()
    with owner(postgres_url, "C") as c:
        assert [m.cid for m in c.messages()] == ["a-1", "b-1"] and c.last_event_id == 5
        assert c.token == 3
    history = leases(postgres_url)
    assert [(t, o, how) for t, o, how, *_ in history] == [
        (1, "A", "new"), (2, "B", "expired"), (3, "C", "released")]
    # no split brain: what each owner wrote carries its token; A's refused write is not there
    assert intent_tokens(postgres_url) == [("a-1", 1), ("b-1", 2)]


def test_a_paused_owner_whose_lease_expired_unclaimed_goes_on(postgres_url):
    a = owner(postgres_url, "A", lease_ttl=0.3, renew=False)
    time.sleep(0.5)  # expired, but nobody took it: the token still says A
    a.check_lease()  # asks the database, which renews it
    a.event_handled(3)
    a.commit()
    with pytest.raises(JournalLockedError):
        owner(postgres_url, "B")
    a.close()
    with owner(postgres_url, "B") as b:
        assert b.last_event_id == 3


def test_the_renewing_thread_keeps_an_idle_owners_lease(postgres_url):
    a = owner(postgres_url, "A", lease_ttl=1.5)  # renewed every 0.5 s
    time.sleep(3.5)
    with pytest.raises(JournalLockedError, match="held by A"):
        owner(postgres_url, "B")
    a.close()
    owner(postgres_url, "B").close()


def test_an_owner_whose_connection_was_cut_is_taken_over_at_once_and_learns_it(postgres_url):
    a = owner(postgres_url, "A", lease_ttl=1.0)
    a.event_handled(1)
    a.commit()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (a._conn.info.backend_pid,))
    # the lease has not expired (its thread renews it) but its holder's connection is gone
    b = owner(postgres_url, "B", acquire_timeout=30)
    assert b.token == 2
    deadline = time.monotonic() + 30
    while a.lease.lost is None and time.monotonic() < deadline:
        time.sleep(0.05)  # A's renewing thread is refused at its next round
    with pytest.raises(LeaseLostError, match="now held by B with fencing token 2"):
        a.commit()  # nothing pending: refused all the same, before anything is sent
    a.close()
    b.close()
    assert [how for _, _, how, *_ in leases(postgres_url)] == ["new", "gone"]


_HOLDER = """
import sys, time
from sessionkit.store import PostgresStore
store = PostgresStore(sys.argv[1], account="acct", session_id="2026-05-04", owner="killed",
                      lease_ttl=600)
store.event_handled(7)
store.commit()
print("holding", flush=True)
time.sleep(600)
"""


def test_a_killed_owner_is_taken_over_without_waiting_for_its_lease(postgres_url):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, postgres_url],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"holding\n"
        with pytest.raises(JournalLockedError, match="held by killed"):
            owner(postgres_url, "B")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # its lease runs for 600 s more; the server sees its connection end
        with owner(postgres_url, "B", acquire_timeout=30) as b:
            assert (b.token, b.last_event_id) == (2, 7)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [(o, how) for _, o, how, *_ in leases(postgres_url)] == [
        ("killed", "new"), ("B", "gone")]


def test_owners_taking_turns_never_write_at_once(postgres_url):
    """Two owners that each write until refused, then wait to take the lease back: the
    journal holds every accepted write once, and the lease history shows no overlap."""
    accepted: list[tuple[str, int]] = []
    stores = {"A": owner(postgres_url, "A", lease_ttl=0.2, renew=False)}
    stores["B"] = None  # type: ignore[assignment]
    n, refused = 0, 0
    turn = "A"
    for _ in range(6):
        store = stores[turn]
        while True:
            n += 1
            store.event_handled(n)
            store.record_intent(f"{turn}-{n}", "write", "h")
            try:
                store.commit()
            except LeaseLostError:
                refused += 1
                store.close(commit=False)
                break
            accepted.append((turn, n))
            if n % 5 == 0:
                # the other owner takes over once this one's lease expired (it is "paused")
                other = "B" if turn == "A" else "A"
                stores[other] = owner(postgres_url, other, lease_ttl=0.2, renew=False,
                                      acquire_timeout=30)
        turn = "B" if turn == "A" else "A"
    stores[turn].close()
    assert refused == 6
    with owner(postgres_url, "C") as c:
        keys = [i.key for i in c.intents()]
        assert keys == [f"{o}-{k}" for o, k in accepted]  # the accepted writes, once each
        assert c.last_event_id == accepted[-1][1]
    history = leases(postgres_url)
    tokens = [t for t, *_ in history]
    assert tokens == list(range(1, len(tokens) + 1))
    written = intent_tokens(postgres_url)
    # in the order the journal took them, the tokens never fall: no owner wrote after the
    # next one took over; and each owner's accepted writes carry its own token
    assert [t for _, t in written] == sorted(t for _, t in written)
    owners = {t: o for t, o, *_ in history}
    assert all(key.startswith(owners[t] + "-") for key, t in written)


def test_an_owner_that_never_wrote_after_losing_its_lease_is_told_at_close(postgres_url):
    """Its renewing thread found the lease lost (it was taken over while the owner was
    paused, or its connection was cut), and the owner never wrote again: closing must not
    pass for a clean end. The loss is raised once, at close, after the connections are
    closed; an owner already told (a refused commit) closes quietly."""
    a = owner(postgres_url, "A", lease_ttl=1.0)
    a.event_handled(1)
    a.commit()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (a._conn.info.backend_pid,))
    b = owner(postgres_url, "B", acquire_timeout=30)
    deadline = time.monotonic() + 30
    while a.lease.lost is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.lease.lost is not None
    with pytest.raises(LeaseLostError, match="now held by B with fencing token 2"):
        a.close()
    assert a.closed
    a.close()  # told once: a second close is quiet
    b.close()
