#!/usr/bin/env python3
"""Throughput of the session journal: order lifecycles/s with the journal off, fast and safe.

A lifecycle is one limit order from submit to its final state (filled by the
next order, which crosses it), through the sans-IO core and the reference
exchange in memory, frames encoded and decoded with the JSON codec. With a
journal, the store hooks are called as the runtime calls them: the request
is journalled at submit, committed before its frame is handed over, each
event is recorded after the (no-op) processor returned, and each drained
batch of events is committed. Orders go in bursts of ``--burst`` (a
burst's frames share one write-ahead commit).

Modes: ``off`` (no journal), ``memory`` (the in-memory store: the
bookkeeping without I/O), ``fast`` (SQLite WAL, synchronous=NORMAL) and
``safe`` (synchronous=FULL: an fsync per commit). Each figure is the median
of ``--runs`` runs, modes interleaved. The last line is one JSON object.

``--store postgres``: ``fast`` and ``safe`` are the PostgreSQL journal
(``synchronous_commit`` off / on) on a throwaway server started on 127.0.0.1
(fsync on; ``--pg-url`` to use another), and ``sqlite_fast`` / ``sqlite_safe``
run in the same bench for the comparison; the JSON adds ``sqlite_fast_ratio``,
``sqlite_safe_ratio`` and ``fast_vs_sqlite`` / ``safe_vs_sqlite`` (PostgreSQL
throughput over SQLite's).

    tools/bench_journal.py            # 20000 orders, 5 runs, bursts of 64 and 1
    tools/bench_journal.py --quick    # 2000 orders, 3 runs
    tools/bench_journal.py --store postgres --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from sessionkit import JsonCodec, LimitOrder, MessageProcessor, SessionConfig, dispatch
from sessionkit._state import CLOSED_STATES
from sessionkit.store import MemoryStore, PostgresStore, Recorder, SqliteStore
from sessionkit.testing import ReferenceExchange

MODES = ("off", "memory", "fast", "safe")
PG_MODES = ("off", "memory", "fast", "safe", "sqlite_fast", "sqlite_safe")


def run_once(mode: str, orders: int, burst: int, directory: str,
             pg_url: str | None = None) -> dict[str, float]:
    """One run: returns lifecycles/s and the commits it made (``fast``/``safe`` on
    PostgreSQL when ``pg_url`` is given, ``sqlite_fast``/``sqlite_safe`` on SQLite)."""
    store: Any = None
    if mode == "memory":
        store = MemoryStore("bench", "2026-05-04")
    elif mode in ("fast", "safe") and pg_url is not None:
        store = PostgresStore(pg_url, account="bench", session_id=f"{mode}-{time.monotonic_ns()}",
                              durability=mode)
    elif mode in ("fast", "safe", "sqlite_fast", "sqlite_safe"):
        durability = mode.removeprefix("sqlite_")
        path = os.path.join(directory, f"{mode}-{time.monotonic_ns()}.journal")
        store = SqliteStore(path, account="bench", session_id="2026-05-04",
                            durability=durability)
    rec = Recorder(store) if store is not None else None
    codec = JsonCodec()
    exchange = ReferenceExchange(heartbeat_interval_ms=3_600_000)
    conn = exchange.connect()
    config = SessionConfig(cid_prefix="b", max_in_flight=max(4096, 2 * burst))
    session = rec.new_session(config, codec=codec) if rec else None
    if session is None:
        from sessionkit import Session

        session = Session(config, codec=codec)
    processor = MessageProcessor()
    finished = 0
    commits = 0

    def pump() -> None:
        nonlocal finished, commits
        while True:
            msgs = session.messages_to_send()
            if msgs:
                if rec is not None:
                    rec.before_send(msgs)
                    commits += 1
                for frame in [codec.encode(m) for m in msgs]:
                    conn.receive(codec.decode(frame))
            out = conn.outbox()
            if not out and not msgs:
                return
            now = time.monotonic()
            for frame in [codec.encode(m) for m in out]:
                session.receive_data(frame, now)
            events = session.events()
            for ev in events:
                dispatch(ev, processor)
                if type(ev).__name__ == "MessageFinished":
                    finished += 1
                if rec is not None:
                    rec.handled(ev)
            if rec is not None and events:
                rec.commit()
                commits += 1

    session.login(time.monotonic(), account="bench")
    pump()
    t0 = time.perf_counter()
    k = 0
    while k < orders:
        n = min(burst, orders - k)
        for i in range(n):
            side = "buy" if (k + i) % 2 == 0 else "sell"
            req = LimitOrder(contract_id=1 + ((k + i) // 2) % 3, side=side, size=1,
                             price_in_cents=100)
            cid = session.submit(req, time.monotonic())
            if rec is not None:
                rec.submitted(req, cid)
        k += n
        pump()
    elapsed = time.perf_counter() - t0
    assert session.state not in CLOSED_STATES
    assert finished == orders, f"{finished} of {orders} finished"
    if store is not None:
        assert store.messages() == [], "the journal still holds messages"
        store.close()
    return {"per_s": orders / elapsed, "commits_per_order": commits / orders}


def bench(orders: int, runs: int, bursts: list[int], pg_url: str | None = None
          ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    modes = PG_MODES if pg_url is not None else MODES
    with tempfile.TemporaryDirectory(prefix="sessionkit-bench-") as d:
        for burst in bursts:
            per: dict[str, list[float]] = {m: [] for m in modes}
            commits: dict[str, float] = {}
            for _ in range(runs):
                for mode in modes:
                    slow = mode.endswith("safe") and burst == 1
                    n = max(200, orders // 20) if slow else orders
                    r = run_once(mode, n, burst, d, pg_url)
                    per[mode].append(r["per_s"])
                    commits[mode] = r["commits_per_order"]
            med = {m: statistics.median(v) for m, v in per.items()}
            out[str(burst)] = {
                **{f"{m}_per_s": round(med[m]) for m in MODES},
                "fast_ratio": round(med["fast"] / med["off"], 3),
                "safe_ratio": round(med["safe"] / med["off"], 3),
                "memory_ratio": round(med["memory"] / med["off"], 3),
                "commits_per_order": round(commits["fast"], 3),
                "fast_us_per_order_over_off": round(1e6 / med["fast"] - 1e6 / med["off"], 1),
                "safe_us_per_order_over_off": round(1e6 / med["safe"] - 1e6 / med["off"], 1),
            }
            if pg_url is not None:
                out[str(burst)].update({
                    "sqlite_fast_per_s": round(med["sqlite_fast"]),
                    "sqlite_safe_per_s": round(med["sqlite_safe"]),
                    "sqlite_fast_ratio": round(med["sqlite_fast"] / med["off"], 3),
                    "sqlite_safe_ratio": round(med["sqlite_safe"] / med["off"], 3),
                    "fast_vs_sqlite": round(med["fast"] / med["sqlite_fast"], 3),
                    "safe_vs_sqlite": round(med["safe"] / med["sqlite_safe"], 3),
                })
            print(f"burst {burst:4d}: " + "  ".join(
                f"{m} {med[m]:9.0f}/s" for m in modes)
                + f"  fast {out[str(burst)]['fast_ratio']:.2f}x"
                f"  safe {out[str(burst)]['safe_ratio']:.3f}x", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=None, help="lifecycles per run")
    p.add_argument("--runs", type=int, default=None, help="runs per figure (median)")
    p.add_argument("--burst", type=int, action="append", default=None,
                   help="orders per burst (repeatable; the first gives the ratios)")
    p.add_argument("--quick", action="store_true", help="fewer orders and runs")
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite",
                   help="the journal measured as fast and safe (postgres: against SQLite too)")
    p.add_argument("--pg-url", default=None,
                   help="with --store postgres: this database instead of a throwaway server")
    args = p.parse_args(argv)
    orders = args.orders or (2000 if args.quick else 20_000)
    runs = args.runs or (3 if args.quick else 5)
    bursts = args.burst or [64, 1]
    if orders < 2 or runs < 1 or any(b < 1 for b in bursts):
        p.error("--orders must be at least 2, --runs and --burst at least 1")
    server = None
    pg_url = args.pg_url
    if args.store == "postgres" and pg_url is None:
        from sessionkit.testing import start_postgres

        server = start_postgres()  # fsync on: "safe" waits for the disk
        pg_url = server.create_database("bench")
    try:
        figures = bench(orders, runs, bursts, pg_url if args.store == "postgres" else None)
    finally:
        if server is not None:
            server.stop()
    head = figures[str(bursts[0])]
    result = {
        "store": args.store,
        "fast_ratio": head["fast_ratio"], "safe_ratio": head["safe_ratio"],
        "off_per_s": head["off_per_s"], "fast_per_s": head["fast_per_s"],
        "safe_per_s": head["safe_per_s"], "memory_per_s": head["memory_per_s"],
        "burst": bursts[0], "orders": orders, "runs": runs, "by_burst": figures,
    }
    if args.store == "postgres":
        result.update({k: head[k] for k in ("sqlite_fast_ratio", "sqlite_safe_ratio",
                                            "fast_vs_sqlite", "safe_vs_sqlite",
                                            "sqlite_fast_per_s", "sqlite_safe_per_s")})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
