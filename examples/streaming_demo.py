"""Subscribe to a simulated OpenAPI streaming server and print the merged state.

    python examples/streaming_demo.py [--ticks N] [--seed S]

The engine is sans-IO: this script plays the I/O part. It performs the
requests the engine asks for against the simulator (where a real program
would POST / DELETE over HTTP), feeds the stream payloads and snapshot
answers back, and drives the timers with its own clock (here: one tick per
simulated second).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

try:
    import sessionkit.streaming  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sessionkit.streaming import (
    POSITION_KEYS,
    ProtocolError,
    SimulatorConfig,
    SnapshotApplied,
    StateChanged,
    StreamingEngine,
    StreamSimulator,
    SubscriptionReset,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=40, help="simulated seconds to run")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    args = parser.parse_args(argv)

    engine = StreamingEngine("demo-ctx")
    server = StreamSimulator("demo-ctx", SimulatorConfig(seed=args.seed))
    quote = engine.subscribe(
        "trade/v1/infoprices",
        "eurusd",
        {"Uic": 21, "AssetType": "FxSpot"},
        refresh_rate=250,
        change_queue=5,
    )
    positions = engine.subscribe(
        "port/v1/positions", "positions", {"ClientKey": "demo"}, keys=POSITION_KEYS, tag="portfolio"
    )

    answers: list[dict[str, Any]] = []
    for tick in range(args.ticks):
        now = float(tick)
        if tick == args.ticks // 2:
            server.reset(["eurusd"])  # the server asks for a reset half-way through
        # Stream messages first, then the snapshot answers of the previous tick's
        # requests: deltas that overtake their snapshot are queued by the engine.
        engine.receive(server.tick(now), now)
        for body in answers:
            engine.receive_snapshot(body, now)
        engine.handle_timer(now)
        answers = [b for r in engine.drain_requests() if (b := server.handle(r)) is not None]
        for event in engine.drain_events():
            if isinstance(event, SnapshotApplied):
                print(f"[{now:5.1f}] snapshot {event.reference_id} (+{event.queued} early deltas)")
            elif isinstance(event, SubscriptionReset):
                print(
                    f"[{now:5.1f}] reset {event.old_reference_id} -> "
                    f"{event.new_reference_id} ({event.reason.value})"
                )
            elif isinstance(event, StateChanged) and event.reason is not None:
                print(
                    f"[{now:5.1f}] {event.subscription}: {event.new.value} ({event.reason.value})"
                )
            elif isinstance(event, ProtocolError):
                print(f"[{now:5.1f}] protocol error: {event.message}")

    q = engine.latest(quote)["Quote"]
    print()
    print(
        f"EURUSD  bid {q['Bid']:.5f}  ask {q['Ask']:.5f}  mid {q['Mid']:.5f}"
        f"  (reference id {engine.info(quote).reference_id})"
    )
    batch = engine.drain_changes(quote)
    print(f"        last {len(batch.changes)} ticks kept, {batch.dropped} older ones dropped")
    rows = engine.latest(positions)["Data"]
    print(f"positions: {len(rows)}")
    for row in rows:
        view = row["PositionView"]
        print(
            f"  {row['PositionId']:>4}  amount {row['PositionBase']['Amount']:>6}"
            f"  price {view['CurrentPrice']:.4f}  P/L {view['ProfitLossOnTrade']:>9.2f}"
        )
    stats = engine.statistics()
    print(
        f"messages {stats.messages}, updates {stats.updates_applied}, "
        f"partitions {stats.partitions}, heartbeats {stats.heartbeats}, "
        f"resets {stats.resets}, stale {stats.stale_messages}"
    )
    same = all(
        engine.latest(n) == server.truth(engine.info(n).reference_id)
        for n in engine.names()
        if engine.info(n).has_snapshot
    )
    print(f"merged state matches the simulated server: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
