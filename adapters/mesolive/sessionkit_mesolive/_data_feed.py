"""The Data Hub feed: server streams kept as latest state by the streaming engine.

Data Hub streams are "latest value" feeds: the server merges bursts and drops older items
when the reader falls behind, so a stream is level-triggered state, not a tick log (core
concepts, "Data Hub Streaming"). :class:`DataFeed` drives the core's sans-IO
:class:`~sessionkit.streaming.StreamingEngine` over the Data Hub:

* a subscription is created with the ``Get*Snapshot`` call (the engine's snapshot), then the
  matching ``Stream*Data`` stream feeds it (each item merges into the state);
* each stream item is the whole newest entry: it *replaces* the state (a leg that is gone
  from the entry is gone from the state);
* :meth:`DataFeed.latest` is the current state (wire JSON), :meth:`DataFeed.latest_model` the
  same decoded into the item model; :meth:`DataFeed.drain_changes` the newest
  ``change_queue`` changes, older ones dropped (bounded, drop-oldest) and counted -- items the
  stream itself dropped for a slow reader are in that count too;
* every ``resync_interval`` seconds each subscription is reset by the engine: the stream is
  cancelled, a fresh snapshot replaces the state and a new stream starts (the reference's
  "periodically refresh with snapshots"). These resyncs are the caller's schedule: the
  engine's damping never defers them. A stream that fails (a required ``Provider``
  missing, the connection lost, an item that does not fit its model) marks the subscription
  ``FAILED`` (:class:`~sessionkit.streaming.SubscriptionFailed` in :meth:`DataFeed.drain_events`)
  until the next resync re-creates it; a new Data Hub connection resyncs at once.
"""

from __future__ import annotations

import collections
import logging
import math
from typing import Any

import anyio
import anyio.abc
import attrs

from sessionkit.streaming import (
    ChangeBatch,
    EventsDropped,
    ProtocolError,
    StreamingConfig,
    StreamingEngine,
    SubscribeRequest,
    SubscriptionFailed,
    SubscriptionInfo,
    Updated,
)

from ._catalogue import METHODS, HubMethod
from ._errors import MesoLiveApiException, MesoLiveSignalRError, unwrap
from ._hubs import DATA_STREAM_BUFFER, DataHub, signalr_error
from .signalr import HubError, ItemsDropped, Reconnected, SignalRError

__all__ = ["DataFeed", "FeedEvents", "snapshot_method"]

logger = logging.getLogger(__name__)

RESOURCE_PREFIX = "mesolive/"


def snapshot_method(stream: HubMethod) -> HubMethod:
    """The ``Get*Snapshot`` method that goes with a ``Stream*Data`` method.

    >>> snapshot_method(METHODS["StreamLegsData"]).name
    'GetLegsSnapshot'
    """
    return METHODS["Get" + stream.name.removeprefix("Stream").removesuffix("Data") + "Snapshot"]


@attrs.frozen
class FeedEvents:
    """What :meth:`DataFeed.drain_events` returns: the events kept since the last drain, in
    order, and how many older ones were dropped because more than ``max_events`` waited."""

    events: tuple[Any, ...]
    dropped: int


class DataFeed:
    """Latest state of Data Hub streams (see the module docstring).

    ``resync_interval``: seconds between snapshot resyncs (None: never), honoured exactly:
    damping does not apply to it. ``change_queue``: changes kept per subscription for
    :meth:`drain_changes`. ``max_events``: events kept for :meth:`drain_events` (the oldest
    are dropped beyond it, and counted). ``config``: the engine's
    :class:`~sessionkit.streaming.StreamingConfig` (its damping bounds how often a failing
    subscription is re-created on the engine's own initiative).
    """

    def __init__(self, data: DataHub, *, resync_interval: float | None = 30.0,
                 change_queue: int = 16, config: StreamingConfig | None = None,
                 context_id: str = "mesolive", max_events: int = 256) -> None:
        if resync_interval is not None and (
                isinstance(resync_interval, bool)
                or not isinstance(resync_interval, int | float)
                or not 0 < resync_interval < math.inf):
            raise ValueError(f"resync_interval must be a finite number of seconds > 0, or None "
                             f"(no resync), got {resync_interval!r}")
        for name, value, low in (("change_queue", change_queue, 0),
                                 ("max_events", max_events, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.data = data
        self.resync_interval = resync_interval
        self.change_queue = change_queue
        self.engine = StreamingEngine(context_id, config)
        self.events: collections.deque[Any] = collections.deque()
        """Events not drained yet (read them with :meth:`drain_events`)."""
        self.max_events = max_events
        self._events_dropped = 0
        self._specs: dict[str, tuple[HubMethod, Any]] = {}  # name -> (stream, args model)
        self._scopes: dict[str, anyio.CancelScope] = {}  # reference id -> its stream task
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        self._nursery: anyio.abc.TaskGroup | None = None
        self.resyncs = 0
        data.connection.on_reconnected(self._on_reconnected)

    # -- the user's side --------------------------------------------------------------------

    def subscribe(self, name: str, method: str, args: Any = None, /, **fields: Any) -> str:
        """Follow stream ``method`` (wire name, e.g. ``"StreamPositionData"``, or the Python
        name) as subscription ``name`` (1-50 of ``A-Z a-z 0-9 - _``); returns the name."""
        spec = METHODS.get(method) or next(
            (s for s in METHODS.values() if s.python_name == method), None)
        if spec is None or not spec.stream:
            raise ValueError(f"{method!r} is not a Data Hub stream method")
        model = self.data.arguments(spec, args, fields)
        self.engine.subscribe(RESOURCE_PREFIX + spec.name, name, change_queue=self.change_queue,
                              whole_updates=True)  # each item is the whole newest entry
        self._specs[name] = (spec, model)
        self._wake.set()
        return name

    def unsubscribe(self, name: str) -> None:
        self.engine.unsubscribe(name)
        self._specs.pop(name, None)
        self._wake.set()

    def latest(self, name: str) -> Any:
        """The subscription's current state as wire JSON (None before its first snapshot)."""
        return self.engine.latest(name)

    def latest_model(self, name: str) -> Any:
        """:meth:`latest` decoded into the stream's item model (None before a snapshot)."""
        data = self.engine.latest(name)
        if data is None:
            return None
        return self.data.converter.structure(data, self._specs[name][0].result_type)

    def drain_changes(self, name: str) -> ChangeBatch:
        return self.engine.drain_changes(name)

    def drain_events(self) -> FeedEvents:
        """The events since the last drain (``SnapshotApplied``, ``StateChanged``,
        ``SubscriptionReset``, ``SubscriptionFailed``, ``ProtocolError``...; state changes
        themselves are read with :meth:`latest` and :meth:`drain_changes`), and how many
        older ones were dropped because more than ``max_events`` waited."""
        events, self.events = tuple(self.events), collections.deque()
        dropped, self._events_dropped = self._events_dropped, 0
        return FeedEvents(events, dropped)

    def info(self, name: str) -> SubscriptionInfo:
        return self.engine.info(name)

    def resync(self, name: str | None = None) -> None:
        """Resync one subscription (or all) now: new snapshot, new stream (not damped)."""
        now = anyio.current_time()
        for n in [name] if name is not None else self.engine.names():
            self.engine.reset(n, now, damped=False)
        self.resyncs += 1
        self._wake.set()
        self._collect()

    def _on_reconnected(self, info: Reconnected) -> None:
        if info.new_connection:  # the old connection's streams are gone: start again
            logger.info("Data Hub reconnected on a new connection: resyncing every "
                        "subscription")
            self.resync()

    async def wait_changed(self) -> None:
        """Wait until some subscription's state changes."""
        await self._changed.wait()

    # -- the I/O loop -------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Perform the engine's requests, feed it snapshots and stream items, resync on
        time; until cancelled (which cancels every stream)."""
        async with anyio.create_task_group() as nursery:
            self._nursery = nursery
            task_status.started()
            interval = self.resync_interval
            next_resync = math.inf if interval is None else anyio.current_time() + interval
            while True:
                self._perform()
                deadline = min(next_resync, self.engine.next_deadline() or math.inf)
                with anyio.move_on_at(deadline):
                    await self._wake.wait()
                self._wake = anyio.Event()
                now = anyio.current_time()
                due = self.engine.next_deadline()
                if due is not None and due <= now:
                    self.engine.handle_timer(now)
                if interval is not None and now >= next_resync:
                    self.resync()
                    next_resync = now + interval

    def _name_of(self, reference_id: str) -> str | None:
        for name in self.engine.names():
            if self.engine.info(name).reference_id == reference_id:
                return name
        return None

    def _perform(self) -> None:
        assert self._nursery is not None
        for request in self.engine.drain_requests():
            if isinstance(request, SubscribeRequest):
                name = self._name_of(request.reference_id)
                if name is None or name not in self._specs:
                    continue
                spec, model = self._specs[name]
                scope = self._scopes[request.reference_id] = anyio.CancelScope()
                self._nursery.start_soon(self._follow, request.reference_id, spec, model, scope)
            elif hasattr(request, "reference_id"):
                stale = self._scopes.pop(request.reference_id, None)
                if stale is not None:
                    stale.cancel()
            else:  # unsubscribe all / by tag on a resource
                for ref, scope in list(self._scopes.items()):
                    if self._name_of(ref) is None:
                        scope.cancel()
                        del self._scopes[ref]
        self._collect()

    def _collect(self) -> None:
        events = self.engine.drain_events()
        if not events:
            return
        kept = self.events
        for ev in events:
            if isinstance(ev, Updated):
                continue  # level-triggered: latest() and drain_changes() hold the changes
            if isinstance(ev, EventsDropped):  # the engine's own bound
                self._events_dropped += ev.count
                continue
            if isinstance(ev, SubscriptionFailed | ProtocolError):
                logger.warning("data feed: %s", ev)
            if len(kept) >= self.max_events:
                kept.popleft()
                self._events_dropped += 1
            kept.append(ev)
        self._changed.set()
        self._changed = anyio.Event()

    async def _follow(self, ref: str, spec: HubMethod, model: Any,
                      scope: anyio.CancelScope) -> None:
        conv = self.data.converter
        payload = conv.unstructure(model, spec.args_type)
        engine = self.engine
        with scope:
            try:
                snap = snapshot_method(spec)
                raw = await self.data.connection.invoke(snap.name, payload)
                unwrap(raw, snap.result_type, converter=conv)  # validates, raises on error
                engine.receive_snapshot({"ContextId": engine.context_id, "ReferenceId": ref,
                                         "InactivityTimeout": 0, "Snapshot": raw.get("Data")},
                                        anyio.current_time())
                self._collect()
                stream = self.data.connection.stream(
                    spec.name, payload, max_buffered=DATA_STREAM_BUFFER, overflow="drop_oldest")
                async for item in stream:
                    if isinstance(item, ItemsDropped):  # the stream kept only the newest
                        name = self._name_of(ref)
                        if name is not None:
                            engine.dropped_upstream(name, item.count)
                        continue
                    conv.structure(item, spec.result_type)  # DecodeError if it does not fit
                    engine.receive({"ReferenceId": ref, "Data": item}, anyio.current_time())
                    self._collect()
                raise MesoLiveSignalRError(f"{spec.name}: the server ended the stream")
            except (MesoLiveApiException, MesoLiveSignalRError, SignalRError, HubError) as exc:
                error = exc if isinstance(exc, MesoLiveApiException) else signalr_error(
                    exc, spec.name)
                self._failed(ref, str(error))
            except Exception as exc:  # a bug must not take the feed (and its nursery) down
                logger.exception("data feed: following %s failed unexpectedly", spec.name)
                self._failed(ref, f"{spec.name}: unexpected {type(exc).__name__}: {exc}")
        self._scopes.pop(ref, None)

    def _failed(self, ref: str, reason: str) -> None:
        if self._name_of(ref) is not None:  # not reset or deleted meanwhile
            self.engine.subscribe_failed(ref, reason)
        self._collect()
