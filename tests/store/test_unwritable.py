"""A journal that cannot be written: read-only (file, directory, mount) or full (a real full
file system, and SQLite's ``max_page_count``). Each failure is the store's own error naming
the file and the cause, nothing is half written, and the journal works once the cause is gone.

Root ignores file modes, so as root the read-only tests open the journal with the effective
uid of ``nobody``; the full and read-only file systems are a small tmpfs the test mounts (and
unmounts), skipped with the reason when mounting is not permitted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionkit import LimitOrder
from sessionkit.store import (
    JournalError,
    JournalFullError,
    JournalReadOnlyError,
    SqliteStore,
)

ACCOUNT, DAY = "acct", "2026-05-04"
NOBODY = 65534


def open_store(path: Path, **kw: object) -> SqliteStore:
    return SqliteStore(path, account=ACCOUNT, session_id=DAY, **kw)  # type: ignore[arg-type]


def order(cid: str) -> LimitOrder:
    return LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100)


def closed_journal(path: Path, cursor: int = 41) -> None:
    with open_store(path) as store:
        store.message_submitted(order("c-0"))
        store.event_handled(cursor)


def state(path: Path) -> tuple[int, int, list[str]]:
    """(cursor, incarnation, cids) as the file holds them, read without writing anything."""
    wal = Path(f"{path}-wal")
    uri = f"file:{path}?mode=ro" + ("" if wal.exists() else "&immutable=1")
    conn = sqlite3.connect(uri, uri=True)
    try:
        cursor, incarnation = conn.execute(
            "SELECT last_event_id, incarnation FROM session").fetchone()
        cids = [r[0] for r in conn.execute("SELECT cid FROM messages ORDER BY seq")]
    finally:
        conn.close()
    return cursor, incarnation, cids


# -- read-only ---------------------------------------------------------------------------------

@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block without root's power to write anything (effective uid nobody)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory outside pytest's private tmp (which nobody may not enter)."""
    d = Path(tempfile.mkdtemp(prefix="sessionkit-ro-"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        d.chmod(0o755)
        for p in d.iterdir():
            p.unlink()
        d.rmdir()


def test_a_read_only_journal_file_is_named_with_the_cause(shared_dir):
    path = shared_dir / "acct.journal"
    closed_journal(path)
    Path(f"{path}.lock").chmod(0o666)
    path.chmod(0o444)
    before = path.read_bytes()
    with unprivileged(), pytest.raises(JournalReadOnlyError) as info:
        open_store(path)
    msg = str(info.value)
    assert msg.startswith(f"journal {path}: cannot be opened for writing: attempt to write a "
                          f"readonly database: the journal cannot be written")
    assert "mounted read-only" in msg
    assert path.read_bytes() == before  # nothing changed, the incarnation neither
    path.chmod(0o644)
    with open_store(path) as store:  # writable again: it opens where it was
        assert store.last_event_id == 41 and store.incarnation == 2


def test_a_journal_in_a_read_only_directory_is_named_with_the_cause(shared_dir):
    path = shared_dir / "acct.journal"
    closed_journal(path)
    for p in (path, Path(f"{path}.lock")):
        p.chmod(0o666)
    shared_dir.chmod(0o555)  # the file is writable, but no -wal can be created beside it
    try:
        with unprivileged(), pytest.raises(JournalReadOnlyError) as info:
            open_store(path)
        msg = str(info.value)
        assert msg.startswith(f"journal {path}: cannot be opened for writing: ")
        assert "the journal cannot be written" in msg and f"{path}-wal" in msg
        assert state(path) == (41, 1, ["c-0"])
        with unprivileged(), pytest.raises(JournalReadOnlyError, match=r"cannot open its lock "
                                                                       r"file .*new.journal.lock"):
            open_store(shared_dir / "new.journal")  # a new journal cannot be created there
    finally:
        shared_dir.chmod(0o777)


# -- a small file system, to fill or to make read-only -------------------------------------------

@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (unmounted after); skipped where mounting is not
    permitted (not root, no CAP_SYS_ADMIN, no mount command)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs",
                               str(mnt)], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command: a full file system cannot be made here")
    if proc.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here ({proc.stderr.strip()}); "
                    f"the max_page_count tests cover a full journal everywhere")
    try:
        yield mnt
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], capture_output=True)
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode:
            # a file still open (a failed test): detach it now, freed when it is closed
            subprocess.run(["umount", "-l", str(mnt)], check=True, timeout=30)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; returns it (unlink it to free the space)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        chunk = b"\0" * 4096
        while True:
            try:
                os.write(fd, chunk)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                break
    finally:
        os.close(fd)
    return filler


def test_a_commit_on_a_full_disk_fails_whole_and_succeeds_once_there_is_room(small_fs):
    path = small_fs / "acct.journal"
    store = open_store(path)
    store.message_submitted(order("c-0"))
    store.event_handled(3)
    store.commit()
    filler = fill(small_fs)
    for i in range(1, 200):
        store.message_submitted(order(f"c-{i}"))
    store.event_handled(9)
    with pytest.raises(JournalFullError) as info:
        store.commit()
    msg = str(info.value)
    assert msg.startswith(f"journal {path}: commit failed and was rolled back: database or "
                          f"disk is full: the disk holding {small_fs} is full")
    assert store.pending and store.last_event_id == 9  # nothing lost from the pending view
    assert store.not_durable() == [f"c-{i}" for i in range(1, 200)]  # never sent either
    assert state(path) == (3, 1, ["c-0"])  # and nothing half written
    with pytest.raises(JournalFullError):
        store.commit()  # still full: said again, not wedged into another error
    filler.unlink()
    store.commit()  # room again: the same changes, whole
    assert store.not_durable() == []
    store.close()
    assert state(path)[0] == 9 and len(state(path)[2]) == 200


def test_opening_on_a_full_disk_is_named_and_changes_nothing(small_fs):
    path = small_fs / "acct.journal"
    store = open_store(path)
    store.event_handled(5)
    store.commit()
    store.event_handled(6)
    store.close(commit=False)  # the writer dies (its -wal stays); the disk fills up meanwhile
    filler = fill(small_fs)
    with pytest.raises(JournalFullError) as info:
        open_store(path)
    assert str(path) in str(info.value) and "is full" in str(info.value)
    assert state(path) == (5, 1, [])  # the incarnation was not taken
    with pytest.raises(JournalFullError, match=f"journal {small_fs}/new.journal: "):
        open_store(small_fs / "new.journal")  # nor can a new journal be created
    assert not (small_fs / "new.journal").exists()
    filler.unlink()
    with open_store(path) as store:
        assert store.last_event_id == 5 and store.incarnation == 2


def test_a_journal_on_a_read_only_mount_is_named_with_the_cause(small_fs):
    path = small_fs / "acct.journal"
    closed_journal(path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True, timeout=30)
    with pytest.raises(JournalReadOnlyError) as info:
        open_store(path)
    assert str(path) in str(info.value) and "mounted read-only" in str(info.value)
    subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True, timeout=30)
    with open_store(path) as store:
        assert store.last_event_id == 41 and store.incarnation == 2


# -- a full journal everywhere: SQLite's max_page_count -----------------------------------------

def test_a_journal_at_its_page_limit_fails_like_a_full_disk(tmp_path):
    path = tmp_path / "acct.journal"
    store = open_store(path)
    store.message_submitted(order("c-0"))
    store.commit()
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # not one page more
    for i in range(1, 200):
        store.message_submitted(order(f"c-{i}"))
    with pytest.raises(JournalFullError) as info:
        store.commit()
    assert str(info.value).startswith(f"journal {path}: commit failed and was rolled back: "
                                      f"database or disk is full")
    assert store.pending and state(path)[2] == ["c-0"]
    store.message_submitted(order("c-200"))  # the store goes on taking changes
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    store.commit()
    store.close()
    assert len(state(path)[2]) == 201


def test_an_error_names_the_journal_not_a_raw_sqlite_error(tmp_path):
    """Whatever SQLite raises at open comes out as a JournalError naming the file."""
    path = tmp_path / "acct.journal"
    closed_journal(path)
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds SQLite's write lock
    try:
        with pytest.raises(JournalError) as info:
            SqliteStore(path, account=ACCOUNT, session_id=DAY)
    finally:
        blocker.rollback()
        blocker.close()
    assert str(info.value).startswith(f"journal {path}: ")
    assert "another program holds a SQLite lock" in str(info.value)
