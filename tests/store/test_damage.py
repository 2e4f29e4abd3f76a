"""A damaged journal is refused, naming the file, what is wrong and what to do; never a new one.

Each damage is made to a real journal file: emptied, truncated, its write-ahead
log corrupted, copied without its ``-wal``, its file deleted beside its ``-wal``.
A refused open changes nothing (every file byte for byte, the incarnation); a
fresh start happens only when asked for (``if_damaged="start_fresh"`` or
``sessionkit journal reset``), and says so. A killed writer (``kill -9``) leaves
a journal that opens.
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionkit import LimitOrder
from sessionkit.store import JournalCorruptError, JournalError, JournalLockedError, SqliteStore
from sessionkit.store._cli import check_journal, journal_group, reset_journal, show_journal

ACCOUNT, DAY = "acct", "2026-05-04"


def open_store(path: Path, **kw: object) -> SqliteStore:
    return SqliteStore(path, account=ACCOUNT, session_id=DAY, **kw)  # type: ignore[arg-type]


def order(cid: str) -> LimitOrder:
    return LimitOrder(cid=cid, contract_id=1, size=1, price_in_cents=100)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "acct.journal"


def wal(path: Path) -> Path:
    return Path(f"{path}-wal")


def closed_journal(path: Path, orders: int = 300, cursor: int = 41) -> None:
    """A journal closed cleanly, holding ``orders`` requests in flight (several pages)."""
    with open_store(path) as store:
        for i in range(orders):
            store.message_submitted(order(f"c-{i}"))
        store.event_handled(cursor)


_WRITER = textwrap.dedent("""
    import sys
    from sessionkit import LimitOrder
    from sessionkit.store import SqliteStore
    store = SqliteStore(sys.argv[1], account="acct", session_id="2026-05-04",
                        durability="fast")
    for i in range(int(sys.argv[2])):
        store.message_submitted(LimitOrder(cid=f"k{store.incarnation}-{i}", contract_id=1,
                                           size=1, price_in_cents=100))
        store.event_handled(store.last_event_id + 1)
        store.commit()  # one transaction per order: many commit frames in the -wal
    print(store.last_event_id, flush=True)
    sys.stdin.readline()
""")


def killed_journal(path: Path, commits: int = 40) -> int:
    """A writer commits ``commits`` times and is killed (SIGKILL); returns its cursor."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(commits)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    cursor = int(proc.stdout.readline())
    proc.kill()
    proc.wait(timeout=30)
    assert wal(path).stat().st_size > 0  # a killed writer leaves its -wal behind
    return cursor


def files(directory: Path) -> dict[str, bytes]:
    """The journal's files, byte for byte: the file and its -wal (not the lock file, nor the
    -shm: SQLite's index of the -wal, which a reader rebuilds from the -wal)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())
            if p.is_file() and not p.name.endswith((".lock", "-shm"))}


def incarnation(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute("SELECT incarnation FROM session").fetchone()[0]
    finally:
        conn.close()


def refused(path: Path, match: str) -> JournalCorruptError:
    """Open the journal: it must be refused, changing nothing, with a message naming it."""
    before = files(path.parent)
    with pytest.raises(JournalCorruptError, match=match) as info:
        open_store(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"sessionkit journal reset {path}" in msg and "if_damaged='start_fresh'" in msg
    assert files(path.parent) == before  # a refused open changes nothing
    return info.value


# -- the damages ---------------------------------------------------------------------------------

def test_a_journal_emptied_to_zero_bytes_is_refused(path):
    closed_journal(path)
    path.write_bytes(b"")
    refused(path, r"is empty \(0 bytes\)")


def test_an_empty_file_is_not_taken_for_a_new_journal(path):
    """A journal is created whole, under another name: an empty file at the path is damage."""
    path.touch()
    refused(path, r"is empty \(0 bytes\)")


@pytest.mark.parametrize("cut", ["half", "one page", "in the header", "in the magic"])
def test_a_truncated_journal_is_refused(path, cut):
    closed_journal(path)
    size = path.stat().st_size
    keep = {"half": size // 2, "one page": 4096, "in the header": 50, "in the magic": 10}[cut]
    os.truncate(path, keep)
    refused(path, r"is truncated: \d+ bytes")


def test_a_journal_truncated_beside_its_wal_fails_its_integrity_check(path):
    closed_journal(path)
    killed_journal(path, commits=3)
    os.truncate(path, path.stat().st_size // 2)
    refused(path, "integrity check failed")


@pytest.mark.parametrize("where", ["a frame", "the header"])
def test_a_corrupted_wal_is_refused(path, where):
    killed_journal(path)
    data = bytearray(wal(path).read_bytes())
    if where == "the header":
        data[12] ^= 0xFF  # the checkpoint sequence: the header's checksum no longer holds
        match = "its header does not check out"
    else:
        data[32 + 24 + 200] ^= 0xFF  # inside the page of the first frame
        match = r"is damaged at frame 1 \(byte 32\): SQLite would stop reading there"
    wal(path).write_bytes(bytes(data))
    err = refused(path, match)
    assert str(wal(path)) in str(err)


def test_a_journal_copied_without_its_wal_is_refused(path, tmp_path):
    cursor = killed_journal(path)
    copy = tmp_path / "copy" / "acct.journal"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    refused(copy, r"was not closed cleanly .* write-ahead log .*copy/acct.journal-wal is "
                  r"missing")
    shutil.copy(wal(path), wal(copy))  # copied with it: whole
    with open_store(copy) as store:
        assert store.last_event_id == cursor


def test_looking_at_a_journal_without_its_wal_does_not_hide_the_damage(path, tmp_path):
    """`sessionkit journal show` reports it, and creates no -wal that would make the next
    open take the file for whole."""
    killed_journal(path)
    copy = tmp_path / "copy.journal"
    shutil.copy(path, copy)
    with pytest.raises(JournalCorruptError, match="write-ahead log .*copy.journal-wal is missing"):
        show_journal(copy, io.StringIO())
    assert not wal(copy).exists()
    refused(copy, "is missing")


def test_a_killed_writer_leaves_a_journal_that_opens(path):
    """kill -9 at any time leaves the -wal: the next process resumes from the last commit."""
    cursor = killed_journal(path)
    cursor = killed_journal(path)  # a second crash, on the journal the first one left
    with open_store(path) as store:
        assert store.last_event_id == cursor and store.incarnation == 3
        assert len(store.messages()) == cursor


def test_a_journal_closed_cleanly_is_whole_without_a_wal(path, tmp_path):
    closed_journal(path)
    assert not wal(path).exists()  # the clean close checkpointed everything into the file
    copy = tmp_path / "copy.journal"
    shutil.copy(path, copy)
    with open_store(copy) as store:
        assert store.last_event_id == 41 and len(store.messages()) == 300


def test_a_store_dropped_or_closed_without_commit_leaves_a_journal_that_opens(path):
    store = open_store(path)
    store.event_handled(5)
    store.commit()
    store.event_handled(6)
    del store
    gc.collect()  # dropped without close(): released as a killed process would be
    with open_store(path) as store:
        assert store.last_event_id == 5
        store.event_handled(9)
        store.close(commit=False)  # a simulated crash: the pending cursor is lost
    with open_store(path) as store:
        assert store.last_event_id == 5 and store.incarnation == 3


def test_a_journal_file_deleted_beside_its_wal_is_refused(path):
    killed_journal(path)
    path.unlink()
    refused(path, r"is missing, but its write-ahead log .*-wal \(\d+ bytes\) is there")


# -- a refused open changes nothing ------------------------------------------------------------

def _unreadable_message(path: Path) -> None:
    closed_journal(path, orders=2)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET payload = '{\"type\": \"limit_order\", \"size\": \"x\"}'")
    conn.commit()
    conn.close()


def test_a_refused_journal_keeps_its_incarnation(path):
    _unreadable_message(path)
    before = incarnation(path)
    refused(path, "message 'c-0' cannot be read back")
    assert incarnation(path) == before == 1


def test_a_journal_of_another_session_is_refused_changing_nothing(path):
    killed_journal(path)
    before = files(path.parent)
    with pytest.raises(JournalError, match="belongs to account 'acct' session '2026-05-04'"):
        SqliteStore(path, account="acct", session_id="2026-05-05")
    assert files(path.parent) == before
    with open_store(path):  # and its -wal is still there for the right session
        pass


# -- the explicit fresh start -------------------------------------------------------------------

def test_start_fresh_moves_a_damaged_journal_aside_and_says_so(path):
    killed_journal(path)
    data = bytearray(wal(path).read_bytes())
    data[12] ^= 0xFF
    wal(path).write_bytes(bytes(data))
    with open_store(path, if_damaged="start_fresh") as store:
        report = store.recovery_report()
        assert report.fresh and store.last_event_id == 0
        assert report.damaged is not None and "its header does not check out" in report.damaged
        moved = Path(report.damaged.rpartition("moved to ")[2])
        assert moved.name.startswith("acct.journal.damaged-")
        assert moved.exists() and wal(moved).read_bytes() == bytes(data)
        assert "the old one was damaged" in report.summary()


def test_start_fresh_never_replaces_a_journal_that_is_not_damaged(path):
    closed_journal(path)
    with open_store(path, if_damaged="start_fresh") as store:
        assert store.last_event_id == 41 and store.recovery_report().damaged is None
    with pytest.raises(ValueError, match=r"if_damaged must be one of \['refuse', "
                                         r"'start_fresh'\], got 'ignore'"):
        open_store(path, if_damaged="ignore")


def test_check_and_reset_from_the_command_line(path):
    closed_journal(path)
    runner = CliRunner()
    ok = runner.invoke(journal_group, ["check", str(path)])
    assert ok.exit_code == 0 and "ok (account acct, session 2026-05-04, last event id 41" \
        in ok.output
    # a journal that is not damaged is reset only with --force
    keep = runner.invoke(journal_group, ["reset", str(path)])
    assert keep.exit_code == 1 and "is not damaged (last event id 41)" in keep.output
    assert path.exists()
    os.truncate(path, 4096)
    bad = runner.invoke(journal_group, ["check", str(path)])
    assert bad.exit_code == 1 and "is truncated" in bad.output and str(path) in bad.output
    done = runner.invoke(journal_group, ["reset", str(path)])
    assert done.exit_code == 0 and "moved aside to" in done.output
    assert not path.exists()
    with open_store(path) as store:  # the next session starts a new journal
        assert store.recovery_report().fresh and store.recovery_report().damaged is None
    forced = runner.invoke(journal_group, ["reset", "--force", str(path)])
    assert forced.exit_code == 0 and not path.exists()


def test_a_live_journal_is_neither_checked_nor_reset(path):
    with open_store(path):
        with pytest.raises(JournalLockedError, match="is open in a writer"):
            check_journal(path)
        with pytest.raises(JournalLockedError, match="is being written by another process"):
            reset_journal(path, force=True)
        assert path.exists()
