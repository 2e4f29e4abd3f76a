"""The SQLite session journal (stdlib ``sqlite3``, WAL): the embedded default store.

One file holds one session (one account's session of one trading day). One
process writes it at a time: opening takes an exclusive ``flock`` on
``<path>.lock`` and records the owner (pid, host) in the journal in a
``BEGIN IMMEDIATE`` transaction. A journal that is not a SQLite file, fails
``PRAGMA integrity_check``, lacks a table, comes from a newer schema or
belongs to another session is refused with an error naming the path.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "acct.journal")
>>> with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
...     store.event_handled(41)
>>> with SqliteStore(path, account="acct", session_id="2026-05-04") as store:
...     (store.last_event_id, store.incarnation)
(41, 2)
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import logging
import os
import secrets
import socket
import sqlite3
from typing import Any

import orjson

from .._codec import structure
from .._errors import DecodeError
from .._messages import Request
from .._tracking import MessageState
from ._base import Changes, Row, StoreBase
from ._errors import (
    JournalCorrupt,
    JournalError,
    JournalLocked,
    JournalMismatch,
    JournalTooNew,
    JournalWriteError,
)
from ._records import Durability, IntentRecord, JobRecord, SessionKey
from ._schema import MIGRATIONS, REQUIRED_TABLES, SCHEMA_VERSION

__all__ = ["SqliteStore", "lock_path"]

logger = logging.getLogger(__name__)

_HEADER = b"SQLite format 3\x00"


def lock_path(path: str) -> str:
    """The lock file beside a journal."""
    return path + ".lock"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, proc_start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if proc_start is not None:
        now_start = _proc_start(pid)
        if now_start is not None and now_start != proc_start:
            return False  # the pid was reused by another process
    return True


def _check_file(path: str) -> None:
    if os.path.isdir(path):
        raise JournalError(path, "is a directory, not a journal file")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise JournalError(path, f"directory {parent} does not exist")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HEADER))
    except FileNotFoundError:
        return
    except OSError as err:
        raise JournalError(path, f"cannot be read: {err.strerror}") from None
    if head and head != _HEADER:
        raise JournalCorrupt(path, f"not a SQLite database (it starts with {head[:16]!r})")


def _take_lock(path: str) -> int:
    lpath = lock_path(path)
    try:
        fd = os.open(lpath, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise JournalError(path, f"cannot open lock file {lpath}: {err.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        holder = b""
        try:
            holder = os.pread(fd, 200, 0)
        except OSError:
            pass
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            who = holder.decode("utf-8", "replace").strip() or "unknown process"
            raise JournalLocked(path, f"is being written by another process ({who}); "
                                      f"a session's journal has one writer at a time") from None
        raise JournalError(path, f"cannot lock {lpath}: {err.strerror}") from None
    info = f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, info, 0)
    return fd


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would commit the open transaction first: run statement by statement
    for stmt in script.split(";"):
        if stmt.strip():
            conn.execute(stmt)


class SqliteStore(StoreBase):
    """The session journal in one SQLite file (see the module docstring).

    ``durability``: ``"safe"`` (``synchronous=FULL``: each commit is fsynced)
    or ``"fast"`` (``synchronous=NORMAL`` in WAL: a commit survives the process
    being killed, and reaches the disk at the next checkpoint).
    """

    def __init__(self, path: str | os.PathLike[str], *, account: str, session_id: str,
                 durability: Durability | str = Durability.SAFE,
                 integrity_check: bool = True) -> None:
        key = SessionKey(account, session_id)
        try:
            durability = Durability(durability)
        except ValueError:
            raise ValueError(f"durability must be one of {[d.value for d in Durability]}, "
                             f"got {durability!r}") from None
        path = os.path.abspath(os.fspath(path))
        super().__init__(key, durability, path)
        _check_file(path)
        self._lock_fd: int | None = _take_lock(path)
        self._conn: Any = None
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=5.0)
            self._open(integrity_check)
        except BaseException:
            self._release()
            raise

    # -- opening ---------------------------------------------------------------------

    def _open(self, integrity_check: bool) -> None:
        conn, path = self._conn, self.path
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            raise JournalCorrupt(path, f"not a usable SQLite database: {err}") from None
        if version > SCHEMA_VERSION:
            raise JournalTooNew(path, f"schema version {version} is newer than the version "
                                      f"{SCHEMA_VERSION} this sessionkit supports; open it "
                                      f"with a newer sessionkit")
        if integrity_check and (version or tables):
            try:
                problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as err:
                raise JournalCorrupt(path, f"integrity check failed: {err}") from None
            if problems != ["ok"]:
                raise JournalCorrupt(path, "integrity check failed: " + "; ".join(problems[:3]))
        if version == 0 and tables:
            raise JournalCorrupt(path, f"not a sessionkit journal: it has tables "
                                       f"{', '.join(sorted(tables))} but no schema version")
        if version:
            missing = REQUIRED_TABLES[version] - tables
            if missing:
                raise JournalCorrupt(path, f"missing table {', '.join(sorted(missing))} "
                                           f"(schema version {version})")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(path, f"cannot switch to WAL mode (journal_mode is {mode})")
        sync = "FULL" if self.durability is Durability.SAFE else "NORMAL"
        conn.execute(f"PRAGMA synchronous = {sync}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._migrate(version)
            session = self._claim()
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._read(session)

    def _migrate(self, version: int) -> None:
        conn = self._conn
        for v in range(version, SCHEMA_VERSION):
            logger.info("journal %s: migrating schema version %d to %d", self.path, v, v + 1)
            _run_script(conn, MIGRATIONS[v])
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _claim(self) -> tuple[Any, ...]:
        """Check the session and the owner row, and take ownership (in the open transaction)."""
        conn, path, key = self._conn, self.path, self.key
        row = conn.execute("SELECT account, session_id, journal_id, run_id, last_event_id, "
                           "incarnation, next_seq FROM session WHERE id = 1").fetchone()
        if row is None:
            row = (key.account, key.session_id, secrets.token_hex(4), None, 0, 0, 1)
            conn.execute("INSERT INTO session (id, account, session_id, journal_id, created) "
                         "VALUES (1, ?, ?, ?, ?)", (*row[:3], _now()))
        elif (row[0], row[1]) != (key.account, key.session_id):
            raise JournalMismatch(path, f"belongs to account {row[0]!r} session {row[1]!r}, "
                                        f"not account {key.account!r} session "
                                        f"{key.session_id!r}")
        owner = conn.execute("SELECT pid, host, started, incarnation FROM owner "
                             "WHERE id = 1").fetchone()
        me, host = os.getpid(), socket.gethostname()
        if owner is not None and owner[0] is not None:
            pid, ohost, started, _ = owner
            proc_start = started.rpartition(" proc ")[2] if " proc " in started else None
            if ohost == host and pid != me and _alive(pid, proc_start):
                raise JournalLocked(path, f"is owned by process {pid} on {ohost} (since "
                                          f"{started.partition(' proc ')[0]}); a session's "
                                          f"journal has one writer at a time")
            logger.info("journal %s: taking over from pid %s on %s, which did not close it",
                        path, pid, ohost)
        incarnation = row[5] + 1
        conn.execute("UPDATE session SET incarnation = ? WHERE id = 1", (incarnation,))
        started = f"{_now()} proc {_proc_start(me)}"
        conn.execute("INSERT OR REPLACE INTO owner (id, pid, host, started, incarnation) "
                     "VALUES (1, ?, ?, ?, ?)", (me, host, started, incarnation))
        return (*row[2:5], incarnation, row[6])

    def _read(self, session: tuple[Any, ...]) -> None:
        journal_id, run_id, cursor, incarnation, next_seq = session
        conn, path = self._conn, self.path
        rows = []
        for cid, seq, payload, state, mid, parent, rid, attempts in conn.execute(
                "SELECT cid, seq, payload, state, mid, parent, run_id, attempts FROM messages "
                "ORDER BY seq"):
            try:
                request = structure(orjson.loads(payload))
                st = MessageState(state)
            except (DecodeError, ValueError, orjson.JSONDecodeError) as err:
                raise JournalCorrupt(path, f"message {cid!r} cannot be read back: {err}") from None
            if not isinstance(request, Request) or request.cid != cid:
                raise JournalCorrupt(path, f"message {cid!r} holds a {request.TYPE} with cid "
                                           f"{getattr(request, 'cid', None)!r}")
            rows.append(Row(cid, request, payload, st, mid, attempts, parent, rid,
                            seq, True))
        intents = [IntentRecord(*r) for r in conn.execute(
            "SELECT key, operation, payload_hash, cid, outcome FROM intents ORDER BY rowid")]
        jobs = [JobRecord(*r) for r in conn.execute("SELECT job_id, kind FROM jobs "
                                                     "ORDER BY rowid")]
        self._load(journal_id=journal_id, incarnation=incarnation, run_id=run_id, cursor=cursor,
                   next_seq=next_seq, rows=rows, intents=intents, jobs=jobs)

    # -- writing ------------------------------------------------------------------------

    def _persist(self, ch: Changes) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            if ch.inserts:
                conn.executemany(
                    "INSERT INTO messages (cid, seq, type, payload, state, mid, parent, run_id, "
                    "attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(r.cid, r.seq, r._request.TYPE, r.payload, r.state.value, r.mid,
                      r.parent, r.run_id, r.attempts) for r in ch.inserts])
            if ch.updates:
                conn.executemany(
                    "UPDATE messages SET state = ?, mid = ?, run_id = ?, attempts = ? "
                    "WHERE cid = ?",
                    [(r.state.value, r.mid, r.run_id, r.attempts, r.cid) for r in ch.updates])
            if ch.deletes:
                conn.executemany("DELETE FROM messages WHERE cid = ?",
                                 [(cid,) for cid in ch.deletes])
            if ch.session is not None:
                conn.execute("UPDATE session SET run_id = ?, last_event_id = ?, next_seq = ? "
                             "WHERE id = 1", ch.session)
            if ch.intents:
                conn.executemany(
                    "INSERT INTO intents (key, operation, payload_hash, cid, outcome) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET outcome = "
                    "excluded.outcome",
                    [(i.key, i.operation, i.payload_hash, i.cid, i.outcome)
                     for i in ch.intents])
            if ch.jobs_added:
                conn.executemany("INSERT INTO jobs (job_id, kind) VALUES (?, ?)",
                                 [(j.job_id, j.kind) for j in ch.jobs_added])
            if ch.jobs_finished:
                conn.executemany("DELETE FROM jobs WHERE job_id = ?",
                                 [(j,) for j in ch.jobs_finished])
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise JournalWriteError(self.path, f"commit failed and was rolled back: "
                                               f"{err}") from err

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if not self._closed_dirty():
                    conn.execute("UPDATE owner SET pid = NULL WHERE id = 1 AND pid = ?",
                                 (os.getpid(),))
            except sqlite3.Error:
                pass
            conn.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _closed_dirty(self) -> bool:
        """True when the store closes with changes dropped (a simulated crash)."""
        return self.pending or self._report is None
