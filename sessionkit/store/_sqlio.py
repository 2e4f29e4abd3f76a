"""SQLite and OS failures as journal errors, and connections that leave the ``-wal`` alone.

Every failure of the SQLite journal comes out as a :class:`JournalError`
naming the file, what failed and what to do: a full disk as
:class:`JournalFullError`, a file or directory that cannot be written as
:class:`JournalReadOnlyError`, damage as :class:`JournalCorruptError`, anything else as
:class:`JournalWriteError` (:func:`sqlite_error`, :func:`os_error`).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import urllib.parse

from ._errors import (
    JournalError,
    JournalFullError,
    JournalLockedError,
    JournalReadOnlyError,
    JournalWriteError,
)
from ._files import damaged

__all__ = ["sqlite_error", "os_error", "read_only_uri", "close_keeping_wal"]

# SQLite's primary result codes (https://sqlite.org/rescode.html)
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    3, 5, 6, 8, 10, 11, 13, 14, 26)


def _full(path: str, doing: str, cause: object) -> JournalFullError:
    return JournalFullError(path, f"{doing}: {cause}: the disk holding {os.path.dirname(path)} is "
                                  f"full (or the journal reached its size limit); free space and "
                                  f"try again (nothing of the failed write is in the journal)")


def _read_only(path: str, doing: str, cause: object) -> JournalReadOnlyError:
    return JournalReadOnlyError(path, f"{doing}: {cause}: the journal cannot be written; check "
                                      f"that this process may write the file and its directory "
                                      f"{os.path.dirname(path)} (SQLite creates {path}-wal and "
                                      f"{path}-shm beside it) and that the file system is not "
                                      f"mounted read-only")


def sqlite_error(path: str, err: sqlite3.Error, doing: str) -> JournalError:
    """The journal error for a SQLite error met while ``doing`` (e.g. "cannot be opened")."""
    code = getattr(err, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _FULL:
        return _full(path, doing, err)
    if primary in (_READONLY, _CANTOPEN, _PERM):
        return _read_only(path, doing, err)
    if primary in (_CORRUPT, _NOTADB):
        return damaged(path, f"{doing}: {err} (the file is damaged)")
    if primary in (_BUSY, _LOCKED):
        return JournalLockedError(path, f"{doing}: {err}: another program holds a SQLite lock on "
                                        f"it (a sessionkit journal has one writer at a time)")
    return JournalWriteError(path, f"{doing}: {err}")


def os_error(path: str, err: OSError, doing: str) -> JournalError:
    """The journal error for an OS error met while ``doing``."""
    cause = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return _full(path, doing, cause)
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return _read_only(path, doing, cause)
    return JournalError(path, f"{doing}: {cause}")


def read_only_uri(path: str, *, immutable: bool = False) -> str:
    """A URI that opens ``path`` read-only (``immutable``: not even its -wal and -shm)."""
    return (f"file:{urllib.parse.quote(path)}?mode=ro"
            + ("&immutable=1" if immutable else ""))


def close_keeping_wal(conn: sqlite3.Connection, path: str) -> None:
    """Close ``conn`` as a killed process would: no checkpoint, the ``-wal`` stays.

    The last connection to close checkpoints the WAL into the file and deletes
    it. A journal that is not marked closed-clean must keep its WAL (a main
    file marked open without one is refused as damaged), so a read-only
    connection is held open meanwhile: the closing one is then not the last,
    and a read-only connection never checkpoints.
    """
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
    reader = None
    try:
        reader = sqlite3.connect(read_only_uri(path), uri=True)
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        pass
    finally:
        conn.close()
        if reader is not None:
            reader.close()
