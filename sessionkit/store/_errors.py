"""Errors of the session journal: each names the journal's path and what is wrong."""

from __future__ import annotations

from .._errors import SessionkitError

__all__ = [
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
]


class JournalError(SessionkitError):
    """A journal cannot be used; ``path`` is the journal's file (None for in-memory ones)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        where = f"journal {self.path}" if self.path is not None else "in-memory journal"
        super().__init__(f"{where}: {problem}")


class JournalLockedError(JournalError):
    """Another process (or another store in this process) writes this session's journal."""


class JournalCorruptError(JournalError):
    """The journal is damaged, or is not a journal: the file is empty, truncated, not a SQLite
    database, fails its integrity check or lacks a table, or its write-ahead log (``-wal``)
    is corrupted or missing. Nothing was changed; the message says what to do.

    ``damage`` is what is wrong, without the advice.
    """

    def __init__(self, path: object, problem: str, *, advice: str = "") -> None:
        super().__init__(path, f"{problem}. {advice}" if advice else problem)
        self.damage = problem
        self.advice = advice


class JournalTooNewError(JournalError):
    """The journal was written by a newer sessionkit (schema version above the supported one)."""


class JournalMismatchError(JournalError):
    """The journal belongs to another session (account or session id differ)."""


class JournalWriteError(JournalError):
    """Writing the journal failed (I/O error); nothing of the failed commit is durable.

    The changes stay pending: a later ``commit()`` writes them whole once the cause is gone.
    """


class JournalFullError(JournalWriteError):
    """The disk (or the journal's size limit) is full; free space and commit again."""


class JournalReadOnlyError(JournalWriteError):
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


class IdempotencyConflictError(JournalError):
    """An idempotency key was recorded again with a different operation or payload."""


class LeaseLostError(JournalError):
    """Another process took this session's lease over (PostgreSQL journal): this store's
    writes are refused by the database, in the transaction that carries them, so nothing of
    them is recorded. The session must stop acting: the new owner resumes it from the
    journal. It is final: no later commit of this store succeeds.

    ``account`` and ``session_id`` name the session, ``token`` is the fencing token this
    store held, ``new_token`` and ``new_owner`` the holder's now (None when it was released
    and not taken again).
    """

    def __init__(self, path: object, account: str, session_id: str, token: int,
                 new_token: int | None, new_owner: str | None, doing: str = "") -> None:
        self.account = account
        self.session_id = session_id
        self.token = token
        self.new_token = new_token
        self.new_owner = new_owner
        holder = (f"now held by {new_owner} with fencing token {new_token}"
                  if new_owner else f"now at fencing token {new_token}, not held")
        super().__init__(path, f"{doing + ': ' if doing else ''}the lease of session "
                               f"{account}/{session_id} was lost: this process held it with "
                               f"fencing token {token}, {holder}; the write was refused and "
                               f"nothing of it was recorded. This process must stop acting "
                               f"for the session: its new owner resumes it from the journal")
