"""Events the streaming engine reports; drain them with ``StreamingEngine.drain_events()``."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from ._models import HeartbeatReason, ResetReason, SubscriptionState

__all__ = [
    "Disconnected",
    "Event",
    "EventsDropped",
    "ProtocolError",
    "SnapshotApplied",
    "StateChanged",
    "SubscriptionFailed",
    "SubscriptionReset",
    "Updated",
]


@attrs.frozen
class SnapshotApplied:
    """A snapshot became the subscription's state; ``queued`` early deltas were applied on top."""

    subscription: str
    reference_id: str
    queued: int


@attrs.frozen
class Updated:
    """The subscription's state changed through ``updates`` deltas.

    Level-triggered: while an ``Updated`` for a subscription is the last event
    not yet drained for it, further deltas raise its count instead of adding
    events, so an undrained event queue stays small. Read the state with
    ``latest()``; for every step use the change stream.
    """

    subscription: str
    reference_id: str
    updates: int


@attrs.frozen
class StateChanged:
    """The subscription moved from ``old`` to ``new``; ``reason`` is set when a heartbeat did it."""

    subscription: str
    reference_id: str
    old: SubscriptionState
    new: SubscriptionState
    reason: HeartbeatReason | None = None


@attrs.frozen
class SubscriptionReset:
    """``old_reference_id`` was deleted; ``new_reference_id`` is (or at ``resubscribe_at``
    will be) created in its place. Updates for the old id are ignored from now on."""

    subscription: str
    old_reference_id: str
    new_reference_id: str
    reason: ResetReason
    resubscribe_at: float
    detail: str = ""


@attrs.frozen
class SubscriptionFailed:
    """The caller reported that the subscribe request for ``reference_id`` failed."""

    subscription: str
    reference_id: str
    reason: str


@attrs.frozen
class Disconnected:
    """The server ended the streaming session; the user must authenticate again."""

    at: float


@attrs.frozen
class ProtocolError:
    """Something the server sent was malformed; ``message`` says what and where.

    The engine's state is unchanged by the bad part (a subscription whose update
    could not be applied is reset, which a ``SubscriptionReset`` event reports).
    """

    message: str
    reference_id: str | None = None
    subscription: str | None = None


@attrs.frozen
class EventsDropped:
    """``count`` older events were dropped because more than ``StreamingConfig.max_events``
    waited undrained; it comes first in the drain that follows the drops."""

    count: int


Event: TypeAlias = (
    SnapshotApplied
    | Updated
    | StateChanged
    | SubscriptionReset
    | SubscriptionFailed
    | Disconnected
    | ProtocolError
    | EventsDropped
)
"""Any event the streaming engine emits (``StreamingEngine.drain_events()``)."""
