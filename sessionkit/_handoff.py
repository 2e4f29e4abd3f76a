"""Values a :class:`~sessionkit.Session` hands out: the :class:`Handoff` one session
instance passes to the next, and the :class:`BatchTicket` of each batch submitted."""

from __future__ import annotations

import attrs

from ._messages import Message
from ._tracking import TrackedSnapshot

__all__ = ["Handoff", "BatchTicket"]


@attrs.frozen
class Handoff:
    """What one session instance passes to the next (after a reconnect or a restart).

    It holds the exchange run last seen, the last event id delivered (the
    resume cursor) and every request not yet in a final state.
    """

    run_id: str | None
    last_event_id: int
    tracked: tuple[TrackedSnapshot, ...]
    cid_prefix: str
    next_cid: int
    #: run ids the exchange left, oldest first (a message carrying one is stale)
    old_runs: tuple[str, ...] = ()
    #: the last events delivered, oldest first, as (event id, message): tells a repeat from
    #: a reused id, and a gap's late event from a repeat, after a reconnect
    recent: tuple[tuple[int, Message], ...] = attrs.field(default=(), repr=False, eq=False)
    #: per run, as (run id, floor): every event of it delivered above the floor is in
    #: ``recent`` (a run not here: its events are not remembered; the current run's floor
    #: is ``last_event_id`` when not here)
    recent_floors: tuple[tuple[str | None, int], ...] = attrs.field(default=(), repr=False)


@attrs.frozen
class BatchTicket:
    """The client ids of one batch sent: the batch's own and each message's, in order."""

    cid: str
    cids: tuple[str, ...]
