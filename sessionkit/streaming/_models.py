"""Plain data of the streaming engine: requests it asks the caller to perform,
the snapshot the caller feeds back, configuration, read-only views and enums.

The two that cross the wire, :class:`SubscribeRequest` (its body) and :class:`Snapshot`,
are frozen ``msgspec.Struct``s that declare their OpenAPI (PascalCase) names; the others
are attrs classes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar, TypeAlias
from urllib.parse import quote

import attrs
import msgspec

from ._errors import InvalidArgumentError

__all__ = [
    "JSON_FORMAT",
    "Change",
    "ChangeBatch",
    "EngineState",
    "HeartbeatReason",
    "Request",
    "ResetReason",
    "Snapshot",
    "StreamingConfig",
    "StreamingStats",
    "SubscribeRequest",
    "SubscriptionInfo",
    "SubscriptionState",
    "UnsubscribeContextRequest",
    "UnsubscribeRequest",
    "UnsubscribeTagRequest",
]

JSON_FORMAT = "application/json"
"""The one snapshot ``Format`` the engine reads; a snapshot in another is refused."""
OPENAPI_PREFIX = "/openapi/"


class EngineState(enum.Enum):
    """The streaming session as a whole."""

    OPEN = "open"
    DISCONNECTED = "disconnected"  # the server sent _disconnect: log in again


class SubscriptionState(enum.Enum):
    """Where one subscription stands."""

    PENDING = "pending"  # subscribe request out, no snapshot yet
    ACTIVE = "active"  # snapshot applied; data or NoNewData heartbeats arrive
    TEMPORARILY_DISABLED = "temporarily_disabled"  # heartbeat: data paused by a server error
    PERMANENTLY_DISABLED = "permanently_disabled"  # heartbeat: no data will come; never reset
    RESET_DEFERRED = "reset_deferred"  # old id deleted, re-creation damped until a time
    FAILED = "failed"  # the caller reported that the subscribe request failed
    DISCONNECTED = "disconnected"  # the whole streaming session ended


class HeartbeatReason(enum.Enum):
    """Why the server sent a heartbeat (wire value in ``.value``)."""

    NO_NEW_DATA = "NoNewData"
    SUBSCRIPTION_TEMPORARILY_DISABLED = "SubscriptionTemporarilyDisabled"
    SUBSCRIPTION_PERMANENTLY_DISABLED = "SubscriptionPermanentlyDisabled"


class ResetReason(enum.Enum):
    """Why a subscription was deleted and re-created with a new reference id."""

    SERVER_REQUEST = "server_request"  # a _resetsubscriptions message
    INACTIVITY = "inactivity"  # no data nor heartbeat within InactivityTimeout
    PARTITION_ERROR = "partition_error"  # missing, duplicate or out-of-order partition
    QUEUE_OVERFLOW = "queue_overflow"  # too many deltas before the snapshot
    MALFORMED_UPDATE = "malformed_update"  # an update could not be applied
    MANUAL = "manual"  # the caller asked for it


def _positive(name: str) -> Any:
    def check(_inst: object, _attr: object, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InvalidArgumentError(name, value, "must be a number greater than 0")

    return check


def _count(name: str, minimum: int) -> Any:
    def check(_inst: object, _attr: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidArgumentError(name, value, f"must be an integer >= {minimum}")

    return check


@attrs.frozen
class StreamingConfig:
    """Limits and timings of a :class:`StreamingEngine` (seconds where a time).

    ``damping_resets`` resets of one subscription within ``damping_window``
    seconds make the next re-creation wait until ``damping_delay`` seconds after
    the last one (resets the caller asks for with ``damped=False`` are neither
    damped nor counted). ``max_depth``: levels of nested objects and arrays a
    snapshot or an update may have. ``max_partitions``: the largest ``__pc``
    accepted. ``max_events``: events kept undrained; beyond it the oldest are
    dropped and an ``EventsDropped`` event says how many.
    """

    max_pending_deltas: int = attrs.field(default=1000, validator=_count("max_pending_deltas", 1))
    max_depth: int = attrs.field(default=100, validator=_count("max_depth", 1))
    max_partitions: int = attrs.field(default=1000, validator=_count("max_partitions", 1))
    max_events: int = attrs.field(default=10_000, validator=_count("max_events", 1))
    partition_timeout: float = attrs.field(default=30.0, validator=_positive("partition_timeout"))
    damping_resets: int = attrs.field(default=3, validator=_count("damping_resets", 1))
    damping_window: float = attrs.field(default=60.0, validator=_positive("damping_window"))
    damping_delay: float = attrs.field(default=30.0, validator=_positive("damping_delay"))
    retired_id_memory: int = attrs.field(default=10_000, validator=_count("retired_id_memory", 0))


def _subscriptions_path(resource: str) -> str:
    return f"{OPENAPI_PREFIX}{resource}/subscriptions"


#: the wire names of a subscribe request's body (``resource`` and ``replaces`` are not in it)
REQUEST_NAMES = {
    "context_id": "ContextId",
    "reference_id": "ReferenceId",
    "arguments": "Arguments",
    "refresh_rate": "RefreshRate",
    "tag": "Tag",
    "format": "Format",
}
#: the wire names of a snapshot (the answer to a subscribe request)
SNAPSHOT_NAMES = {
    "context_id": "ContextId",
    "reference_id": "ReferenceId",
    "data": "Snapshot",
    "inactivity_timeout": "InactivityTimeout",
    "refresh_rate": "RefreshRate",
    "state": "State",
    "tag": "Tag",
    "format": "Format",
}


class SubscribeRequest(msgspec.Struct, frozen=True, rename=REQUEST_NAMES, omit_defaults=True):
    """Create a subscription: ``POST`` :attr:`path` with :func:`request_body` as JSON.

    Feed the response body to ``StreamingEngine.receive_snapshot``; on failure
    call ``StreamingEngine.subscribe_failed``.
    """

    resource: str
    context_id: str
    reference_id: str
    arguments: Mapping[str, Any] | None = None
    refresh_rate: int | None = None
    tag: str | None = None
    format: str | None = None
    replaces: str | None = None  # the reference id this one re-creates after a reset

    method: ClassVar[str] = "POST"

    @property
    def path(self) -> str:
        return _subscriptions_path(self.resource) + "/"


@attrs.frozen
class UnsubscribeRequest:
    """Delete one subscription: ``DELETE`` :attr:`path`."""

    resource: str
    context_id: str
    reference_id: str

    method: ClassVar[str] = "DELETE"

    @property
    def path(self) -> str:
        return f"{_subscriptions_path(self.resource)}/{self.context_id}/{self.reference_id}"


@attrs.frozen
class UnsubscribeTagRequest:
    """Delete the subscriptions of a context with a tag: ``DELETE`` :attr:`path`."""

    resource: str
    context_id: str
    tag: str

    method: ClassVar[str] = "DELETE"

    @property
    def path(self) -> str:
        return (
            f"{_subscriptions_path(self.resource)}/{self.context_id}?Tag={quote(self.tag, safe='')}"
        )


@attrs.frozen
class UnsubscribeContextRequest:
    """Delete every subscription of a context on one resource: ``DELETE`` :attr:`path`."""

    resource: str
    context_id: str

    method: ClassVar[str] = "DELETE"

    @property
    def path(self) -> str:
        return f"{_subscriptions_path(self.resource)}/{self.context_id}"


Request: TypeAlias = (
    SubscribeRequest | UnsubscribeRequest | UnsubscribeTagRequest | UnsubscribeContextRequest
)
"""Any request the engine asks its caller to send (``StreamingEngine.drain_requests()``)."""


class Snapshot(msgspec.Struct, frozen=True, rename=SNAPSHOT_NAMES, omit_defaults=True):
    """The answer to a subscribe request (the wire names are PascalCase)."""

    context_id: str
    reference_id: str
    data: Any
    inactivity_timeout: float | None = None  # seconds; None or 0: no inactivity check
    refresh_rate: int | None = None  # milliseconds, as granted
    state: str | None = None
    tag: str | None = None
    format: str | None = None


@attrs.frozen
class SubscriptionInfo:
    """A read-only view of one subscription at the time it was asked for."""

    name: str  # stable: the reference id given to subscribe()
    resource: str
    reference_id: str  # current; changes on every reset (while RESET_DEFERRED: the deleted one)
    state: SubscriptionState
    has_snapshot: bool
    tag: str | None
    refresh_rate: int | None  # granted by the snapshot, else requested
    inactivity_timeout: float | None
    heartbeat_reason: HeartbeatReason | None  # of the last heartbeat, if any
    resets: int
    updates_applied: int
    pending_deltas: int
    changes_dropped: int
    last_activity: float | None
    resubscribe_at: float | None  # while RESET_DEFERRED
    next_reference_id: str | None  # while RESET_DEFERRED: the id it will be created with


@attrs.frozen
class Change:
    """One step of a subscription's change stream: what came in, and the state after it.

    ``data`` is the snapshot data (``kind == "snapshot"``) or the update's
    ``Data`` (``kind == "update"``, partitions joined). Treat both as read-only.
    """

    subscription: str
    reference_id: str
    seq: int  # per subscription, counts every change, dropped ones included
    kind: str
    data: Any
    state: Any


@attrs.frozen
class ChangeBatch:
    """What ``drain_changes`` returns: the kept changes, oldest first, and how many
    older ones the bounded queue dropped since the previous drain."""

    changes: tuple[Change, ...]
    dropped: int


@attrs.frozen
class StreamingStats:
    """Counters since the engine was created."""

    messages: int = 0
    updates_applied: int = 0
    snapshots_applied: int = 0
    heartbeats: int = 0
    partitions: int = 0
    resets: int = 0
    server_resets: int = 0
    unknown_reference_ids: int = 0
    stale_messages: int = 0  # for ids retired by a reset or unsubscribe
    ignored_after_disconnect: int = 0
    protocol_errors: int = 0
    queued_before_snapshot: int = 0
    changes_dropped: int = 0
    events_dropped: int = 0
