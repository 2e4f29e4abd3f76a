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
    """The file is not a SQLite database, fails its integrity check, or lacks a table."""


class JournalTooNew(JournalError):
    """The journal was written by a newer sessionkit (schema version above the supported one)."""


class JournalMismatch(JournalError):
    """The journal belongs to another session (account or session id differ)."""


class JournalWriteError(JournalError):
    """A commit failed (disk full, I/O error); nothing of the failed commit is durable."""


class IdempotencyConflict(JournalError):
    """An idempotency key was recorded again with a different operation or payload."""
