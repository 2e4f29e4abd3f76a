"""Schema versions and migrations of the SQLite journal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from sessionkit import LimitOrder, MessageState
from sessionkit._codec import unstructure
from sessionkit.store import SCHEMA_VERSION, JournalCorruptError, JournalError, SqliteStore
from sessionkit.store._schema import MIGRATIONS, REQUIRED_TABLES


def make_v1(path: Path) -> None:
    """A journal as the first schema version wrote it, with a session in progress."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO session (id, account, session_id, journal_id, created, run_id, "
                 "last_event_id, incarnation, next_seq) VALUES "
                 "(1, 'acct', '2026-05-04', 'abcd', '2026-05-04T08:00:00+00:00', 'run-1', 42, "
                 "3, 3)")
    for seq, (cid, state, mid) in enumerate([("c-1", "open", 17), ("c-2", "sent", None)], 1):
        req = LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100)
        conn.execute("INSERT INTO messages (cid, seq, type, payload, state, mid, parent, run_id) "
                     "VALUES (?, ?, 'limit_order', ?, ?, ?, NULL, ?)",
                     (cid, seq, msgspec.json.encode(unstructure(req)).decode(), state, mid,
                      "run-1" if mid else None))
    conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def test_each_migration_step_creates_the_tables_of_its_version(tmp_path):
    path = tmp_path / "j"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, script in enumerate(MIGRATIONS, 1):
        conn.executescript(script)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert names == REQUIRED_TABLES[version]
    conn.close()
    assert SCHEMA_VERSION == len(MIGRATIONS) == max(REQUIRED_TABLES)


def test_a_v1_journal_is_migrated_to_the_current_version_keeping_its_session(tmp_path):
    path = tmp_path / "j"
    make_v1(path)
    with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
        assert store.incarnation == 4
        assert (store.run_id, store.last_event_id, store.journal_id) == ("run-1", 42, "abcd")
        assert [(m.cid, m.state, m.mid, m.attempts) for m in store.messages()] == [
            ("c-1", MessageState.OPEN, 17, 0), ("c-2", MessageState.SENT, None, 0)]
        handoff = store.load_handoff("c")
        assert handoff is not None and handoff.cid_prefix == "c.4"
        # the tables of version 2 work
        store.record_intent("k", "op", "h", cid="c-2")
        store.add_job("j", "prepare")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert tables(path) == REQUIRED_TABLES[SCHEMA_VERSION]
    with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
        assert store.recovery_report().open_intents == ("k",)
        assert [j.job_id for j in store.jobs()] == ["j"]


def test_a_failed_migration_leaves_the_journal_at_its_version(tmp_path, monkeypatch):
    path = tmp_path / "j"
    make_v1(path)
    import sessionkit.store._sqlite as mod

    monkeypatch.setattr(mod, "MIGRATIONS", (MIGRATIONS[0], MIGRATIONS[1] + ";\nBOGUS SQL"))
    with pytest.raises(JournalError, match=r"journal .*/j: migrating schema version 1 to 2 "
                                           r"failed: near \"BOGUS\": syntax error; the "
                                           r"journal is left at version 1"):
        SqliteStore(path, account="acct", session_id="2026-05-04")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    assert tables(path) == REQUIRED_TABLES[1]


def test_a_v2_journal_is_migrated_to_v3_and_then_keeps_the_runs_left(tmp_path):
    path = tmp_path / "j"
    make_v1(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[1])
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
        assert (store.run_id, store.last_event_id) == ("run-1", 42)
        assert store.old_runs == ()  # version 2 did not keep them: none known
        handoff = store.load_handoff("c")
        assert handoff is not None and handoff.old_runs == ()
        store.run_changed("run-2")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
        assert store.run_id == "run-2"
        handoff = store.load_handoff("c")
        assert handoff is not None and handoff.old_runs == ("run-1",)


def test_runs_left_that_cannot_be_read_back_are_a_damaged_journal(tmp_path):
    path = tmp_path / "j"
    with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
        store.run_changed("run-1")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE session SET old_runs = '[1, 2]' WHERE id = 1")
    conn.close()
    with pytest.raises(JournalCorruptError, match=r"its session row's run ids left "
                                                  r"\('\[1, 2\]'\) cannot be read back"):
        SqliteStore(path, account="acct", session_id="2026-05-04")
