"""``sessionkit journal`` on a PostgreSQL journal: read, list, check and reset sessions.

A PostgreSQL database holds the journals of many sessions; these functions name one by its
account and session id (:func:`pick_session` finds it when the account alone, or nothing,
says which). Reading takes no lease and no lock (a plain read-only transaction), so a live
session's journal can be looked at while its owner writes it.
"""

from __future__ import annotations

import time
from typing import Any

from ._errors import JournalCorruptError, JournalError, JournalLockedError, JournalTooNewError
from ._pgio import connect, display_url, import_psycopg, pg_error
from ._pgschema import PG_REQUIRED_TABLES, PG_SCHEMA_VERSION, check_schema_name
from ._postgres import read_messages, schema_version

__all__ = ["list_sessions", "pick_session", "read_pg_journal", "check_pg_journal",
           "reset_pg_journal"]

_SESSION = """
SELECT sid, account, session_id, journal_id, created, run_id, last_event_id, incarnation,
       next_seq, lease_token, lease_owner, lease_host, lease_pid, lease_acquired, lease_expires,
       lease_owner IS NOT NULL AND clock_timestamp() < lease_expires
         AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = lease_backend
                     AND a.backend_start = lease_backend_start) AS lease_live
  FROM {s}.sessions
"""


def _where(url: str, account: str | None = None, session_id: str | None = None) -> str:
    db = display_url(url)
    return db if account is None else f"{db} (account {account}, session {session_id})"


def _open(url: str, schema: str) -> tuple[Any, int]:
    """A read connection and the schema's version (refusing a missing or newer schema)."""
    check_schema_name(schema)
    where = _where(url)
    conn = connect(url, where, timeout=10, application_name="sessionkit journal cli")
    try:
        version = schema_version(conn, schema)
    except import_psycopg().Error as err:
        conn.close()
        raise pg_error(where, err, "cannot be read") from None
    if version is None:
        conn.close()
        raise JournalError(where, f"holds no sessionkit journal (no schema {schema}.meta)")
    if version > PG_SCHEMA_VERSION:
        conn.close()
        raise JournalTooNewError(where, f"schema {schema} is at version {version}, newer than the "
                                        f"version {PG_SCHEMA_VERSION} this sessionkit reads")
    tables = {r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
    missing = PG_REQUIRED_TABLES[version] - tables
    if missing:
        conn.close()
        raise JournalCorruptError(where, f"schema {schema} lacks table "
                                         f"{', '.join(sorted(missing))} (version {version})")
    return conn, version


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def list_sessions(url: str, *, schema: str = "sessionkit") -> list[dict[str, Any]]:
    """Every session in the database: its row (cursor, incarnation, lease) and how many
    requests it holds in flight."""
    conn, _ = _open(url, schema)
    try:
        rows = _dicts(conn.execute(
            f"SELECT j.*, (SELECT count(*) FROM {schema}.messages m WHERE m.sid = j.sid) "
            f"AS in_flight FROM ({_SESSION.format(s=schema)}) j ORDER BY account, session_id"))
    finally:
        conn.close()
    return rows


def pick_session(url: str, account: str | None, session_id: str | None, *,
                 schema: str = "sessionkit") -> tuple[str, str]:
    """The (account, session id) named, or the only one that fits; else JournalError
    listing the candidates."""
    if account is not None and session_id is not None:
        return account, session_id
    found = [(r["account"], r["session_id"]) for r in list_sessions(url, schema=schema)
             if account is None or r["account"] == account]
    if len(found) == 1:
        return found[0]
    what = f"account {account}" if account else "the database"
    if not found:
        raise JournalError(_where(url), f"{what} holds no session journal")
    raise JournalError(_where(url), f"{what} holds {len(found)} session journals; name one "
                                    f"with --account and --session-id: "
                                    + ", ".join(f"{a}/{s}" for a, s in found[:20]))


def read_pg_journal(url: str, account: str, session_id: str, *,
                    schema: str = "sessionkit") -> dict[str, Any]:
    """One session's journal, read as it is: ``{version, session, lease, messages,
    intents, jobs}`` (each request decoded from its JSON)."""
    from ._cli import decode_payloads  # _cli imports this module when it meets a URL

    where = _where(url, account, session_id)
    conn, version = _open(url, schema)
    try:
        cur = conn.execute(_SESSION.format(s=schema) + " WHERE account = %s AND session_id = %s",
                           (account, session_id))
        found = _dicts(cur)
        if not found:
            raise JournalError(where, "no such session journal in the database")
        session = found[0]
        sid = session.pop("sid")
        messages = _dicts(conn.execute(
            f"SELECT cid, seq, type, payload, state, mid, parent, run_id, attempts "
            f"FROM {schema}.messages WHERE sid = %s ORDER BY seq", (sid,)))
        intents = _dicts(conn.execute(
            f"SELECT key, operation, payload_hash, cid, outcome FROM {schema}.intents "
            f"WHERE sid = %s ORDER BY ord", (sid,)))
        jobs = _dicts(conn.execute(f"SELECT job_id, kind FROM {schema}.jobs WHERE sid = %s "
                                   f"ORDER BY ord", (sid,)))
    except import_psycopg().Error as err:
        raise pg_error(where, err, "cannot be read") from None
    finally:
        conn.close()
    decode_payloads(where, messages)
    lease = {k[6:]: session.pop(k) for k in list(session) if k.startswith("lease_")}
    for k in ("created",):
        session[k] = str(session[k])
    for k in ("acquired", "expires"):
        lease[k] = None if lease[k] is None else str(lease[k])
    return {"version": version, "session": session, "lease": lease, "messages": messages,
            "intents": intents, "jobs": jobs}


def check_pg_journal(url: str, account: str, session_id: str, *,
                     schema: str = "sessionkit") -> str:
    """The checks a store makes when it opens the session's journal, changing nothing;
    a one-line verdict, or the :class:`JournalError` the store would raise."""
    where = _where(url, account, session_id)
    conn, _ = _open(url, schema)
    try:
        row = conn.execute(f"SELECT sid, last_event_id, incarnation, lease_token FROM "
                           f"{schema}.sessions WHERE account = %s AND session_id = %s",
                           (account, session_id)).fetchone()
        if row is None:
            raise JournalError(where, "no such session journal in the database")
        read_messages(conn, schema, row[0], where)
    except import_psycopg().Error as err:
        raise pg_error(where, err, "cannot be read") from None
    finally:
        conn.close()
    return (f"journal {where}: ok (last event id {row[1]}, incarnation {row[2]}, fencing "
            f"token {row[3]})")


def reset_pg_journal(url: str, account: str, session_id: str, *, force: bool = False,
                     schema: str = "sessionkit") -> str:
    """The explicit fresh start: move the session's journal aside (its session id becomes
    ``<id>.damaged-<time>``); the next store opened on it starts a new journal. A journal
    whose lease is held is never reset (:class:`JournalLockedError`); one that is not damaged
    only with ``force``. Returns where it went."""
    where = _where(url, account, session_id)
    conn, _ = _open(url, schema)
    psycopg = import_psycopg()
    try:
        with conn.transaction():
            row = conn.execute(
                _SESSION.format(s=schema) + " WHERE account = %s AND session_id = %s "
                                            "FOR UPDATE", (account, session_id)).fetchone()
            if row is None:
                raise JournalError(where, "no such session journal: nothing to reset")
            sid, last, token, owner, expires, live = (row[0], row[6], row[9], row[10],
                                                      row[14], row[15])
            if live:
                raise JournalLockedError(where, f"its lease is held by {owner} (fencing token "
                                                f"{token}) until {expires}; a live journal is "
                                                f"never reset")
            if not force:
                try:
                    read_messages(conn, schema, sid, where)
                except JournalCorruptError:
                    pass  # damaged: what reset is for
                else:
                    raise JournalError(where, f"is not damaged (last event id {last}); a reset "
                                              f"forgets what it holds: pass force=True "
                                              f"(--force) to reset it anyway")
            moved = f"{session_id}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
            conn.execute(f"UPDATE {schema}.sessions SET session_id = %s, lease_owner = NULL, "
                         f"lease_expires = NULL WHERE sid = %s", (moved, sid))
    except psycopg.Error as err:
        raise pg_error(where, err, "cannot be reset") from None
    finally:
        conn.close()
    return f"session {account}/{moved}"
