"""The simulated Event Hub: event log, replay, subscriptions and deliveries.

Every event gets a seeded UUID ``EventId`` and a strictly increasing ``EventSeqId``; ids are
skipped now and then (other users' events share the sequence), so clients see gaps. Events
are kept for ``GetEventsSince`` and queued as :class:`Delivery` items (connection, callback
name, payload) for the transport, routed by strategy subscription. Events that belong to no
strategy (agent status) go to every connection.

Signals and errors that are currently on are "active state": a new connection receives them
immediately, before it subscribes, as the reference describes.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from .. import models as m
from .._catalogue import callback_for
from .domain_state import DomainState, fail

__all__ = ["Delivery", "StoredEvent", "EventLog", "ALL_STRATEGIES"]

logger = logging.getLogger(__name__)

ALL_STRATEGIES = None
"""Subscription wildcard: every strategy of the user, including ones created later."""


@attrs.frozen
class Delivery:
    """One callback for the transport to send: ``target`` on connection ``connection_id``."""

    connection_id: str
    target: str
    payload: Any
    corrupt: bool = False  # fault: sent with a payload that does not decode


def corrupt_payload(raw: Any) -> Any:
    """A payload that no longer decodes: its ``EventId`` is not a UUID (fault injection)."""
    return {**raw, "EventId": f"not-a-uuid-{raw.get('EventSeqId')}"}


@attrs.frozen
class StoredEvent:
    seq: int
    target: str
    payload: Any
    strategy_id: int | None


class EventLog:
    """Event history, subscriptions, active state and the outgoing delivery queue."""

    def __init__(self, state: DomainState) -> None:
        self._state = state
        self._events: list[StoredEvent] = []
        self._last_seq = 0
        self._subs: dict[str, set[int] | None] = {}
        self._connected: list[str] = []
        self._outbox: list[Delivery] = []
        self._active: dict[tuple[Any, ...], StoredEvent] = {}

    # -- emitting -----------------------------------------------------------------------

    def emit(self, payload_type: type, **fields: Any) -> Any:
        """Create, store and route one event; returns the payload."""
        st = self._state
        step = 1
        gap = st.config.seq_gap_probability
        if gap > 0 and st.ids.rng.random() < gap:
            step += st.ids.rng.randint(1, 3)
        self._last_seq += step
        payload = payload_type(event_id=st.ids.uuid(), event_seq_id=self._last_seq,
                               event_time=st.utc, **fields)
        stored = StoredEvent(self._last_seq, callback_for(payload), payload,
                             getattr(payload, "strategy_id", None))
        self._events.append(stored)
        if st.faults.hide_events > 0:
            st.faults.hide_events -= 1
            st.faults.hidden.add(stored.seq)
        self._track_active(stored)
        self._route(stored)
        return payload

    def _track_active(self, ev: StoredEvent) -> None:
        p = ev.payload
        key: tuple[Any, ...] | None = None
        on = False
        if isinstance(p, m.EntrySignalEvent):
            key, on = ("entry", p.strategy_id, p.broker_account_id), p.state == m.SignalState.ON
        elif isinstance(p, m.ExitSignalEvent):
            key, on = ("exit", p.position_id), p.state == m.SignalState.ON
        elif isinstance(p, m.AdjustmentSignalEvent):
            key = ("adjustment", p.position_id, p.condition.name)
            on = p.state == m.SignalState.ON
        elif isinstance(p, m.ErrorEvent):
            key, on = ("error", p.error_id), p.state == m.ErrorState.RAISED
        if key is None:
            return
        if on:
            self._active[key] = ev
        else:
            self._active.pop(key, None)

    def _route(self, ev: StoredEvent) -> None:
        for conn in self._connected:
            subs = self._subs.get(conn, set())
            if ev.strategy_id is None or subs is ALL_STRATEGIES or ev.strategy_id in subs:
                self._deliver(conn, ev)

    def _deliver(self, conn: str, ev: StoredEvent) -> None:
        faults = self._state.faults
        corrupt = faults.corrupt_deliveries > 0
        if corrupt:
            faults.corrupt_deliveries -= 1
            faults.corrupted.add(ev.seq)
        self._outbox.append(Delivery(conn, ev.target, ev.payload, corrupt))
        if faults.duplicate_deliveries > 0:
            faults.duplicate_deliveries -= 1
            self._outbox.append(Delivery(conn, ev.target, ev.payload))

    def send_unstored(self, payload: Any) -> None:
        """A hostile server: ``payload`` (an event model) goes out live to every Event Hub
        connection as it is, neither stored nor checked (an id going backwards, an id sent
        again with other content)."""
        for conn in self._connected:
            self._outbox.append(Delivery(conn, callback_for(payload), payload))

    def take_deliveries(self) -> list[Delivery]:
        """Everything queued for the transport since the last call, in order."""
        out, self._outbox = self._outbox, []
        return out

    # -- connections and subscriptions --------------------------------------------------

    def connect(self, connection_id: str) -> list[Delivery]:
        """A new Event Hub connection: queue (and return) the active signals and errors."""
        if connection_id not in self._connected:
            self._connected.append(connection_id)
        self._subs.setdefault(connection_id, set())
        pushed = [Delivery(connection_id, ev.target, ev.payload)
                  for ev in sorted(self._active.values(), key=lambda e: e.seq)]
        self._outbox.extend(pushed)
        return pushed

    def disconnect(self, connection_id: str) -> None:
        """Group membership dies with the connection."""
        if connection_id in self._connected:
            self._connected.remove(connection_id)
        self._subs.pop(connection_id, None)
        self._outbox = [d for d in self._outbox if d.connection_id != connection_id]

    def _ensure_connected(self, connection_id: str) -> None:
        if connection_id not in self._connected:
            self.connect(connection_id)

    def subscribe(self, args: m.SubscribeToStrategiesArgs,
                  connection_id: str) -> m.SubscribeToStrategiesResult:
        self._ensure_connected(connection_id)
        if args.strategies is None:
            self._subs[connection_id] = ALL_STRATEGIES
            return m.SubscribeToStrategiesResult(
                successful_strategies=tuple(sorted(self._state.strategies)), failed_strategies=())
        ok = tuple(s for s in args.strategies if s in self._state.strategies)
        bad = tuple(s for s in args.strategies if s not in self._state.strategies)
        subs = self._subs.get(connection_id)
        if subs is not ALL_STRATEGIES:
            self._subs[connection_id] = (subs or set()) | set(ok)
        return m.SubscribeToStrategiesResult(successful_strategies=ok, failed_strategies=bad)

    def unsubscribe(self, args: m.UnsubscribeFromStrategiesArgs,
                    connection_id: str) -> m.UnsubscribeFromStrategiesResult:
        subs = self._subs.get(connection_id)
        if args.strategies is None:
            before = set(self._state.strategies) if subs is ALL_STRATEGIES else set(subs or ())
            self._subs[connection_id] = set()
            return m.UnsubscribeFromStrategiesResult(
                successful_strategies=tuple(sorted(before)), failed_strategies=())
        if subs is ALL_STRATEGIES:
            subs = set(self._state.strategies)
        subs = set(subs or ())
        ok = tuple(s for s in args.strategies if s in subs)
        bad = tuple(s for s in args.strategies if s not in subs)
        if connection_id in self._subs:
            self._subs[connection_id] = subs - set(ok)
        return m.UnsubscribeFromStrategiesResult(successful_strategies=ok, failed_strategies=bad)

    def subscriptions(self, connection_id: str) -> frozenset[int] | None:
        """The strategies a connection receives (``None`` = all)."""
        subs = self._subs.get(connection_id, set())
        return None if subs is ALL_STRATEGIES else frozenset(subs)

    # -- history ------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def events(self) -> list[StoredEvent]:
        return list(self._events)

    def latest(self) -> m.GetLatestEventSeqIdResult:
        return m.GetLatestEventSeqIdResult(latest_event_seq_id=self._last_seq,
                                           snapshot_time=self._state.utc)

    def since(self, args: m.GetEventsSinceArgs) -> m.GetEventsSinceResult:
        cfg = self._state.config
        limit = cfg.default_page_size * 2 if args.max_events is None else args.max_events
        if limit <= 0 or limit > cfg.max_page_size:
            fail(m.StatusCode.BAD_REQUEST, f"MaxEvents must be 1..{cfg.max_page_size}, got {limit}",
                 code="ValidationFailed", field="MaxEvents")
        if args.event_seq_id < 0:
            fail(m.StatusCode.BAD_REQUEST, f"EventSeqId must be >= 0, got {args.event_seq_id}",
                 code="ValidationFailed", field="EventSeqId")
        wanted = None if args.strategies is None else set(args.strategies)
        hidden = self._state.faults.hidden
        matching = [ev for ev in self._events if ev.seq > args.event_seq_id
                    and ev.seq not in hidden and (
            wanted is None or ev.strategy_id is None or ev.strategy_id in wanted)]
        chunk = matching[:limit]
        records = tuple(m.EventRecord(event_seq_id=ev.seq, event_type=ev.target, payload=ev.payload)
                        for ev in chunk)
        last = chunk[-1].seq if chunk else args.event_seq_id
        return m.GetEventsSinceResult(events=records, has_more=len(matching) > limit,
                                      last_event_seq_id=last)
