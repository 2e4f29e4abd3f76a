"""The sans-IO subscription streaming engine: the calls a user makes.

The engine does no I/O and reads no clock. The caller

* performs the requests it drains (``drain_requests``): subscribe is an HTTP
  POST, unsubscribe a DELETE (or a hub call),
* feeds back what the far side said: subscribe responses (``receive_snapshot``),
  failed subscribes (``subscribe_failed``), stream payloads (``receive``),
* calls ``handle_timer(now)`` when ``next_deadline()`` is reached,
* reads events (``drain_events``), states (``latest``, ``info``) and change
  streams (``drain_changes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._core import EngineCore
from ._errors import (
    DuplicateSubscriptionError,
    InvalidArgumentError,
    SessionDisconnectedError,
    UnknownSubscriptionError,
)
from ._events import Event, Updated
from ._ids import normalize_reference_id, validate_reference_id
from ._merge import KeysArg, KeySpec, clone_data
from ._models import (
    JSON_FORMAT,
    ChangeBatch,
    EngineState,
    Request,
    ResetReason,
    StreamingConfig,
    StreamingStats,
    SubscriptionInfo,
    SubscriptionState,
    UnsubscribeContextRequest,
    UnsubscribeRequest,
    UnsubscribeTagRequest,
)
from ._subscription import LIVE_STATES, PendingUpdate, SubscriptionRecord

__all__ = ["StreamingEngine"]

_S = SubscriptionState


class StreamingEngine(EngineCore):
    """Subscriptions of one streaming context, kept up to date from snapshots and deltas.

    >>> engine = StreamingEngine("ctx1")
    >>> name = engine.subscribe("trade/v1/infoprices", "eurusd", {"Uic": 21})
    >>> [r.method + " " + r.path for r in engine.drain_requests()]
    ['POST /openapi/trade/v1/infoprices/subscriptions/']
    >>> engine.receive_snapshot({"ContextId": "ctx1", "ReferenceId": "eurusd",
    ...     "InactivityTimeout": 30, "Snapshot": {"Quote": {"Bid": 1.1, "Ask": 1.2}}}, now=0.0)
    >>> engine.receive([{"ReferenceId": "eurusd", "Data": {"Quote": {"Bid": 1.15}}}], now=1.0)
    >>> engine.latest(name)
    {'Quote': {'Bid': 1.15, 'Ask': 1.2}}
    >>> engine.next_deadline()
    31.0
    """

    # ------------------------------------------------------------------ properties

    @property
    def context_id(self) -> str:
        return self._context_id

    @property
    def config(self) -> StreamingConfig:
        return self._config

    @property
    def state(self) -> EngineState:
        """``OPEN``, or ``DISCONNECTED`` once the server sent ``_disconnect``."""
        return self._state

    # ------------------------------------------------------------------ user calls

    def _check_open(self, what: str) -> None:
        if self._state is EngineState.DISCONNECTED:
            raise SessionDisconnectedError(
                f"cannot {what}: the server disconnected streaming context "
                f"{self._context_id!r}; the user must log in again and a new engine be created"
            )

    def subscribe(
        self,
        resource: str,
        reference_id: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        refresh_rate: int | None = None,
        tag: str | None = None,
        format: str | None = None,
        keys: KeysArg = None,
        change_queue: int = 0,
        whole_updates: bool = False,
    ) -> str:
        """Ask for a subscription; returns its name (``reference_id``, stable across resets).

        ``resource`` is the service path, e.g. ``"trade/v1/infoprices"``. ``keys``
        declares the key properties of keyed arrays (see :class:`KeySpec`).
        ``change_queue`` > 0 keeps that many newest changes for ``drain_changes``.
        ``whole_updates``: every update is the whole new state and replaces the
        state (level-triggered sources); by default an update is a delta merged in.
        """
        self._check_open("subscribe")
        if not isinstance(resource, str) or not resource.strip("/") or " " in resource:
            raise InvalidArgumentError("resource", resource, "must be a service path")
        ref = validate_reference_id(reference_id)
        norm = normalize_reference_id(ref)
        if norm in self._reg.subs or norm in self._reg:
            raise DuplicateSubscriptionError(
                "reference_id", reference_id, "is already used by a subscription of this engine"
            )
        if arguments is not None and not isinstance(arguments, Mapping):
            raise InvalidArgumentError("arguments", arguments, "must be a mapping or None")
        if refresh_rate is not None and (
            isinstance(refresh_rate, bool) or not isinstance(refresh_rate, int) or refresh_rate < 0
        ):
            raise InvalidArgumentError("refresh_rate", refresh_rate, "must be milliseconds >= 0")
        if tag is not None and (not isinstance(tag, str) or not tag):
            raise InvalidArgumentError("tag", tag, "must be a non-empty string or None")
        if format is not None and format != JSON_FORMAT:
            raise InvalidArgumentError("format", format, f"only {JSON_FORMAT!r} is supported")
        if isinstance(change_queue, bool) or not isinstance(change_queue, int) or change_queue < 0:
            raise InvalidArgumentError("change_queue", change_queue, "must be an integer >= 0")
        if not isinstance(whole_updates, bool):
            raise InvalidArgumentError("whole_updates", whole_updates, "must be True or False")
        spec = KeySpec.of(keys)
        sub = SubscriptionRecord(
            ref,
            resource.strip("/"),
            None if arguments is None else clone_data(arguments),
            refresh_rate,
            tag,
            format,
            spec,
            change_queue,
            self._config,
            whole_updates,
        )
        self._reg.add(sub)
        self._requests.append(self._subscribe_request(sub, None))
        return ref

    def unsubscribe(self, name: str) -> None:
        """Delete one subscription; its name and reference ids are not used again."""
        self._check_open("unsubscribe")
        sub = self._reg.get(name)
        if sub.state in LIVE_STATES:
            self._requests.append(
                UnsubscribeRequest(sub.resource, self._context_id, sub.reference_id)
            )
        self._reg.drop(sub)

    def unsubscribe_tag(self, tag: str) -> int:
        """Delete every subscription with ``tag`` (one request per resource); returns how many."""
        self._check_open("unsubscribe by tag")
        if not isinstance(tag, str) or not tag:
            raise InvalidArgumentError("tag", tag, "must be a non-empty string")
        subs = [s for s in self._reg.subs.values() if s.tag == tag]
        for resource in dict.fromkeys(s.resource for s in subs):
            self._requests.append(UnsubscribeTagRequest(resource, self._context_id, tag))
        for sub in subs:
            self._reg.drop(sub)
        return len(subs)

    def unsubscribe_all(self) -> int:
        """Delete every subscription of the context (one request per resource)."""
        self._check_open("unsubscribe all")
        subs = list(self._reg.subs.values())
        for resource in dict.fromkeys(s.resource for s in subs):
            self._requests.append(UnsubscribeContextRequest(resource, self._context_id))
        for sub in subs:
            self._reg.drop(sub)
        return len(subs)

    def reset(self, name: str, now: float, *, damped: bool = True) -> None:
        """Delete and re-create a subscription with a new reference id.

        Damped like any reset by default. ``damped=False`` (a resync on the caller's own
        schedule) re-creates it at once and does not count towards damping; a subscription
        whose re-creation is already deferred by damping stays deferred.
        """
        self._check_open("reset")
        if not isinstance(damped, bool):
            raise InvalidArgumentError("damped", damped, "must be True or False")
        self._reset(self._reg.get(name), ResetReason.MANUAL, now, "reset requested by the caller",
                    damped=damped)

    def dropped_upstream(self, name: str, count: int) -> None:
        """Report that ``count`` updates of subscription ``name`` were dropped before they
        reached the engine (a level-triggered source that keeps only the newest): the
        change stream's drop count includes them (``drain_changes(name).dropped``)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidArgumentError("count", count, "must be an integer >= 0")
        sub = self._reg.get(name)
        sub.note_dropped(count)
        self._counts["changes_dropped"] += count

    def subscribe_failed(self, reference_id: str, reason: str) -> bool:
        """Report that the subscribe request for ``reference_id`` failed (e.g. HTTP 4xx).

        The subscription goes to ``FAILED`` until ``reset`` or ``unsubscribe``.
        Returns False if the id was already retired (nothing to do).
        """
        self._check_open("report a failed subscribe")
        sub = self._reg.lookup(reference_id) if isinstance(reference_id, str) else None
        if sub is None:
            if isinstance(reference_id, str) and self._reg.is_retired(reference_id):
                return False
            raise UnknownSubscriptionError(str(reference_id))
        self._fail(sub, str(reason))
        return True

    # ------------------------------------------------------------------ outputs

    def drain_requests(self) -> list[Request]:
        """The requests to perform, in order; the engine forgets them."""
        out, self._requests = self._requests, []
        return out

    def drain_events(self) -> list[Event]:
        """The events since the last drain, in order."""
        events = self._take_events()
        out: list[Event] = []
        for ev in events:
            if isinstance(ev, PendingUpdate):
                out.append(Updated(ev.name, ev.reference_id, ev.count))
            else:
                out.append(ev)
        for sub in self._reg.subs.values():
            sub.pending_update = None
        return out

    def names(self) -> list[str]:
        """The names of the subscriptions, in creation order."""
        return [s.name for s in self._reg.subs.values()]

    def latest(self, name: str) -> Any:
        """The subscription's current state (None before the first snapshot).

        After a reset it stays the last known state until the new snapshot
        arrives (``info(name).has_snapshot`` is False meanwhile). The value is
        shared with the engine: treat it as read-only (copy it to change it).
        """
        return self._reg.get(name).data

    def info(self, name: str) -> SubscriptionInfo:
        """A read-only view of the subscription's state, ids and counters."""
        return self._reg.get(name).info()

    def drain_changes(self, name: str) -> ChangeBatch:
        """The newest changes kept since the last drain (needs ``change_queue`` > 0)."""
        sub = self._reg.get(name)
        if sub.changes is None:
            raise InvalidArgumentError(
                "name", name, "was subscribed without a change queue (use change_queue=N)"
            )
        return sub.drain_changes()

    def statistics(self) -> StreamingStats:
        """Counters since the engine was created."""
        return StreamingStats(**{**self._counts, "updates_applied": self._updates_applied})

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called, or None if nothing is timed."""
        if self._state is EngineState.DISCONNECTED:
            return None
        best: float | None = None
        config = self._config
        for sub in self._reg.subs.values():
            d = sub.deadline(config)
            if d is not None and (best is None or d < best):
                best = d
        return best

    def handle_timer(self, now: float) -> None:
        """Do what is due at ``now``: deferred re-creations, timed-out partitions, inactivity."""
        if self._state is EngineState.DISCONNECTED:
            return
        config = self._config
        for sub in list(self._reg.subs.values()):
            if sub.state is _S.RESET_DEFERRED:
                if sub.resubscribe_at is not None and sub.resubscribe_at <= now:
                    self._recreate(sub, now)
                continue
            if sub.state not in LIVE_STATES:
                continue
            asm = sub.assembler
            if asm.active and asm.started + config.partition_timeout <= now:
                detail = (
                    f"only {len(asm.parts)} of {asm.total} partitions arrived within "
                    f"{config.partition_timeout} s"
                )
                self._protocol_error(detail, sub.reference_id, sub)
                self._reset(sub, ResetReason.PARTITION_ERROR, now, detail)
                continue
            d = sub.deadline(config)
            if d is not None and d <= now:
                self._reset(
                    sub,
                    ResetReason.INACTIVITY,
                    now,
                    f"no data or heartbeat for {now - (sub.last_activity or now):g} s "
                    f"(InactivityTimeout {sub.inactivity_timeout:g} s)",
                )
