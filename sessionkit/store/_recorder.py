"""``Recorder``: calls a :class:`SessionStore` at the right points of a session's life.

A runtime (or any loop driving a :class:`~sessionkit.Session`) makes these
calls, in this order::

    recorder = Recorder(store, account=account)            # refuses another account's journal
    session = recorder.new_session(config, codec=codec)   # resumes from the journal
    notify_recovered(processor, recorder.report)           # before the login
    session.login(now, account=...)

    recorder.check(request)                                # what the journal refuses is
    cid = session.submit(request, now)                     # never taken (check_batch)
    recorder.submitted(request, cid)                       # (submit_batch: submitted_batch)

    messages = session.messages_to_send()
    recorder.before_send(messages)                         # write-ahead: commits
    await transport.send_frames([codec.encode(m) for m in messages])

    for event in session.events():                         # one drained batch
        dispatch(event, processor)
        recorder.handled(event)                            # after every consumer had it
    recorder.commit()                                      # one transaction per batch

    # a commit failed (a full disk) and the loop ends: report what the journal never held
    for event in recorder.never_sent(session, why):
        dispatch(event, processor)
        recorder.handled(event)                            # forgets it: never sent later

Which events are repeats is the session's to say (its sequencer, resumed from the
journal's run and cursor, remembers events by run and id): every event it hands out is
handed on. Nothing reaches the transport before the journal holds it, and the journal
records an event only once every consumer of it (the processor's handler and
the request's callback) was handed it. ``handled`` moves the resume cursor: a
loop that stops on a consumer's error (the runtime's ``on_handler_error="stop"``)
does not call it for that event nor for any after it, so a session opened on
the journal again is handed them again.

A request the journal refuses (a value it cannot hold, a closed store) is refused by
``check`` before the session takes it: nothing is tracked or sent. Should ``submitted``
fail all the same (a store of one's own refusing what its check let through), the
session holds a request the journal does not; ``before_send`` then refuses to let
anything more reach the transport (a :class:`JournalError`), so the loop ends.

A failed commit leaves the requests recorded since the last commit in no journal
(``store.not_durable()``); the write-ahead rule kept them from the transport.
``never_sent`` makes the one report each of them gets (``MessageFinished`` with outcome
NOT_SENT and a reason beginning "never sent"); handling it drops the request from the
store's pending changes, so that no later commit journals it and no later process sends
what the engine was told was never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from msgspec.structs import replace

from .._codec import Codec
from .._config import EventIdScope, SessionConfig
from .._events import (
    Event,
    LoginAccepted,
    MessageFinished,
    MessageReceived,
    Outcome,
    RunChanged,
)
from .._messages import Batch, Message, Request, Status
from .._session import BatchTicket, Handoff, Session
from ._base import SessionStore
from ._errors import JournalError, JournalMismatchError
from ._records import RecoveryReport

__all__ = ["Recorder", "notify_recovered"]

logger = logging.getLogger(__name__)


def notify_recovered(processor: Any, report: RecoveryReport) -> None:
    """Call ``processor.on_recovered(report)`` when the processor defines it."""
    hook = getattr(processor, "on_recovered", None)
    if hook is not None:
        hook(report)


class Recorder:
    """Maps a session's submits, sends and events onto store calls (see the module docstring)."""

    def __init__(self, store: SessionStore, *, account: str | None = None,
                 config: SessionConfig | None = None) -> None:
        if account is not None and store.key.account != account:
            raise JournalMismatchError(store.path, f"belongs to account {store.key.account!r} "
                                                   f"session {store.key.session_id!r}; the session "
                                                   f"logs in as account {account!r}")
        self.store = store
        #: the session's config (``new_session``'s default); its ``event_id_scope`` says
        #: whether a new run's event ids start again
        self.config = config or SessionConfig()
        #: why the session holds a request the journal does not (a failed ``submitted``):
        #: nothing more may be sent
        self._unrecorded: str | None = None

    @property
    def report(self) -> RecoveryReport:
        return self.store.recovery_report()

    def handoff(self, cid_prefix: str | None = None) -> Handoff | None:
        return self.store.load_handoff(cid_prefix)

    def new_session(self, config: SessionConfig | None = None, *,
                    codec: Codec | None = None) -> Session:
        """A session that resumes the journalled one (a fresh one on a fresh journal)."""
        if config is not None:
            self.config = config
        config = self.config
        return Session(config, codec=codec, handoff=self.handoff(config.cid_prefix))

    # -- outbound ------------------------------------------------------------------------

    def check(self, request: Request) -> None:
        """Before ``Session.submit``: raise what :meth:`submitted` would raise for
        ``request`` (:class:`JournalValueError` naming the field, :class:`JournalError` for
        a closed store ...), so that the session never takes a request the journal refuses.
        What is not a request at all (or a batch given to ``submit``) is left to the
        session, which refuses it naming what it is."""
        if isinstance(request, Request) and not isinstance(request, Batch):
            check = getattr(self.store, "check_submitted", None)
            if check is not None:  # (a store of one's own made before it was asked for:
                check(request)     # submitted() and before_send() keep the write-ahead)

    def check_batch(self, requests: Sequence[Request]) -> None:
        """Before ``Session.submit_batch``: :meth:`check` for each request."""
        for request in requests:
            self.check(request)

    def submitted(self, request: Request, cid: str) -> None:
        """After ``Session.submit`` returned ``cid``: journal the request (not yet durable).

        If the store refuses it (it was not :meth:`check`-ed, or the store's check let it
        through), the session holds a request the journal does not: the error is raised,
        and :meth:`before_send` lets nothing more reach the transport.
        """
        try:
            self.store.message_submitted(request, cid=cid)
        except BaseException as exc:
            self._refused(cid, exc)
            raise

    def submitted_batch(self, requests: Sequence[Request],
                        tickets: Sequence[BatchTicket]) -> None:
        """After ``Session.submit_batch``: journal each batch with its messages (a refusal:
        as :meth:`submitted`)."""
        named = sum(len(t.cids) for t in tickets)
        if named != len(requests):
            raise ValueError(f"submitted_batch: {len(requests)} requests but the tickets name "
                             f"{named} messages")
        start = 0
        for ticket in tickets:
            chunk = requests[start:start + len(ticket.cids)]
            start += len(ticket.cids)
            # the session's copies carry these cids: a copy made as the session makes them
            msgs = tuple(r if r.cid == c else replace(r, cid=c)
                         for r, c in zip(chunk, ticket.cids, strict=True))
            try:
                self.store.message_submitted(Batch(messages=msgs, cid=ticket.cid))
            except BaseException as exc:
                self._refused(ticket.cid, exc)
                raise

    def _refused(self, cid: str, exc: BaseException) -> None:
        if self._unrecorded is None:
            self._unrecorded = (f"request {cid!r} was taken by the session but the journal "
                                f"refused it ({type(exc).__name__}: {exc}); nothing more is "
                                f"sent, as nothing may reach the transport before the journal "
                                f"holds it")

    def before_send(self, messages: Iterable[Message] = ()) -> None:
        """Before frames go to the transport: count the sends and commit (the write-ahead).

        Raises :class:`JournalError` once a request was taken by the session but not
        journalled (see :meth:`submitted`): the frames must not be sent.
        """
        store = self.store
        if self._unrecorded is not None:
            raise JournalError(store.path, self._unrecorded)
        for m in messages:
            if isinstance(m, Request) and m.cid is not None:
                store.message_sent(m.cid)
        store.commit()

    # -- inbound -----------------------------------------------------------------------

    def handled(self, event: Event) -> None:
        """After every consumer of ``event`` was handed it: record what it changed and move
        the resume cursor past it (never call it for an event a consumer did not get)."""
        store = self.store
        t = type(event)
        if t is MessageReceived:
            assert isinstance(event, MessageReceived)
            msg = event.msg
            if isinstance(msg, Status):
                if msg.ok:
                    store.message_acked(msg.cid, msg.mid, msg.run_id)
            else:
                prev = event.prev_msg
                if isinstance(prev, Request) and prev.cid is not None:
                    # the first answer to a request implies its ACK (it may overtake a lost one)
                    store.message_acked(prev.cid, getattr(msg, "mid", None), msg.run_id)
            if msg.event_id is not None:
                store.event_handled(msg.event_id)
        elif t is MessageFinished:
            assert isinstance(event, MessageFinished)
            store.message_finished(event.cid, event.outcome, event.reason)
        elif t is LoginAccepted:
            assert isinstance(event, LoginAccepted)
            if event.run_id is not None:
                store.run_changed(event.run_id, ids_restart=self._ids_restart)
        elif t is RunChanged:
            assert isinstance(event, RunChanged)
            store.run_changed(event.run_id, ids_restart=self._ids_restart)

    @property
    def _ids_restart(self) -> bool:
        return self.config.event_id_scope is EventIdScope.RUN

    def commit(self) -> None:
        """After a drained batch of events: make what was recorded durable."""
        self.store.commit()

    def check_lease(self) -> None:
        """Before connecting: raise :class:`LeaseLostError` when the store's lease was taken
        over (asking the database when it is not good on this side's clock: a process
        paused longer than its lease). A store without a lease has nothing to check."""
        check = getattr(self.store, "check_lease", None)
        if check is not None:
            check()

    # -- a journal that failed ----------------------------------------------------------

    def never_sent(self, session: Session, why: str) -> list[MessageFinished]:
        """One ``MessageFinished`` (outcome NOT_SENT, reason ``"never sent: the journal could
        not record it (why)"``) for each request the journal does not hold, in submission
        order (a batch and each of its messages), with its callback. For a loop that ends
        after a commit failed: hand each to the processor, then to :meth:`handled`, which
        drops the request from the store's pending changes (no later commit journals it,
        so no later process sends it)."""
        not_durable = getattr(self.store, "not_durable", None)
        if not_durable is None:  # a store of one's own made before it was asked for
            logger.error("the store %s has no not_durable(): the requests recorded since its "
                         "last commit cannot be told, so they are not reported (they were "
                         "never sent)", type(self.store).__name__)
            return []
        cids = not_durable()
        if not cids:
            return []
        tracked = {t.request.cid: t for t in session.handoff().tracked}
        records = {m.cid: m for m in self.store.messages()}
        reason = (f"never sent: the journal could not record it ({why}); the exchange "
                  f"never received it")
        out = []
        for cid in cids:
            t = tracked.get(cid)
            if t is not None:
                out.append(MessageFinished(cid, t.mid, Outcome.NOT_SENT, t.request, reason,
                                           t.callback))
            else:  # the session no longer tracks it: what the store recorded
                out.append(MessageFinished(cid, None, Outcome.NOT_SENT, records[cid].request,
                                           reason))
        return out
