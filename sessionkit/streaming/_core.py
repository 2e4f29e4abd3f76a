"""The engine's core: its state, and the handling of everything the server sends.

:class:`EngineCore` holds the subscriptions, the outgoing requests and the
event queue, applies snapshots and stream messages, and carries out resets.
``StreamingEngine`` (in ``_engine``) adds the calls a user makes.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import InvalidArgumentError, MergeError
from ._events import (
    Disconnected,
    Event,
    EventsDropped,
    ProtocolError,
    SnapshotApplied,
    StateChanged,
    SubscriptionFailed,
    SubscriptionReset,
)
from ._ids import (
    DISCONNECT_ID,
    HEARTBEAT_ID,
    RESET_ID,
    normalize_reference_id,
    validate_context_id,
)
from ._merge import apply_update, clone_data
from ._models import (
    JSON_FORMAT,
    EngineState,
    HeartbeatReason,
    Request,
    ResetReason,
    Snapshot,
    StreamingConfig,
    StreamingStats,
    SubscribeRequest,
    SubscriptionState,
    UnsubscribeRequest,
)
from ._partitions import PartitionError
from ._registry import Registry
from ._subscription import LIVE_STATES, PendingUpdate, SubscriptionRecord
from ._wire import (
    WireError,
    decode_json,
    parse_heartbeats,
    parse_reset_targets,
    show,
    structure_snapshot,
)

__all__ = ["EngineCore"]

logger = logging.getLogger(__name__)

_MISSING: Any = object()
_S = SubscriptionState
_HEARTBEAT_STATE = {
    HeartbeatReason.SUBSCRIPTION_TEMPORARILY_DISABLED: _S.TEMPORARILY_DISABLED,
    HeartbeatReason.SUBSCRIPTION_PERMANENTLY_DISABLED: _S.PERMANENTLY_DISABLED,
}
_INDEX_CACHE_LIMIT = 256
_STAT_NAMES = tuple(a.name for a in attrs.fields(StreamingStats))


_short = show


class EngineCore:
    """State shared by the engine's parts, and the server-facing half of the engine."""

    def __init__(self, context_id: str, config: StreamingConfig | None = None) -> None:
        self._context_id = validate_context_id(context_id)
        if config is not None and not isinstance(config, StreamingConfig):
            raise InvalidArgumentError("config", config, "must be a StreamingConfig")
        self._config = config or StreamingConfig()
        self._state = EngineState.OPEN
        self._reg = Registry(self._config.retired_id_memory)
        self._requests: list[Request] = []
        self._events: deque[Event | PendingUpdate] = deque()
        self._events_dropped = 0  # since the last drain
        self._counts = dict.fromkeys(_STAT_NAMES, 0)
        self._updates_applied = 0  # the hot counter, kept apart from the dict

    # ------------------------------------------------------------------ snapshots

    def receive_snapshot(self, body: Any, now: float) -> None:
        """Feed the response of a subscribe request: a decoded JSON object, JSON bytes / text,
        or a :class:`Snapshot`. Malformed bodies become :class:`ProtocolError` events."""
        if self._state is EngineState.DISCONNECTED:
            self._counts["ignored_after_disconnect"] += 1
            return
        try:
            if isinstance(body, Snapshot):
                snap = body
            else:
                if isinstance(body, (bytes, bytearray, memoryview, str)):
                    body = decode_json(body)
                snap = structure_snapshot(body)
        except WireError as e:
            self._protocol_error(str(e), None, None)
            return
        sub = self._reg.lookup(snap.reference_id)
        if sub is None:
            self._count_unknown(snap.reference_id)
            return
        ref = sub.reference_id
        if snap.context_id != self._context_id:
            self._protocol_error(
                f"snapshot ContextId {snap.context_id!r} is not this engine's {self._context_id!r}",
                ref,
                sub,
            )
            self._fail(sub, "snapshot for another streaming context")
            return
        if sub.has_snapshot:
            self._protocol_error(f"second snapshot for {ref!r} ignored", ref, sub)
            return
        if snap.format is not None and snap.format != JSON_FORMAT:
            self._protocol_error(f"snapshot Format {snap.format!r} is not {JSON_FORMAT}", ref, sub)
            self._fail(sub, f"unsupported format {snap.format!r}")
            return
        try:
            data = clone_data(snap.data, self._config.max_depth)
        except MergeError as e:
            self._protocol_error(f"snapshot of {ref!r}: {e}", ref, sub)
            self._fail(sub, "malformed snapshot data")
            return
        sub.data = data
        sub.index_cache = {}
        sub.has_snapshot = True
        sub.inactivity_timeout = snap.inactivity_timeout
        sub.granted_refresh_rate = snap.refresh_rate
        sub.last_activity = now
        self._counts["snapshots_applied"] += 1
        self._counts["changes_dropped"] += sub.record_change("snapshot", data)
        queued = list(sub.pending)
        sub.pending.clear()
        if sub.state is _S.PENDING:
            self._set_state(sub, _S.ACTIVE)
        for delta in queued:
            if not self._apply(sub, delta, now, notify=False):
                return  # reset: the events say why
        self._emit(SnapshotApplied(sub.name, ref, len(queued)), sub)

    # ------------------------------------------------------------------ stream

    def receive(self, payload: Any, now: float) -> None:
        """Feed one payload from the streaming connection: a list of messages, one message,
        or JSON bytes / text of either. Never raises for what the server sent."""
        if self._state is EngineState.DISCONNECTED:
            self._counts["ignored_after_disconnect"] += len(payload) if type(payload) is list else 1
            return
        if type(payload) is list:
            messages = payload
        elif type(payload) is dict:
            messages = [payload]
        elif isinstance(payload, (bytes, bytearray, memoryview, str)):
            try:
                decoded = decode_json(payload)
            except WireError as e:
                self._protocol_error(str(e), None, None)
                return
            self.receive(decoded, now)
            return
        elif isinstance(payload, Mapping):
            messages = [payload]
        elif isinstance(payload, (tuple, list)):
            messages = list(payload)
        else:
            self._protocol_error(
                f"payload must be a message or a list of messages, got {_short(payload)}",
                None,
                None,
            )
            return
        by_ref = self._reg.by_ref
        counts = self._counts
        for msg in messages:
            if self._disconnected():  # a _disconnect earlier in this payload
                counts["ignored_after_disconnect"] += 1
                continue
            counts["messages"] += 1
            try:
                ref = (
                    msg.get("ReferenceId")
                    if type(msg) is dict or isinstance(msg, Mapping)
                    else None
                )
                sub = by_ref.get(ref) if type(ref) is str else None
                if sub is not None:
                    self._on_data(sub, msg, now)
                else:
                    self._dispatch(msg, ref, now)
            except Exception as e:  # defensive: a bug must not kill the session
                logger.exception("internal error while handling a stream message")
                self._protocol_error(f"internal error on message {_short(msg)}: {e!r}", None, None)

    def _dispatch(self, msg: Any, ref: Any, now: float) -> None:
        if not isinstance(msg, Mapping):
            self._protocol_error(f"stream message must be an object, got {_short(msg)}", None, None)
            return
        if not isinstance(ref, str):
            self._protocol_error(
                f"stream message has no string ReferenceId: {_short(msg)}", None, None
            )
            return
        if ref == HEARTBEAT_ID:
            self._on_heartbeat(msg, now)
        elif ref == RESET_ID:
            self._on_reset(msg, now)
        elif ref == DISCONNECT_ID:
            self._on_disconnect(now)
        else:
            sub = self._reg.by_ref.get(normalize_reference_id(ref))
            if sub is None:
                self._count_unknown(ref)
            else:
                self._on_data(sub, msg, now)

    def _on_data(self, sub: SubscriptionRecord, msg: Mapping[str, Any], now: float) -> None:
        sub.last_activity = now
        data = msg.get("Data", _MISSING)
        if (
            sub.has_snapshot
            and not sub.assembler.total
            and (type(data) is dict or type(data) is list)
            and "__pn" not in msg
            and "__pc" not in msg
        ):  # the common case: a whole update for a live subscription
            self._apply(sub, data, now, notify=True)
            return
        ref = sub.reference_id
        if "__pn" in msg or "__pc" in msg:
            self._counts["partitions"] += 1
            try:
                data = sub.assembler.add(msg.get("__pn"), msg.get("__pc"), data, now,
                                         self._config.max_partitions)
            except PartitionError as e:
                self._protocol_error(f"{ref!r}: {e}", ref, sub)
                self._reset(sub, ResetReason.PARTITION_ERROR, now, str(e))
                return
            if data is None:
                return
        elif sub.assembler.total:
            detail = (
                f"an unpartitioned update arrived while partition {len(sub.assembler.parts)} "
                f"of {sub.assembler.total} was awaited"
            )
            sub.assembler.clear()
            self._protocol_error(f"{ref!r}: {detail}", ref, sub)
            self._reset(sub, ResetReason.PARTITION_ERROR, now, detail)
            return
        elif type(data) is not dict and type(data) is not list:
            detail = (
                "update has no Data"
                if data is _MISSING
                else f"update Data must be an object or array, got {_short(data)}"
            )
            self._protocol_error(f"{ref!r}: {detail}", ref, sub)
            self._reset(sub, ResetReason.MALFORMED_UPDATE, now, detail)
            return
        if not sub.has_snapshot:
            if len(sub.pending) >= self._config.max_pending_deltas:
                self._reset(
                    sub,
                    ResetReason.QUEUE_OVERFLOW,
                    now,
                    f"more than {self._config.max_pending_deltas} updates before the snapshot",
                )
                return
            sub.pending.append(data)
            self._counts["queued_before_snapshot"] += 1
            return
        self._apply(sub, data, now, notify=True)

    def _apply(self, sub: SubscriptionRecord, data: Any, now: float, *, notify: bool) -> bool:
        cache = sub.index_cache
        if len(cache) > _INDEX_CACHE_LIMIT:  # entries of arrays no longer in the state
            cache.clear()
        try:
            if sub.whole_updates:  # each update is the whole new state
                sub.data = clone_data(data, self._config.max_depth)
                cache.clear()
            else:
                sub.data = apply_update(sub.data, data, sub.spec, cache, self._config.max_depth)
        except MergeError as e:
            self._protocol_error(f"{sub.reference_id!r}: {e}", sub.reference_id, sub)
            self._reset(sub, ResetReason.MALFORMED_UPDATE, now, str(e))
            return False
        sub.updates_applied += 1
        self._updates_applied += 1
        if sub.state is _S.TEMPORARILY_DISABLED:
            self._set_state(sub, _S.ACTIVE)
        if sub.changes is not None:
            self._counts["changes_dropped"] += sub.record_change("update", data)
        else:
            sub.change_seq += 1
        if notify:
            pending = sub.pending_update
            if pending is not None:
                pending.count += 1
            else:
                pending = PendingUpdate(sub.name, sub.reference_id)
                self._push_event(pending)
                sub.pending_update = pending
        return True

    def _on_heartbeat(self, msg: Mapping[str, Any], now: float) -> None:
        beats, problems = parse_heartbeats(msg)
        for problem in problems:
            self._protocol_error(problem, HEARTBEAT_ID, None)
        for ref, reason in beats:
            sub = self._reg.lookup(ref)
            if sub is None:
                self._count_unknown(ref)
                continue
            self._counts["heartbeats"] += 1
            sub.last_activity = now
            sub.heartbeat_reason = reason
            new = _HEARTBEAT_STATE.get(reason)
            if new is None:
                new = _S.ACTIVE if sub.has_snapshot else _S.PENDING
            self._set_state(sub, new, reason)

    def _on_reset(self, msg: Mapping[str, Any], now: float) -> None:
        try:
            targets = parse_reset_targets(msg)
        except WireError as e:
            self._protocol_error(str(e), RESET_ID, None)
            return
        self._counts["server_resets"] += 1
        if targets is None:
            subs = [s for s in self._reg.subs.values() if s.state in LIVE_STATES]
        else:
            found: dict[int, SubscriptionRecord] = {}
            for target in targets:
                sub = self._reg.lookup(target)
                if sub is None:
                    self._count_unknown(target)
                else:
                    found[id(sub)] = sub
            subs = list(found.values())
        for sub in subs:
            self._reset(sub, ResetReason.SERVER_REQUEST, now, "_resetsubscriptions")

    def _on_disconnect(self, now: float) -> None:
        logger.warning("streaming context %r disconnected by the server", self._context_id)
        self._state = EngineState.DISCONNECTED
        self._requests.clear()
        for sub in self._reg.subs.values():
            self._set_state(sub, _S.DISCONNECTED)
            sub.assembler.clear()
            sub.pending.clear()
        self._push_event(Disconnected(now))

    # ------------------------------------------------------------------ resets

    def _reset(self, sub: SubscriptionRecord, reason: ResetReason, now: float, detail: str,
               *, damped: bool = True) -> None:
        """Delete the subscription's current id and create it again under a new one,
        now or, when damped, at a later time (``handle_timer`` does it then)."""
        if sub.state is _S.RESET_DEFERRED or self._state is EngineState.DISCONNECTED:
            return
        old = sub.reference_id
        if sub.state in LIVE_STATES:
            self._requests.append(UnsubscribeRequest(sub.resource, self._context_id, old))
        self._reg.retire(sub)
        sub.forget_stream()
        sub.resets += 1
        self._counts["resets"] += 1
        new_ref = self._reg.reserve_next(sub)
        at = sub.recreate_at(now, self._config) if damped else now
        logger.info(
            "resetting subscription %r: %s -> %s (%s, at %s)",
            sub.name,
            old,
            new_ref,
            reason.value,
            at,
        )
        self._emit(SubscriptionReset(sub.name, old, new_ref, reason, at, detail), sub)
        if at <= now:
            self._recreate(sub, now, counted=damped)
        else:
            sub.resubscribe_at = at
            self._set_state(sub, _S.RESET_DEFERRED)

    def _recreate(self, sub: SubscriptionRecord, now: float, *, counted: bool = True) -> None:
        old = sub.reference_id
        sub.resubscribe_at = None
        if counted:  # towards damping
            sub.recreations.append(now)
        self._reg.take_reserved(sub)
        self._requests.append(self._subscribe_request(sub, old))
        self._set_state(sub, _S.PENDING)

    def _fail(self, sub: SubscriptionRecord, reason: str) -> None:
        self._reg.retire(sub)
        sub.forget_stream()
        self._set_state(sub, _S.FAILED)
        self._emit(SubscriptionFailed(sub.name, sub.reference_id, reason), sub)

    # ------------------------------------------------------------------ helpers

    def _disconnected(self) -> bool:
        return self._state is EngineState.DISCONNECTED

    def _subscribe_request(self, sub: SubscriptionRecord, replaces: str | None) -> SubscribeRequest:
        return SubscribeRequest(
            sub.resource,
            self._context_id,
            sub.reference_id,
            sub.arguments,
            sub.refresh_rate,
            sub.tag,
            sub.format,
            replaces,
        )

    def _count_unknown(self, ref: str) -> None:
        if self._reg.is_retired(ref):
            self._counts["stale_messages"] += 1
        else:
            self._counts["unknown_reference_ids"] += 1

    def _set_state(
        self, sub: SubscriptionRecord, new: SubscriptionState, reason: HeartbeatReason | None = None
    ) -> None:
        old = sub.state
        if old is new:
            return
        sub.state = new
        self._emit(StateChanged(sub.name, sub.reference_id, old, new, reason), sub)

    def _emit(self, event: Event, sub: SubscriptionRecord | None) -> None:
        self._push_event(event)
        if sub is not None:
            sub.pending_update = None

    def _push_event(self, event: Event | PendingUpdate) -> None:
        """Queue an event; past ``max_events`` undrained ones the oldest goes, counted (the
        next drain starts with an ``EventsDropped`` saying how many)."""
        events = self._events
        if len(events) >= self._config.max_events:
            old = events.popleft()
            if isinstance(old, PendingUpdate):  # its subscription's next update reports anew
                sub = self._reg.by_ref.get(old.reference_id)
                if sub is not None and sub.pending_update is old:
                    sub.pending_update = None
            self._events_dropped += 1
            self._counts["events_dropped"] += 1
        events.append(event)

    def _take_events(self) -> list[Event | PendingUpdate]:
        events: list[Event | PendingUpdate] = list(self._events)
        self._events.clear()
        if self._events_dropped:
            events.insert(0, EventsDropped(self._events_dropped))
            self._events_dropped = 0
        return events

    def _protocol_error(
        self, message: str, ref: str | None, sub: SubscriptionRecord | None
    ) -> None:
        self._counts["protocol_errors"] += 1
        logger.info("streaming protocol error: %s", message)
        self._emit(ProtocolError(message, ref, sub.name if sub is not None else None), sub)
