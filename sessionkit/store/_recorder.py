"""``Recorder``: calls a :class:`SessionStore` at the right points of a session's life.

A runtime (or any loop driving a :class:`~sessionkit.Session`) makes these
calls, in this order::

    recorder = Recorder(store, account=account)            # refuses another account's journal
    session = recorder.new_session(config, codec=codec)   # resumes from the journal
    notify_recovered(processor, recorder.report)           # before the login
    session.login(now, account=...)

    cid = session.submit(request, now)
    recorder.submitted(request, cid)                       # (submit_batch: submitted_batch)

    messages = session.messages_to_send()
    recorder.before_send(messages)                         # write-ahead: commits
    await transport.send_frames([codec.encode(m) for m in messages])

    for event in session.events():                         # one drained batch
        if recorder.is_duplicate(event):
            continue
        dispatch(event, processor)
        recorder.handled(event)                            # after every consumer had it
    recorder.commit()                                      # one transaction per batch

Nothing reaches the transport before the journal holds it, and the journal
records an event only once every consumer of it (the processor's handler and
the request's callback) was handed it. ``handled`` moves the resume cursor: a
loop that stops on a consumer's error (the runtime's ``handler_errors="stop"``)
does not call it for that event nor for any after it, so a session opened on
the journal again is handed them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .._codec import Codec
from .._config import SessionConfig
from .._events import Event, LoginAccepted, MessageFinished, MessageReceived, RunChanged
from .._messages import Batch, Message, Request, Status
from .._session import BatchTicket, Handoff, Session
from ._base import SessionStore
from ._errors import JournalMismatch
from ._records import RecoveryReport

__all__ = ["Recorder", "notify_recovered"]


def notify_recovered(processor: Any, report: RecoveryReport) -> None:
    """Call ``processor.on_recovered(report)`` when the processor defines it."""
    hook = getattr(processor, "on_recovered", None)
    if hook is not None:
        hook(report)


class Recorder:
    """Maps a session's submits, sends and events onto store calls (see the module docstring)."""

    def __init__(self, store: SessionStore, *, account: str | None = None) -> None:
        if account is not None and store.key.account != account:
            raise JournalMismatch(store.path, f"belongs to account {store.key.account!r} "
                                              f"session {store.key.session_id!r}; the session "
                                              f"logs in as account {account!r}")
        self.store = store

    @property
    def report(self) -> RecoveryReport:
        return self.store.recovery_report()

    def handoff(self, cid_prefix: str | None = None) -> Handoff | None:
        return self.store.load_handoff(cid_prefix)

    def new_session(self, config: SessionConfig | None = None, *,
                    codec: Codec | None = None) -> Session:
        """A session that resumes the journalled one (a fresh one on a fresh journal)."""
        config = config or SessionConfig()
        return Session(config, codec=codec, handoff=self.handoff(config.cid_prefix))

    # -- outbound ------------------------------------------------------------------------

    def submitted(self, request: Request, cid: str) -> None:
        """After ``Session.submit`` returned ``cid``: journal the request (not yet durable)."""
        self.store.message_submitted(request, cid=cid)

    def submitted_batch(self, requests: Sequence[Request],
                        tickets: Sequence[BatchTicket]) -> None:
        """After ``Session.submit_batch``: journal each batch with its messages."""
        named = sum(len(t.cids) for t in tickets)
        if named != len(requests):
            raise ValueError(f"submitted_batch: {len(requests)} requests but the tickets name "
                             f"{named} messages")
        start = 0
        for ticket in tickets:
            chunk = requests[start:start + len(ticket.cids)]
            start += len(ticket.cids)
            msgs = tuple(r if r.cid == c else attrs.evolve(r, cid=c)
                         for r, c in zip(chunk, ticket.cids, strict=True))
            self.store.message_submitted(Batch(messages=msgs, cid=ticket.cid))

    def before_send(self, messages: Iterable[Message] = ()) -> None:
        """Before frames go to the transport: count the sends and commit (the write-ahead)."""
        store = self.store
        for m in messages:
            if isinstance(m, Request) and m.cid is not None:
                store.message_sent(m.cid)
        store.commit()

    # -- inbound -----------------------------------------------------------------------

    def is_duplicate(self, event: Event) -> bool:
        """True for an event whose event id the journal already records as handled."""
        if type(event) is MessageReceived:
            eid = event.msg.event_id
            return eid is not None and eid <= self.store.last_event_id
        return False

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
                store.run_changed(event.run_id)
        elif t is RunChanged:
            assert isinstance(event, RunChanged)
            store.run_changed(event.run_id)

    def commit(self) -> None:
        """After a drained batch of events: make what was recorded durable."""
        self.store.commit()
