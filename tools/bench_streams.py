"""Benchmark: delta fields applied per second through the streaming engine.

    python tools/bench_streams.py [--quick] [--runs N]

The workload is a deterministic mix of what a trading front end subscribes to:
quote subscriptions (object updates of a nested ``Quote``) and position lists
(keyed-array updates: nested merges, adds, deletes, some partitioned), sent
in payloads of several messages as a streaming connection delivers them. A
*field* is one plain value an update sets (key properties that only address
an element are not counted; a delete counts as one field).

The baseline applies the same number of fields, message by message, with one
``dict.update`` of a pre-flattened dict per message, in the same run. Each
figure is the median of several runs. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

try:
    import sessionkit.streaming  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sessionkit.streaming import StreamingEngine

QUOTES = 40
POSITION_LISTS = 4
POSITIONS = 40
KEYS = ("PositionId",)


def count_fields(data: Any, keyed: bool = False) -> int:
    if isinstance(data, dict):
        if keyed and "__meta_deleted" in data:
            return 1
        return sum(count_fields(v) for k, v in data.items() if not (keyed and k in KEYS))
    if isinstance(data, list):
        return sum(count_fields(v, keyed=True) for v in data)
    return 1


def flatten(
    data: Any, prefix: tuple[Any, ...] = (), out: dict[Any, Any] | None = None
) -> dict[Any, Any]:
    """The same fields as flat (path -> value) entries, for the dict.update baseline."""
    out = {} if out is None else out
    if isinstance(data, dict):
        if "__meta_deleted" in data:
            out[prefix + (data.get("PositionId"), "deleted")] = True
            return out
        for k, v in data.items():
            if k in KEYS:
                continue
            flatten(
                v,
                prefix + (data.get("PositionId"), k) if "PositionId" in data else prefix + (k,),
                out,
            )
    elif isinstance(data, list):
        for v in data:
            flatten(v, prefix, out)
    else:
        out[prefix] = data
    return out


def position(rng: random.Random, pid: int) -> dict[str, Any]:
    price = round(rng.uniform(1, 2), 4)
    return {
        "PositionId": f"P{pid}",
        "PositionBase": {
            "Amount": rng.choice([1000, -2000, 5000]),
            "OpenPrice": price,
            "Status": "Open",
        },
        "PositionView": {"CurrentPrice": price, "ProfitLossOnTrade": 0.0, "Exposure": 0.0},
    }


def workload(payloads: int, seed: int = 1) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """Snapshots by reference id, and the stream payloads."""
    rng = random.Random(seed)
    snaps: dict[str, Any] = {}
    for i in range(QUOTES):
        mid = round(rng.uniform(0.5, 2), 5)
        snaps[f"q{i}"] = {
            "Uic": i,
            "Quote": {"Bid": mid - 1e-4, "Ask": mid + 1e-4, "Mid": mid, "DelayedByMinutes": 0},
            "LastUpdated": 0.0,
            "PriceSource": "SIM",
        }
    next_id: dict[str, int] = {}
    rows: dict[str, list[str]] = {}
    for j in range(POSITION_LISTS):
        ref = f"p{j}"
        snaps[ref] = {"Data": [position(rng, n) for n in range(POSITIONS)], "MaxRows": 1000}
        rows[ref] = [r["PositionId"] for r in snaps[ref]["Data"]]
        next_id[ref] = POSITIONS
    out = []
    for n in range(payloads):
        msgs: list[dict[str, Any]] = []
        for _ in range(8):
            i = rng.randrange(QUOTES)
            mid = round(rng.uniform(0.5, 2), 5)
            quote: dict[str, Any] = {"Bid": mid - 1e-4, "Mid": mid}
            if rng.random() < 0.6:
                quote["Ask"] = mid + 1e-4
            msgs.append(
                {
                    "ReferenceId": f"q{i}",
                    "Timestamp": "t",
                    "Data": {"Quote": quote, "LastUpdated": float(n)},
                }
            )
        ref = f"p{rng.randrange(POSITION_LISTS)}"
        delta: list[dict[str, Any]] = []
        for pid in rng.sample(rows[ref], min(6, len(rows[ref]))):
            price = round(rng.uniform(1, 2), 4)
            delta.append(
                {
                    "PositionId": pid,
                    "PositionView": {"CurrentPrice": price, "ProfitLossOnTrade": price * 10},
                }
            )
        if rng.random() < 0.1 and len(rows[ref]) > 5:
            gone = rows[ref].pop(rng.randrange(len(rows[ref])))
            delta = [d for d in delta if d["PositionId"] != gone]
            delta.append({"PositionId": gone, "__meta_deleted": True})
        if rng.random() < 0.1:
            new = position(rng, next_id[ref])
            next_id[ref] += 1
            rows[ref].append(new["PositionId"])
            delta.append(new)
        if rng.random() < 0.2:  # partitioned, with the quotes in between
            half = len(delta) // 2
            msgs.insert(0, {"ReferenceId": ref, "__pn": 0, "__pc": 2, "Data": delta[:half]})
            msgs.append({"ReferenceId": ref, "__pn": 1, "__pc": 2, "Data": delta[half:]})
        else:
            msgs.append({"ReferenceId": ref, "Timestamp": "t", "Data": delta})
        out.append(msgs)
    return snaps, out


def run_engine(snaps: dict[str, Any], payloads: list[list[dict[str, Any]]]) -> float:
    engine = StreamingEngine("bench")
    for ref in snaps:
        if ref.startswith("p"):
            engine.subscribe("port/v1/positions", ref, keys=KEYS)
        else:
            engine.subscribe("trade/v1/infoprices", ref)
    engine.drain_requests()
    for ref, data in snaps.items():
        engine.receive_snapshot(
            {"ContextId": "bench", "ReferenceId": ref, "InactivityTimeout": 60, "Snapshot": data},
            0.0,
        )
    engine.drain_events()
    receive, drain = engine.receive, engine.drain_events
    start = time.perf_counter()
    for n, payload in enumerate(payloads):
        receive(payload, float(n))
        drain()
    elapsed = time.perf_counter() - start
    stats = engine.statistics()
    if stats.protocol_errors or stats.resets:
        raise SystemExit(f"benchmark workload was not applied cleanly: {stats}")
    return elapsed


def run_baseline(snaps: dict[str, Any], flat: list[list[tuple[str, dict[Any, Any]]]]) -> float:
    targets: dict[str, dict[Any, Any]] = {ref: {} for ref in snaps}
    start = time.perf_counter()
    for payload in flat:
        for ref, fields in payload:
            targets[ref].update(fields)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--runs", type=int, default=None, help="runs to take the median of")
    args = parser.parse_args(argv)
    payloads = 2_000 if args.quick else 20_000
    runs = args.runs or (3 if args.quick else 5)

    snaps, stream = workload(payloads)
    fields = sum(count_fields(m["Data"]) for p in stream for m in p)
    messages = sum(len(p) for p in stream)
    flat = [[(m["ReferenceId"], flatten(m["Data"])) for m in p] for p in stream]
    assert sum(len(f) for p in flat for _, f in p) == fields, "baseline must apply the same fields"

    engine_times, base_times = [], []
    for _ in range(runs):
        engine_times.append(run_engine(snaps, stream))
        base_times.append(run_baseline(snaps, flat))
    engine_fps = fields / statistics.median(engine_times)
    base_fps = fields / statistics.median(base_times)
    ratio = engine_fps / base_fps

    print(
        f"workload: {payloads} payloads, {messages} messages, {fields} fields "
        f"({QUOTES} quote + {POSITION_LISTS} position-list subscriptions)"
    )
    print(
        f"engine:        {engine_fps:14,.0f} fields/s  "
        f"({messages / statistics.median(engine_times):,.0f} messages/s), "
        f"median of {runs}: {', '.join(f'{t:.3f}s' for t in engine_times)}"
    )
    print(
        f"dict.update:   {base_fps:14,.0f} fields/s  "
        f"median of {runs}: {', '.join(f'{t:.3f}s' for t in base_times)}"
    )
    print(f"ratio engine / dict.update: {ratio:.4f} (dict.update is {1 / ratio:.1f}x faster)")
    print(
        json.dumps(
            {
                "fields_per_s": round(engine_fps),
                "ratio_to_dict_update": round(ratio, 5),
                "dict_update_fields_per_s": round(base_fps),
                "messages_per_s": round(messages / statistics.median(engine_times)),
                "fields": fields,
                "runs": runs,
                "quick": args.quick,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
