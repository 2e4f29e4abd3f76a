"""The SQLite journal: refusals, one writer per session, durability modes, failed commits."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sessionkit import LimitOrder, MessageState
from sessionkit.store import (
    SCHEMA_VERSION,
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalMismatchError,
    JournalTooNewError,
    JournalWriteError,
    SqliteStore,
)
from sessionkit.store._sqlite import _proc_start, lock_path


def open_store(path: Path, **kw: object) -> SqliteStore:
    kw.setdefault("account", "acct")
    kw.setdefault("session_id", "2026-05-04")
    return SqliteStore(path, **kw)  # type: ignore[arg-type]


def order(cid: str) -> LimitOrder:
    return LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "acct-2026-05-04.journal"


# -- one writer per session ------------------------------------------------------------------

_HOLDER = textwrap.dedent("""
    import sys
    from sessionkit.store import SqliteStore
    store = SqliteStore(sys.argv[1], account="acct", session_id="2026-05-04")
    store.event_handled(int(sys.argv[2]))
    store.commit()
    print("open", flush=True)
    sys.stdin.readline()
    store.close()
""")


def spawn_holder(path: Path, cursor: int = 7) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), str(cursor)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_a_second_writer_process_is_refused_at_once(path):
    holder = spawn_holder(path)
    try:
        with pytest.raises(JournalLockedError) as info:
            open_store(path)
        msg = str(info.value)
        assert str(path) in msg and f"pid {holder.pid}" in msg
        assert "one writer at a time" in msg
    finally:
        holder.communicate("\n", timeout=30)
    with open_store(path) as store:  # the holder closed cleanly: free again
        assert store.last_event_id == 7 and store.incarnation == 2


def test_a_killed_writer_leaves_the_journal_free(path):
    holder = spawn_holder(path, cursor=12)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with open_store(path) as store:  # the OS dropped its lock; its owner row is stale
        assert store.last_event_id == 12
        assert store.incarnation == 2


def test_the_owner_row_refuses_a_live_owner_the_lock_missed(path):
    """Where flock is not enforced (some network file systems), the owner row still is."""
    open_store(path).close()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        conn = sqlite3.connect(path)
        started = f"2026-05-04T09:00:00+00:00 proc {_proc_start(sleeper.pid)}"
        conn.execute("UPDATE owner SET pid = ?, host = ?, started = ?",
                     (sleeper.pid, socket.gethostname(), started))
        conn.commit()
        conn.close()
        with pytest.raises(JournalLockedError, match=f"owned by process {sleeper.pid}"):
            open_store(path)
    finally:
        sleeper.kill()
        sleeper.wait()
    with open_store(path) as store:  # its owner is gone: taken over (the refusal took nothing)
        assert store.incarnation == 2


def test_the_lock_file_names_the_holder(path):
    with open_store(path):
        text = Path(lock_path(str(path))).read_text()
        assert f"pid {os.getpid()}" in text


# -- refusals ------------------------------------------------------------------------------------

def test_a_file_that_is_not_sqlite_is_refused(path):
    path.write_bytes(b"ts,price\n1,100\n" * 20)
    with pytest.raises(JournalCorruptError,
                       match=r"not a SQLite database \(it starts with b'ts,pr"):
        open_store(path)
    assert path.read_bytes().startswith(b"ts,price")  # left as it was


def test_a_journal_failing_its_integrity_check_is_refused(path):
    with open_store(path) as store:
        for i in range(300):
            store.message_submitted(order(f"c-{i}"))
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    at = (root - 1) * page
    data[at + 8:at + 40] = b"\xff" * 32  # clobber the table's root page
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match="integrity check failed"):
        open_store(path)


def test_a_journal_missing_a_table_is_refused(path):
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE intents")
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorruptError,
                       match=rf"missing table intents \(schema version {SCHEMA_VERSION}\)"):
        open_store(path)


def test_a_sqlite_file_of_something_else_is_refused(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE prices (ts INTEGER, price INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorruptError, match="not a sessionkit journal: it has tables prices"):
        open_store(path)


def test_a_journal_from_a_newer_schema_is_refused(path):
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(JournalTooNewError, match=f"schema version 99 is newer than the version "
                                                f"{SCHEMA_VERSION} "):
        open_store(path)


def test_a_journal_of_another_session_is_refused_naming_both(path):
    open_store(path).close()
    with pytest.raises(JournalMismatchError) as info:
        open_store(path, account="acct", session_id="2026-05-05")
    assert str(path) in str(info.value)
    assert "'2026-05-04'" in str(info.value) and "'2026-05-05'" in str(info.value)


def test_a_message_that_does_not_read_back_is_refused(path):
    with open_store(path) as store:
        store.message_submitted(order("c-1"))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET payload = '{\"type\": \"limit_order\", \"size\": \"x\"}'")
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorruptError, match="message 'c-1' cannot be read back"):
        open_store(path)


def test_refusals_leave_the_journal_unlocked(path):
    open_store(path).close()
    with pytest.raises(JournalMismatchError):
        open_store(path, account="other")
    open_store(path).close()


def test_bad_paths_and_modes_are_named(tmp_path):
    with pytest.raises(JournalError, match="is a directory"):
        open_store(tmp_path)
    with pytest.raises(JournalError, match="directory .*nope does not exist"):
        open_store(tmp_path / "nope" / "j")
    with pytest.raises(ValueError, match=r"durability must be one of \['safe', 'fast'\], "
                                         r"got 'slow'"):
        open_store(tmp_path / "j", durability="slow")


# -- durability ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, synchronous", [("safe", 2), ("fast", 1)])
def test_durability_modes_set_wal_and_synchronous(path, mode, synchronous):
    with open_store(path, durability=mode) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous


class _FailingConnection:
    """Passes calls through to a connection until ``fail_at`` statements ran, then fails."""

    def __init__(self, conn: sqlite3.Connection, fail_at: int) -> None:
        self.conn, self.fail_at, self.calls = conn, fail_at, 0

    def _tick(self, sql: str) -> None:
        self.calls += 1
        if self.calls == self.fail_at and sql != "ROLLBACK":
            raise sqlite3.OperationalError("disk I/O error")

    def execute(self, sql: str, *args: object) -> object:
        self._tick(sql)
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> object:
        self._tick(sql)
        return self.conn.executemany(sql, *args)

    def close(self) -> None:
        self.conn.close()


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_a_failed_commit_writes_nothing_and_can_be_retried(path, fail_at):
    store = open_store(path)
    store.message_submitted(order("c-1"))
    store.commit()
    store.message_acked("c-1", 9, "run-1")
    store.message_submitted(order("c-2"))
    store.event_handled(4)
    real = store._conn
    store._conn = _FailingConnection(real, fail_at)
    with pytest.raises(JournalWriteError, match="commit failed and was rolled back: disk I/O"):
        store.commit()
    store._conn = real
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT cid, state FROM messages").fetchall() == [("c-1", "queued")]
    assert reader.execute("SELECT last_event_id FROM session").fetchone() == (0,)
    reader.close()
    assert store.pending
    store.commit()  # the fault is gone: the same changes commit whole
    store.close()
    with open_store(path) as store:
        assert [(m.cid, m.state) for m in store.messages()] == [
            ("c-1", MessageState.OPEN), ("c-2", MessageState.QUEUED)]
        assert store.last_event_id == 4
