"""The PostgreSQL journal's schema, its migrations and its fencing function.

One database (one PostgreSQL schema in it, ``sessionkit`` by default) holds the journals of
many sessions, each keyed by (account, session id). ``<schema>.meta`` holds the schema
version; ``PG_MIGRATIONS[i]`` takes the schema from version ``i`` to ``i + 1`` (index 0
creates version 1), step by step, in the transaction that opens a store, under an advisory
lock so that two processes opening at once migrate once.

Every name is qualified with the schema: the scripts hold ``{s}``, which :func:`script`
fills in with a checked identifier.

``fence(sid, token, ttl, ...)`` is the first statement of every write transaction: it extends
the lease (and writes the session row's cursor, run and sequence when they changed) and holds
the session row's lock until the commit, or, when the lease's token is no
longer ``token`` (another owner took it over), raises SQLSTATE ``SKF01`` (DETAIL: the new
token and owner), which aborts the transaction: nothing of the write is recorded. A takeover
updates the same row, so it waits for a write in progress and a write waits for a takeover in
progress: the writes of two owners never interleave. ``renew`` is ``fence`` for the
renewing thread (it writes nothing else).
"""

from __future__ import annotations

import re

__all__ = ["PG_SCHEMA_VERSION", "PG_MIGRATIONS", "PG_REQUIRED_TABLES", "FENCED", "script",
           "check_schema_name", "SCHEMA_LOCK"]

#: the SQLSTATE the fencing function raises when the lease moved on (a class of our own)
FENCED = "SKF01"

#: the advisory lock key that serialises schema creation and migration (any fixed bigint)
SCHEMA_LOCK = 0x736B6A6F75726E  # "skjourn"

#: version 1: the sessions with their leases, the requests not final, intents, jobs, the
#: lease history and the fencing function every write calls first
_V1 = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE {s}.meta (
    id int PRIMARY KEY CHECK (id = 1),
    version int NOT NULL
);
CREATE TABLE {s}.sessions (
    sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account text NOT NULL,
    session_id text NOT NULL,
    journal_id text NOT NULL,
    created timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id text,
    last_event_id bigint NOT NULL DEFAULT 0,
    incarnation bigint NOT NULL DEFAULT 0,
    next_seq bigint NOT NULL DEFAULT 1,
    -- the lease: its fencing token rises at every acquisition and never falls
    lease_token bigint NOT NULL DEFAULT 0,
    lease_owner text,
    lease_host text,
    lease_pid int,
    lease_backend int,
    lease_backend_start timestamptz,
    lease_acquired timestamptz,
    lease_expires timestamptz,
    UNIQUE (account, session_id)
);
CREATE TABLE {s}.messages (
    sid bigint NOT NULL,
    cid text NOT NULL,
    seq bigint NOT NULL,
    type text NOT NULL,
    payload text NOT NULL,
    state text NOT NULL,
    mid bigint,
    parent text,
    run_id text,
    attempts int NOT NULL DEFAULT 0,
    -- cid first, and no index on sid alone: a commit finds its rows by cid = ANY(...), not
    -- by scanning the dead entries a session's churn (rows inserted, then deleted when
    -- final) leaves under its sid until the table is vacuumed (an index on sid made the
    -- planner scan them: 64-row commits took 3 times as long, tools/bench_journal.py);
    -- opening a session reads the table through (it holds only requests in flight)
    PRIMARY KEY (cid, sid)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
CREATE TABLE {s}.intents (
    sid bigint NOT NULL,
    key text NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY,
    operation text NOT NULL,
    payload_hash text NOT NULL,
    cid text,
    outcome text,
    -- the fencing token of the commit that wrote it last: in ord order these never fall
    -- (the writes of two owners never interleave), which tools/crash_test.py checks
    token bigint NOT NULL,
    PRIMARY KEY (sid, key)
);
CREATE TABLE {s}.jobs (
    sid bigint NOT NULL,
    job_id text NOT NULL,
    ord bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL,
    PRIMARY KEY (sid, job_id)
);
CREATE TABLE {s}.leases (
    sid bigint NOT NULL,
    token bigint NOT NULL,
    owner text NOT NULL,
    host text,
    pid int,
    acquired timestamptz NOT NULL,
    -- why the previous holder lost it: released, expired, gone (its connection ended)
    took_over text NOT NULL,
    ended timestamptz,
    PRIMARY KEY (sid, token)
);
CREATE FUNCTION {s}.fence(p_sid bigint, p_token bigint, p_ttl_ms bigint,
                          p_session boolean, p_run_id text, p_last_event_id bigint,
                          p_next_seq bigint) RETURNS void
LANGUAGE plpgsql AS $fence$
DECLARE
    now_token bigint;
    now_owner text;
BEGIN
    IF p_session THEN
        UPDATE {s}.sessions
           SET lease_expires = clock_timestamp() + p_ttl_ms * interval '1 millisecond',
               run_id = p_run_id, last_event_id = p_last_event_id, next_seq = p_next_seq
         WHERE sid = p_sid AND lease_token = p_token AND lease_owner IS NOT NULL;
    ELSE
        UPDATE {s}.sessions
           SET lease_expires = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
         WHERE sid = p_sid AND lease_token = p_token AND lease_owner IS NOT NULL;
    END IF;
    IF NOT FOUND THEN
        SELECT lease_token, lease_owner INTO now_token, now_owner
          FROM {s}.sessions WHERE sid = p_sid;
        RAISE EXCEPTION 'sessionkit lease % lost', p_token
            USING ERRCODE = 'SKF01',
                  DETAIL = coalesce(now_token::text, '') || ' ' || coalesce(now_owner, '');
    END IF;
END
$fence$;
CREATE FUNCTION {s}.renew(p_sid bigint, p_token bigint, p_ttl_ms bigint) RETURNS void
LANGUAGE plpgsql AS $renew$
DECLARE
    now_token bigint;
    now_owner text;
BEGIN
    UPDATE {s}.sessions
       SET lease_expires = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
     WHERE sid = p_sid AND lease_token = p_token AND lease_owner IS NOT NULL;
    IF NOT FOUND THEN
        SELECT lease_token, lease_owner INTO now_token, now_owner
          FROM {s}.sessions WHERE sid = p_sid;
        RAISE EXCEPTION 'sessionkit lease % lost', p_token
            USING ERRCODE = 'SKF01',
                  DETAIL = coalesce(now_token::text, '') || ' ' || coalesce(now_owner, '');
    END IF;
END
$renew$
"""

#: version 2: the run ids the exchange left, oldest first, so that a restarted session takes
#: a message of one for stale, not for a new run (written at a run change, after the fence)
_V2 = """
ALTER TABLE {s}.sessions ADD COLUMN old_runs text[] NOT NULL DEFAULT '{}'
"""

PG_MIGRATIONS: tuple[str, ...] = (_V1, _V2)
PG_SCHEMA_VERSION = len(PG_MIGRATIONS)

#: the tables a schema of each version must have
PG_REQUIRED_TABLES: dict[int, frozenset[str]] = {
    1: frozenset({"meta", "sessions", "messages", "intents", "jobs", "leases"}),
    2: frozenset({"meta", "sessions", "messages", "intents", "jobs", "leases"}),
}

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_schema_name(name: str) -> str:
    """``name`` if it is a plain lower-case PostgreSQL identifier, else ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"schema must be a lower-case identifier (letters, digits, _), "
                         f"got {name!r}")
    return name


def script(text: str, schema: str) -> str:
    """A migration script for ``schema``: run whole, as one simple query (statements
    separated by ``;``, no parameters)."""
    return text.replace("{s}", check_schema_name(schema))
