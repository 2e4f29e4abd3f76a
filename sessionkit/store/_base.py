"""The ``SessionStore`` interface and the write buffer both journals share.

A store is written in small calls (``message_submitted``, ``message_acked``,
``event_handled`` ...) that only change its in-memory view; ``commit()``
makes every change since the previous commit durable at once, or none of
them. Callers order their commits around the transport (see
``docs/journal.md``): a request is committed before its frame is handed to
the transport, and an event is recorded after the processor returned.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import msgspec

from .._codec import unstructure
from .._errors import InvalidRequestError
from .._events import Outcome
from .._messages import Batch, Request, RequestKind
from .._session import Handoff
from .._tracking import MessageState, TrackedSnapshot
from ._errors import IdempotencyConflictError, JournalError, JournalValueError
from ._records import (
    Durability,
    IntentRecord,
    JobRecord,
    MessageRecord,
    RecoveryReport,
    SessionKey,
)
from ._values import INT_MAX, INT_MIN, bad_int, bad_text, unstorable

__all__ = ["SessionStore", "StoreBase", "Changes", "Row", "RUN_HISTORY"]

#: how many run ids the exchange left the journal keeps (the session keeps as many)
RUN_HISTORY = 64

logger = logging.getLogger(__name__)

_JSON = msgspec.json.Encoder()

_UNACKED = (MessageState.QUEUED, MessageState.SENT)

@runtime_checkable
class SessionStore(Protocol):
    """The durable journal of one session (see ``docs/journal.md`` for the call order)."""

    key: SessionKey
    durability: Durability | None
    path: str | None

    @property
    def last_event_id(self) -> int: ...

    @property
    def run_id(self) -> str | None: ...

    @property
    def incarnation(self) -> int: ...

    # -- recovery -------------------------------------------------------------------
    def load_handoff(self, cid_prefix: str | None = None) -> Handoff | None: ...

    def recovery_report(self) -> RecoveryReport: ...

    def messages(self) -> list[MessageRecord]: ...

    def awaiting_response(self) -> list[tuple[str, int]]: ...

    # -- the session's life ---------------------------------------------------------------
    def run_changed(self, run_id: str, *, ids_restart: bool = False) -> None: ...

    def message_submitted(self, request: Request, *, parent: str | None = None,
                          cid: str | None = None) -> None: ...

    def check_submitted(self, request: Request, *, cid: str | None = None) -> None: ...

    def message_sent(self, cid: str) -> None: ...

    def message_acked(self, cid: str, mid: int | None, run_id: str | None) -> None: ...

    def message_finished(self, cid: str, outcome: Outcome, reason: str = "") -> None: ...

    def event_handled(self, event_id: int) -> None: ...

    # -- idempotency keys and asynchronous jobs ------------------------------------------
    def record_intent(self, key: str, operation: str, payload_hash: str, *,
                      cid: str | None = None) -> IntentRecord | None: ...

    def resolve_intent(self, key: str, outcome: str) -> None: ...

    def intent(self, key: str) -> IntentRecord | None: ...

    def intents(self) -> list[IntentRecord]: ...

    def add_job(self, job_id: str, kind: str) -> None: ...

    def finish_job(self, job_id: str) -> None: ...

    def jobs(self) -> list[JobRecord]: ...

    # -- durability -------------------------------------------------------------------------
    @property
    def pending(self) -> bool: ...

    def not_durable(self) -> list[str]: ...

    def commit(self) -> None: ...

    def close(self, *, commit: bool = True) -> None: ...


class Row:
    """A message's mutable journal row (internal)."""

    __slots__ = ("cid", "_request", "payload", "kind", "state", "mid", "attempts", "parent",
                 "run_id", "seq", "persisted")

    def __init__(self, cid: str, request: Request, payload: str, state: MessageState,
                 mid: int | None, attempts: int, parent: str | None, run_id: str | None,
                 seq: int, persisted: bool) -> None:
        self.cid = cid
        #: the request as submitted: its cid is set when it is first read (saves a copy)
        self._request = request
        self.payload = payload
        self.kind = request.KIND
        self.state = state
        self.mid = mid
        self.attempts = attempts
        self.parent = parent
        self.run_id = run_id
        self.seq = seq
        self.persisted = persisted

    @property
    def request(self) -> Request:
        r = self._request
        if r.cid != self.cid:
            r = self._request = msgspec.structs.replace(r, cid=self.cid)
        return r

    def record(self) -> MessageRecord:
        return MessageRecord(self.cid, self.request, self.state, self.mid, self.attempts,
                             self.parent, self.run_id, self.seq)


class Changes:
    """Everything one commit writes (internal; handed to ``StoreBase._persist``)."""

    __slots__ = ("inserts", "updates", "deletes", "session", "old_runs", "intents",
                 "jobs_added", "jobs_finished")

    def __init__(self) -> None:
        self.inserts: list[Row] = []
        self.updates: list[Row] = []
        self.deletes: list[str] = []
        #: (run_id, last_event_id, next_seq) when the session row changed
        self.session: tuple[str | None, int, int] | None = None
        #: the run ids the exchange left, oldest first, when they changed (a run change)
        self.old_runs: tuple[str, ...] | None = None
        self.intents: list[IntentRecord] = []
        self.jobs_added: list[JobRecord] = []
        self.jobs_finished: list[str] = []


def encode_request(request: Request, cid: str | None, path: str | None = None) -> str:
    """A request (with its client id) in the core codec's dict form, as JSON text.

    A request holding a value JSON text cannot carry raises :class:`JournalValueError`
    naming the field. ``cid`` None: a request the session has not named yet (a check).
    """
    name = request.TYPE if cid is None else f"{request.TYPE} {cid!r}"
    try:
        d = unstructure(request)
        d["cid"] = cid
        # the values the journal can read back (JSON text holds any integer; the journal
        # keeps what a 64-bit reader takes, as it always has)
        found = unstorable(d, "")
        if found is None:
            return _JSON.encode(d).decode()
    except (TypeError, ValueError, OverflowError) as err:
        raise JournalValueError(path, f"request {name}", request,
                                f"it cannot be written as JSON ({err})") from None
    field, value, why = found
    raise JournalValueError(path, f"{name} field {field}", value, why)


class StoreBase:
    """The journal's in-memory view plus the changes not yet committed.

    Subclasses load the committed state with :meth:`_load` and implement
    :meth:`_persist` (write one :class:`Changes` atomically) and :meth:`_release`.
    """

    def __init__(self, key: SessionKey, durability: Durability | None,
                 path: str | None) -> None:
        if not isinstance(key, SessionKey):
            raise TypeError(f"key must be a SessionKey, got {type(key).__name__}")
        self.key = key
        self.durability = durability
        self.path = path
        self._rows: dict[str, Row] = {}
        self._dirty: dict[str, Row | None] = {}
        self._cursor = 0
        self._run_id: str | None = None
        #: the run changed and none of its events was handled yet: the next one sets the
        #: cursor, wherever its id is (a new run's ids may start again)
        self._run_fresh = False
        #: the run ids the exchange left, oldest first, at most RUN_HISTORY of them
        self._old_runs: list[str] = []
        self._old_runs_dirty = False
        self._next_seq = 1
        self._incarnation = 1
        self._journal_id = secrets.token_hex(4)
        self._session_dirty = False
        self._intents: dict[str, IntentRecord] = {}
        self._intent_by_cid: dict[str, str] = {}
        self._intents_dirty: dict[str, IntentRecord] = {}
        self._jobs: dict[str, JobRecord] = {}
        self._jobs_dirty: dict[str, JobRecord | None] = {}
        self._closed = False
        self._report: RecoveryReport | None = None
        #: set when a damaged journal was moved aside and this one started fresh
        self._damaged: str | None = None

    # -- loading --------------------------------------------------------------------------

    def _load(self, *, journal_id: str, incarnation: int, run_id: str | None, cursor: int,
              next_seq: int, rows: Iterable[Row], intents: Iterable[IntentRecord],
              jobs: Iterable[JobRecord], old_runs: Iterable[str] = ()) -> None:
        self._journal_id = journal_id
        self._incarnation = incarnation
        self._run_id = run_id
        self._old_runs = list(old_runs)[-RUN_HISTORY:]
        self._cursor = cursor
        self._next_seq = next_seq
        self._rows = {r.cid: r for r in sorted(rows, key=lambda r: r.seq)}
        self._intents = {i.key: i for i in intents}
        self._intent_by_cid = {i.cid: i.key for i in self._intents.values()
                               if i.cid is not None and i.outcome is None}
        self._jobs = {j.job_id: j for j in jobs}
        rows_ = list(self._rows.values())
        self._report = RecoveryReport(
            path=self.path, account=self.key.account, session_id=self.key.session_id,
            incarnation=incarnation, run_id=run_id, last_event_id=cursor,
            resend=tuple(r.cid for r in rows_ if r.state in _UNACKED and r.parent is None),
            replay=tuple((r.cid, r.mid) for r in rows_
                         if r.state not in _UNACKED and r.mid is not None),
            open_intents=tuple(i.key for i in self._intents.values() if i.outcome is None),
            jobs=tuple(self._jobs), fresh=self.fresh, damaged=self._damaged,
        )

    # -- reading --------------------------------------------------------------------------

    @property
    def last_event_id(self) -> int:
        """The resume cursor: the highest event id recorded as handled."""
        return self._cursor

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def old_runs(self) -> tuple[str, ...]:
        """The run ids the exchange left, oldest first (the last :data:`RUN_HISTORY`): a
        message carrying one is stale."""
        return tuple(self._old_runs)

    @property
    def incarnation(self) -> int:
        """How many times this journal was opened (this opening included)."""
        return self._incarnation

    @property
    def journal_id(self) -> str:
        """A random id given to the journal when it was created."""
        return self._journal_id

    @property
    def pending(self) -> bool:
        """True when changes are waiting for ``commit()``."""
        return bool(self._dirty or self._session_dirty or self._old_runs_dirty
                    or self._intents_dirty or self._jobs_dirty)

    @property
    def fresh(self) -> bool:
        """True when nothing was ever recorded in this journal."""
        return (self._next_seq == 1 and self._cursor == 0 and self._run_id is None
                and not self._intents and not self._jobs)

    def messages(self) -> list[MessageRecord]:
        """Every request not yet final, in submission order."""
        return [r.record() for r in self._rows.values()]

    def not_durable(self) -> list[str]:
        """Client ids of the requests recorded since the last commit (their batches' messages
        included): until a commit succeeds the journal does not hold them, so a process that
        ends now (a failed commit, a full disk) leaves no trace of them. The write-ahead rule
        keeps them from the transport until then: they were never sent.
        """
        return [r.cid for r in self._rows.values() if not r.persisted]

    def awaiting_response(self) -> list[tuple[str, int]]:
        """(cid, mid) of the requests ACKed without their final response (S2)."""
        return [(r.cid, r.mid) for r in self._rows.values()
                if r.state not in _UNACKED and r.mid is not None]

    def message(self, cid: str) -> MessageRecord | None:
        row = self._rows.get(cid)
        return row.record() if row is not None else None

    def intent(self, key: str) -> IntentRecord | None:
        return self._intents.get(key)

    def intents(self) -> list[IntentRecord]:
        return list(self._intents.values())

    def jobs(self) -> list[JobRecord]:
        return list(self._jobs.values())

    def recovery_report(self) -> RecoveryReport:
        """What the journal held when it was opened."""
        assert self._report is not None
        return self._report

    def load_handoff(self, cid_prefix: str | None = None) -> Handoff | None:
        """A :class:`~sessionkit.Handoff` that resumes the journalled session (None: fresh).

        New client ids get the prefix ``<cid_prefix>.<incarnation>`` (the
        journal's id when ``cid_prefix`` is None), so that a process never
        reuses a client id an earlier process may have sent.
        """
        self._check_open()
        if self.fresh:
            return None
        tracked = tuple(TrackedSnapshot(r.request, r.state, r.mid, r.run_id, r.parent)
                        for r in self._rows.values())
        base = cid_prefix or self._journal_id
        return Handoff(run_id=self._run_id, last_event_id=self._cursor, tracked=tracked,
                       cid_prefix=f"{base}.{self._incarnation}", next_cid=1,
                       old_runs=tuple(self._old_runs))

    # -- writing --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(self.path, "the store is closed")

    def _check_int(self, field: str, value: object) -> None:
        why = bad_int(value)
        if why is not None:
            raise JournalValueError(self.path, field, value, why)

    def _check_text(self, field: str, value: object) -> None:
        why = bad_text(value)
        if why is not None:
            raise JournalValueError(self.path, field, value, why)

    def run_changed(self, run_id: str, *, ids_restart: bool = False) -> None:
        """The session learnt (or changed to) exchange run ``run_id``.

        After a change the cursor follows the new run's first event handled, wherever its
        id is. ``ids_restart`` (the session's ``event_id_scope`` is ``"run"``): the new
        run's ids start again, so none of them was handled: the cursor is 0 at once (a
        session resumed before its first event asks for the run from its start).

        The run left is remembered (the last :data:`RUN_HISTORY`, as the session keeps
        them) and handed back by :meth:`load_handoff` as ``old_runs``: after a restart a
        message carrying it is stale (a protocol violation), not a new run."""
        self._check_open()
        if run_id != self._run_id:
            self._check_text("run_id", run_id)
            if self._run_id is not None:
                self._run_fresh = True
                if ids_restart:
                    self._cursor = 0
                if run_id in self._old_runs:  # a run is current or left, never both (the
                    self._old_runs.remove(run_id)  # session refuses a return to a left run)
                self._old_runs.append(self._run_id)
                del self._old_runs[:-RUN_HISTORY]
                self._old_runs_dirty = True
            self._run_id = run_id
            self._session_dirty = True

    def message_submitted(self, request: Request, *, parent: str | None = None,
                          cid: str | None = None) -> None:
        """Record a request (a batch: with its messages) before its frame is sent.

        ``cid`` is the client id the session gave it (default: ``request.cid``). A
        refusal (:class:`JournalValueError`, ``ValueError``, :class:`JournalError` when the
        store is closed) records nothing: a batch is recorded whole or not at all.
        """
        rows = self._prepared(request, cid, parent, "message_submitted")
        for req, row_cid, row_parent, payload in rows:
            assert row_cid is not None  # a cid is needed here (_prepared checked)
            self._add_row(req, row_cid, row_parent, payload)

    def check_submitted(self, request: Request, *, cid: str | None = None) -> None:
        """Raise what :meth:`message_submitted` would raise for ``request``, recording
        nothing (a caller checks before the session takes the request, so that a request
        the journal refuses is never taken, nor sent).

        ``cid`` None and no ``request.cid`` (the session gives it one when it takes it):
        every check but the client id's own. A client id the session makes is one a
        journal always holds: it is text the session never gave before (the journal's
        incarnation is in its prefix).
        """
        self._prepared(request, cid, None, "check_submitted", cid_known=False)

    def _prepared(self, request: Request, cid: str | None, parent: str | None, what: str,
                  *, cid_known: bool = True,
                  ) -> list[tuple[Request, str | None, str | None, str]]:
        """The rows ``request`` makes, ``(request, cid, parent, payload)``, every check made
        and every payload encoded (so that a refusal records nothing)."""
        self._check_open()
        if not isinstance(request, Request):
            raise TypeError(f"{what} needs a sessionkit Request, got "
                            f"{type(request).__name__}")
        if cid is None:
            cid = request.cid
        elif request.cid is not None and request.cid != cid:
            raise ValueError(f"{what} got cid {cid!r} for a request whose cid is "
                             f"{request.cid!r}")
        if cid is None and not cid_known:
            pass  # the session names it when it takes it
        elif not isinstance(cid, str) or not cid:
            raise ValueError(f"{what} needs a request with its cid set, got "
                             f"cid={cid!r} on {request.TYPE}")
        else:
            self._check_cid(cid)
        if parent is not None:
            self._check_text("parent", parent)
        if not isinstance(request, Batch):
            return [(request, cid, parent, encode_request(request, cid, self.path))]
        cids = [m.cid for m in request.messages]
        for c in cids:
            if c is None and not cid_known:
                continue
            if not isinstance(c, str) or not c:
                raise ValueError(f"{what}: every message of batch {cid!r} "
                                 f"needs its cid set, got {c!r}")
            self._check_cid(c)
        named = [c for c in cids if c is not None]
        if len(set(named)) != len(named) or cid in named:
            raise ValueError(f"{what}: batch {cid!r} holds the same cid twice")
        rows: list[tuple[Request, str | None, str | None, str]] = [
            (request, cid, parent, encode_request(request, cid, self.path))]
        for m in request.messages:
            rows.append((m, m.cid, cid, encode_request(m, m.cid, self.path)))
        return rows

    def _check_cid(self, cid: str) -> None:
        self._check_text("cid", cid)
        if cid in self._rows:  # as the session refuses a cid it tracks, and a ValueError
            raise InvalidRequestError(f"cid {cid!r} is already in the journal (a request's "
                                      f"cid is never reused)", field="cid", value=cid)

    def _add_row(self, request: Request, cid: str, parent: str | None, payload: str) -> None:
        row = Row(cid, request, payload, MessageState.QUEUED, None, 0,
                  parent, None, self._next_seq, False)
        self._next_seq += 1
        self._session_dirty = True
        self._rows[cid] = row
        self._dirty[cid] = row

    def message_sent(self, cid: str) -> None:
        """One more send of ``cid`` (and of a batch's messages); unknown cids are ignored."""
        row = self._rows.get(cid)
        if row is None or row.state not in _UNACKED:
            return
        row.state = MessageState.SENT
        row.attempts += 1
        self._dirty[cid] = row
        if isinstance(row.request, Batch):
            for m in row.request.messages:
                if m.cid is not None:
                    self.message_sent(m.cid)

    def message_acked(self, cid: str, mid: int | None, run_id: str | None) -> None:
        """``cid`` was ACKed (or answered, which implies the ACK); a repeat is ignored."""
        row = self._rows.get(cid)
        if row is None or row.state not in _UNACKED:
            return
        if mid is not None:
            self._check_int("mid", mid)
        if run_id is not None:
            self._check_text("run_id", run_id)
        row.state = MessageState.OPEN if row.kind is RequestKind.TRADE else MessageState.ACKED
        row.mid = mid
        row.run_id = run_id or self._run_id
        self._dirty[cid] = row

    def message_finished(self, cid: str, outcome: Outcome, reason: str = "") -> None:
        """``cid`` reached its final state: it leaves the journal, its intent is resolved."""
        row = self._rows.pop(cid, None)
        if row is not None:
            if row.persisted:
                self._dirty[cid] = None
            else:
                self._dirty.pop(cid, None)
        key = self._intent_by_cid.pop(cid, None)
        if key is not None:
            self.resolve_intent(key, outcome.value)

    def event_handled(self, event_id: int) -> None:
        """The processor returned from the event ``event_id``: move the cursor.

        An event id the journal cannot hold raises :class:`JournalValueError` and
        records nothing (the cursor stays where it was).
        """
        if type(event_id) is not int or not INT_MIN <= event_id <= INT_MAX:
            self._check_int("event_id", event_id)
        if event_id > self._cursor or (self._run_fresh and event_id != self._cursor):
            self._cursor = event_id
            self._session_dirty = True
        self._run_fresh = False

    def record_intent(self, key: str, operation: str, payload_hash: str, *,
                      cid: str | None = None) -> IntentRecord | None:
        """Record an idempotency key before the operation is sent.

        Returns None when the key is new, else the record already there (do not
        perform the operation again; its ``outcome`` is None while unknown).
        The same key with another operation or payload raises
        :class:`IdempotencyConflictError`.
        """
        self._check_open()
        for name, value in (("key", key), ("operation", operation),
                            ("payload_hash", payload_hash)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"record_intent {name} must be a non-empty string, "
                                 f"got {value!r}")
            self._check_text(name, value)
        if cid is not None:
            self._check_text("cid", cid)
        seen = self._intents.get(key)
        if seen is not None:
            if seen.operation != operation or seen.payload_hash != payload_hash:
                raise IdempotencyConflictError(
                    self.path, f"idempotency key {key!r} was recorded for {seen.operation} "
                               f"{seen.payload_hash}, not {operation} {payload_hash}")
            return seen
        if cid is not None and cid in self._intent_by_cid:
            raise ValueError(f"record_intent: cid {cid!r} already carries the open intent "
                             f"{self._intent_by_cid[cid]!r}")
        rec = IntentRecord(key, operation, payload_hash, cid, None)
        self._intents[key] = rec
        self._intents_dirty[key] = rec
        if cid is not None:
            self._intent_by_cid[cid] = key
        return None

    def resolve_intent(self, key: str, outcome: str) -> None:
        """Record the known outcome of an idempotency key."""
        rec = self._intents.get(key)
        if rec is None:
            raise ValueError(f"resolve_intent: no intent with key {key!r}")
        if not isinstance(outcome, str) or not outcome:
            raise ValueError(f"resolve_intent outcome must be a non-empty string, "
                             f"got {outcome!r}")
        self._check_text("outcome", outcome)
        if rec.outcome == outcome:
            return
        rec = IntentRecord(rec.key, rec.operation, rec.payload_hash, rec.cid, outcome)
        self._intents[key] = rec
        self._intents_dirty[key] = rec
        if rec.cid is not None:
            self._intent_by_cid.pop(rec.cid, None)

    def add_job(self, job_id: str, kind: str) -> None:
        """An asynchronous job ``job_id`` started at the far side."""
        self._check_open()
        for name, value in (("job_id", job_id), ("kind", kind)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"add_job {name} must be a non-empty string, got {value!r}")
            self._check_text(name, value)
        if job_id in self._jobs:
            raise ValueError(f"add_job: job {job_id!r} is already in the journal")
        rec = JobRecord(job_id, kind)
        self._jobs[job_id] = rec
        self._jobs_dirty[job_id] = rec

    def finish_job(self, job_id: str) -> None:
        """The job finished (its result was handled): it leaves the journal."""
        if self._jobs.pop(job_id, None) is None:
            raise ValueError(f"finish_job: no job {job_id!r} in the journal")
        if self._jobs_dirty.get(job_id) is not None:
            del self._jobs_dirty[job_id]  # added and finished within one commit
        else:
            self._jobs_dirty[job_id] = None

    # -- committing ----------------------------------------------------------------------

    def commit(self) -> None:
        """Make every change since the last commit durable, atomically."""
        self._check_open()
        if not self.pending:
            return
        ch = Changes()
        for cid, row in self._dirty.items():
            if row is None:
                ch.deletes.append(cid)
            elif row.persisted:
                ch.updates.append(row)
            else:
                ch.inserts.append(row)
        if self._session_dirty:
            ch.session = (self._run_id, self._cursor, self._next_seq)
        if self._old_runs_dirty:
            ch.old_runs = tuple(self._old_runs)
        ch.intents = list(self._intents_dirty.values())
        for job_id, job in self._jobs_dirty.items():
            if job is None:
                ch.jobs_finished.append(job_id)
            else:
                ch.jobs_added.append(job)
        self._persist(ch)
        for row in ch.inserts:
            row.persisted = True
        self._dirty.clear()
        self._session_dirty = False
        self._old_runs_dirty = False
        self._intents_dirty.clear()
        self._jobs_dirty.clear()

    def close(self, *, commit: bool = True) -> None:
        """Commit (unless ``commit`` is False: pending changes are dropped) and release."""
        if self._closed:
            return
        try:
            if commit:
                self.commit()
        finally:
            self._closed = True
            self._release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(commit=exc[0] is None)

    def _persist(self, changes: Changes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
