"""The SQLite journal's schema and its migrations.

``PRAGMA user_version`` holds the schema version. ``MIGRATIONS[i]`` takes a
journal from version ``i`` to ``i + 1`` (index 0 creates version 1); a
journal opened by this version is migrated step by step, in the transaction
that opens it, up to :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "REQUIRED_TABLES"]

#: version 1: the session row, the owner row and the messages not yet final
_V1 = """
CREATE TABLE session (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    account TEXT NOT NULL,
    session_id TEXT NOT NULL,
    journal_id TEXT NOT NULL,
    created TEXT NOT NULL,
    run_id TEXT,
    last_event_id INTEGER NOT NULL DEFAULT 0,
    incarnation INTEGER NOT NULL DEFAULT 0,
    next_seq INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE owner (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER,
    host TEXT,
    started TEXT,
    incarnation INTEGER
);
CREATE TABLE messages (
    cid TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    mid INTEGER,
    parent TEXT,
    run_id TEXT
) WITHOUT ROWID;
"""

#: version 2: send attempts, idempotency keys and asynchronous jobs
_V2 = """
ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE TABLE intents (
    key TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    cid TEXT,
    outcome TEXT
);
CREATE INDEX intents_by_cid ON intents (cid) WHERE cid IS NOT NULL;
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL
);
"""

#: version 3: the run ids the exchange left (JSON text: a list, oldest first), so that a
#: restarted session takes a message of one for stale, not for a new run
_V3 = """
ALTER TABLE session ADD COLUMN old_runs TEXT NOT NULL DEFAULT '[]';
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)
"""The journal schema this version writes; it opens journals up to it (migrating older
ones) and refuses newer ones (:class:`~sessionkit.store.JournalTooNewError`)."""

#: the tables a journal of each version must have
REQUIRED_TABLES: dict[int, frozenset[str]] = {
    1: frozenset({"session", "owner", "messages"}),
    2: frozenset({"session", "owner", "messages", "intents", "jobs"}),
    3: frozenset({"session", "owner", "messages", "intents", "jobs"}),
}
