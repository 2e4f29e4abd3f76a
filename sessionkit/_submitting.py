"""The local side of a :class:`~sessionkit.Session`: admitting requests and starting their
tracking (a mixin of ``Session``; the receiving side is in ``_session.py``).

Every submit passes the same admission: the session's state, the request's type and
cid (its fields were checked when it was made; an instance of a subclass is checked
again here, :class:`~sessionkit.InvalidRequestError`), and the window
(``max_in_flight``, ``max_send_buffer``, congestion), which raises :class:`SessionBusyError`
synchronously when it is full. An admitted request gets its cid and a tracking record,
and is queued for the transport.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from msgspec.structs import force_setattr, replace

from ._config import SessionConfig
from ._errors import LocalProtocolError
from ._events import Callback, Event
from ._flow import FlowControl
from ._handoff import BatchTicket
from ._messages import MESSAGE_TYPES, Batch, Message, MessageReplay, Request
from ._rules import check_fields
from ._state import NEXT, Input, SessionState
from ._tracking import Tracked, Tracker

__all__ = ["Submitting"]

_ACTIVE, _SUBMIT = SessionState.ACTIVE, Input.SUBMIT
#: the request classes themselves (not Batch): their type test is one set lookup
_PLAIN_REQUESTS = frozenset(c for c in MESSAGE_TYPES.values()
                            if issubclass(c, Request) and c is not Batch)


class Submitting:
    """Submitting requests (the part of :class:`~sessionkit.Session` that does it)."""

    config: SessionConfig
    _state: SessionState
    _out: deque[Message]
    _events: list[Event]
    _tracker: Tracker
    _flow: FlowControl
    _cid_prefix: str
    _next_cid: int
    _submitted: int

    if TYPE_CHECKING:  # Session's own
        def _require(self, inp: Input) -> SessionState: ...

        def _send(self, t: Tracked, now: float) -> None: ...

        def _push(self, msg: Message, now: float) -> None: ...

    def submit(self, request: Request, now: float, *, callback: Callback | None = None) -> str:
        """Submit one request; returns its client id. Raises :class:`SessionBusyError` when full."""
        nxt = NEXT[self._state].get(_SUBMIT) or self._require(_SUBMIT)
        request = self._admitted(request)
        self._submitted += 1
        self._state = nxt
        if nxt is not _ACTIVE:  # queued until the login is accepted
            return self._tracker.add(request, callback).cid
        t = self._tracker.add_sent(request, callback, now)
        self._push(request, now)
        return t.cid

    def _admitted(self, request: Request) -> Request:
        """Check ``request`` and the window; returns it with its cid (not yet tracked)."""
        cls = type(request)
        if cls not in _PLAIN_REQUESTS:  # a subclass, a batch or not a request at all
            if isinstance(request, Batch):
                raise LocalProtocolError("submit a batch with submit_batch(), not submit()")
            self._check_request(request, "request")
        elif request.cid is not None and request.cid in self._tracker.by_cid:
            self._check_request(request, "request")  # raises: the cid is tracked already
        self._flow.check(1, self._tracker.unacked, len(self._out))
        return self._with_cid(request)

    def submit_batch(self, requests: Sequence[Request], now: float, *,
                     callbacks: Sequence[Callback | None] | None = None) -> list[BatchTicket]:
        """Submit requests as batches of at most ``config.batch_limit``, in order.

        All or nothing: if the whole list does not fit the window, nothing is
        sent and :class:`SessionBusyError` is raised.
        """
        nxt = self._require(Input.SUBMIT)
        requests = list(requests)
        if not requests:
            raise LocalProtocolError("submit_batch needs at least one request")
        if callbacks is not None and len(callbacks) != len(requests):
            raise LocalProtocolError(f"submit_batch got {len(requests)} requests but "
                                     f"{len(callbacks)} callbacks")
        for i, r in enumerate(requests):
            if isinstance(r, Batch):
                raise LocalProtocolError(f"requests[{i}] is a Batch; batches do not nest")
            self._check_request(r, f"requests[{i}]")
        limit = self.config.batch_limit
        n_batches = -(-len(requests) // limit)
        self._flow.check(len(requests), self._tracker.unacked, len(self._out) + n_batches - 1)
        with_cids = [self._with_cid(r) for r in requests]
        if len({r.cid for r in with_cids}) != len(with_cids):
            raise LocalProtocolError("submit_batch got the same cid twice")
        tickets = []
        for start in range(0, len(with_cids), limit):
            chunk = tuple(with_cids[start:start + limit])
            batch = self._with_cid(Batch(messages=chunk))
            bt = self._tracker.add(batch, None)
            for j, r in enumerate(chunk):
                cb = callbacks[start + j] if callbacks is not None else None
                self._tracker.add(r, cb, parent=bt.cid)
            self._submitted += len(chunk)
            tickets.append(BatchTicket(bt.cid, tuple(r.cid for r in chunk)))  # type: ignore[misc]
            if nxt is SessionState.ACTIVE:
                self._send(bt, now)
        self._state = nxt
        return tickets

    def request_message_replay(self, now: float) -> str | None:
        """Ask the exchange to re-send what was ACKed without a final response (S2)."""
        self._require(Input.SUBMIT)
        mids = tuple(sorted(t.mid for t in self._tracker.awaiting_response() if t.mid is not None))
        if not mids:
            return None
        req = self._with_cid(MessageReplay(mids=mids))
        t = self._tracker.add(req, None)
        self._submitted += 1
        if self._state is SessionState.ACTIVE:
            self._send(t, now)
        return t.cid

    def _check_request(self, request: object, what: str) -> None:
        if not isinstance(request, Request):
            raise LocalProtocolError(f"{what} must be a sessionkit Request, got "
                                     f"{type(request).__name__}")
        if type(request) not in _PLAIN_REQUESTS:
            # a subclass may have skipped the check its base runs when made: run it again,
            # so that nothing invalid is sent (a plain request was checked when made)
            check_fields(request)
        if request.cid is not None and request.cid in self._tracker.by_cid:
            raise LocalProtocolError(f"{what} cid {request.cid!r} is already tracked")

    def _with_cid(self, request: Request) -> Request:
        """``request`` with its cid: its own, or the session's next. The session's is set
        on a copy of a plain request, not by ``msgspec.structs.replace``, which runs the
        class's check again (0.07 us instead of 0.26; the request was checked when made,
        and the cid is valid: its prefix was checked when the session was made); a
        subclass's copy is made by ``replace``, which runs its own ``__post_init__``."""
        if request.cid is not None:
            if not isinstance(request.cid, str) or not request.cid:
                raise LocalProtocolError(f"cid must be a non-empty string, got {request.cid!r}")
            return request
        cid = f"{self._cid_prefix}-{self._next_cid}"
        self._next_cid += 1
        if type(request) not in _PLAIN_REQUESTS:
            return replace(request, cid=cid)
        request = request.__copy__()  # type: ignore[attr-defined]
        force_setattr(request, "cid", cid)
        return request
