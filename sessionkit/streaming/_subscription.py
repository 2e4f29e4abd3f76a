"""The engine's record of one subscription (internal, mutable, owned by the engine)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from ._merge import IndexCache, KeySpec
from ._models import (
    Change,
    ChangeBatch,
    HeartbeatReason,
    StreamingConfig,
    SubscriptionInfo,
    SubscriptionState,
)
from ._partitions import PartitionAssembler

__all__ = ["LIVE_STATES", "SubscriptionRecord"]

# States in which the current reference id exists on the server and gets messages.
LIVE_STATES = frozenset(
    {
        SubscriptionState.PENDING,
        SubscriptionState.ACTIVE,
        SubscriptionState.TEMPORARILY_DISABLED,
        SubscriptionState.PERMANENTLY_DISABLED,
    }
)
# States in which silence means trouble.
_WATCHED_STATES = frozenset({SubscriptionState.ACTIVE, SubscriptionState.TEMPORARILY_DISABLED})


class PendingUpdate:
    """A coalesced ``Updated`` event not yet drained (turned into the frozen event on drain)."""

    __slots__ = ("count", "name", "reference_id")

    def __init__(self, name: str, reference_id: str) -> None:
        self.name = name
        self.reference_id = reference_id
        self.count = 1


class SubscriptionRecord:
    """Everything the engine tracks for one subscription across its resets."""

    __slots__ = (
        "arguments",
        "assembler",
        "change_seq",
        "changes",
        "counter",
        "data",
        "dropped_since_drain",
        "dropped_total",
        "format",
        "granted_refresh_rate",
        "has_snapshot",
        "heartbeat_reason",
        "inactivity_timeout",
        "last_activity",
        "name",
        "next_reference_id",
        "pending",
        "pending_update",
        "index_cache",
        "recreations",
        "reference_id",
        "refresh_rate",
        "resets",
        "resource",
        "resubscribe_at",
        "spec",
        "state",
        "tag",
        "updates_applied",
        "whole_updates",
    )

    def __init__(
        self,
        name: str,
        resource: str,
        arguments: Mapping[str, Any] | None,
        refresh_rate: int | None,
        tag: str | None,
        format: str | None,
        spec: KeySpec,
        change_queue: int,
        config: StreamingConfig,
        whole_updates: bool = False,
    ) -> None:
        self.name = name
        self.whole_updates = whole_updates
        self.resource = resource
        self.arguments = arguments
        self.refresh_rate = refresh_rate
        self.tag = tag
        self.format = format
        self.spec = spec
        self.reference_id = name
        self.counter = 1
        self.state = SubscriptionState.PENDING
        self.data: Any = None
        self.has_snapshot = False
        self.inactivity_timeout: float | None = None
        self.granted_refresh_rate: int | None = None
        self.heartbeat_reason: HeartbeatReason | None = None
        self.last_activity: float | None = None
        self.pending: deque[Any] = deque()
        self.assembler = PartitionAssembler()
        self.recreations: deque[float] = deque(maxlen=config.damping_resets)
        self.resets = 0
        self.resubscribe_at: float | None = None
        self.next_reference_id: str | None = None
        self.updates_applied = 0
        self.changes: deque[Change] | None = deque(maxlen=change_queue) if change_queue else None
        self.change_seq = 0
        self.dropped_since_drain = 0
        self.dropped_total = 0
        self.pending_update: PendingUpdate | None = None
        self.index_cache: IndexCache = {}

    # -- the server-side subscription behind the current reference id --------------

    def forget_stream(self) -> None:
        """Drop what belonged to the current reference id (before a new one is used)."""
        self.pending.clear()
        self.assembler.clear()
        self.has_snapshot = False
        self.heartbeat_reason = None
        self.last_activity = None
        self.pending_update = None
        self.index_cache = {}

    # -- damping --------------------------------------------------------------------

    def recreate_at(self, now: float, config: StreamingConfig) -> float:
        """When the next re-creation may happen: ``now`` unless damped."""
        times = self.recreations
        if len(times) >= config.damping_resets and times[0] > now - config.damping_window:
            return max(now, times[-1] + config.damping_delay)
        return now

    # -- timers ---------------------------------------------------------------------

    def deadline(self, config: StreamingConfig) -> float | None:
        """The earliest time at which ``handle_timer`` has something to do for this one."""
        if self.state is SubscriptionState.RESET_DEFERRED:
            return self.resubscribe_at
        best: float | None = None
        if (
            self.state in _WATCHED_STATES
            and self.has_snapshot
            and self.inactivity_timeout
            and self.last_activity is not None
        ):
            best = self.last_activity + self.inactivity_timeout
        if self.assembler.active and self.state in LIVE_STATES:
            due = self.assembler.started + config.partition_timeout
            best = due if best is None else min(best, due)
        return best

    # -- change stream --------------------------------------------------------------

    def note_dropped(self, count: int) -> None:
        """``count`` updates were dropped before they reached the engine (upstream)."""
        self.dropped_since_drain += count
        self.dropped_total += count

    def record_change(self, kind: str, data: Any) -> int:
        """Count a change and keep it if there is a change queue; returns how many
        older changes the bounded queue dropped for it (0 or 1)."""
        self.change_seq += 1
        changes = self.changes
        if changes is None:
            return 0
        dropped = 0
        if len(changes) == changes.maxlen:
            dropped = 1
            self.dropped_since_drain += 1
            self.dropped_total += 1
        changes.append(Change(self.name, self.reference_id, self.change_seq, kind, data, self.data))
        return dropped

    def drain_changes(self) -> ChangeBatch:
        changes = self.changes
        if changes is None:
            return ChangeBatch((), 0)
        batch = ChangeBatch(tuple(changes), self.dropped_since_drain)
        changes.clear()
        self.dropped_since_drain = 0
        return batch

    # -- views ----------------------------------------------------------------------

    def info(self) -> SubscriptionInfo:
        return SubscriptionInfo(
            name=self.name,
            resource=self.resource,
            reference_id=self.reference_id,
            state=self.state,
            has_snapshot=self.has_snapshot,
            tag=self.tag,
            refresh_rate=(
                self.granted_refresh_rate
                if self.granted_refresh_rate is not None
                else self.refresh_rate
            ),
            inactivity_timeout=self.inactivity_timeout,
            heartbeat_reason=self.heartbeat_reason,
            resets=self.resets,
            updates_applied=self.updates_applied,
            pending_deltas=len(self.pending),
            changes_dropped=self.dropped_total,
            last_activity=self.last_activity,
            resubscribe_at=self.resubscribe_at,
            next_reference_id=self.next_reference_id,
        )
