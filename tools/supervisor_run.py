#!/usr/bin/env python3
"""The supervisor under a worker's death: N sessions over M worker processes, one killed.

    tools/supervisor_run.py --sessions 50 --workers 4 --orders 400     # the full form
    tools/supervisor_run.py --sessions 10 --workers 3 --orders 30      # the test suite's

One PostgreSQL journal (a throwaway server on 127.0.0.1 unless ``--pg-url``), one simulator
process serving one reference exchange per session (account ``a<i>``, each on a port of its
own, length-prefixed frames), and a :class:`sessionkit.store.Supervisor` running the sessions
over ``--workers`` worker processes. Each session submits ``--orders`` limit orders (the
crash test's client loop, ``tools/crash_test.py``'s ``drive``) and writes the crash test's
side file. When ``--kill-at`` of all orders are final, the worker holding the most sessions
is killed (SIGKILL); the others take its sessions over (each resumes from the journal) and
the run goes on until every session is done. ``--rejoin`` then starts a new worker, which
takes a fair share from the others (released cleanly).

Checked at the end, per session, as the crash test does (``analyse``): every order reached
exactly one final state (``lost``), no cid or MID executed twice (``double_executed``), no
event or final state handled again after its handling was committed (``double_handled``),
and no two owners' writes interleaved (``owners_interleaved``, from the fencing tokens);
and every session is owned by a live worker at the end (``owned_by_live``). Takeover time:
from the kill to the new lease's acquisition (the database's clock). The last output line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from _crash_harness import analyse  # tools/ is sys.path[0] when run as a script
from crash_test import Framer, drive, pack

SESSION_ID = "2026-05-04"
_CONFIG_ENV = "SESSIONKIT_SUPERVISOR_RUN"


def account(i: int) -> str:
    return f"a{i:03d}"


# -- the simulator: one reference exchange per account --------------------------------------

def run_sim(args: argparse.Namespace) -> None:
    from sessionkit import JsonCodec, Request
    from sessionkit.testing import ReferenceExchange

    codec = JsonCodec()
    sel = selectors.DefaultSelector()
    exchanges, kinds, servers = [], [], []
    for _ in range(args.sessions):
        server = socket.create_server(("127.0.0.1", 0))
        server.setblocking(False)
        sel.register(server, selectors.EVENT_READ, len(servers))
        servers.append(server)
        exchanges.append(ReferenceExchange(heartbeat_interval_ms=500))
        kinds.append({})
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(json.dumps([s.getsockname()[1] for s in servers]), flush=True)
    # per exchange: the one connection it serves (a new one replaces the old)
    clients: dict[socket.socket, tuple[int, Any, Framer]] = {}
    current: dict[int, socket.socket] = {}

    def drop(sock: socket.socket) -> None:
        i, conn, _ = clients.pop(sock)
        conn.closed = True
        if current.get(i) is sock:
            del current[i]
        sel.unregister(sock)
        sock.close()

    while not stop:
        for key, _ in sel.select(timeout=0.02):
            if key.fileobj in servers:
                i = key.data
                sock, _ = servers[i].accept()
                sock.setblocking(True)
                sock.settimeout(10)
                if i in current:
                    drop(current[i])
                clients[sock] = (i, exchanges[i].connect(), Framer())
                current[i] = sock
                sel.register(sock, selectors.EVENT_READ, None)
                continue
            sock = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                drop(sock)
                continue
            i, conn, framer = clients[sock]
            for frame in framer.feed(data):
                msg = codec.decode(frame)
                if isinstance(msg, Request) and msg.cid is not None:
                    kinds[i].setdefault(msg.cid, msg.TYPE)
                    for m in getattr(msg, "messages", ()):
                        kinds[i].setdefault(m.cid, m.TYPE)
                conn.receive(msg)
        now = time.monotonic()
        for ex in exchanges:
            ex.tick(now)
        for sock, (_, conn, _) in list(clients.items()):
            out = conn.outbox()
            if out:
                try:
                    sock.sendall(pack([codec.encode(m) for m in out]))
                except OSError:
                    drop(sock)
    dump = {account(i): {"executions": [[c, m, r, kinds[i].get(c)]
                                        for c, m, r in ex.executions],
                         "last_event_id": ex.last_event_id}
            for i, ex in enumerate(exchanges)}
    with open(args.dump, "w") as f:
        json.dump(dump, f)


# -- a session, as the workers run it -------------------------------------------------------

_config: dict[str, Any] | None = None


def run_session(store: Any, stopping: threading.Event) -> None:
    """The supervisor's ``run``: the crash test's client loop on this session's exchange."""
    global _config
    if _config is None:
        with open(os.environ[_CONFIG_ENV]) as f:
            _config = json.load(f)
    from sessionkit.store import LeaseLostError

    acct = store.key.account
    i = int(acct[1:])
    side = os.path.join(_config["work"], f"{acct}.side")
    try:
        drive(store, str(_config["ports"][i]), side, _config["orders"], _config["window"],
              account=acct, stopping=stopping)
    except Exception as exc:
        if isinstance(exc, LeaseLostError) or isinstance(exc.__cause__, LeaseLostError):
            with open(side, "a") as f:  # taken over while paused: it stops (counted)
                f.write(f"X fenced {store.incarnation}\n")
        raise


def _fenced_count(work: str) -> int:
    n = 0
    for name in os.listdir(work):
        if name.endswith(".side"):
            with open(os.path.join(work, name), "rb") as f:
                n += sum(1 for ln in f if ln.startswith(b"X "))
    return n


# -- the harness ----------------------------------------------------------------------------

def _finals(path: str) -> tuple[int, bool]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0, False
    lines = data.split(b"\n")
    return sum(1 for ln in lines if ln.startswith(b"F ")), b"D" in lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--orders", type=int, default=400, help="orders per session")
    p.add_argument("--window", type=int, default=16, help="orders in flight per session")
    p.add_argument("--kill-at", type=float, default=0.4,
                   help="kill a worker when this fraction of all orders is final")
    p.add_argument("--no-kill", action="store_true", help="kill no worker")
    p.add_argument("--signal", choices=["kill", "stop"], default="kill",
                   help="kill: SIGKILL the worker; stop: pause it (SIGSTOP) until its sessions "
                        "were taken over, then wake it (its writes must be refused)")
    p.add_argument("--rejoin", action="store_true",
                   help="after the takeover, start a new worker (it takes a fair share)")
    p.add_argument("--lease-ttl", type=float, default=2.0)
    p.add_argument("--durability", choices=["fast", "safe"], default="fast")
    p.add_argument("--pg-url", default=None, help="this database instead of a throwaway server")
    p.add_argument("--timeout", type=float, default=600.0, help="for the whole run, s")
    p.add_argument("--workdir")
    p.add_argument("--role", choices=["harness", "sim"], default="harness",
                   help=argparse.SUPPRESS)
    p.add_argument("--dump", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.sessions < 1 or args.workers < 2 - args.no_kill or args.orders < 1:
        p.error("--sessions and --orders must be >= 1, --workers >= 2 (one is killed)")
    if args.role == "sim":
        run_sim(args)
        return 0
    server = None
    url = args.pg_url
    if url is None:
        from sessionkit.testing import start_postgres

        server = start_postgres(settings={"max_connections": str(4 * args.sessions + 50)})
        url = server.create_database("supervise")
    try:
        return harness(args, url)
    finally:
        if server is not None:
            server.stop()


def harness(args: argparse.Namespace, url: str) -> int:
    import psycopg

    from sessionkit.store import SessionKey, Supervisor

    work = args.workdir or tempfile.mkdtemp(prefix="sessionkit-supervise-")
    os.makedirs(work, exist_ok=True)
    dump_path = os.path.join(work, "sim.json")
    sim = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--role", "sim",
                            "--sessions", str(args.sessions), "--dump", dump_path],
                           stdout=subprocess.PIPE)
    assert sim.stdout is not None
    ports = json.loads(sim.stdout.readline())
    config = {"ports": ports, "work": work, "orders": args.orders, "window": args.window}
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(config, f)
    os.environ[_CONFIG_ENV] = os.path.join(work, "config.json")  # the workers inherit it
    keys = [(account(i), SESSION_ID) for i in range(args.sessions)]
    sides = [os.path.join(work, f"{account(i)}.side") for i in range(args.sessions)]
    for path in sides:
        if os.path.exists(path):
            os.remove(path)  # a workdir used before
    total = args.sessions * args.orders
    sup = Supervisor(url, keys, "supervisor_run:run_session", workers=args.workers,
                     lease_ttl=args.lease_ttl, store_options={"durability": args.durability})
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    killed: list[str] = []
    orphans: list[str] = []
    kill_db_time: Any = None
    done = False
    try:
        sup.start()
        conn = psycopg.connect(url, autocommit=True)
        if not args.no_kill:
            while time.monotonic() < deadline:  # mid-run: every session started, and
                if (sum(_finals(s)[0] for s in sides) >= args.kill_at * total  # enough done
                        and len(sup.owners()) == args.sessions):
                    break
                time.sleep(0.02)
            owners = sup.owners()
            by_worker: dict[str, list[str]] = {}
            for k, o in owners.items():
                by_worker.setdefault(o, []).append(k.account)
            victim = max(sup.processes,
                         key=lambda pr: (len(by_worker.get(pr.name, [])), pr.name))
            orphans = sorted(by_worker.get(victim.name, []))
            kill_db_time = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            if args.signal == "kill":
                os.kill(victim.pid, signal.SIGKILL)
                victim.join()
            else:
                os.kill(victim.pid, signal.SIGSTOP)
                while time.monotonic() < deadline:  # its sessions taken over: wake it
                    owners = sup.owners()
                    if all(owners.get(SessionKey(a, SESSION_ID)) not in (None, victim.name)
                           for a in orphans):
                        break
                    time.sleep(0.05)
                os.kill(victim.pid, signal.SIGCONT)
            killed.append(victim.name)
            print(f"{args.signal} worker {victim.name} holding {len(orphans)} sessions",
                  file=sys.stderr)
        rejoined = False
        while time.monotonic() < deadline:
            states = [_finals(s) for s in sides]
            owners = sup.owners()
            alive = {pr.name for pr in sup.processes if pr.is_alive()}
            if args.rejoin and not rejoined and all(
                    owners.get(SessionKey(a, SESSION_ID)) in alive - set(killed)
                    for a in orphans):
                sup.add_worker()  # once the killed worker's sessions were taken over
                rejoined = True
                continue
            # the end: every session done and owned by a live worker; after a join or a
            # pause (the woken worker comes back), none above its share
            if (all(d for _, d in states) and all(o in alive for o in owners.values())
                    and len(owners) == len(keys) and (not args.rejoin or rejoined)
                    and (not (args.rejoin or args.signal == "stop")
                         or _balanced(sup, owners))):
                done = True
                break
            time.sleep(0.05)
        # (the last snapshot the loop checked: sessions in a clean move are briefly free)
        owned_by_live = sum(1 for k in keys if owners.get(SessionKey(*k)) in alive)
        counts = {n: sum(1 for o in owners.values() if o == n) for n in sorted(alive)}
        takeovers = []
        if kill_db_time is not None:
            for a in orphans:
                row = conn.execute(
                    "SELECT min(l.acquired) - %s FROM sessionkit.leases l JOIN "
                    "sessionkit.sessions s USING (sid) WHERE s.account = %s AND "
                    "l.acquired > %s", (kill_db_time, a, kill_db_time)).fetchone()
                if row[0] is not None:
                    takeovers.append(row[0].total_seconds())
        # writes refused by the fence (a woken worker's sessions): from the workers' logs
        fenced = _fenced_count(work)
        conn.close()
    finally:
        sup.stop()
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=60)
    with open(dump_path) as f:
        dump = json.load(f)
    totals = {"final_states": 0, "lost": 0, "double_executed": 0, "double_handled": 0,
              "redelivered": 0, "owners_interleaved": 0, "leases_taken": 0}
    bad = []
    for i in range(args.sessions):
        a = account(i)
        r = analyse(sides[i], dump[a], url, args.orders, a)
        for k in totals:
            totals[k] += r.get(k, 0)
        if r["lost"] or r["double_executed"] or r["double_handled"]:
            bad.append(a)
    result = {"sessions": args.sessions, "workers": args.workers, "killed": len(killed),
              "orders": total, **totals,
              "doubled": totals["double_executed"] + totals["double_handled"],
              "owned_by_live": owned_by_live, "owners_at_end": counts,
              "orphaned": len(orphans), "takeovers": len(takeovers),
              "takeover_p50_s": round(statistics.median(takeovers), 3) if takeovers else None,
              "takeover_max_s": round(max(takeovers), 3) if takeovers else None,
              "signal": args.signal, "fenced_writes_refused": fenced,
              "rejoined": args.rejoin, "lease_ttl_s": args.lease_ttl,
              "durability": args.durability, "finished": done,
              "seconds": round(time.monotonic() - t0, 2), "workdir": work}
    ok = (done and result["lost"] == 0 and result["doubled"] == 0
          and result["final_states"] == total and owned_by_live == args.sessions
          and result["owners_interleaved"] == 0 and len(takeovers) == len(orphans))
    print(f"supervisor run: {args.sessions} sessions over {args.workers} workers, "
          f"{len(killed)} killed ({len(orphans)} sessions moved), {bad or 'none'} bad: "
          f"{'OK' if ok else 'FAILED'}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if ok else 1


def _balanced(sup: Any, owners: dict[Any, str]) -> bool:
    """Every session is owned by a live worker, none above its share (ceil(N / live))."""
    alive = [pr.name for pr in sup.processes if pr.is_alive()]
    counts = [sum(1 for o in owners.values() if o == n) for n in alive]
    n = len(sup.keys)
    return sum(counts) == n and max(counts) <= -(-n // len(alive))


if __name__ == "__main__":
    sys.exit(main())
