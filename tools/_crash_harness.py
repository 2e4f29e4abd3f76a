"""The harness side of ``tools/crash_test.py``: start the simulator and the client processes,
SIGKILL the client at random points, restart it, and check the side file, the journal and the
simulator's dump at the end (see that script's docstring for what is checked).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = ["run_harness", "analyse", "SideReader", "kill_targets", "start_client", "start_sim"]


def start_client(script: str, args: argparse.Namespace, address: str, journal: str, side: str,
                 seed: int, *, standby: bool = False) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, script, "--role", "client", "--address", address,
           "--journal", journal, "--side", side, "--orders", str(args.orders),
           "--durability", args.durability, "--window", str(args.window), "--seed", str(seed),
           "--transport", args.transport, "--lease-ttl", str(args.lease_ttl),
           "--backend", args.backend]
    if standby:
        cmd += ["--acquire-timeout", str(args.timeout)]
    return subprocess.Popen(cmd)


def start_sim(script: str, args: argparse.Namespace, dump_path: str
              ) -> tuple[subprocess.Popen[bytes], str]:
    """Start the exchange simulator; returns it and the address it printed."""
    sim = subprocess.Popen([sys.executable, script, "--role", "sim",
                            "--dump", dump_path, "--transport", args.transport,
                            "--backend", args.backend],
                           stdout=subprocess.PIPE)
    assert sim.stdout is not None
    return sim, sim.stdout.readline().decode().strip()


def kill_targets(args: argparse.Namespace, rng: random.Random) -> list[int]:
    """The kill points: progress targets (final states seen) spread over the run, sorted
    (in the first 80% of the orders, so that the run cannot end before its last kill)."""
    return sorted(rng.randrange(0, max(1, args.orders * 4 // 5)) for _ in range(args.kills))


class SideReader:
    """Follows the side file as it grows: the number of final states (and of processes that
    started on the journal: R lines) so far."""

    def __init__(self, path: str) -> None:
        self.path, self.offset, self.finals, self.partial = path, 0, 0, b""
        self.starts = 0

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.finals
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        self.finals += sum(1 for ln in lines if ln.startswith(b"F "))
        self.starts += sum(1 for ln in lines if ln.startswith(b"R "))
        return self.finals


def read_journal(journal: str, account: str | None = None
                 ) -> tuple[dict[str, tuple[Any, Any]], int, dict[str, Any]]:
    """The journal's intents (key -> (cid, outcome)), requests left, and (PostgreSQL) what
    its fencing tokens say: leases taken, and writes made under a token older than one
    already written (two owners writing at once: must be 0). ``account``: (PostgreSQL)
    that account's sessions only."""
    if journal.startswith("postgresql://"):
        import psycopg

        sids = ("(SELECT sid FROM sessionkit.sessions WHERE account = %(a)s)"
                if account is not None else "(SELECT sid FROM sessionkit.sessions)")
        p = {"a": account}
        with psycopg.connect(journal) as conn:
            rows = conn.execute(f"SELECT key, cid, outcome, token FROM sessionkit.intents "
                                f"WHERE sid IN {sids} ORDER BY ord", p).fetchall()
            tracked = conn.execute(f"SELECT count(*) FROM sessionkit.messages WHERE sid IN "
                                   f"{sids}", p).fetchone()[0]
            leases = conn.execute(f"SELECT count(*) FROM sessionkit.leases WHERE sid IN "
                                  f"{sids}", p).fetchone()[0]
        interleaved, top = 0, 0
        for *_, token in rows:
            if token < top:
                interleaved += 1
            top = max(top, token)
        return ({k: (c, o) for k, c, o, _ in rows}, tracked,
                {"leases_taken": leases, "owners_interleaved": interleaved})
    import sqlite3

    conn = sqlite3.connect(journal)
    intents = {k: (cid, out) for k, cid, out in conn.execute(
        "SELECT key, cid, outcome FROM intents")}
    tracked = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn.close()
    return intents, tracked, {}


def analyse(side_path: str, dump: dict[str, Any], journal: str, orders: int,
            account: str | None = None) -> dict[str, Any]:
    intents, tracked, fencing = read_journal(journal, account)

    double_handled = redelivered = 0
    inc, cursor, at_start = 0, 0, set()
    #: each process's start: incarnation -> (cursor, journalled cids); a line carries the
    #: incarnation of the process that wrote it (a paused owner woken after a takeover
    #: writes after its successor started)
    starts: dict[int, tuple[int, set[str]]] = {}
    seen_events: dict[int, int] = {}
    finals: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    lines = open(side_path).read().split("\n")
    done = False
    for ln in lines:
        if not ln:
            continue
        parts = ln.split()
        if parts[0] == "R":
            inc, cursor, at_start = int(parts[1]), int(parts[2]), set(parts[3:])
            starts[inc] = (cursor, at_start)
            continue
        if parts[0] == "E" and len(parts) > 2 or parts[0] == "F" and len(parts) > 3:
            inc = int(parts[-1])
            cursor, at_start = starts.get(inc, (cursor, at_start))
        if parts[0] == "E":
            eid = int(parts[1])
            if eid <= cursor:
                double_handled += 1  # its handling was committed before this process began
            elif eid in seen_events:
                if seen_events[eid] == inc:
                    double_handled += 1  # twice within one process
                else:
                    redelivered += 1  # handled, not committed, then the process died
            seen_events[eid] = inc
        elif parts[0] == "F":
            cid, outcome = parts[1], parts[2]
            mine = (cid.startswith(f"o.{inc}-") if inc > 1 else cid.startswith("o-"))
            prior = finals[cid]
            if prior and prior[-1][0] == inc:
                double_handled += 1  # final twice within one process
            elif prior and not (cid in at_start or mine):
                double_handled += 1  # final again although the journal had let it go
            elif prior:
                redelivered += 1
            finals[cid].append((inc, outcome))
        elif parts[0] == "D":
            done = True

    outcomes: collections.Counter[str] = collections.Counter()
    lost = 0
    for k in range(orders):
        cid, outcome = intents.get(f"o{k}", (None, None))
        got = {o for _, o in finals.get(cid or "", [])}
        if outcome is None or len(got) != 1 or got != {outcome}:
            lost += 1
        else:
            outcomes[outcome] += 1
    known = {cid for cid, _ in intents.values()}
    execs = dump["executions"]
    by_cid = collections.Counter(c for c, _, _, _ in execs)
    by_mid = collections.Counter(m for _, m, _, _ in execs)
    double_executed = (sum(n - 1 for n in by_cid.values() if n > 1)
                       + sum(n - 1 for n in by_mid.values() if n > 1)
                       + sum(1 for c, _, _, t in execs
                             if t in ("limit_order", "cancel_order") and c not in known))
    return {"final_states": sum(outcomes.values()), "outcomes": dict(outcomes), "lost": lost,
            "double_executed": double_executed, "double_handled": double_handled,
            "redelivered": redelivered, "journal_left": tracked, "finished_cleanly": done,
            "events_handled": len(seen_events), "exchange_last_event_id": dump["last_event_id"],
            "executions": len(execs), **fencing}


def run_harness(args: argparse.Namespace, script: str) -> int:
    """Run the crash test; ``script`` (tools/crash_test.py) is run for the other roles."""
    rng = random.Random(args.seed)
    work = args.workdir or tempfile.mkdtemp(prefix="sessionkit-crash-")
    os.makedirs(work, exist_ok=True)
    journal, side, dump_path = (os.path.join(work, n) for n in ("session.journal", "side.log",
                                                                 "sim.json"))
    for p in (journal, side, dump_path):
        if os.path.exists(p):
            os.remove(p)
    server = None
    if args.store == "postgres":
        journal = args.pg_url
        if journal is None:
            from sessionkit.testing import start_postgres

            server = start_postgres()  # fsync on: a real server, on loopback
            journal = server.create_database("crash")
    try:
        return _run(args, script, rng, work, journal, side, dump_path)
    finally:
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace, script: str, rng: random.Random, work: str, journal: str,
         side: str, dump_path: str) -> int:
    if args.standby:
        from _crash_standby import run_standby  # tools/ is sys.path[0]

        return run_standby(args, script, rng, work, journal, side, dump_path)
    sim, address = start_sim(script, args, dump_path)
    t0 = time.monotonic()
    # each kill point with a random delay; a target already passed kills soon after the
    # restart (during recovery)
    targets = kill_targets(args, rng)
    reader = SideReader(side)
    kills = restarts = 0
    client = start_client(script, args, address, journal, side, rng.randrange(1 << 30))
    try:
        for target in targets:
            while reader.poll() < target and client.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.choice([0.0, rng.uniform(0, 0.005), rng.uniform(0, 0.05)]))
            if client.poll() is not None:
                break  # it finished before this kill point
            client.send_signal(signal.SIGKILL)
            client.wait()
            kills += 1
            client = start_client(script, args, address, journal, side, rng.randrange(1 << 30))
            restarts += 1
        rc = client.wait(timeout=args.timeout)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)
    with open(dump_path) as f:
        dump = json.load(f)
    result = {"orders": args.orders, "kills": kills, **analyse(side, dump, journal, args.orders),
              "restarts": restarts, "client_exit": rc, "durability": args.durability,
              "transport": args.transport, "backend": args.backend, "store": args.store,
              "seconds": round(time.monotonic() - t0, 2),
              "workdir": work}
    ok = (result["lost"] == 0 and result["double_executed"] == 0
          and result["double_handled"] == 0 and result["final_states"] == args.orders
          and rc == 0 and kills >= min(args.kills, 1)
          and result.get("owners_interleaved", 0) == 0)
    print(f"crash test: {args.orders} orders, {kills} kills: "
          f"{'OK' if ok else 'FAILED'}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if ok else 1
