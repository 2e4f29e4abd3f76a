"""The SQLite session journal (stdlib ``sqlite3``, WAL): the embedded default store.

One file holds one session (one account's session of one trading day). One
process writes it at a time: opening takes an exclusive ``flock`` on
``<path>.lock`` and records the owner (pid, host) in the journal in a
``BEGIN IMMEDIATE`` transaction.

A journal is created whole (under ``<path>.new``, then linked into place).
Opening one checks its files first (:mod:`._files`: empty, truncated, a
damaged or missing ``-wal``), then, on a read-only connection, its schema,
integrity, session, owner and messages: a refusal names the path, what is
wrong and what to do, and changes nothing. Only then is it claimed (the
incarnation goes up, the file is marked open). A clean ``close()`` marks it
closed and checkpoints everything into the file; a store dropped without
``close()`` is released as a killed process would be (its ``-wal`` stays).
Every SQLite or OS failure comes out as a :class:`JournalError` naming the
path (:mod:`._sqlio`).

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
import weakref
from typing import Any

import msgspec

from .._codec import structure
from .._errors import DecodeError
from .._messages import Request
from .._tracking import MessageState
from ._base import Changes, Row, StoreBase
from ._errors import (
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalMismatchError,
    JournalTooNewError,
    JournalWriteError,
)
from ._files import (
    APP_CLOSED,
    APP_OPEN,
    FileState,
    check_files,
    damaged,
    move_aside,
    shm_path,
    wal_path,
)
from ._records import Durability, IntentRecord, JobRecord, SessionKey
from ._schema import MIGRATIONS, REQUIRED_TABLES, SCHEMA_VERSION
from ._sqlio import close_keeping_wal, os_error, read_only_uri, sqlite_error

__all__ = ["SqliteStore", "lock_path", "take_lock", "inspect_journal"]

logger = logging.getLogger(__name__)



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


def take_lock(path: str) -> int:
    """Take the journal's writer lock (``<path>.lock``) at once or raise JournalLockedError."""
    lpath = lock_path(path)
    try:
        fd = os.open(lpath, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise os_error(path, err, f"cannot open its lock file {lpath}") from None
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
            raise JournalLockedError(path, f"is being written by another process ({who}); a "
                                           f"session's journal has one writer at a time") from None
        raise JournalError(path, f"cannot lock {lpath}: {err.strerror}") from None
    info = f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n".encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
    except OSError as err:
        os.close(fd)
        raise os_error(path, err, f"cannot write its lock file {lpath}") from None
    return fd


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would commit the open transaction first: run statement by statement
    for stmt in script.split(";"):
        if stmt.strip():
            conn.execute(stmt)




def _check_path(path: str) -> None:
    if os.path.isdir(path):
        raise JournalError(path, "is a directory, not a journal file")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise JournalError(path, f"directory {parent} does not exist")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync(path: str, *, directory: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_new(path: str) -> None:
    """Remove what a creator killed midway left (under the lock: no creator runs now)."""
    tmp = path + ".new"
    for p in (tmp, tmp + "-journal", wal_path(tmp), shm_path(tmp)):
        _unlink(p)


def _create(path: str, key: SessionKey) -> None:
    """Create a journal whole: written under another name, then linked into place.

    A process killed while creating leaves no file at ``path`` (only the
    ``.new`` file, removed by the next opener), so a journal file is never
    empty or half made, and an empty one is damage.
    """
    tmp = path + ".new"
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            for script in MIGRATIONS:
                _run_script(conn, script)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APP_CLOSED}")
            conn.execute("INSERT INTO session (id, account, session_id, journal_id, created) "
                         "VALUES (1, ?, ?, ?, ?)",
                         (key.account, key.session_id, secrets.token_hex(4), _now()))
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        _fsync(tmp)
        try:
            os.link(tmp, path)  # never replaces a file that appeared meanwhile
        except FileExistsError:
            raise JournalError(path, "appeared while a new journal was being created "
                                     "(another program wrote it); open it again") from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(path):
                raise JournalError(path, "appeared while a new journal was being created "
                                         "(another program wrote it); open it again") from None
            os.rename(tmp, path)  # a file system without hard links
        _unlink(tmp)
        _fsync(os.path.dirname(path), directory=True)
    except sqlite3.Error as err:
        _unlink(tmp)
        raise sqlite_error(path, err, f"cannot be created (in {tmp})") from None
    except OSError as err:
        _unlink(tmp)
        raise os_error(path, err, f"cannot be created (in {tmp})") from None


def _check_schema(conn: sqlite3.Connection, path: str, integrity_check: bool) -> int:
    """Refuse what is not a journal of a version this sessionkit reads; return the version."""
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise damaged(path, f"not a usable SQLite database: {err}") from None
    if version > SCHEMA_VERSION:
        raise JournalTooNewError(path, f"schema version {version} is newer than the version "
                                       f"{SCHEMA_VERSION} this sessionkit supports; open it "
                                       f"with a newer sessionkit")
    if integrity_check:
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as err:
            raise damaged(path, f"integrity check failed: {err}") from None
        if problems != ["ok"]:
            raise damaged(path, "integrity check failed: " + "; ".join(problems[:3]))
    if version == 0:
        if tables:
            raise JournalCorruptError(path, f"not a sessionkit journal: it has tables "
                                            f"{', '.join(sorted(tables))} but no schema version")
        raise damaged(path, "is an empty SQLite database, not a sessionkit journal (a journal "
                            "is created with its tables and its session)")
    missing = REQUIRED_TABLES[version] - tables
    if missing:
        raise damaged(path, f"missing table {', '.join(sorted(missing))} "
                            f"(schema version {version})")
    return version


def _read_messages(conn: sqlite3.Connection, path: str) -> list[Row]:
    rows = []
    for cid, seq, payload, state, mid, parent, rid, attempts in conn.execute(
            "SELECT cid, seq, payload, state, mid, parent, run_id, attempts FROM messages "
            "ORDER BY seq"):
        try:
            request = structure(msgspec.json.decode(payload))
            st = MessageState(state)
        except (DecodeError, ValueError, TypeError, msgspec.DecodeError) as err:
            raise damaged(path, f"message {cid!r} cannot be read back: {err}") from None
        if not isinstance(request, Request) or request.cid != cid:
            raise damaged(path, f"message {cid!r} holds a {request.TYPE} with cid "
                                f"{getattr(request, 'cid', None)!r}")
        rows.append(Row(cid, request, payload, st, mid, attempts, parent, rid, seq, True))
    return rows


_OLD_RUNS = msgspec.json.Encoder()


def _read_old_runs(path: str, text: object) -> list[str]:
    """The session row's run ids left (JSON text: a list of strings, oldest first)."""
    try:
        if not isinstance(text, str):
            raise TypeError(f"it is {type(text).__name__}, not text")
        return msgspec.json.decode(text, type=list[str])
    except (msgspec.DecodeError, TypeError) as err:
        raise damaged(path, f"its session row's run ids left ({text!r}) cannot be read "
                            f"back: {err}") from None


def inspect_journal(path: str, state: FileState, *, integrity_check: bool = True,
                    ) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """Check a journal that :func:`check_files` passed, read-only; return its session row
    ``(account, session_id, last_event_id, incarnation)`` and owner row ``(pid, host,
    started)``. Raises :class:`JournalCorruptError` or :class:`JournalTooNewError`; changes nothing.
    """
    # without a -wal the main file is the whole journal: read it as it is, creating no
    # -wal or -shm (which would hide a missing -wal from the next open)
    try:
        conn = sqlite3.connect(read_only_uri(path, immutable=state.wal_size is None), uri=True)
    except sqlite3.Error as err:
        raise JournalError(path, f"cannot be opened read-only to be checked: {err}") from None
    try:
        version = _check_schema(conn, path, integrity_check)
        session = conn.execute("SELECT account, session_id, last_event_id, incarnation "
                               "FROM session WHERE id = 1").fetchone()
        if session is None:
            raise damaged(path, "its session row is missing")
        owner = conn.execute("SELECT pid, host, started FROM owner WHERE id = 1").fetchone()
        if version >= 2:  # older versions are read after their migration
            _read_messages(conn, path)
    except sqlite3.Error as err:
        raise sqlite_error(path, err, "cannot be read") from None
    finally:
        conn.close()
    return session, owner


class SqliteStore(StoreBase):
    """The session journal in one SQLite file (see the module docstring).

    ``durability``: ``"safe"`` (``synchronous=FULL``: each commit is fsynced)
    or ``"fast"`` (``synchronous=NORMAL`` in WAL: a commit survives the process
    being killed, and reaches the disk at the next checkpoint).

    ``if_damaged``: ``"refuse"`` (the default) raises :class:`JournalCorruptError`
    for a damaged journal; ``"start_fresh"`` moves the damaged files aside to
    ``<path>.damaged-<time>`` and starts a new journal, which says so in
    ``recovery_report().damaged`` (the session then resumes from nothing: the
    requests that were in flight are forgotten). A journal that is not damaged
    is never replaced.
    """

    def __init__(self, path: str | os.PathLike[str], *, account: str, session_id: str,
                 durability: Durability | str = Durability.SAFE,
                 integrity_check: bool = True, if_damaged: str = "refuse") -> None:
        key = SessionKey(account, session_id)
        try:
            durability = Durability(durability)
        except ValueError:
            raise ValueError(f"durability must be one of {[d.value for d in Durability]}, "
                             f"got {durability!r}") from None
        if if_damaged not in _IF_DAMAGED:
            raise ValueError(f"if_damaged must be one of {list(_IF_DAMAGED)}, "
                             f"got {if_damaged!r}")
        path = os.path.abspath(os.fspath(path))
        super().__init__(key, durability, path)
        _check_path(path)
        self._lock_fd: int | None = take_lock(path)
        self._conn: Any = None
        self._finalizer: weakref.finalize | None = None  # type: ignore[type-arg]
        try:
            self._open(integrity_check, if_damaged == "start_fresh")
        except BaseException:
            self._release()
            raise
        self._finalizer = weakref.finalize(self, _drop, self._conn, self._lock_fd, path)

    # -- opening ---------------------------------------------------------------------

    def _open(self, integrity_check: bool, start_fresh: bool) -> None:
        path = self.path
        assert path is not None
        try:
            _remove_new(path)
        except OSError as err:
            raise os_error(path, err, f"cannot remove {path}.new, left by a creator that "
                                      f"was stopped") from None
        try:
            state = check_files(path)
            if state.exists:
                self._verify(state, integrity_check)
        except JournalCorruptError as err:
            if not start_fresh:
                raise
            moved = move_aside(path)
            self._damaged = f"{err.damage}; the damaged journal was moved to {moved}"
            logger.warning("journal %s was damaged (%s): moved to %s, starting a new journal "
                           "(if_damaged='start_fresh')", path, err.damage, moved)
            state = FileState(exists=False)
        if not state.exists:
            _create(path, self.key)
        self._claim_and_read()

    def _verify(self, state: FileState, integrity_check: bool) -> None:
        """Every refusal, on a read-only connection: a refused journal is left as it was."""
        assert self.path is not None
        session, owner = inspect_journal(self.path, state, integrity_check=integrity_check)
        self._check_session(session)
        self._check_owner(owner)

    def _check_session(self, row: tuple[Any, ...]) -> None:
        key = self.key
        if (row[0], row[1]) != (key.account, key.session_id):
            raise JournalMismatchError(self.path, f"belongs to account {row[0]!r} session "
                                                  f"{row[1]!r}, not account {key.account!r} "
                                                  f"session {key.session_id!r}")

    def _check_owner(self, owner: tuple[Any, ...] | None) -> bool:
        """Refuse a live owner on this host; True when a dead owner did not close it."""
        if owner is None or owner[0] is None:
            return False
        pid, ohost, started = owner[:3]
        proc_start = started.rpartition(" proc ")[2] if " proc " in started else None
        if ohost == socket.gethostname() and pid != os.getpid() and _alive(pid, proc_start):
            raise JournalLockedError(self.path, f"is owned by process {pid} on {ohost} (since "
                                                f"{started.partition(' proc ')[0]}); a session's "
                                                f"journal has one writer at a time")
        return True

    def _claim_and_read(self) -> None:
        """Take the journal over in one transaction, then make the main file say "open"."""
        path = self.path
        assert path is not None
        try:
            conn = self._conn = sqlite3.connect(path, isolation_level=None,
                                                check_same_thread=False, timeout=5.0)
        except sqlite3.Error as err:
            raise sqlite_error(path, err, "cannot be opened") from None
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise JournalError(path, f"cannot switch to WAL mode (journal_mode is {mode})")
            sync = "FULL" if self.durability is Durability.SAFE else "NORMAL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._migrate(conn.execute("PRAGMA user_version").fetchone()[0])
                session = self._claim()
                rows = _read_messages(conn, path)
                intents = [IntentRecord(*r) for r in conn.execute(
                    "SELECT key, operation, payload_hash, cid, outcome FROM intents "
                    "ORDER BY rowid")]
                jobs = [JobRecord(*r) for r in conn.execute("SELECT job_id, kind FROM jobs "
                                                             "ORDER BY rowid")]
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            # the main file says "open" before anything else is committed: from now on a
            # copy of it without its -wal is refused (see _files)
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                logger.warning("journal %s: a reader kept the opening checkpoint from "
                               "finishing", path)
        except sqlite3.Error as err:
            raise sqlite_error(path, err, "cannot be opened for writing") from None
        journal_id, run_id, cursor, incarnation, next_seq, old_runs = session
        self._load(journal_id=journal_id, incarnation=incarnation, run_id=run_id, cursor=cursor,
                   next_seq=next_seq, rows=rows, intents=intents, jobs=jobs,
                   old_runs=old_runs)

    def _migrate(self, version: int) -> None:
        conn = self._conn
        for v in range(version, SCHEMA_VERSION):
            logger.info("journal %s: migrating schema version %d to %d", self.path, v, v + 1)
            try:
                _run_script(conn, MIGRATIONS[v])
            except sqlite3.Error as err:
                raise JournalError(self.path, f"migrating schema version {v} to {v + 1} "
                                              f"failed: {err}; the journal is left at version "
                                              f"{version}") from None
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _claim(self) -> tuple[Any, ...]:
        """Check the session and the owner row, and take ownership (in the open transaction)."""
        conn, path = self._conn, self.path
        assert path is not None
        row = conn.execute("SELECT account, session_id, journal_id, run_id, last_event_id, "
                           "incarnation, next_seq, old_runs FROM session WHERE id = 1"
                           ).fetchone()
        if row is None:
            raise damaged(path, "its session row is missing")
        self._check_session(row)
        owner = conn.execute("SELECT pid, host, started FROM owner WHERE id = 1").fetchone()
        if self._check_owner(owner):
            logger.info("journal %s: taking over from pid %s on %s, which did not close it",
                        path, owner[0], owner[1])
        incarnation = row[5] + 1
        me = os.getpid()
        conn.execute("UPDATE session SET incarnation = ? WHERE id = 1", (incarnation,))
        started = f"{_now()} proc {_proc_start(me)}"
        conn.execute("INSERT OR REPLACE INTO owner (id, pid, host, started, incarnation) "
                     "VALUES (1, ?, ?, ?, ?)", (me, socket.gethostname(), started, incarnation))
        conn.execute(f"PRAGMA application_id = {APP_OPEN}")
        return (*row[2:5], incarnation, row[6], _read_old_runs(path, row[7]))

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
            if ch.old_runs is not None:
                conn.execute("UPDATE session SET old_runs = ? WHERE id = 1",
                             (_OLD_RUNS.encode(list(ch.old_runs)).decode(),))
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
        except BaseException as err:
            # whatever failed (SQLite, a value it could not bind, an interrupt), no transaction
            # is left open: the next commit starts afresh with the same pending changes
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            doing = "commit failed and was rolled back"
            assert self.path is not None
            if isinstance(err, sqlite3.Error):
                raise sqlite_error(self.path, err, doing) from err
            if isinstance(err, Exception):
                raise JournalWriteError(self.path, f"{doing}: {type(err).__name__}: "
                                                   f"{err}") from err
            raise

    # -- closing ------------------------------------------------------------------------

    def _release(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        conn, self._conn = self._conn, None
        path = self.path
        assert path is not None
        if conn is not None:
            if self._closed_dirty() or not _mark_closed(conn, path):
                close_keeping_wal(conn, path)  # as a killed process leaves it
            else:
                conn.close()  # the last connection: SQLite removes the -wal and -shm
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _closed_dirty(self) -> bool:
        """True when the store closes with changes dropped (a simulated crash)."""
        return self.pending or self._report is None


_IF_DAMAGED = ("refuse", "start_fresh")


def _mark_closed(conn: sqlite3.Connection, path: str) -> bool:
    """A clean close: no owner, marked closed, everything checkpointed into the main file."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE owner SET pid = NULL WHERE id = 1 AND pid = ?", (os.getpid(),))
        conn.execute(f"PRAGMA application_id = {APP_CLOSED}")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as err:
        logger.warning("journal %s: could not be marked closed (%s); it keeps its -wal, as "
                       "after a crash", path, err)
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return False
    return True


def _drop(conn: sqlite3.Connection | None, fd: int | None, path: str) -> None:
    """A store dropped without close(): release it as a killed process would."""
    if conn is not None:
        try:
            close_keeping_wal(conn, path)
        except sqlite3.Error:
            pass
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
