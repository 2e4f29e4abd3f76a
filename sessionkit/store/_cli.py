"""``sessionkit journal show|export|check|reset PATH``: look at a journal, check it, reset it.

PATH is a SQLite journal file or a PostgreSQL database URL (``postgresql://...``), with
``--account`` and ``--session-id`` naming the session when the database holds more than one
(:mod:`._pgcli`; ``show URL`` with neither lists the sessions).

``show`` and ``export`` open the journal read-only and do not lock it, so a
live session's journal can be looked at while its process writes it (WAL
readers do not block the writer). ``show_journal(path, output)`` prints the
session, the cursor, the run id and the requests in flight as a table;
``export_journal(path, output)`` writes JSON lines.

``check_journal(path)`` makes every check a store makes when it opens the
journal (damage, schema, integrity), changing nothing; ``reset_journal(path)``
is the explicit fresh start for a damaged journal: its files are moved aside
to ``<path>.damaged-<time>`` and the next store opened on the path starts a
new journal. :data:`journal_group` is the click group that the
``sessionkit`` command mounts.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import sys
from typing import IO, Any

import attrs
import click
import msgspec

from ._errors import JournalCorruptError, JournalError, JournalLockedError, JournalTooNewError
from ._files import check_files, move_aside, wal_path
from ._pgio import display_url, is_postgres_url
from ._schema import REQUIRED_TABLES, SCHEMA_VERSION
from ._sqlio import read_only_uri
from ._sqlite import inspect_journal, lock_path, take_lock

__all__ = ["JournalView", "read_journal", "show_journal", "export_journal", "check_journal",
           "reset_journal", "journal_group", "register"]


@attrs.frozen
class JournalView:
    """Everything a journal file holds, read as it is (no migration, no lock)."""

    path: str
    schema_version: int
    session: dict[str, Any]
    owner: dict[str, Any] | None
    messages: list[dict[str, Any]]
    intents: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    #: a process holds the journal's lock now (PostgreSQL: its lease, live)
    writer_running: bool
    #: a PostgreSQL journal's lease: token, owner, host, pid, acquired, expires, live
    lease: dict[str, Any] | None = None


def _rows(conn: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def _read_pg(url: str, account: str | None, session_id: str | None,
             schema: str) -> JournalView:
    from ._pgcli import pick_session, read_pg_journal

    account, session_id = pick_session(url, account, session_id, schema=schema)
    j = read_pg_journal(url, account, session_id, schema=schema)
    lease = j["lease"]
    owner = ({"pid": lease["pid"], "host": lease["host"], "started": lease["acquired"],
              "owner": lease["owner"], "token": lease["token"]}
             if lease["owner"] is not None else None)
    return JournalView(f"{display_url(url)} (account {account}, session {session_id})",
                       j["version"], j["session"], owner, j["messages"], j["intents"],
                       j["jobs"], bool(lease["live"]), lease)


def read_journal(path: str | os.PathLike[str], *, account: str | None = None,
                 session_id: str | None = None, schema: str = "sessionkit") -> JournalView:
    """Read a journal read-only; raises a :class:`JournalError` naming what is wrong.

    ``path``: a SQLite journal file, or a PostgreSQL URL with the session's ``account``
    and ``session_id`` (either may be left out when it leaves one session to choose).
    """
    if is_postgres_url(path):
        return _read_pg(str(path), account, session_id, schema)
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path) and not os.path.exists(wal_path(path)):
        raise JournalError(path, "no such journal file")
    if not _locked(path):
        check_files(path)  # a live journal's -wal is being written: its writer checked it
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise JournalCorruptError(path, f"not a SQLite database (it starts with {head[:16]!r})")
    try:
        # no -wal: read the file as it is, creating no -wal or -shm beside it
        conn = sqlite3.connect(read_only_uri(path, immutable=not os.path.exists(wal_path(path))),
                               uri=True)
    except sqlite3.Error as err:
        raise JournalError(path, f"cannot be opened read-only: {err}") from None
    try:
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            raise JournalCorruptError(path, f"not a usable SQLite database: {err}") from None
        if version > SCHEMA_VERSION:
            raise JournalTooNewError(path, f"schema version {version} is newer than the version "
                                           f"{SCHEMA_VERSION} this sessionkit reads")
        if version == 0:
            raise JournalCorruptError(path, "not a sessionkit journal (no schema version)")
        missing = REQUIRED_TABLES[version] - tables
        if missing:
            raise JournalCorruptError(path, f"missing table {', '.join(sorted(missing))} "
                                            f"(schema version {version})")
        try:
            session = _rows(conn, "SELECT * FROM session WHERE id = 1")
            owner = _rows(conn, "SELECT pid, host, started, incarnation FROM owner WHERE id = 1")
            messages = _rows(conn, "SELECT * FROM messages ORDER BY seq")
            intents = (_rows(conn, "SELECT key, operation, payload_hash, cid, outcome FROM "
                                   "intents ORDER BY rowid") if version >= 2 else [])
            jobs = (_rows(conn, "SELECT job_id, kind FROM jobs ORDER BY rowid")
                    if version >= 2 else [])
        except sqlite3.DatabaseError as err:
            raise JournalCorruptError(path, f"cannot be read: {err}") from None
    finally:
        conn.close()
    if not session:
        raise JournalCorruptError(path, "the session row is missing")
    decode_payloads(path, messages)
    for m in messages:
        m.setdefault("attempts", 0)
    owned = owner[0] if owner and owner[0]["pid"] is not None else None
    return JournalView(path, version, session[0], owned, messages, intents, jobs,
                       _locked(path))


def decode_payloads(where: str, messages: list[dict[str, Any]]) -> None:
    """Each journalled message's ``payload`` (JSON) becomes its ``request`` (a dict), as
    shown and exported; a payload that is not JSON is :class:`JournalCorruptError` at
    ``where`` (a SQLite path or a PostgreSQL URL), naming the message."""
    for m in messages:
        try:
            m["request"] = msgspec.json.decode(m.pop("payload"))
        except msgspec.DecodeError as err:
            raise JournalCorruptError(where, f"message {m['cid']!r} has a payload that is not "
                                             f"JSON: {err}") from None


def _locked(path: str) -> bool:
    """True when a writer holds the journal's lock (tested without waiting, then let go)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _summary(request: dict[str, Any]) -> str:
    rest = {k: v for k, v in request.items() if k not in ("type", "cid")}
    if request.get("type") == "batch":
        return f"{len(rest.get('messages', []))} messages"
    text = " ".join(f"{k}={v}" for k, v in rest.items())
    return text if len(text) <= 60 else text[:57] + "..."


def show_journal(path: str | os.PathLike[str], output: IO[str], *,
                 account: str | None = None, session_id: str | None = None,
                 schema: str = "sessionkit") -> None:
    """Print the journal's session, cursor, run id and requests in flight as a table
    (a PostgreSQL URL naming no session and holding several: the list of its sessions)."""
    if is_postgres_url(path) and account is None and session_id is None:
        from ._pgcli import list_sessions

        sessions = list_sessions(str(path), schema=schema)
        if len(sessions) != 1:
            _show_sessions(str(path), sessions, output)
            return
    v = read_journal(path, account=account, session_id=session_id, schema=schema)
    s = v.session
    w = output.write
    w(f"journal      {v.path} (schema version {v.schema_version})\n")
    w(f"session      account {s['account']}, session {s['session_id']}, "
      f"journal id {s['journal_id']}, incarnation {s['incarnation']}\n")
    if v.lease is not None:
        lease = v.lease
        if lease["owner"] is None:
            w(f"writer       none (lease released; fencing token {lease['token']})\n")
        else:
            state = ("running" if v.writer_running else "lease expired or its connection "
                     "gone: the next opener takes it over")
            w(f"writer       {lease['owner']} (pid {lease['pid']} on {lease['host']}) since "
              f"{lease['acquired']}, fencing token {lease['token']}, lease until "
              f"{lease['expires']} ({state})\n")
    elif v.owner is not None:
        started = str(v.owner["started"]).partition(" proc ")[0]
        state = "running" if v.writer_running else "gone: it ended without closing"
        w(f"writer       pid {v.owner['pid']} on {v.owner['host']} since {started} "
          f"({state})\n")
    else:
        w(f"writer       {'a process holds the lock' if v.writer_running else 'none'}\n")
    w(f"run id       {s['run_id'] or '-'}\n")
    w(f"cursor       last event id {s['last_event_id']} (resumes with "
      f"{s['last_event_id'] + 1})\n")
    open_intents = sum(1 for i in v.intents if i["outcome"] is None)
    w(f"intents      {len(v.intents)} ({open_intents} open)\n")
    w(f"jobs         {len(v.jobs)} in flight{': ' if v.jobs else ''}"
      f"{', '.join(j['job_id'] for j in v.jobs)}\n")
    w(f"in flight    {len(v.messages)} requests\n")
    if not v.messages:
        return
    head = ("CID", "STATE", "MID", "SENT", "PARENT", "RUN", "TYPE", "REQUEST")
    rows = [(m["cid"], m["state"], "-" if m["mid"] is None else str(m["mid"]),
             str(m["attempts"]), m["parent"] or "-", m["run_id"] or "-", m["type"],
             _summary(m["request"])) for m in v.messages]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        w("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1]
          + "\n")


def _show_sessions(url: str, sessions: list[dict[str, Any]], output: IO[str]) -> None:
    w = output.write
    w(f"database     {display_url(url)}: {len(sessions)} session journals\n")
    if not sessions:
        return
    head = ("ACCOUNT", "SESSION", "CURSOR", "IN FLIGHT", "INCARNATION", "TOKEN", "OWNER")
    rows = [(r["account"], r["session_id"], str(r["last_event_id"]), str(r["in_flight"]),
             str(r["incarnation"]), str(r["lease_token"]),
             "-" if r["lease_owner"] is None else
             f"{r['lease_owner']} ({'live' if r['lease_live'] else 'expired'})")
            for r in sessions]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        w("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1]
          + "\n")


def export_journal(path: str | os.PathLike[str], output: IO[str], *,
                   account: str | None = None, session_id: str | None = None,
                   schema: str = "sessionkit") -> int:
    """Write the journal as JSON lines (a session line, then messages, intents, jobs).

    Each line's ``record`` names what it holds.

    Returns the number of lines written.
    """
    v = read_journal(path, account=account, session_id=session_id, schema=schema)
    lines = [{"record": "session", "path": v.path, "schema_version": v.schema_version,
              **{k: val for k, val in v.session.items() if k != "id"}, "writer": v.owner,
              "writer_running": v.writer_running}]
    if v.lease is not None:
        lines[0]["lease"] = v.lease
    lines += [{"record": "message", **m} for m in v.messages]
    lines += [{"record": "intent", **i} for i in v.intents]
    lines += [{"record": "job", **j} for j in v.jobs]
    for line in lines:
        output.write(msgspec.json.encode(line).decode() + "\n")
    return len(lines)


def check_journal(path: str | os.PathLike[str], *, account: str | None = None,
                  session_id: str | None = None, schema: str = "sessionkit") -> str:
    """Make the checks a store makes when it opens the journal; return a one-line verdict.

    Raises the :class:`JournalError` the store would raise (a damaged journal:
    :class:`JournalCorruptError`, naming what is wrong and what to do). Nothing is
    changed. A journal a writer holds is not checked (its writer did so when it
    opened it): :class:`JournalLockedError`. (PostgreSQL: the schema, the session and
    every request it holds are checked, whoever holds its lease.)
    """
    if is_postgres_url(path):
        from ._pgcli import check_pg_journal, pick_session

        account, session_id = pick_session(str(path), account, session_id, schema=schema)
        return check_pg_journal(str(path), account, session_id, schema=schema)
    path = os.path.abspath(os.fspath(path))
    if _locked(path):
        raise JournalLockedError(path, "is open in a writer; a live journal was checked by its "
                                       "writer when it opened it")
    state = check_files(path)
    if not state.exists:
        raise JournalError(path, "no such journal file")
    session, _ = inspect_journal(path, state)
    return (f"journal {path}: ok (account {session[0]}, session {session[1]}, last event id "
            f"{session[2]}, incarnation {session[3]})")


def reset_journal(path: str | os.PathLike[str], *, force: bool = False,
                  account: str | None = None, session_id: str | None = None,
                  schema: str = "sessionkit") -> str:
    """The explicit fresh start: move a damaged journal's files aside; return their new name.

    The next store opened on ``path`` creates a new journal: the session resumes
    from nothing and the requests the old journal held in flight are forgotten
    (check them at the exchange). A journal that is not damaged is only reset
    with ``force``; a journal a writer holds never is (:class:`JournalLockedError`).
    (PostgreSQL: the session's journal is renamed ``<session id>.damaged-<time>``;
    the account and session id must be named.)
    """
    if is_postgres_url(path):
        from ._pgcli import reset_pg_journal

        if account is None or session_id is None:
            raise JournalError(str(path), "reset needs the session named: --account and "
                                          "--session-id")
        return reset_pg_journal(str(path), account, session_id, force=force, schema=schema)
    path = os.path.abspath(os.fspath(path))
    if not os.path.lexists(path) and not os.path.lexists(wal_path(path)):
        raise JournalError(path, "no such journal file: nothing to reset")
    fd = take_lock(path)
    try:
        if not force:
            try:
                state = check_files(path)
                session, _ = inspect_journal(path, state)
            except JournalCorruptError:
                pass  # damaged: what reset is for
            except JournalError as err:
                raise JournalError(path, f"is not damaged but cannot be used ({err.problem}); "
                                         f"pass force=True (--force) to reset it anyway"
                                         ) from None
            else:
                raise JournalError(path, f"is not damaged (last event id {session[2]}); a "
                                         f"reset forgets what it holds: pass force=True "
                                         f"(--force) to reset it anyway")
        return move_aside(path)
    finally:
        os.close(fd)


@click.group("journal")
def journal_group() -> None:
    """Inspect, check and reset session journals."""


def _session_options(f: Any) -> Any:
    f = click.option("--schema", default="sessionkit", show_default=True,
                     help="PostgreSQL: the schema holding the journal's tables")(f)
    f = click.option("--session-id", default=None,
                     help="PostgreSQL: the session id (needed when the account has several)")(f)
    f = click.option("--account", default=None,
                     help="PostgreSQL: the session's account (needed when the database "
                          "holds several)")(f)
    return f


@journal_group.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
@_session_options
def _show(path: str, account: str | None, session_id: str | None, schema: str) -> None:
    """Print the cursor, run id and requests in flight of the journal at PATH (a file or a
    postgresql:// URL; a URL naming no session: the list of its sessions)."""
    try:
        show_journal(path, sys.stdout, account=account, session_id=session_id, schema=schema)
    except JournalError as err:
        raise click.ClickException(str(err)) from None


@journal_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.File("w"), default="-",
              help="where the JSON lines go (default: standard output)")
@_session_options
def _export(path: str, output: IO[str], account: str | None, session_id: str | None,
            schema: str) -> None:
    """Write the journal at PATH (a file or a postgresql:// URL) as JSON lines."""
    try:
        export_journal(path, output, account=account, session_id=session_id, schema=schema)
    except JournalError as err:
        raise click.ClickException(str(err)) from None


@journal_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@_session_options
def _check(path: str, account: str | None, session_id: str | None, schema: str) -> None:
    """Check the journal at PATH (a file or a postgresql:// URL) as a store opening it
    would (changes nothing).

    Exits with status 1 and says what is wrong and what to do when it would be refused.
    """
    try:
        click.echo(check_journal(path, account=account, session_id=session_id,
                                 schema=schema))
    except JournalError as err:
        raise click.ClickException(str(err)) from None


@journal_group.command("reset")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="reset a journal that is not damaged too (it forgets what it holds)")
@_session_options
def _reset(path: str, force: bool, account: str | None, session_id: str | None,
           schema: str) -> None:
    """Start the journal at PATH afresh: move its damaged files aside (PostgreSQL: rename
    the session's journal to <session id>.damaged-<time>).

    The next session opened on PATH resumes from nothing: the requests the old
    journal held in flight are forgotten (check them at the exchange).
    """
    try:
        moved = reset_journal(path, force=force, account=account, session_id=session_id,
                              schema=schema)
    except JournalError as err:
        raise click.ClickException(str(err)) from None
    where = display_url(path) if is_postgres_url(path) else os.path.abspath(path)
    click.echo(f"journal {where}: moved aside to {moved}; the next session "
               f"opened on it starts a new journal")


def register(cli: Any) -> None:
    """Add ``journal show|export`` to the ``sessionkit`` click group ``cli``."""
    cli.add_command(journal_group)
