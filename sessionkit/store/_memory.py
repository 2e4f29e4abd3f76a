"""An in-memory session journal: the same interface as the SQLite one, durable in nothing.

Useful in tests and for engines that want the bookkeeping (intents, jobs)
without a file. ``reopen()`` plays a process restart: the new store sees
what was committed, not what was pending.

>>> store = MemoryStore("acct", "2026-05-04")
>>> store.event_handled(7)
>>> store.close(commit=False)          # a crash: the pending cursor is lost
>>> store.reopen().last_event_id
0
"""

from __future__ import annotations

import secrets

import attrs

from ._base import Changes, Row, StoreBase
from ._errors import JournalLockedError, JournalMismatchError
from ._records import IntentRecord, JobRecord, SessionKey

__all__ = ["MemoryStore"]


@attrs.define
class _Image:
    """The committed state, shared by the stores that open it one after another."""

    key: SessionKey
    journal_id: str = attrs.field(factory=lambda: secrets.token_hex(4))
    incarnation: int = 0
    run_id: str | None = None
    #: the run ids the exchange left, oldest first
    old_runs: tuple[str, ...] = ()
    cursor: int = 0
    next_seq: int = 1
    #: cid -> (request, payload, state, mid, attempts, parent, run_id, seq)
    rows: dict[str, tuple] = attrs.field(factory=dict)  # type: ignore[type-arg]
    intents: dict[str, IntentRecord] = attrs.field(factory=dict)
    jobs: dict[str, JobRecord] = attrs.field(factory=dict)
    owner: MemoryStore | None = None
    commits: int = 0


class MemoryStore(StoreBase):
    """A journal kept in memory (see the module docstring)."""

    def __init__(self, account: str, session_id: str, *, _image: _Image | None = None) -> None:
        key = SessionKey(account, session_id)
        super().__init__(key, None, None)
        image = _image if _image is not None else _Image(key)
        if image.key != key:
            raise JournalMismatchError(None, f"belongs to account {image.key.account!r} session "
                                             f"{image.key.session_id!r}, not account {account!r} "
                                             f"session {session_id!r}")
        if image.owner is not None and not image.owner.closed:
            raise JournalLockedError(None, "is already open in another store; a session's journal "
                                           "has one writer at a time")
        image.owner = self
        image.incarnation += 1
        self._image = image
        rows = [Row(cid, req, payload, state, mid, attempts, parent, run_id, seq, True)
                for cid, (req, payload, state, mid, attempts, parent, run_id, seq)
                in image.rows.items()]
        self._load(journal_id=image.journal_id, incarnation=image.incarnation,
                   run_id=image.run_id, cursor=image.cursor, next_seq=image.next_seq,
                   rows=rows, intents=image.intents.values(), jobs=image.jobs.values(),
                   old_runs=image.old_runs)

    def reopen(self, account: str | None = None, session_id: str | None = None) -> MemoryStore:
        """A new store on what this one committed (as a restarted process would see it)."""
        return MemoryStore(account or self.key.account, session_id or self.key.session_id,
                           _image=self._image)

    @property
    def commits(self) -> int:
        """Commits that wrote something, over every store opened on this journal."""
        return self._image.commits

    def _persist(self, ch: Changes) -> None:
        im = self._image
        for row in (*ch.inserts, *ch.updates):
            im.rows[row.cid] = (row._request, row.payload, row.state, row.mid, row.attempts,
                                row.parent, row.run_id, row.seq)
        for cid in ch.deletes:
            im.rows.pop(cid, None)
        if ch.session is not None:
            im.run_id, im.cursor, im.next_seq = ch.session
        if ch.old_runs is not None:
            im.old_runs = ch.old_runs
        for rec in ch.intents:
            im.intents[rec.key] = rec
        for job in ch.jobs_added:
            im.jobs[job.job_id] = job
        for job_id in ch.jobs_finished:
            im.jobs.pop(job_id, None)
        im.commits += 1

    def _release(self) -> None:
        if self._image.owner is self:
            self._image.owner = None


