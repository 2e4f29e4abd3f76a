"""Durable session journals: restart recovery that loses nothing (see ``docs/journal.md``).

A :class:`SessionStore` journals one session: the resume cursor (the last
event id whose handling was committed), the exchange run, every request not
yet final (written before its frame is sent), idempotency keys and
asynchronous jobs. :class:`SqliteStore` is the embedded default,
:class:`PostgresStore` the shared one (many sessions in one database, one owner each,
enforced with a lease and a fencing token), :class:`MemoryStore` the in-memory twin.
:class:`Recorder` makes the store calls at the right points of a session's life; a session
opened on an existing journal resumes where the last process stopped. :class:`Supervisor`
and :class:`Worker` run many PostgreSQL-journalled sessions over several worker processes,
each session owned by one worker, moved when a worker dies or joins.
"""

from ._base import SessionStore
from ._errors import (
    IdempotencyConflictError,
    JournalCorruptError,
    JournalError,
    JournalFullError,
    JournalLockedError,
    JournalMismatchError,
    JournalReadOnlyError,
    JournalTooNewError,
    JournalValueError,
    JournalWriteError,
    LeaseLostError,
)
from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._recorder import Recorder, notify_recovered
from ._records import (
    Durability,
    IntentRecord,
    JobRecord,
    MessageRecord,
    RecoveryReport,
    SessionKey,
)
from ._schema import SCHEMA_VERSION
from ._sqlite import SqliteStore
from ._supervisor import Supervisor, Worker, lease_holders, live_workers

__all__ = [
    "SessionStore",
    "SqliteStore",
    "PostgresStore",
    "MemoryStore",
    "Recorder",
    "notify_recovered",
    "SessionKey",
    "Durability",
    "MessageRecord",
    "IntentRecord",
    "JobRecord",
    "RecoveryReport",
    "SCHEMA_VERSION",
    "JournalError",
    "JournalLockedError",
    "JournalCorruptError",
    "JournalTooNewError",
    "JournalMismatchError",
    "JournalWriteError",
    "JournalFullError",
    "JournalReadOnlyError",
    "JournalValueError",
    "IdempotencyConflictError",
    "LeaseLostError",
    "Supervisor",
    "Worker",
    "lease_holders",
    "live_workers",
]

# deprecated aliases (until 0.2): the names before every exception's name ended in
# Error; importable, not in __all__
IdempotencyConflict = IdempotencyConflictError
JournalCorrupt = JournalCorruptError
JournalFull = JournalFullError
JournalLocked = JournalLockedError
JournalMismatch = JournalMismatchError
JournalReadOnly = JournalReadOnlyError
JournalTooNew = JournalTooNewError
