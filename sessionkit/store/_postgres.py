"""The PostgreSQL session journal (psycopg 3): many sessions in one database, one owner each.

One database holds the journals of many sessions, keyed by (account, session id), in the
tables of one PostgreSQL schema (``sessionkit``; see :mod:`._pgschema`). A store owns its
session through a **lease** with a **fencing token**: opening takes the lease (the token
goes up by one), and every commit runs, first in its transaction, the ``fence`` function,
which extends the lease and holds the session row, or refuses the whole transaction when
the token moved on because another process took the lease over. A refused store raises
:class:`LeaseLostError` from then on: it must stop acting; the new owner resumes the
session from what was committed, as a restart does.

The lease is free when it was released (a clean ``close()``), when it expired (nobody
renewed it for ``lease_ttl`` seconds, on the database's clock: a process paused with
SIGSTOP, a lost network), or at once when its holder's database connection ended (a killed
process: the server sees its connection go). Otherwise opening is refused with
:class:`JournalLockedError` naming the holder, or, with ``acquire_timeout``, waits for it.

>>> store = PostgresStore("postgresql://localhost/journal", account="acct",
...                       session_id="2026-05-04")            # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import time
import weakref
from typing import Any

import msgspec

from .._codec import structure
from .._errors import DecodeError
from .._messages import Request
from .._tracking import MessageState
from ._base import Changes, Row, StoreBase
from ._errors import JournalCorruptError, JournalError, JournalLockedError, JournalTooNewError
from ._pgio import connect, display_url, import_psycopg, lease_lost, pg_error
from ._pglease import Lease, Renewer
from ._pgschema import (
    FENCED,
    PG_MIGRATIONS,
    PG_REQUIRED_TABLES,
    PG_SCHEMA_VERSION,
    SCHEMA_LOCK,
    check_schema_name,
    script,
)
from ._records import Durability, IntentRecord, JobRecord, SessionKey

__all__ = ["PostgresStore", "default_owner", "read_messages", "schema_version"]

logger = logging.getLogger(__name__)

_IF_DAMAGED = ("refuse", "start_fresh")

_CLAIM = """
SELECT sid, journal_id, run_id, last_event_id, incarnation, next_seq, lease_token,
       lease_owner, lease_host, lease_pid, lease_expires,
       lease_owner IS NOT NULL AND clock_timestamp() < lease_expires,
       EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = lease_backend
               AND a.backend_start = lease_backend_start),
       old_runs
  FROM {s}.sessions WHERE account = %s AND session_id = %s FOR UPDATE
"""

_TAKE = """
UPDATE {s}.sessions SET incarnation = incarnation + 1, lease_token = lease_token + 1,
       lease_owner = %s, lease_host = %s, lease_pid = %s, lease_backend = pg_backend_pid(),
       lease_backend_start = (SELECT backend_start FROM pg_stat_activity
                              WHERE pid = pg_backend_pid()),
       lease_acquired = clock_timestamp(),
       lease_expires = clock_timestamp() + %s * interval '1 millisecond'
 WHERE sid = %s RETURNING incarnation, lease_token
"""


def default_owner() -> str:
    """This process as a lease owner: ``<host>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def schema_version(conn: Any, schema: str) -> int | None:
    """The journal schema's version in this database (None: there is none)."""
    found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()[0]
    if found is None:
        return None
    row = conn.execute(f"SELECT version FROM {schema}.meta WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])


def _tables(conn: Any, schema: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}


def read_messages(conn: Any, schema: str, sid: int, where: str) -> list[Row]:
    """The session's requests not final, each read back (else :class:`JournalCorruptError`)."""
    rows = []
    for cid, seq, payload, state, mid, parent, rid, attempts in conn.execute(
            f"SELECT cid, seq, payload, state, mid, parent, run_id, attempts "
            f"FROM {schema}.messages WHERE sid = %s ORDER BY seq", (sid,)):
        try:
            request = structure(msgspec.json.decode(payload))
            st = MessageState(state)
        except (DecodeError, ValueError, TypeError, msgspec.DecodeError) as err:
            raise JournalCorruptError(where, f"message {cid!r} cannot be read back: {err}",
                                      advice=_ADVICE) from None
        if not isinstance(request, Request) or request.cid != cid:
            raise JournalCorruptError(where, f"message {cid!r} holds a {request.TYPE} with cid "
                                             f"{getattr(request, 'cid', None)!r}", advice=_ADVICE)
        rows.append(Row(cid, request, payload, st, mid, attempts, parent, rid, seq, True))
    return rows


_ADVICE = ("Nothing was changed. Look at it with `sessionkit journal show`; "
           "`sessionkit journal reset` (or if_damaged='start_fresh') moves the session's "
           "journal aside and starts a new one, which forgets the requests it held in flight "
           "(check them at the exchange)")


class PostgresStore(StoreBase):
    """The journal of one session in a PostgreSQL database (see the module docstring).

    ``url``: a libpq URL (``postgresql://user@host:port/dbname``) or conninfo string.
    ``durability``: ``"safe"`` (``synchronous_commit = on``: a commit is on the server's
    disk, and on a synchronous standby's when the server has one, before it returns) or
    ``"fast"`` (``synchronous_commit = off``: a commit survives this process being killed
    and the server being stopped; a crash of the server's host may lose its last
    moments). ``schema``: the PostgreSQL schema holding the tables (created if missing).

    ``lease_ttl``: seconds a lease lasts without a renewal (a standby takes it over after
    at most that; the store renews it every ``lease_ttl / 3`` on a thread of its own when
    ``renew`` is True). ``owner``: how the lease names this process (default
    ``<host>:<pid>``). ``acquire_timeout``: seconds to wait for a lease another process
    holds (0: refuse at once with :class:`JournalLockedError`).
    """

    def __init__(self, url: str, *, account: str, session_id: str,
                 durability: Durability | str = Durability.SAFE, schema: str = "sessionkit",
                 lease_ttl: float = 10.0, owner: str | None = None,
                 acquire_timeout: float = 0.0, renew: bool = True,
                 connect_timeout: float = 10.0, if_damaged: str = "refuse") -> None:
        key = SessionKey(account, session_id)
        try:
            durability = Durability(durability)
        except ValueError:
            raise ValueError(f"durability must be one of {[d.value for d in Durability]}, "
                             f"got {durability!r}") from None
        if if_damaged not in _IF_DAMAGED:
            raise ValueError(f"if_damaged must be one of {list(_IF_DAMAGED)}, "
                             f"got {if_damaged!r}")
        if not isinstance(lease_ttl, int | float) or not 0.1 <= lease_ttl <= 86400:
            raise ValueError(f"lease_ttl must be seconds from 0.1 to 86400, got {lease_ttl!r}")
        if not isinstance(acquire_timeout, int | float) or acquire_timeout < 0:
            raise ValueError(f"acquire_timeout must be seconds >= 0, got {acquire_timeout!r}")
        self.schema = check_schema_name(schema)
        self.url = url
        self.database = display_url(url)
        super().__init__(key, durability, f"{self.database} (account {account}, session "
                                          f"{session_id})")
        self.owner = owner or default_owner()
        self._ttl_ms = max(1, round(lease_ttl * 1000))
        self._timeout = connect_timeout
        self._sync = "on" if durability is Durability.SAFE else "off"
        self._renewer: Renewer | None = None
        self._finalizer: weakref.finalize | None = None  # type: ignore[type-arg]
        self._reconnected = False
        self._conn: Any = connect(url, self._where, timeout=connect_timeout,
                                  synchronous_commit=self._sync,
                                  idle_in_transaction_ms=self._ttl_ms)
        try:
            self.lease = self._acquire(float(lease_ttl), float(acquire_timeout),
                                       if_damaged == "start_fresh")
        except BaseException:
            self._conn.close()
            raise
        if renew:
            # the thread holds no reference to the store: a store dropped without close()
            # is collected, and its finalizer stops the thread (as a killed process's end)
            self._renewer = Renewer(
                self.lease, functools.partial(_renew, self._where, self.schema, key,
                                              self.lease, self._ttl_ms),
                functools.partial(connect, url, self._where, timeout=connect_timeout,
                                  application_name="sessionkit lease"),
                f"{account}/{session_id}")
            self._renewer.start()
        self._finalizer = weakref.finalize(self, _drop, self._conn, self._renewer)

    @property
    def _where(self) -> str:
        return self.path or self.database

    @property
    def token(self) -> int:
        """The fencing token of this store's lease."""
        return self.lease.token

    # -- opening ---------------------------------------------------------------------

    def _acquire(self, ttl: float, wait: float, start_fresh: bool) -> Lease:
        deadline = time.monotonic() + wait
        while True:
            try:
                return self._open(ttl, start_fresh)
            except JournalLockedError as err:
                if err.problem.startswith("its session row is locked"):
                    self._end_expired_holder()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(left, max(0.05, ttl / 20)))

    def _end_expired_holder(self) -> None:
        """The session row is locked by a transaction in progress: if the lease of the
        process holding it has expired (a writer paused in the middle of a commit, which
        the server cannot time out while the commit's messages are still arriving), end
        its database connection, which rolls its transaction back: it had no right to
        write any more, and when it wakes its next write is refused (LeaseLostError)."""
        psycopg = import_psycopg()
        row = None
        try:
            row = self._conn.execute(
                f"SELECT lease_backend, lease_owner, lease_token FROM {self.schema}.sessions "
                f"WHERE account = %s AND session_id = %s AND lease_expires < clock_timestamp()",
                (self.key.account, self.key.session_id)).fetchone()
            if row is None or row[0] is None:
                return
            ended = self._conn.execute("SELECT pg_terminate_backend(%s)", (row[0],)
                                       ).fetchone()[0]
        except psycopg.Error as err:
            logger.warning("journal %s: could not end the connection of %s, whose lease "
                           "expired holding the session row: %s", self.path,
                           row[1] if row else "its holder", err)
            return
        if ended:
            logger.warning("journal %s: ended the database connection of %s (fencing token "
                           "%s), whose lease expired in the middle of a write; its write is "
                           "rolled back", self.path, row[1], row[2])

    def _open(self, ttl: float, start_fresh: bool) -> Lease:
        psycopg = import_psycopg()
        conn, s, key = self._conn, self.schema, self.key
        sent = time.monotonic()
        try:
            with conn.transaction():
                # a session row locked by a writer's commit in progress is waited for this
                # long at most, then the lease counts as held (the caller may try again)
                conn.execute("SET LOCAL lock_timeout = '1s'")
                self._ensure_schema(conn)
                conn.execute(f"INSERT INTO {s}.sessions (account, session_id, journal_id) "
                             f"VALUES (%s, %s, %s) ON CONFLICT (account, session_id) "
                             f"DO NOTHING", (key.account, key.session_id, secrets.token_hex(4)))
                row = conn.execute(_CLAIM.format(s=s), (key.account, key.session_id)
                                   ).fetchone()
                took_over = self._check_holder(row)
                try:
                    rows = read_messages(conn, s, row[0], self._where)
                except JournalCorruptError as err:
                    if not start_fresh:
                        raise
                    moved = self._move_aside(conn, row[0])
                    self._damaged = f"{err.damage}; the damaged journal was moved to {moved}"
                    logger.warning("journal %s was damaged (%s): moved to %s, starting a new "
                                   "journal (if_damaged='start_fresh')", self.path, err.damage,
                                   moved)
                    row = conn.execute(_CLAIM.format(s=s), (key.account, key.session_id)
                                       ).fetchone()
                    took_over, rows = "new", []
                sid, token, holder = row[0], row[6], row[7]
                intents = [IntentRecord(*r) for r in conn.execute(
                    f"SELECT key, operation, payload_hash, cid, outcome FROM {s}.intents "
                    f"WHERE sid = %s ORDER BY ord", (sid,))]
                jobs = [JobRecord(*r) for r in conn.execute(
                    f"SELECT job_id, kind FROM {s}.jobs WHERE sid = %s ORDER BY ord", (sid,))]
                if holder is not None:
                    logger.info("journal %s: taking the lease over from %s (fencing token "
                                "%s): %s", self.path, holder, token, took_over)
                conn.execute(f"UPDATE {s}.leases SET ended = clock_timestamp() "
                             f"WHERE sid = %s AND token = %s AND ended IS NULL", (sid, token))
                incarnation, token = conn.execute(
                    _TAKE.format(s=s), (self.owner, socket.gethostname(), os.getpid(),
                                        round(ttl * 1000), sid)).fetchone()
                conn.execute(f"INSERT INTO {s}.leases (sid, token, owner, host, pid, acquired, "
                             f"took_over) VALUES (%s, %s, %s, %s, %s, clock_timestamp(), %s)",
                             (sid, token, self.owner, socket.gethostname(), os.getpid(),
                              took_over))
        except psycopg.errors.LockNotAvailable:
            raise JournalLockedError(self._where, "its session row is locked by another process's "
                                                  "write in progress; a session's journal has one "
                                                  "writer at a time") from None
        except psycopg.Error as err:
            raise pg_error(self._where, err, "cannot be opened") from None
        _, journal_id, run_id, cursor, _, next_seq = row[:6]
        self._load(journal_id=journal_id, incarnation=incarnation, run_id=run_id,
                   cursor=cursor, next_seq=next_seq, rows=rows, intents=intents, jobs=jobs,
                   old_runs=row[13])
        lease = Lease(sid, token, self.owner, ttl)
        lease.renewed(sent)
        return lease

    def _ensure_schema(self, conn: Any) -> None:
        """Create or migrate the journal's tables (in the opening transaction, under a lock)."""
        s = self.schema
        version = schema_version(conn, s)
        if version != PG_SCHEMA_VERSION:  # created or migrated by one opener at a time
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            version = schema_version(conn, s)
        if version is not None and version > PG_SCHEMA_VERSION:
            raise JournalTooNewError(self._where, f"schema {s} is at version {version}, newer "
                                                  f"than the version {PG_SCHEMA_VERSION} this "
                                                  f"sessionkit supports; open it with a newer "
                                                  f"sessionkit")
        start = version or 0
        if version:
            missing = PG_REQUIRED_TABLES[version] - _tables(conn, s)
            if missing:
                raise JournalCorruptError(self._where, f"schema {s} lacks table "
                                                       f"{', '.join(sorted(missing))} (version "
                                                       f"{version})", advice=_ADVICE)
        for v in range(start, PG_SCHEMA_VERSION):
            if v:
                logger.info("journal schema %s in %s: migrating version %d to %d", s,
                            self.database, v, v + 1)
            try:
                with conn.transaction():  # a savepoint: the step is named when it fails
                    conn.execute(script(PG_MIGRATIONS[v], s))
            except import_psycopg().Error as err:
                raise JournalError(self._where, f"migrating schema {s} from version {v} to "
                                                f"{v + 1} failed: {err}; it is left at "
                                                f"version {start}") from None
        if start != PG_SCHEMA_VERSION:
            conn.execute(f"INSERT INTO {s}.meta (id, version) VALUES (1, %s) ON CONFLICT (id) "
                         f"DO UPDATE SET version = excluded.version", (PG_SCHEMA_VERSION,))

    def _check_holder(self, row: tuple[Any, ...]) -> str:
        """Refuse a lease another process holds; else say how it became free."""
        token, holder, host, pid, expires, live, connected = row[6:13]
        if holder is None:
            return "released" if token else "new"
        if not connected:
            return "gone"
        if not live:
            return "expired"
        raise JournalLockedError(self._where, f"its lease is held by {holder} (pid {pid} on "
                                              f"{host}, fencing token {token}) until {expires}; a "
                                              f"session's journal has one writer at a time (it is "
                                              f"free once released, expired or its holder's "
                                              f"connection ends)")

    def _move_aside(self, conn: Any, sid: int) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved = f"{self.key.session_id}.damaged-{stamp}"
        conn.execute(f"UPDATE {self.schema}.sessions SET session_id = %s, lease_owner = NULL, "
                     f"lease_expires = NULL WHERE sid = %s", (moved, sid))
        conn.execute(f"INSERT INTO {self.schema}.sessions (account, session_id, journal_id) "
                     f"VALUES (%s, %s, %s)", (self.key.account, self.key.session_id,
                                              secrets.token_hex(4)))
        return f"session {self.key.account}/{moved}"

    # -- the lease -----------------------------------------------------------------------

    def check_lease(self) -> None:
        """Raise :class:`LeaseLostError` when the lease is known lost; when it is not good
        on this side's clock (a pause, a renewal that failed), ask the database first."""
        self._check_open()
        lease = self.lease
        if lease.lost is not None:
            self._loss_told = True
            raise lease.lost
        if not lease.fresh:
            self._write(None)

    # -- writing ------------------------------------------------------------------------

    def commit(self) -> None:
        """Make every change since the last commit durable, atomically, under the lease."""
        self._check_open()
        lost = self.lease.lost
        if lost is not None:
            self._loss_told = True
            raise lost
        if not self.pending:
            if not self.lease.fresh:
                self._write(None)  # nothing to write, but the lease is checked before a send
            return
        super().commit()

    def _persist(self, ch: Changes) -> None:
        self._write(ch)

    def _live_conn(self) -> Any:
        conn = self._conn
        if conn.closed or conn.broken:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            conn = self._conn = connect(self.url, self._where, timeout=self._timeout,
                                        synchronous_commit=self._sync,
                                        idle_in_transaction_ms=self._ttl_ms)
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = weakref.finalize(self, _drop, conn, self._renewer)
            self._reconnected = True
        return conn

    def _write(self, ch: Changes | None) -> None:
        """One transaction: the fence, then the changes (None: the fence alone).

        A connection found dead at the write (a server restart, a cut network) is replaced
        and the transaction tried once more: every statement in it is idempotent (upserts,
        absolute values), so a transaction whose COMMIT did reach the server before the
        connection died is written again harmlessly. Meanwhile another process may have
        taken the lease (the server saw this connection end): the fence then refuses it.
        """
        psycopg = import_psycopg()
        try:
            self._transaction(ch)
        except psycopg.OperationalError as err:
            if not (self._conn.closed or self._conn.broken):
                raise pg_error(self._where, err, "commit failed and was rolled back") from None
            logger.warning("journal %s: the database connection was lost in a commit (%s); "
                           "trying it once more on a new connection", self.path,
                           str(err).strip().splitlines()[0] if str(err).strip() else err)
            try:
                self._transaction(ch)
            except psycopg.Error as err2:
                raise self._refused(err2) from None
        except psycopg.Error as err:
            raise self._refused(err) from None

    def _refused(self, err: Any) -> JournalError:
        if getattr(err, "sqlstate", None) == FENCED:
            self.lease.lost = lease_lost(self._where, err, self.key.account,
                                         self.key.session_id, self.lease.token,
                                         "commit refused and rolled back")
            self._loss_told = True
            return self.lease.lost
        return pg_error(self._where, err, "commit failed and was rolled back")

    def _transaction(self, ch: Changes | None) -> None:
        """The write transaction in one round trip: BEGIN, the fence, the changes and
        COMMIT are pipelined and synced once (a commit's cost is the server's, not the
        network's: 3 round trips per commit cost fast mode about half its throughput on a
        loaded 2-CPU host, tools/bench_journal.py --store postgres). An error aborts the
        rest; the failed transaction is rolled back."""
        s, lease = self.schema, self.lease
        conn = self._live_conn()
        sent = time.monotonic()
        psycopg = import_psycopg()
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                sess = ch.session if ch is not None else None
                conn.execute(f"SELECT {s}.fence(%s, %s, %s, %s, %s, %s, %s)",
                             (lease.sid, lease.token, self._ttl_ms, sess is not None,
                              *(sess or (None, None, None))))
                if self._reconnected:
                    conn.execute(f"UPDATE {s}.sessions SET lease_backend = pg_backend_pid(), "
                                 f"lease_backend_start = (SELECT backend_start FROM "
                                 f"pg_stat_activity WHERE pid = pg_backend_pid()) WHERE sid = %s",
                                 (lease.sid,))
                if ch is not None:
                    self._write_changes(conn, ch)
                conn.execute("COMMIT")
        except psycopg.Error:
            if not conn.broken and not conn.closed and \
                    conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    conn.close()
            raise
        except BaseException:
            # an interrupt inside the pipeline: the connection's state is unknown; drop
            # it (the server rolls the transaction back), reconnect at the next commit
            conn.close()
            raise
        self._reconnected = False
        lease.renewed(sent)

    def _write_changes(self, conn: Any, ch: Changes) -> None:
        """The changes as one statement per table, whatever their number: rows travel as
        arrays (``unnest``), so a burst of 64 requests is one INSERT, not 64 (the server's
        per-statement cost, not the rows', dominates: 64-row bursts commit about twice as
        fast this way, tools/bench_journal.py --store postgres)."""
        s, sid = self.schema, self.lease.sid
        if ch.inserts:
            rows = ch.inserts
            conn.execute(
                f"INSERT INTO {s}.messages (sid, cid, seq, type, payload, state, mid, parent, "
                f"run_id, attempts) SELECT %s, * FROM unnest(%b::text[], %b::bigint[], "
                f"%b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[], %b::text[], "
                f"%b::int[]) ON CONFLICT (cid, sid) DO UPDATE SET state = excluded.state, "
                f"mid = excluded.mid, run_id = excluded.run_id, attempts = excluded.attempts",
                (sid, [r.cid for r in rows], [r.seq for r in rows],
                 [r._request.TYPE for r in rows], [r.payload for r in rows],
                 [r.state.value for r in rows], [r.mid for r in rows],
                 [r.parent for r in rows], [r.run_id for r in rows],
                 [r.attempts for r in rows]))
        if ch.updates:
            rows = ch.updates
            conn.execute(
                f"UPDATE {s}.messages m SET state = u.state, mid = u.mid, run_id = u.run_id, "
                f"attempts = u.attempts FROM unnest(%b::text[], %b::text[], %b::bigint[], "
                f"%b::text[], %b::int[]) AS u(cid, state, mid, run_id, attempts) "
                f"WHERE m.cid = ANY(%b::text[]) AND m.sid = %s AND m.cid = u.cid",
                ([r.cid for r in rows], [r.state.value for r in rows], [r.mid for r in rows],
                 [r.run_id for r in rows], [r.attempts for r in rows], [r.cid for r in rows],
                 sid))
        if ch.deletes:
            conn.execute(f"DELETE FROM {s}.messages WHERE cid = ANY(%b::text[]) AND sid = %s",
                         (ch.deletes, sid))
        # (the session row's changes went with the fence, in its UPDATE; the runs left
        # change only at a run change, so they are not the fence's: the row is locked)
        if ch.old_runs is not None:
            conn.execute(f"UPDATE {s}.sessions SET old_runs = %b::text[] WHERE sid = %s",
                         (list(ch.old_runs), sid))
        if ch.intents:
            ints = ch.intents
            conn.execute(
                f"INSERT INTO {s}.intents (sid, token, key, operation, payload_hash, cid, "
                f"outcome) SELECT %s, %s, * FROM unnest(%b::text[], %b::text[], %b::text[], "
                f"%b::text[], %b::text[]) ON CONFLICT (sid, key) DO UPDATE SET "
                f"outcome = excluded.outcome, token = excluded.token",
                (sid, self.lease.token, [i.key for i in ints], [i.operation for i in ints],
                 [i.payload_hash for i in ints], [i.cid for i in ints],
                 [i.outcome for i in ints]))
        if ch.jobs_added:
            conn.execute(f"INSERT INTO {s}.jobs (sid, job_id, kind) SELECT %s, * FROM "
                         f"unnest(%b::text[], %b::text[]) ON CONFLICT (sid, job_id) DO NOTHING",
                         (sid, [j.job_id for j in ch.jobs_added],
                          [j.kind for j in ch.jobs_added]))
        if ch.jobs_finished:
            conn.execute(f"DELETE FROM {s}.jobs WHERE sid = %s AND job_id = ANY(%b::text[])",
                         (sid, ch.jobs_finished))

    # -- closing ------------------------------------------------------------------------

    def close(self, *, commit: bool = True) -> None:
        """Commit (unless ``commit`` is False) and release the lease. After the lease was
        lost there is nothing to commit to nor to release: what is pending is dropped (its
        writes were refused and reported; the new owner holds the journal). A loss this
        process was never told of (its renewal found it, no write did) is raised here, once,
        as :class:`LeaseLostError`, after the connections are closed."""
        lease = getattr(self, "lease", None)
        lost = lease.lost if lease is not None and not self.closed else None
        if commit and lost is not None:
            if self.pending:
                logger.info("journal %s: closed after its lease was lost; the changes not "
                            "committed are dropped", self.path)
            super().close(commit=False)
            if not getattr(self, "_loss_told", False):
                # found by the renewal while this process was paused, and never raised:
                # the owner learns it here rather than closing as if it had held the lease
                self._loss_told = True
                raise lost
            return
        super().close(commit=commit)

    def _release(self) -> None:
        """Give the lease back (unless it was lost) and close the connections."""
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._renewer is not None:
            self._renewer.stop()
        conn = self._conn
        lease = getattr(self, "lease", None)
        if lease is not None and lease.lost is None and not conn.closed:
            s = self.schema
            try:
                with conn.transaction():
                    conn.execute(f"UPDATE {s}.leases SET ended = clock_timestamp() "
                                 f"WHERE sid = %s AND token = %s", (lease.sid, lease.token))
                    conn.execute(f"UPDATE {s}.sessions SET lease_owner = NULL, "
                                 f"lease_expires = NULL, lease_backend = NULL WHERE sid = %s "
                                 f"AND lease_token = %s", (lease.sid, lease.token))
            except import_psycopg().Error as err:
                logger.warning("journal %s: the lease could not be released (%s); it is "
                               "free when it expires or the connection's end is seen",
                               self.path, err)
        conn.close()


def _renew(where: str, schema: str, key: SessionKey, lease: Lease, ttl_ms: int,
           conn: Any) -> None:
    """Renew ``lease`` on ``conn`` (the renewing thread's); raise LeaseLostError."""
    psycopg = import_psycopg()
    try:
        conn.execute(f"SELECT {schema}.renew(%s, %s, %s)", (lease.sid, lease.token, ttl_ms))
    except psycopg.Error as err:
        if getattr(err, "sqlstate", None) == FENCED:
            raise lease_lost(where, err, key.account, key.session_id, lease.token,
                             "renewing the lease") from None
        raise pg_error(where, err, "renewing the lease failed") from None


def _drop(conn: Any, renewer: Renewer | None) -> None:
    """A store dropped without close(): as a killed process, its connection just ends."""
    if renewer is not None:
        renewer.stop()
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - best effort at garbage collection
        pass
