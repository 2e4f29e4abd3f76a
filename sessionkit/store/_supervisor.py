"""Many sessions over several worker processes against one PostgreSQL journal.

Every worker stands by for every session of the list and runs the ones whose lease it
holds, each in a thread of its own (``run(store, stopping)``, the application's code). The
workers share nothing but the database: each writes a heartbeat row (``<schema>.workers``)
every ``interval`` seconds, counts the live workers from those rows, and balances by one
rule: **own ceil(N / live workers) sessions**. A worker below its share takes free leases
(released, expired, or whose holder's connection ended: a killed worker's at once); a worker
above it releases the excess cleanly: it sets the session's ``stopping`` event, waits for
``run`` to return (the session's last handled work is committed by then), then closes the
store, which commits what is left and releases the lease. A new owner resumes the session
from the journal, as a restart does.

One owner per session is the database's doing, not the workers': a worker takes a session
only by taking its lease (the fencing token goes up), and every journal write of the old
owner is refused from then on (:class:`LeaseLostError`). A worker that was paused and woken
finds its sessions' writes refused; its ``run`` raises, the worker drops them and goes back
to balancing.

A worker is live while its heartbeat row has not expired (``lease_ttl`` on the database's
clock) and its heartbeat connection is open (a killed worker's ends at once, so its sessions
move within one ``interval``; a paused one's after ``lease_ttl``).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import math
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._errors import JournalError, JournalLockedError, LeaseLostError
from ._pgio import connect, display_url, import_psycopg
from ._pgschema import check_schema_name
from ._postgres import PostgresStore, default_owner
from ._records import SessionKey

__all__ = ["Worker", "Supervisor", "RunSession", "lease_holders", "live_workers",
           "resolve_run", "session_keys"]

logger = logging.getLogger(__name__)

#: ``run(store, stopping)``: run the session journalled in ``store`` until it is done or
#: ``stopping`` is set; return with its handled work committed (the store is closed after)
RunSession = Callable[[PostgresStore, threading.Event], None]

_WORKERS_TABLE = """
CREATE TABLE IF NOT EXISTS {s}.workers (
    name text PRIMARY KEY,
    host text NOT NULL,
    pid int NOT NULL,
    backend int NOT NULL,
    backend_start timestamptz NOT NULL,
    started timestamptz NOT NULL DEFAULT clock_timestamp(),
    seen timestamptz NOT NULL,
    expires timestamptz NOT NULL,
    owned int NOT NULL DEFAULT 0
)
"""

_LIVE = """
w.expires > clock_timestamp() AND EXISTS (
    SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.backend
       AND a.backend_start = w.backend_start)
"""


def resolve_run(run: RunSession | str) -> RunSession:
    """``run`` itself, or the callable a ``"module:function"`` string names."""
    if callable(run):
        return run
    module, sep, attr = str(run).partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"run must be a callable or 'module:function', got {run!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"run {run!r} names a {type(obj).__name__}, not a callable")
    return obj  # type: ignore[no-any-return]


def session_keys(sessions: Iterable[SessionKey | tuple[str, str] | str]) -> list[SessionKey]:
    keys = []
    for s in sessions:
        if isinstance(s, SessionKey):
            keys.append(s)
            continue
        if isinstance(s, str):
            account, sep, session_id = s.partition("/")
            if not sep:
                raise ValueError(f"a session is 'account/session_id', got {s!r}")
        else:
            account, session_id = s
        keys.append(SessionKey(account, session_id))
    if len(set(keys)) != len(keys):
        raise ValueError("the session list names a session twice")
    if not keys:
        raise ValueError("the session list is empty")
    return keys


def lease_holders(conn: Any, schema: str = "sessionkit") -> dict[SessionKey, str]:
    """The sessions whose lease is held now (not released, not expired, its holder's
    connection open), with the holder's name."""
    s = check_schema_name(schema)
    if conn.execute("SELECT to_regclass(%s)", (f"{s}.sessions",)).fetchone()[0] is None:
        return {}
    rows = conn.execute(
        f"SELECT account, session_id, lease_owner FROM {s}.sessions s "
        f"WHERE lease_owner IS NOT NULL AND clock_timestamp() < lease_expires AND EXISTS ("
        f"SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.lease_backend "
        f"AND a.backend_start = s.lease_backend_start)").fetchall()
    return {SessionKey(a, i): o for a, i, o in rows}


def live_workers(conn: Any, schema: str = "sessionkit") -> dict[str, int]:
    """The live workers (see the module docstring) and the sessions each says it owns."""
    s = check_schema_name(schema)
    if conn.execute("SELECT to_regclass(%s)", (f"{s}.workers",)).fetchone()[0] is None:
        return {}
    return dict(conn.execute(f"SELECT name, owned FROM {s}.workers w WHERE {_LIVE}")
                .fetchall())


class _Running:
    """A session this worker owns: its store, its thread, its stop signal."""

    def __init__(self, key: SessionKey, store: PostgresStore, run: RunSession) -> None:
        self.key, self.store = key, store
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, args=(run,), daemon=True,
                                       name=f"session {key.account}/{key.session_id}")
        self.thread.start()

    def _main(self, run: RunSession) -> None:
        try:
            run(self.store, self.stopping)
        except BaseException as err:  # noqa: BLE001 - reported by the worker's loop
            self.error = err

    @property
    def fenced(self) -> bool:
        err: BaseException | None = self.error
        while err is not None:
            if isinstance(err, LeaseLostError):
                return True
            err = err.__cause__ or err.__context__
        return self.store.lease.lost is not None


class Worker:
    """One worker: stands by for ``sessions`` and runs its fair share (module docstring).

    ``url``: the journal database. ``sessions``: every session of the pool (the same list
    for every worker), as :class:`SessionKey`, ``(account, session_id)`` or
    ``"account/session_id"``. ``run``: the session's code (:data:`RunSession`, or
    ``"module:function"``). ``lease_ttl``: the sessions' lease and the heartbeat's time to
    live (a paused worker's sessions move after it). ``interval``: seconds between
    heartbeats and balancing rounds (default ``lease_ttl / 5``). ``store_options``: more
    :class:`PostgresStore` arguments (``durability``...). ``expect_workers``: how many
    workers start together with this one: until that many are live (at most
    ``2 * lease_ttl``) the share counts them, so that the first one up does not take
    every session only to release most of them a moment later.
    """

    def __init__(self, url: str, sessions: Iterable[SessionKey | tuple[str, str] | str],
                 run: RunSession | str, *, name: str | None = None,
                 schema: str = "sessionkit", lease_ttl: float = 10.0,
                 interval: float | None = None,
                 store_options: dict[str, Any] | None = None,
                 expect_workers: int = 1) -> None:
        self.url, self.keys = url, session_keys(sessions)
        self.run_session = resolve_run(run)
        self.name = name or default_owner()
        self.schema = check_schema_name(schema)
        if not 0.1 <= lease_ttl <= 86400:
            raise ValueError(f"lease_ttl must be seconds from 0.1 to 86400, got {lease_ttl!r}")
        self.lease_ttl = float(lease_ttl)
        self.interval = float(interval) if interval is not None else self.lease_ttl / 5
        if not 0 < self.interval < self.lease_ttl:
            raise ValueError(f"interval must be > 0 and below lease_ttl ({lease_ttl}), got "
                             f"{interval!r}")
        self.store_options = dict(store_options or {})
        self.running: dict[SessionKey, _Running] = {}
        self.done: set[SessionKey] = set()  # run returned by itself: held, not run again
        self._backoff: dict[SessionKey, float] = {}
        self._conn: Any = None
        self._hb_conn: Any = None
        self._hb_lock = threading.Lock()
        self._where = f"{display_url(url)} (worker {self.name})"
        self._rng = random.Random()
        #: workers started together: until that many are seen live (or 2 * lease_ttl
        #: passed) the share counts them all, so the first up does not take everything
        self.expect_workers = max(1, int(expect_workers))
        self._settle_until = 0.0

    # -- the database ----------------------------------------------------------------------

    def _connect(self, old: Any) -> Any:
        if old is not None and not (old.closed or old.broken):
            return old
        if old is not None:
            old.close()
        conn = connect(self.url, self._where, timeout=10, application_name="sessionkit worker")
        s = self.schema
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{s}.workers",))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            conn.execute(_WORKERS_TABLE.format(s=s))
        return conn

    def _db(self) -> Any:
        """The balancing loop's connection."""
        self._conn = self._connect(self._conn)
        return self._conn

    def heartbeat(self) -> dict[str, int]:
        """Write this worker's heartbeat row; return the live workers (with their counts).

        On a connection of its own, which marks the worker live while it is open: the
        heartbeat thread calls it every ``interval``, so a slow balancing round (opening
        many stores) does not make the worker look dead."""
        with self._hb_lock:
            return self._heartbeat()

    def _heartbeat(self) -> dict[str, int]:
        conn = self._hb_conn = self._connect(self._hb_conn)
        s = self.schema
        ttl_ms = round(self.lease_ttl * 1000)
        conn.execute(
            f"INSERT INTO {s}.workers (name, host, pid, backend, backend_start, seen, expires, "
            f"owned) SELECT %s, %s, %s, pg_backend_pid(), a.backend_start, clock_timestamp(), "
            f"clock_timestamp() + %s * interval '1 millisecond', %s FROM pg_stat_activity a "
            f"WHERE a.pid = pg_backend_pid() ON CONFLICT (name) DO UPDATE SET "
            f"host = excluded.host, pid = excluded.pid, backend = excluded.backend, "
            f"backend_start = excluded.backend_start, seen = excluded.seen, "
            f"expires = excluded.expires, owned = excluded.owned",
            (self.name, os.uname().nodename, os.getpid(), ttl_ms, len(self.running)))
        return live_workers(conn, s)

    # -- balancing -------------------------------------------------------------------------

    def share(self, live: int) -> int:
        """The sessions this worker should own when ``live`` workers are live."""
        return math.ceil(len(self.keys) / max(1, live))

    def balance(self) -> None:
        """One round: heartbeat, collect ended sessions, then take or release leases."""
        self._reap()
        live = self.heartbeat()
        if self.name not in live:  # its own row is live as it was just written
            live[self.name] = len(self.running)
        count = len(live)
        if self.expect_workers > 1 and time.monotonic() < self._settle_until:
            if count >= self.expect_workers:
                self._settle_until = 0.0  # everyone is up
            count = max(count, self.expect_workers)
        share = self.share(count)
        owned = len(self.running)
        if owned > share:
            self._release(owned - share)
        elif owned < share:
            self._acquire(share - owned)

    def _reap(self) -> None:
        for key, r in list(self.running.items()):
            if key in self.done and r.store.lease.lost is not None:
                logger.warning("worker %s: session %s/%s (done) was taken over", self.name,
                               key.account, key.session_id)
                del self.running[key]
                self.done.discard(key)
                r.store.close(commit=False)
                continue
            if r.thread.is_alive() or key in self.done:
                continue
            if r.error is None:
                self.done.add(key)  # done: kept (its lease is renewed), released on demand
                continue
            del self.running[key]
            if r.fenced:
                logger.warning("worker %s: session %s/%s was taken over (its lease moved on): "
                               "this worker stopped acting for it", self.name,
                               key.account, key.session_id)
                r.store.close(commit=False)
            else:
                logger.error("worker %s: session %s/%s failed (%s: %s); it is released and "
                             "taken again after %.1f s", self.name, key.account,
                             key.session_id, type(r.error).__name__, r.error, self.lease_ttl,
                             exc_info=r.error)
                self._close(r)
                self._backoff[key] = time.monotonic() + self.lease_ttl

    def _close(self, r: _Running) -> None:
        self.done.discard(r.key)
        try:
            r.store.close()
        except LeaseLostError as err:
            logger.warning("worker %s: session %s/%s: %s", self.name, r.key.account,
                           r.key.session_id, err)
        except JournalError as err:
            logger.error("worker %s: session %s/%s could not be closed cleanly: %s",
                         self.name, r.key.account, r.key.session_id, err)
            r.store.close(commit=False)

    def _acquire(self, wanted: int) -> None:
        held = lease_holders(self._db(), self.schema)
        now = time.monotonic()
        free = [k for k in self.keys if k not in held and k not in self.running
                and self._backoff.get(k, 0.0) <= now]
        self._rng.shuffle(free)  # workers taking at once mostly try different sessions
        # opened at once (a connection and a transaction each: sequentially, a worker taking
        # over 13 sessions on a loaded 2-CPU host took 2 s, tools/supervisor_run.py); one
        # another worker took first is tried no more this round
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for key, got in zip(free, pool.map(self._open, free[:wanted]), strict=False):
                if got is not None:
                    self.running[key] = _Running(key, got, self.run_session)

    def _open(self, key: SessionKey) -> PostgresStore | None:
        try:
            store = PostgresStore(self.url, account=key.account, session_id=key.session_id,
                                  schema=self.schema, lease_ttl=self.lease_ttl,
                                  owner=self.name, **self.store_options)
        except JournalLockedError:
            return None  # another worker took it first
        except JournalError as err:
            logger.error("worker %s: session %s/%s cannot be opened: %s", self.name,
                         key.account, key.session_id, err)
            self._backoff[key] = time.monotonic() + self.lease_ttl
            return None
        logger.info("worker %s: took session %s/%s (fencing token %d)", self.name,
                    key.account, key.session_id, store.token)
        return store

    def _release(self, excess: int, timeout: float = 60.0) -> None:
        """Release ``excess`` sessions: stop them (in parallel), then close each."""
        # the done ones first (nothing to stop), then the longest held
        order = sorted(self.running, key=lambda k: k not in self.done)[:excess]
        self.stop_sessions(order, timeout)

    def stop_sessions(self, keys: Sequence[SessionKey], timeout: float = 60.0) -> None:
        runs = [self.running[k] for k in keys]
        for r in runs:
            r.stopping.set()
        deadline = time.monotonic() + timeout
        for r in runs:
            r.thread.join(max(0.0, deadline - time.monotonic()))
            if r.thread.is_alive():
                logger.error("worker %s: session %s/%s did not stop within %.0f s; it keeps "
                             "its lease", self.name, r.key.account, r.key.session_id, timeout)
                continue
            del self.running[r.key]
            if r.error is not None and r.fenced:
                r.store.close(commit=False)
            else:
                if r.error is not None:
                    logger.error("worker %s: session %s/%s failed while stopping: %s",
                                 self.name, r.key.account, r.key.session_id, r.error)
                self._close(r)
            logger.info("worker %s: released session %s/%s", self.name, r.key.account,
                        r.key.session_id)

    # -- the loop ----------------------------------------------------------------------------

    def serve(self, stop: threading.Event | None = None) -> None:
        """Balance every ``interval`` until ``stop`` is set; then release every session
        cleanly and remove the heartbeat row."""
        stop = stop or threading.Event()
        psycopg = import_psycopg()
        beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(beating, psycopg), daemon=True,
                                name=f"sessionkit worker heartbeat {self.name}")
        try:
            # let workers started together see each other before anyone takes a share
            self._settle_until = time.monotonic() + 2 * self.lease_ttl
            self._safe_heartbeat(psycopg)
            beat.start()
            stop.wait(self.interval * 2)
            while not stop.is_set():
                try:
                    self.balance()
                except (JournalError, psycopg.Error) as err:
                    logger.warning("worker %s: a balancing round failed (tried again in "
                                   "%.1f s): %s", self.name, self.interval, err)
                    if self._conn is not None:
                        self._conn.close()
                stop.wait(self.interval)
        finally:
            self.stop_sessions(list(self.running))
            beating.set()
            if beat.is_alive():
                beat.join(10)
            self._leave(psycopg)

    def close(self) -> None:
        """Release every session cleanly and leave (for a worker driven by :meth:`balance`
        rather than :meth:`serve`)."""
        self.stop_sessions(list(self.running))
        self._leave(import_psycopg())

    def _beat(self, stopped: threading.Event, psycopg: Any) -> None:
        while not stopped.wait(self.interval):
            self._safe_heartbeat(psycopg)

    def _safe_heartbeat(self, psycopg: Any) -> None:
        try:
            self.heartbeat()
        except (JournalError, psycopg.Error) as err:
            logger.warning("worker %s: heartbeat failed: %s", self.name, err)
            with self._hb_lock:
                if self._hb_conn is not None:
                    self._hb_conn.close()

    def _leave(self, psycopg: Any) -> None:
        conn, self._conn = self._conn, None
        with self._hb_lock:
            hb, self._hb_conn = self._hb_conn, None
        for c in (hb, conn):
            if c is None or c.closed:
                continue
            if c is hb:
                try:
                    c.execute(f"DELETE FROM {self.schema}.workers WHERE name = %s",
                              (self.name,))
                except psycopg.Error as err:
                    logger.warning("worker %s: its heartbeat row could not be removed (it "
                                   "expires): %s", self.name, err)
            c.close()


def _worker_main(url: str, sessions: list[tuple[str, str]], run: RunSession | str,
                 options: dict[str, Any]) -> None:
    """A worker process: serve until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    level = options.pop("log_level", None)
    if level:
        logging.basicConfig(level=level, format="%(asctime)s %(processName)s %(message)s")
    Worker(url, sessions, run, **options).serve(stop)


class Supervisor:
    """Starts and stops worker processes on one machine (:class:`Worker` each, module
    docstring). Workers on other machines join by running a :class:`Worker` (or
    ``sessionkit supervise``) with the same database and session list.

    ``run`` crosses to the worker processes: a ``"module:function"`` string, or a function
    importable there (a module's top-level function).
    """

    def __init__(self, url: str, sessions: Iterable[SessionKey | tuple[str, str] | str],
                 run: RunSession | str, *, workers: int = 2, schema: str = "sessionkit",
                 lease_ttl: float = 10.0, interval: float | None = None,
                 store_options: dict[str, Any] | None = None,
                 log_level: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        self.url, self.keys, self.run = url, session_keys(sessions), run
        self.workers = workers
        self.options: dict[str, Any] = {
            "schema": check_schema_name(schema), "lease_ttl": lease_ttl, "interval": interval,
            "store_options": dict(store_options or {}), "log_level": log_level}
        self.processes: list[Any] = []
        self._ctx = multiprocessing.get_context("spawn")
        self._made = 0

    def add_worker(self, *, expect: int = 1) -> Any:
        """Start one more worker process (it takes a fair share from the others)."""
        self._made += 1
        name = f"{default_owner()}/w{self._made}"
        p = self._ctx.Process(target=_worker_main, name=name, daemon=False, args=(
            self.url, [(k.account, k.session_id) for k in self.keys], self.run,
            {**self.options, "name": name, "expect_workers": expect}))
        p.start()
        self.processes.append(p)
        return p

    def start(self) -> None:
        """Start ``workers`` processes (each counts the others as live while they start)."""
        for _ in range(self.workers):
            self.add_worker(expect=self.workers)

    def owners(self) -> dict[SessionKey, str]:
        """Who holds each session's lease now (a session nobody holds is absent)."""
        with import_psycopg().connect(self.url, autocommit=True) as conn:
            held = lease_holders(conn, str(self.options["schema"]))
        return {k: o for k, o in held.items() if k in set(self.keys)}

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every worker cleanly (SIGTERM: each releases its sessions), then wait."""
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                logger.error("worker %s did not stop within %.0f s: killed", p.name, timeout)
                p.kill()
                p.join()

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
