#!/usr/bin/env python3
"""The sans-IO core's own cost: message lifecycles and inbound events per second, and
the memory each request in flight holds.

A lifecycle is submit -> ACK -> final response (a limit order ACKed, then an
action report with size zero) -> the request finished and its events dispatched.
``lifecycles_per_s`` feeds the session decoded messages, so the figure is the
core's own cost without a codec or a transport; ``lifecycles_json_per_s`` is the
same lifecycle with the JSON codec: the order is encoded (``data_to_send``), the
ACK and the final report are decoded from their frames (``receive_data``). The
events figure feeds market-data events with rising ids through the sequencer and
the dispatch to a processor. ``bytes_per_inflight`` is tracemalloc's count of
the memory 10,000 requests hold while none is ACKed (the request's copy with its
cid, its tracking record, the indexes, its ACK timer), per request. Medians of
several runs; the last line is one JSON object.

    python tools/bench_core.py [--quick] [--runs N] [--n N]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc

from sessionkit import (
    ActionReport,
    BookTop,
    JsonCodec,
    LimitOrder,
    LoginAck,
    MessageProcessor,
    Session,
    SessionConfig,
    Status,
    dispatch,
)

#: requests in flight for bytes_per_inflight
INFLIGHT = 10_000


def _active_session(codec: JsonCodec | None = None) -> Session:
    s = Session(SessionConfig(cid_prefix="b", max_in_flight=1 << 20, max_send_buffer=1 << 20),
                codec=codec)
    s.login(0.0, account="bench")
    s.receive_message(LoginAck(run_id="r", last_event_id=0), 0.0)
    s.messages_to_send()
    s.events()
    return s


def lifecycles(n: int, codec: JsonCodec | None = None) -> float:
    s = _active_session(codec)
    proc = MessageProcessor()
    order = LimitOrder(contract_id=1, size=1, price_in_cents=100)
    # inbound messages prepared up front: only the core's work is timed
    acks = [Status(cid=f"b-{i + 1}", mid=i + 1, run_id="r", event_id=2 * i + 1) for i in range(n)]
    reports = [ActionReport(mid=i + 1, cid=f"b-{i + 1}", contract_id=1, size=0,
                            status_type="filled", run_id="r", event_id=2 * i + 2)
               for i in range(n)]
    frames = None
    if codec is not None:
        frames = [(codec.encode(a), codec.encode(r)) for a, r in zip(acks, reports, strict=True)]
    t0 = time.perf_counter()
    for i in range(n):
        s.submit(order, 0.0)
        if codec is None:
            s.messages_to_send()
            s.receive_message(acks[i], 0.0)
            s.receive_message(reports[i], 0.0)
        else:
            s.data_to_send()
            assert frames is not None
            s.receive_data(frames[i][0], 0.0)
            s.receive_data(frames[i][1], 0.0)
        for ev in s.events():
            dispatch(ev, proc)
    elapsed = time.perf_counter() - t0
    stats = s.statistics()
    # every lifecycle ran to its end: each order done, no frame refused, nothing left open
    assert stats.finished["done"] == n and stats.protocol_errors == 0, stats
    assert stats.in_flight == stats.awaiting_response == 0, stats
    return n / elapsed


def events(n: int) -> float:
    s = _active_session()
    proc = MessageProcessor()
    msgs = [BookTop(contract_id=1, bid_in_cents=i, run_id="r", event_id=i + 1) for i in range(n)]
    t0 = time.perf_counter()
    for chunk in range(0, n, 64):  # a transport hands over what is ready, in bursts
        for m in msgs[chunk:chunk + 64]:
            s.receive_message(m, 0.0)
        for ev in s.events():
            dispatch(ev, proc)
    elapsed = time.perf_counter() - t0
    assert s.statistics().events_delivered == n
    return n / elapsed


def bytes_per_inflight(n: int = 10_000, warm: int = 100) -> float:
    """Bytes each request in flight holds: the memory tracemalloc traces after ``n`` limit
    orders were submitted to a logged-in session and none was ACKed, less before, over
    ``n``. The frames are taken as a transport takes them (``data_to_send``) and the events
    drained, so what remains is what the session keeps per request."""
    tracemalloc.start()
    try:
        s = _active_session(JsonCodec())

        def submit(k: int) -> None:
            for _ in range(k):
                s.submit(LimitOrder(contract_id=1, size=1, price_in_cents=100), 0.0)
                s.data_to_send()
                s.events()

        submit(warm)  # what the first requests allocate once (caches, a timer heap)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        submit(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        assert s.statistics().in_flight == warm + n
    finally:
        tracemalloc.stop()
    return (after - before) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short run")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (median taken)")
    ap.add_argument("--n", type=int, default=None, help="lifecycles/events per run")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    n = args.n or (10_000 if args.quick else 50_000)
    lc = [lifecycles(n) for _ in range(runs)]
    lcj = [lifecycles(n, JsonCodec()) for _ in range(runs)]
    ev = [events(n * 2) for _ in range(runs)]
    mem = [bytes_per_inflight(INFLIGHT) for _ in range(runs)]
    med = {k: statistics.median(v) for k, v in
           {"lifecycles_per_s": lc, "lifecycles_json_per_s": lcj, "events_per_s": ev,
            "bytes_per_inflight": mem}.items()}
    print(f"runs={runs} n={n}")
    print(f"lifecycles/s (core only):        {med['lifecycles_per_s']:>10,.0f}  "
          f"({1e6 / med['lifecycles_per_s']:.1f} us each)")
    print(f"lifecycles/s (with JSON codec):  {med['lifecycles_json_per_s']:>10,.0f}  "
          f"({1e6 / med['lifecycles_json_per_s']:.1f} us each)")
    print(f"inbound events/s:                {med['events_per_s']:>10,.0f}  "
          f"({1e6 / med['events_per_s']:.2f} us each)")
    print(f"bytes per request in flight:     {med['bytes_per_inflight']:>10,.0f}  "
          f"({INFLIGHT:,} requests, none ACKed; runs {min(mem):,.0f} to {max(mem):,.0f})")
    print(json.dumps({k: round(v) for k, v in med.items()}
                     | {"runs": runs, "n": n, "inflight": INFLIGHT}))


if __name__ == "__main__":
    main()
