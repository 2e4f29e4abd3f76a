"""A deterministic, seeded stand-in for an OpenAPI streaming server.

It answers the engine's requests (``handle``) and produces stream payloads
(``tick``): quote updates for ``.../infoprices`` resources, keyed-array
updates (add / update / delete, partitioned when large) for ``.../positions``
resources, heartbeats, and on request resets, disabled subscriptions, silence,
late messages for deleted ids and a disconnect. ``truth(reference_id)`` is the
server's current data, to compare with ``StreamingEngine.latest``.

>>> sim = StreamSimulator("ctx", SimulatorConfig(seed=1))
>>> body = sim.handle(SubscribeRequest("trade/v1/infoprices", "ctx", "q1", {"Uic": 21}))
>>> sorted(body["Snapshot"]["Quote"])
['Ask', 'Bid', 'Mid']
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import attrs

from ._models import (
    JSON_FORMAT,
    HeartbeatReason,
    Request,
    Snapshot,
    SubscribeRequest,
    UnsubscribeContextRequest,
    UnsubscribeRequest,
    UnsubscribeTagRequest,
)
from ._wire import snapshot_body

__all__ = ["POSITION_KEYS", "SimulatorConfig", "StreamSimulator"]

POSITION_KEYS = ("PositionId",)
"""The key properties of the simulator's ``.../positions`` arrays (for a ``KeySpec``)."""


@attrs.frozen
class SimulatorConfig:
    """How the simulated server behaves; the same seed gives the same stream."""

    seed: int = 0
    positions: int = 6  # initial positions per positions market
    partition_size: int = 3  # keyed updates with more elements are split into this many per part
    p_heartbeat: float = 0.2  # chance that a subscription gets a heartbeat instead of data
    p_add: float = 0.3  # chance a positions tick adds a position
    p_delete: float = 0.2  # chance a positions tick deletes one
    inactivity_timeout: int = 30
    min_refresh_rate: int = 100
    late_messages: bool = True  # one stray message for an id right after it is deleted


@attrs.define
class _Market:
    kind: str
    data: Any
    next_id: int = 1


@attrs.define
class _ServerSub:
    reference_id: str
    resource: str
    market: str
    tag: str | None
    mode: str = "live"  # live | silent | temporarily | permanently


class StreamSimulator:
    """The server side of a streaming context, simulated."""

    def __init__(self, context_id: str, config: SimulatorConfig | None = None) -> None:
        self.context_id = context_id
        self.config = config or SimulatorConfig()
        self._rng = random.Random(self.config.seed)
        self._markets: dict[str, _Market] = {}
        self._subs: dict[str, _ServerSub] = {}  # by lower-case reference id
        self._control: list[dict[str, Any]] = []
        self._late: list[str] = []
        self._disconnected = False

    # -- requests -------------------------------------------------------------------

    def handle(self, request: Request) -> dict[str, Any] | None:
        """Perform a request; a subscribe returns the snapshot body, deletes return None."""
        if isinstance(request, SubscribeRequest):
            return self._subscribe(request)
        if isinstance(request, UnsubscribeRequest):
            self._delete([request.reference_id.lower()])
        elif isinstance(request, UnsubscribeTagRequest):
            self._delete(
                [
                    k
                    for k, s in self._subs.items()
                    if s.tag == request.tag and s.resource == request.resource
                ]
            )
        elif isinstance(request, UnsubscribeContextRequest):
            self._delete([k for k, s in self._subs.items() if s.resource == request.resource])
        return None

    def _subscribe(self, req: SubscribeRequest) -> dict[str, Any]:
        key = req.resource + json.dumps(dict(req.arguments or {}), sort_keys=True)
        market = self._markets.get(key)
        if market is None:
            market = self._new_market(req.resource)
            self._markets[key] = market
        self._subs[req.reference_id.lower()] = _ServerSub(
            req.reference_id, req.resource, key, req.tag
        )
        snap = Snapshot(
            context_id=self.context_id,
            reference_id=req.reference_id,
            data=copy.deepcopy(market.data),
            inactivity_timeout=self.config.inactivity_timeout,
            refresh_rate=max(req.refresh_rate or 0, self.config.min_refresh_rate),
            state="Active",
            tag=req.tag,
            format=JSON_FORMAT,
        )
        return snapshot_body(snap)

    def _delete(self, keys: list[str]) -> None:
        for k in keys:
            sub = self._subs.pop(k, None)
            if sub is not None and self.config.late_messages:
                self._late.append(sub.reference_id)

    def _new_market(self, resource: str) -> _Market:
        rng = self._rng
        if resource.endswith("positions"):
            market = _Market("positions", {"Data": [], "MaxRows": 1000})
            for _ in range(self.config.positions):
                market.data["Data"].append(self._new_position(market))
            return market
        if resource.endswith("infoprices"):
            mid = round(rng.uniform(0.5, 2.0), 5)
            return _Market(
                "quote",
                {
                    "Quote": {
                        "Bid": round(mid - 0.0001, 5),
                        "Ask": round(mid + 0.0001, 5),
                        "Mid": mid,
                    },
                    "DisplayAndFormat": {"Decimals": 5, "Symbol": f"SIM{rng.randrange(100)}"},
                    "LastUpdated": 0,
                },
            )
        return _Market("counter", {"Value": 0})

    def _new_position(self, market: _Market) -> dict[str, Any]:
        rng = self._rng
        pid = f"P{market.next_id}"
        market.next_id += 1
        price = round(rng.uniform(1.0, 2.0), 4)
        return {
            "PositionId": pid,
            "PositionBase": {"Amount": rng.choice([1000, 5000, -2000]), "OpenPrice": price},
            "PositionView": {"CurrentPrice": price, "ProfitLossOnTrade": 0.0},
        }

    # -- scripted behaviour ---------------------------------------------------------

    def reset(self, reference_ids: list[str] | None = None) -> None:
        """Send ``_resetsubscriptions`` on the next tick (None: reset all)."""
        msg: dict[str, Any] = {"ReferenceId": "_resetsubscriptions", "Timestamp": ""}
        if reference_ids is not None:
            msg["TargetReferenceIds"] = list(reference_ids)
        self._control.append(msg)

    def disconnect(self) -> None:
        """Send ``_disconnect`` on the next tick; nothing is sent after it."""
        self._control.append({"ReferenceId": "_disconnect", "Timestamp": ""})

    def set_mode(self, reference_id: str, mode: str) -> None:
        """``live``, ``silent`` (nothing at all), ``temporarily`` / ``permanently`` (disabled:
        heartbeats with that reason instead of data)."""
        if mode not in ("live", "silent", "temporarily", "permanently"):
            raise ValueError(f"unknown simulator mode {mode!r}")
        self._subs[reference_id.lower()].mode = mode

    def live_reference_ids(self) -> list[str]:
        return [s.reference_id for s in self._subs.values()]

    def truth(self, reference_id: str) -> Any:
        """A copy of the data the server holds for a live subscription."""
        sub = self._subs[reference_id.lower()]
        return copy.deepcopy(self._markets[sub.market].data)

    # -- the stream -----------------------------------------------------------------

    def tick(self, now: float) -> list[dict[str, Any]]:
        """One payload of stream messages (possibly empty)."""
        if self._disconnected:
            return []
        rng = self._rng
        stamp = f"sim+{now:.3f}"
        per_sub: list[list[dict[str, Any]]] = []
        beats: list[dict[str, Any]] = []
        moved: dict[str, Any] = {}
        for ref in self._late:
            per_sub.append(
                [
                    {
                        "ReferenceId": ref,
                        "Timestamp": stamp,
                        "Data": {"Quote": {"Bid": -1.0}, "Stale": True},
                    }
                ]
            )
        self._late = []
        for sub in self._subs.values():
            if sub.mode == "silent":
                continue
            if sub.mode in ("temporarily", "permanently"):
                reason = (
                    HeartbeatReason.SUBSCRIPTION_TEMPORARILY_DISABLED
                    if sub.mode == "temporarily"
                    else HeartbeatReason.SUBSCRIPTION_PERMANENTLY_DISABLED
                )
                beats.append({"OriginatingReferenceId": sub.reference_id, "Reason": reason.value})
                continue
            if sub.market not in moved:
                if rng.random() < self.config.p_heartbeat:
                    moved[sub.market] = None
                else:
                    moved[sub.market] = self._move(self._markets[sub.market], now)
            delta = moved[sub.market]
            if delta is None:
                beat: dict[str, Any] = {"OriginatingReferenceId": sub.reference_id}
                if rng.random() < 0.5:
                    beat["Reason"] = HeartbeatReason.NO_NEW_DATA.value
                beats.append(beat)
                continue
            per_sub.append(self._messages(sub.reference_id, delta, stamp))
        if beats:
            per_sub.append([{"ReferenceId": "_heartbeat", "Timestamp": stamp, "Heartbeats": beats}])
        out = self._interleave(per_sub)
        for msg in self._control:
            out.append(msg)
            if msg["ReferenceId"] == "_disconnect":
                self._disconnected = True
                break
        self._control = []
        return out

    def _interleave(self, groups: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Merge the groups in a seeded random order, keeping each group's own order."""
        out: list[dict[str, Any]] = []
        queues = [list(g) for g in groups if g]
        while queues:
            i = self._rng.randrange(len(queues))
            out.append(queues[i].pop(0))
            if not queues[i]:
                queues.pop(i)
        return out

    def _messages(self, ref: str, delta: Any, stamp: str) -> list[dict[str, Any]]:
        size = self.config.partition_size
        if isinstance(delta, list) and len(delta) > size:
            parts = [delta[i : i + size] for i in range(0, len(delta), size)]
            return [
                {
                    "ReferenceId": ref,
                    "Timestamp": stamp,
                    "__pn": n,
                    "__pc": len(parts),
                    "Data": copy.deepcopy(part),
                }
                for n, part in enumerate(parts)
            ]
        return [{"ReferenceId": ref, "Timestamp": stamp, "Data": copy.deepcopy(delta)}]

    def _move(self, market: _Market, now: float) -> Any:
        rng = self._rng
        if market.kind == "quote":
            quote = market.data["Quote"]
            mid = round(quote["Mid"] + rng.choice([-1, 1]) * rng.randrange(1, 5) * 0.00001, 5)
            change: dict[str, Any] = {"Mid": mid, "Bid": round(mid - 0.0001, 5)}
            if rng.random() < 0.7:
                change["Ask"] = round(mid + 0.0001, 5)
            quote.update(change)
            market.data["LastUpdated"] = round(now, 3)
            return {"Quote": change, "LastUpdated": round(now, 3)}
        if market.kind == "positions":
            return self._move_positions(market)
        market.data["Value"] += 1
        return {"Value": market.data["Value"]}

    def _move_positions(self, market: _Market) -> list[dict[str, Any]]:
        rng = self._rng
        rows: list[dict[str, Any]] = market.data["Data"]
        delta: list[dict[str, Any]] = []
        for row in rows:
            if rng.random() < 0.5:
                price = round(row["PositionView"]["CurrentPrice"] + rng.uniform(-0.01, 0.01), 4)
                pnl = round(
                    (price - row["PositionBase"]["OpenPrice"]) * row["PositionBase"]["Amount"], 2
                )
                row["PositionView"] = {
                    **row["PositionView"],
                    "CurrentPrice": price,
                    "ProfitLossOnTrade": pnl,
                }
                delta.append(
                    {
                        "PositionId": row["PositionId"],
                        "PositionView": {"CurrentPrice": price, "ProfitLossOnTrade": pnl},
                    }
                )
        if rows and rng.random() < self.config.p_delete:
            victim = rows.pop(rng.randrange(len(rows)))
            delta = [d for d in delta if d["PositionId"] != victim["PositionId"]]
            delta.append({"PositionId": victim["PositionId"], "__meta_deleted": True})
        if rng.random() < self.config.p_add:
            new = self._new_position(market)
            rows.append(new)
            delta.append(copy.deepcopy(new))
        return delta

    def __repr__(self) -> str:
        return f"StreamSimulator({self.context_id!r}, seed={self.config.seed})"
