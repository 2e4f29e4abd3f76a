"""A journal's files as they lie on disk, checked before SQLite opens them.

SQLite opens what it is given: an empty file as a new database, a main file
without its write-ahead log (``-wal``) as the last checkpoint, a WAL with a
damaged frame as the transactions before that frame. Each of these would
make a journal that existed start again from nothing, so the store reads
the files first and refuses them (:func:`check_files`), changing nothing.

How damage is told from a journal that is merely in use:

* A journal file is never empty and never shorter than its SQLite header
  says: the store creates it whole (written as ``<path>.new``, then linked
  into place), and a killed process leaves the file as SQLite last wrote it.
* The SQLite header's application id (``PRAGMA application_id``) says
  whether the journal was closed cleanly. Opening sets it to
  :data:`APP_OPEN` and checkpoints, so the main file says "open" before
  anything else is committed; a clean close sets :data:`APP_CLOSED` and
  checkpoints everything into the main file. A main file that says "open"
  with no ``-wal`` beside it lost its WAL (copied without it, deleted): its
  last commits are gone. A killed process always leaves its ``-wal``.
* A WAL is read frame by frame as SQLite recovers it (salts and cumulative
  checksums). SQLite stops at the first frame that does not check out and
  drops everything after it. After a kill, what follows is a transaction
  that never committed; a commit frame of the same WAL generation that
  checks out against the frame before it means committed transactions
  would be dropped: the WAL is damaged.

What cannot be told: damage to the last committed transaction's own last
frame, or a WAL cut short at a transaction boundary, looks like a torn write
and loses that transaction silently (as a power loss does in ``fast`` mode).
"""

from __future__ import annotations

import datetime
import os
import struct

import attrs

from ._errors import JournalCorruptError, JournalError

__all__ = [
    "HEADER",
    "APP_OPEN",
    "APP_CLOSED",
    "FileState",
    "check_files",
    "wal_problem",
    "wal_path",
    "shm_path",
    "move_aside",
    "fresh_start_hint",
    "damaged",
]

HEADER = b"SQLite format 3\x00"
#: application id of a journal closed cleanly: the main file holds every commit
APP_CLOSED = 0x736B6A63  # "skjc"
#: application id of a journal open (or whose writer died): commits may be in the -wal only
APP_OPEN = 0x736B6A6F  # "skjo"

_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_VERSION = 3007000
_MASK = 0xFFFFFFFF


def wal_path(path: str) -> str:
    return path + "-wal"


def shm_path(path: str) -> str:
    return path + "-shm"


def fresh_start_hint(path: str) -> str:
    """What to do about a damaged journal (the end of every damage message)."""
    return (f"Restore the journal from a copy taken with its -wal file if you have one; "
            f"otherwise start a new journal, knowing that it resumes from event 0 and forgets "
            f"the requests in flight (check them at the exchange): run `sessionkit journal "
            f"reset {path}` (it moves the damaged files aside), or open it with "
            f"SqliteStore(..., if_damaged='start_fresh')")


def damaged(path: str, problem: str) -> JournalCorruptError:
    """The error for a damaged journal: what is wrong, then what to do."""
    return JournalCorruptError(path, problem, advice=fresh_start_hint(path))


@attrs.frozen
class FileState:
    """What :func:`check_files` found (``exists`` False: no journal yet)."""

    exists: bool
    size: int = 0
    page_size: int = 0
    application_id: int = 0
    #: None when there is no -wal file
    wal_size: int | None = None


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None
    except OSError as err:
        raise JournalError(path, f"cannot be read: {err.strerror}") from None


def check_files(path: str) -> FileState:
    """Check the journal's files without opening them in SQLite; raise on damage.

    Raises :class:`JournalCorruptError` (damage, or not a journal) or
    :class:`JournalError` (cannot be read), naming the file and what to do.
    """
    wal = wal_path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        wal_size = _size(wal)
        if wal_size:
            raise damaged(path, f"is missing, but its write-ahead log {wal} ({wal_size} "
                                 f"bytes) is there: the journal file was deleted or moved "
                                 f"without it") from None
        return FileState(exists=False)
    except OSError as err:
        raise JournalError(path, f"cannot be read: {err.strerror}") from None
    size = st.st_size
    if size == 0:
        raise damaged(path, "is empty (0 bytes): sessionkit never leaves a journal file "
                             "empty (it creates it whole), so it was truncated or replaced "
                             "and what it held is lost")
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as err:
        raise JournalError(path, f"cannot be read: {err.strerror}") from None
    if len(head) < 100:
        if head[:16] == HEADER[:len(head)] or head.startswith(HEADER):
            raise damaged(path, f"is truncated: {len(head)} bytes, shorter than a SQLite "
                                 f"header (100 bytes)")
        raise JournalCorruptError(path, f"not a SQLite database (it starts with {head[:16]!r})")
    if head[:16] != HEADER:
        raise JournalCorruptError(path, f"not a SQLite database (it starts with {head[:16]!r})")
    page_size = struct.unpack_from(">H", head, 16)[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise damaged(path, f"has a damaged SQLite header (page size {page_size})")
    pages = struct.unpack_from(">I", head, 28)[0]
    counter_valid = head[24:28] == head[92:96]
    app_id = struct.unpack_from(">I", head, 68)[0]
    wal_size = _size(wal)
    if not wal_size and counter_valid and pages and size < pages * page_size:
        raise damaged(path, f"is truncated: {size} bytes, but its header says {pages} pages "
                             f"of {page_size} bytes ({pages * page_size} bytes)")
    if app_id == APP_OPEN and wal_size is None:
        raise damaged(path, f"was not closed cleanly (its writer was killed, or it is still "
                             f"open elsewhere) and its write-ahead log {wal} is missing: the "
                             f"last commits were in that file, not in this one (a journal "
                             f"copied without its -wal, or the -wal deleted)")
    if wal_size:
        problem = wal_problem(wal, page_size)
        if problem is not None:
            raise damaged(path, problem)
    return FileState(exists=True, size=size, page_size=page_size, application_id=app_id,
                     wal_size=wal_size)


def _checksum(data: bytes, s0: int, s1: int, fmt: str) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes), continued from (s0, s1)."""
    words = struct.unpack(fmt % (len(data) // 4), data)
    for x0, x1 in zip(words[0::2], words[1::2], strict=True):
        s0 = (s0 + x0 + s1) & _MASK
        s1 = (s1 + x1 + s0) & _MASK
    return s0, s1


def wal_problem(wal: str, page_size: int) -> str | None:
    """Why SQLite would drop committed transactions of the WAL file ``wal``, or None."""
    try:
        f = open(wal, "rb")  # noqa: SIM115 - read frame by frame below
    except OSError as err:
        return f"its write-ahead log {wal} cannot be read: {err.strerror}"
    with f:
        head = f.read(32)
        if len(head) < 32:
            return (f"its write-ahead log {wal} is damaged: {len(head)} bytes, shorter than "
                    f"a WAL header (32 bytes)")
        magic, version, psize, _, salt1, salt2, c1, c2 = struct.unpack(">8I", head)
        if magic not in _WAL_MAGIC:
            return (f"its write-ahead log {wal} is damaged: it does not start with a WAL "
                    f"header (SQLite would ignore every transaction in it)")
        fmt = ">%dI" if magic & 1 else "<%dI"
        if _checksum(head[:24], 0, 0, fmt) != (c1, c2) or version != _WAL_VERSION:
            return (f"its write-ahead log {wal} is damaged: its header does not check out "
                    f"(SQLite would ignore every transaction in it)")
        if psize != page_size:
            return (f"its write-ahead log {wal} does not belong to it: its pages are {psize} "
                    f"bytes, the journal's {page_size}")
        frame = 24 + psize
        salts = (salt1, salt2)
        s = (c1, c2)
        index = 0
        prev_sum: tuple[int, int] = s
        stop: int | None = None
        while True:
            data = f.read(frame)
            if len(data) < frame:
                return None  # the end (a torn last frame is a write that never finished)
            index += 1
            pgno, commit, fs1, fs2, fc1, fc2 = struct.unpack_from(">6I", data)
            if stop is None:
                if (fs1, fs2) == salts and pgno:
                    s = _checksum(data[24:], *_checksum(data[:8], *s, fmt), fmt)
                    if s == (fc1, fc2):
                        prev_sum = s
                        continue
                stop = index  # SQLite's recovery stops here
                prev_sum = (fc1, fc2)
                continue
            # after the stop: a commit frame of this generation that checks out against
            # the frame before it was committed, and SQLite would drop it
            if commit and (fs1, fs2) == salts and pgno:
                t = _checksum(data[24:], *_checksum(data[:8], *prev_sum, fmt), fmt)
                if t == (fc1, fc2):
                    return (f"its write-ahead log {wal} is damaged at frame {stop} (byte "
                            f"{32 + (stop - 1) * frame}): SQLite would stop reading there and "
                            f"drop the transactions committed after it (frame {index} "
                            f"commits one)")
            prev_sum = (fc1, fc2)


def move_aside(path: str) -> str:
    """Rename the journal's files to ``<path>.damaged-<UTC time>`` (+ ``-wal``, ``-shm``).

    Returns the new name of the main file (of the -wal when only that was there).
    """
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{path}.damaged-{stamp}"
    n = 1
    while any(os.path.lexists(p) for p in (base, wal_path(base), shm_path(base))):
        n += 1
        base = f"{path}.damaged-{stamp}-{n}"
    moved = None
    for src, dst in ((path, base), (wal_path(path), wal_path(base)),
                     (shm_path(path), shm_path(base))):
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise JournalError(path, f"cannot move {src} aside to {dst}: "
                                     f"{err.strerror}") from None
        moved = moved or dst
    return moved or base
