"""Subscription streaming (OpenAPI streaming semantics), sans-IO.

:class:`StreamingEngine` keeps the subscriptions of one streaming context up
to date: it asks for subscribe / unsubscribe requests, takes the snapshots and
stream messages the caller feeds it, merges deltas (object, plain array and
keyed array updates, partitioned updates, deltas that come before the
snapshot), follows the control messages (``_heartbeat``,
``_resetsubscriptions``, ``_disconnect``) and resets silent subscriptions
through ``next_deadline()`` / ``handle_timer(now)``. See ``docs/streaming.md``.
"""

from ._engine import StreamingEngine
from ._errors import (
    DuplicateSubscriptionError,
    InvalidArgumentError,
    InvalidIdError,
    MergeError,
    SessionDisconnectedError,
    StreamingError,
    UnknownSubscriptionError,
)
from ._events import (
    Disconnected,
    Event,
    EventsDropped,
    ProtocolError,
    SnapshotApplied,
    StateChanged,
    SubscriptionFailed,
    SubscriptionReset,
    Updated,
)
from ._ids import (
    MAX_ID_LENGTH,
    derive_reference_id,
    normalize_reference_id,
    validate_context_id,
    validate_reference_id,
)
from ._merge import DEFAULT_MAX_DEPTH, DELETED_MARKER, KeysArg, KeySpec, merge_delta
from ._models import (
    JSON_FORMAT,
    Change,
    ChangeBatch,
    EngineState,
    HeartbeatReason,
    Request,
    ResetReason,
    Snapshot,
    StreamingConfig,
    StreamingStats,
    SubscribeRequest,
    SubscriptionInfo,
    SubscriptionState,
    UnsubscribeContextRequest,
    UnsubscribeRequest,
    UnsubscribeTagRequest,
)
from ._partitions import join_updates
from ._simulator import POSITION_KEYS, SimulatorConfig, StreamSimulator
from ._wire import request_body, snapshot_body

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DELETED_MARKER",
    "JSON_FORMAT",
    "MAX_ID_LENGTH",
    "Change",
    "ChangeBatch",
    "Disconnected",
    "EventsDropped",
    "DuplicateSubscriptionError",
    "EngineState",
    "Event",
    "HeartbeatReason",
    "InvalidArgumentError",
    "InvalidIdError",
    "KeySpec",
    "KeysArg",
    "MergeError",
    "ProtocolError",
    "Request",
    "ResetReason",
    "SessionDisconnectedError",
    "SimulatorConfig",
    "POSITION_KEYS",
    "Snapshot",
    "SnapshotApplied",
    "StateChanged",
    "StreamSimulator",
    "StreamingConfig",
    "StreamingEngine",
    "StreamingError",
    "StreamingStats",
    "SubscribeRequest",
    "SubscriptionFailed",
    "SubscriptionInfo",
    "SubscriptionReset",
    "SubscriptionState",
    "UnknownSubscriptionError",
    "UnsubscribeContextRequest",
    "UnsubscribeRequest",
    "UnsubscribeTagRequest",
    "Updated",
    "derive_reference_id",
    "join_updates",
    "merge_delta",
    "normalize_reference_id",
    "request_body",
    "snapshot_body",
    "validate_context_id",
    "validate_reference_id",
]
