"""Errors of the session journal: each names the journal's path and what is wrong."""

from __future__ import annotations

from .._errors import SessionkitError

__all__ = [
    "JournalError",
    "JournalLocked",
    "JournalCorrupt",
    "JournalTooNew",
    "JournalMismatch",
    "JournalWriteError",
    "JournalFull",
    "JournalReadOnly",
    "JournalValueError",
    "IdempotencyConflict",
]


class JournalError(SessionkitError):
    """A journal cannot be used; ``path`` is the journal's file (None for in-memory ones)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        where = f"journal {self.path}" if self.path is not None else "in-memory journal"
        super().__init__(f"{where}: {problem}")


class JournalLocked(JournalError):
    """Another process (or another store in this process) writes this session's journal."""


class JournalCorrupt(JournalError):
    """The journal is damaged, or is not a journal: the file is empty, truncated, not a SQLite
    database, fails its integrity check or lacks a table, or its write-ahead log (``-wal``)
    is corrupted or missing. Nothing was changed; the message says what to do.

    ``damage`` is what is wrong, without the advice.
    """

    def __init__(self, path: object, problem: str, *, advice: str = "") -> None:
        super().__init__(path, f"{problem}. {advice}" if advice else problem)
        self.damage = problem
        self.advice = advice


class JournalTooNew(JournalError):
    """The journal was written by a newer sessionkit (schema version above the supported one)."""


class JournalMismatch(JournalError):
    """The journal belongs to another session (account or session id differ)."""


class JournalWriteError(JournalError):
    """Writing the journal failed (I/O error); nothing of the failed commit is durable.

    The changes stay pending: a later ``commit()`` writes them whole once the cause is gone.
    """


class JournalFull(JournalWriteError):
    """The disk (or the journal's size limit) is full; free space and commit again."""


class JournalReadOnly(JournalWriteError):
    """The journal, its directory or its file system cannot be written (permissions, a
    read-only mount); SQLite must write the file and create ``-wal`` and ``-shm`` beside it.
    """


class JournalValueError(JournalError, ValueError):
    """A value the journal cannot hold (an integer outside SQLite's 64-bit range, a string
    that is not valid Unicode); it was refused before anything was recorded.

    ``field`` names the value (``event_id``, ``mid``, ``run_id``, a request field ...).
    """

    def __init__(self, path: object, field: str, value: object, why: str) -> None:
        self.field = field
        self.value = value
        super().__init__(path, f"cannot hold {field}={value!r}: {why}; nothing was recorded "
                               f"(the journal is unchanged and goes on)")


class IdempotencyConflict(JournalError):
    """An idempotency key was recorded again with a different operation or payload."""
