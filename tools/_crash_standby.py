"""``tools/crash_test.py --store postgres --standby``: an active client and a standby on one
PostgreSQL journal; the harness kills (SIGKILL) or pauses (SIGSTOP) the active one at random
points, the standby takes the lease over and resumes the session from the journal, and a new
standby is started. A paused client is woken after the takeover: it must find its lease
lost and stop (exit status 3), writing nothing more. Printed at the end, with the crash
test's checks: takeover times (from the signal to the standby's start on the journal),
``fenced_writes_refused`` (woken clients refused) and ``owners_interleaved`` (from the
journal's fencing tokens: must be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import sys
import time

from _crash_harness import SideReader, analyse, kill_targets, start_client, start_sim

__all__ = ["run_standby"]


def _wait_start(reader: SideReader, before: int, procs: list[subprocess.Popen[bytes]],
                timeout: float) -> bool:
    """Wait for a new process to start on the journal (an R line); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reader.poll()
        if reader.starts > before:
            return True
        if all(p.poll() is not None for p in procs):
            return False
        time.sleep(0.002)
    return False


def run_standby(args: argparse.Namespace, script: str, rng: random.Random, work: str,
                journal: str, side: str, dump_path: str) -> int:
    sim, address = start_sim(script, args, dump_path)
    t0 = time.monotonic()
    targets = kill_targets(args, rng)
    reader = SideReader(side)

    def client() -> subprocess.Popen[bytes]:
        return start_client(script, args, address, journal, side, rng.randrange(1 << 30),
                            standby=True)

    kills = stops = refused = woken_not_fenced = 0
    takeovers: list[float] = []
    woken: list[subprocess.Popen[bytes]] = []
    active = client()
    _wait_start(reader, 0, [active], 60)
    standby = client()
    rc: int | None = None
    try:
        for target in targets:
            while reader.poll() < target and active.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.choice([0.0, rng.uniform(0, 0.005), rng.uniform(0, 0.05)]))
            if active.poll() is not None:  # it finished (or was fenced) before this point
                print(f"kill point {target}: the active client exited with "
                      f"{active.returncode}", file=sys.stderr)
                break
            pause = rng.random() < 0.5
            before = reader.starts
            sent = time.monotonic()
            active.send_signal(signal.SIGSTOP if pause else signal.SIGKILL)
            if not _wait_start(reader, before, [standby], args.timeout):
                print("the standby did not take over", file=sys.stderr)
                break
            takeovers.append(time.monotonic() - sent)
            if pause:
                stops += 1
                active.send_signal(signal.SIGCONT)  # woken: it must find its lease lost
                woken.append(active)  # (its exit is collected at the end: the run goes on)
            else:
                kills += 1
                active.wait()
            active, standby = standby, client()
        rc = active.wait(timeout=args.timeout)
        for p in woken:
            try:
                code = p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                code = None
            if code == 3:
                refused += 1
            else:
                woken_not_fenced += 1
    finally:
        for p in (active, standby, *woken):
            if p.poll() is None:
                p.kill()
                p.wait()
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)
    with open(dump_path) as f:
        dump = json.load(f)
    result = {"orders": args.orders, "kills": kills + stops, "sigkills": kills,
              "sigstops": stops, **analyse(side, dump, journal, args.orders),
              "takeovers": len(takeovers),
              "takeover_p50_s": round(statistics.median(takeovers), 3) if takeovers else None,
              "takeover_max_s": round(max(takeovers), 3) if takeovers else None,
              "fenced_writes_refused": refused, "woken_not_fenced": woken_not_fenced,
              "lease_ttl_s": args.lease_ttl, "client_exit": rc, "durability": args.durability,
              "transport": args.transport, "store": args.store, "standby": True,
              "seconds": round(time.monotonic() - t0, 2), "workdir": work}
    ok = (result["lost"] == 0 and result["double_executed"] == 0
          and result["double_handled"] == 0 and result["final_states"] == args.orders
          and rc == 0 and result.get("owners_interleaved", 0) == 0 and woken_not_fenced == 0
          and len(takeovers) == kills + stops and kills + stops >= min(args.kills, 1))
    print(f"crash test: {args.orders} orders, {kills} kills, {stops} pauses, standby "
          f"takeovers p50 {result['takeover_p50_s']} s, max {result['takeover_max_s']} s: "
          f"{'OK' if ok else 'FAILED'}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if ok else 1
